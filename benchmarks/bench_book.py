"""Book build times: a cold build (fresh world cache, no run directories, empty build directory: generates the
world, trains every variant, executes every chapter, renders the HTML) and a warm one right after (nothing
changed: reuses every run, executes no chapter). Both through the CLI, as ``make book`` does.

    python benchmarks/bench_book.py                 # preset cpu: the cold build is the whole book (minutes)
    python benchmarks/bench_book.py --preset smoke --warm-only --runs-dir R --cache-dir C --out O
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, save  # noqa: E402


def _build(preset: str, runs: Path, cache: Path, out: Path) -> float:
    env = {**os.environ, "MMPAPER_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "mmpaper", "book", "--preset", preset, "--runs-dir", str(runs), "--out", str(out),
           "--quiet"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"book build failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--warm-only", action="store_true", help="time a rebuild of an existing build only")
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--out-dir", default=None, help="where the JSON goes (default benchmarks/results)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.runs_dir or Path(tmp) / "runs")
        cache = Path(args.cache_dir or Path(tmp) / "cache")
        out = Path(args.out or Path(tmp) / "build")
        rows = []
        if not args.warm_only:
            rows.append({"build": "cold (world, training, chapters, HTML)", "seconds": _build(args.preset, runs,
                                                                                               cache, out)})
        rows.append({"build": "warm (nothing changed)", "seconds": _build(args.preset, runs, cache, out)})
    print_table(rows, f"Book build, preset {args.preset}")
    path = save(f"book-{args.preset}", {"preset": args.preset, "rows": rows,
                                        "targets": {"cold": 900, "warm": 60}}, args.out_dir)
    print(f"\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    main()
