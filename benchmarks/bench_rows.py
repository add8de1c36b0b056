"""Table 2 rows, one at a time on every core against two at a time on one core each (``Experiment.run_all`` with the
preset's ``row_threads``), in the same run on the same rows: the wall time of the row phase of a book build.

Both arms start from the same finished stage 0 (copied from ``--runs-dir`` when it is there, else trained once
first, untimed) and train every named row from scratch in their own run directories. The two arms' numbers differ a
little (a row's float sums depend on its thread count, which is why ``row_threads`` is a hashed setting); this
script times them and reports each row's recall beside its time so the difference is seen.

    python benchmarks/bench_rows.py                      # cpu preset, all 17 rows in both arms (about 13 min)
    python benchmarks/bench_rows.py --rows bibert,bibert-seenneg,vs-img2img,vs-3tower    # four rows (4 min)
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, quiet, save  # noqa: E402

# the whole row phase of a book build: with few rows the side-by-side arm waits on its longest one (four rows gave
# 1.18x on 2026-12-08, bibert-seenneg alone taking most of the wall time)
DEFAULT_ROWS = "all"


def _stage0(ex, source_runs: Path | None, target_runs: Path) -> None:
    """Put a finished stage 0 into ``target_runs`` (copied when ``source_runs`` has it; else trained there)."""
    from mmpaper.experiments import Experiment

    rel = ex.clip_dir().relative_to(ex.runs_dir.parent)
    if source_runs is not None and (source_runs / rel).is_dir():
        shutil.copytree(source_runs / rel, target_runs / rel)
    else:
        Experiment(ex.preset, runs_dir=target_runs, progress=False).clip_features()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma list of variants (default {DEFAULT_ROWS})")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs-dir", default="runs", help="where a finished stage 0 may be copied from (default runs)")
    ap.add_argument("--out-dir", default=None, help="where the JSON goes (default benchmarks/results)")
    args = ap.parse_args(argv)
    quiet()
    from mmpaper.experiments import Experiment
    from mmpaper.paper import variant_names
    from mmpaper.presets import preset

    names = variant_names(args.rows)
    side = preset(args.preset)
    if side.row_threads is None:
        side = replace(side, row_threads=1)
    alone = replace(side, row_threads=None)  # the process's threads, one row at a time: how every row ran before
    rows, arms = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm, p, workers in (("one at a time, every core", alone, 1),
                                (f"{args.workers} at a time, {side.row_threads} thread each", side, args.workers)):
            runs = Path(tmp) / ("alone" if workers == 1 else "side")
            ex = Experiment(p, runs_dir=runs, progress=False)
            _stage0(ex, Path(args.runs_dir), runs)
            t0 = time.perf_counter()
            results = ex.run_all(names, workers=workers)
            arms[arm] = time.perf_counter() - t0
            for name, r in results.items():
                rows.append({"arm": arm, "row": name, "train s": r.metrics.get("train_seconds"),
                             "threads": r.metrics.get("threads"), "recall@100": 100 * r.metrics.get("recall", r.metrics.get("recall@100"))})
    (base, base_s), (cand, cand_s) = arms.items()
    summary = [{"arm": base, "wall s": base_s, "speed-up": 1.0}, {"arm": cand, "wall s": cand_s,
                                                                  "speed-up": base_s / cand_s}]
    print_table(summary, f"Rows {', '.join(names)} (preset {args.preset})")
    print_table(rows, "Each row")
    # no target of its own: the target is the book build's fifteen minutes (bench_book.py); this says how much of
    # it running rows side by side buys
    path = save(f"rows-{args.preset}", {"preset": args.preset, "rows": summary, "per_row": rows}, args.out_dir)
    print(f"\nwrote {path}")
    return {"rows": summary, "per_row": rows}


if __name__ == "__main__":
    main()
