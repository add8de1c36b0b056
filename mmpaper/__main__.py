"""Command line: ``python -m mmpaper {world,run,tables} --preset P``."""
from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings


def _quiet() -> None:
    # Lightning's start-up chatter (GPU/TPU availability, tips) hides the numbers a reader came for.
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric",
                 "pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "pytorch_lightning.accelerators.cuda", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # open_clip announces (on the root logger) that the tiny CLIP starts untrained; stage 0 is what trains it
    logging.getLogger().addFilter(lambda record: "No pretrained weights loaded" not in record.getMessage())
    warnings.filterwarnings("ignore", message=".*in eval mode at the start of training.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # val_recall is computed on rank 0 and broadcast, so every process already logs the same value
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    warnings.filterwarnings("ignore", message="No pretrained weights loaded.*")


def main(argv: list[str] | None = None) -> int:
    from .experiments import ALL_VARIANTS, PRESETS, VARIANT_GROUPS

    parser = argparse.ArgumentParser(prog="mmpaper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, text in [("world", "generate (or reuse) the world of a preset and print its Table 1"),
                      ("run", "train and evaluate variants (reusing finished run directories)"),
                      ("tables", "print Tables 2-4 and the claim checks, ours beside the paper's"),
                      ("book", "run the variants, execute every chapter with papermill and build the HTML")]:
        p = sub.add_parser(cmd, help=text)
        p.add_argument("--preset", default="cpu", help=f"one of {list(PRESETS)} (default cpu)")
        p.add_argument("--runs-dir", default=None, help="where run directories live (default: runs/)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        if cmd == "book":
            p.add_argument("--out", default=None, help="build directory (default: _build/<preset>)")
        if cmd == "run":
            p.add_argument("--variant", default="all", help=f"a group {list(VARIANT_GROUPS)} or a comma list of {list(ALL_VARIANTS)}")
            p.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
            p.add_argument("--devices", default=None, help="processes/GPUs per run, e.g. 2 (with --strategy ddp)")
            p.add_argument("--strategy", default=None, help="Lightning strategy, e.g. ddp (default: auto)")
    args = parser.parse_args(argv)
    _quiet()
    try:
        return _dispatch(args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"mmpaper: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    from .experiments import PRESETS, Experiment, process_rank, variant_names

    if args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; valid: {list(PRESETS)}")
    overrides = {}
    if getattr(args, "devices", None):
        overrides["devices"] = int(args.devices) if args.devices.isdigit() else args.devices
    if getattr(args, "strategy", None):
        overrides["strategy"] = args.strategy
    ex = Experiment(args.preset, runs_dir=args.runs_dir, progress=not args.quiet, **overrides)
    if args.command == "world":
        from .data.world import load_world, world_config

        t0 = time.perf_counter()
        world = load_world(world_config(ex.preset.world, seed=ex.preset.seed), progress=not args.quiet)
        print(f"world {world.config.key()} at {world.path} ({time.perf_counter() - t0:.1f} s; generated in "
              f"{world.generation_seconds:.1f} s)")
        print(world.table1().to_markdown())
        return 0
    if args.command == "book":
        from .book import build

        build(args.preset, runs_dir=args.runs_dir, out=args.out, progress=not args.quiet)
        return 0
    if args.command == "run":
        names = variant_names(args.variant)
        for name in names:
            t0 = time.perf_counter()
            r = ex.run(name, force=args.force)
            if process_rank() > 0:  # a DDP worker Lightning launched by re-running this command: rank 0 reports
                continue
            m = r.metrics
            state = "reused" if r.reused else f"{time.perf_counter() - t0:.1f} s"
            if "recall" in m:
                scores = (f"R@{m['k']} {100 * m['recall']:5.1f}  E {100 * m['E']:5.1f}  S {100 * m['S']:5.1f}  "
                          f"C {100 * m['C']:5.1f}  I {100 * m['I']:5.1f}")
            else:
                scores = "  ".join(f"{key} {100 * m[key]:5.1f}" for key in m if "@" in key)
            print(f"{name:20s} {scores}  ({state}; {r.directory})", flush=True)
        return 0
    from .report import write_tables

    tables = write_tables(ex)
    for name, title in [("table2", "Table 2: recall@100 and label precision (%)"),
                        ("table3", "Table 3: overlap with BiBERT's top-100"),
                        ("table4", "Table 4: net matches against BiBERT"),
                        ("visual", "Visual search (KDD 2024): query photos against product images (%)"),
                        ("claims", "The papers' claims")]:
        if name in tables:
            print(f"\n## {title}\n")
            print(tables[name].to_markdown())
    print(f"\nMarkdown and CSV in {ex.runs_dir / 'tables'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
