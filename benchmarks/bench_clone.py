"""A fresh clone's set-up and test suite, timed: ``git clone`` of this checkout's HEAD into a temporary folder, then
``make venv`` (the exact versions of ``requirements.lock`` from the registry) and ``make test`` there, as a new
contributor (or CI) runs them. The limit is ten minutes for the two together.

    python benchmarks/bench_clone.py                     # minutes: it installs torch into the new .venv
    python benchmarks/bench_clone.py --mirror ../shared/data  # fetch the Grocery Store photos first, as CI does

Run it on an otherwise idle machine: the suite uses every core (pytest-xdist), and another torch job beside it
slows both.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LIMIT_SECONDS = 600


def _timed(cmd: list[str], cwd: Path, log: Path) -> float:
    t0 = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}) in {cwd}:\n{tail}")
    return time.perf_counter() - t0


def _summary_line(log: Path) -> str:
    """pytest's last line: how many passed, skipped, failed, and in how long."""
    lines = [line for line in log.read_text().splitlines() if " passed" in line]
    return lines[-1].strip("= ") if lines else ""


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", default=None, help="fetch the Grocery Store photos from this byte mirror first "
                                                   "(make data-grocery MIRROR=...; untimed), as .ci/run does")
    ap.add_argument("--out-dir", default=None, help="where the JSON goes (default benchmarks/results)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "mmpaper"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        venv = _timed(["make", "venv"], clone, Path(tmp) / "venv.log")
        if args.mirror:
            _timed(["make", "data-grocery", f"MIRROR={Path(args.mirror).resolve()}"], clone, Path(tmp) / "data.log")
        test_log = Path(tmp) / "test.log"
        test = _timed(["make", "test"], clone, test_log)
        rows = [{"step": "make venv (fresh clone)", "seconds": venv, "pytest": "—"},
                {"step": "make test", "seconds": test, "pytest": _summary_line(test_log)},
                {"step": "both", "seconds": venv + test, "pytest": "—"}]
    print_table(rows, "A fresh clone: make venv, then make test")
    path = save("clone", {"rows": rows, "grocery_data": bool(args.mirror), "targets": {"both": LIMIT_SECONDS}},
                args.out_dir)
    print(f"\n{'met' if venv + test <= LIMIT_SECONDS else 'NOT met'}: {venv + test:.0f} s against "
          f"{LIMIT_SECONDS} s\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    main()
