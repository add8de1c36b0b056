"""The command line: ``python -m mmpaper COMMAND ...``, COMMAND one of :data:`COMMANDS`.

Every option is checked before any work starts (no world generated, no model trained, nothing written): a bad
value ends the command with one line, ``mmpaper: error: ...`` naming the option, the value and what is valid,
and exit status 2. ``--debug`` shows the traceback instead.

Adding a subcommand: ``p = command(sub, "name", "help", func, runs=True, training=False)`` gives it the common
options (``--preset``, ``--runs-dir``, ``--quiet``, ``--debug``; with ``training=True`` also ``--devices`` and
``--strategy``) and its handler ``func(args)`` (``set_defaults(func=...)``); :func:`validate` checks every option
the parsed arguments carry. Value checkers for ``type=`` (:func:`positive_int`, :func:`seed_list`,
:func:`devices_value`) raise ``ArgumentTypeError``, which ends as the same one line. Handlers that read runs build
their :class:`~mmpaper.experiments.Experiment` with :func:`experiment`; the others never make one. This module
prints; the library logs.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from .calibrate import CalibrationError, calibrate
from .data.cache import load_world
from .data.download import (GROCERY_DIR, DownloadError, default_mirror, download_esci, download_grocery,
                            format_status, grocery_status, status)
from .data.esci import missing_files
from .data.manifest import CorruptCacheError
from .data.schema import CatalogError
from .distributed import process_rank
from .experiments import Experiment
from .figures import FIGURES, FORMATS, draw, save
from .logs import quiet_libraries, set_level
from .paper import ALL_VARIANTS, CONSISTENT, variant, variant_names
from .paths import CACHE_ENV, ROOT, default_cache_dir, default_runs_dir, recorded_dir
from .presets import PRESETS
from .realphotos import REAL_PHOTO_CONFIGS
from .realphotos_sweep import real_photo_study, write_record
from .report import ensemble
from .report.claims import claim_definitions
from .report.tables import write_tables
from .robustness import check_corners, robustness
from .stats import VERDICT_RULE
from .sweep import seed_sweep
from .train import NonFiniteLossError
from . import __version__, book

EXIT_USAGE = 2         # a bad option, preset or input file: nothing was started
EXIT_FAILED = 1        # the work started and failed (e.g. a NaN loss)
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """A command-line value that cannot work; the message names the option, the value and what is valid."""


# ----------------------------------------------------------------------------------------- value checkers
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(text).strip() != str(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def devices_value(text: str) -> int | str:
    """``--devices``: a positive number of processes/GPUs, or ``auto``."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer or 'auto'") from None


def seed_list(text: str) -> list[int]:
    """``--seeds 0,1,2``: a comma list of non-negative integers."""
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of non-negative integers, e.g. 0,1,2")
    return seeds


def preset_name(text: str) -> str:
    if text not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown preset {text!r}; valid: {list(PRESETS)}")
    return text


def variant_spec(text: str) -> list[str]:
    try:
        return variant_names(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# ------------------------------------------------------------------------------------------------ parser
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors too end as one line (no usage block), exit status 2
        raise UsageError(message)


def command(sub, name: str, text: str, func, *, runs: bool = True, training: bool = False) -> argparse.ArgumentParser:
    """A subcommand with the common options and its handler; :func:`validate` checks each option before any work
    starts."""
    p = sub.add_parser(name, help=text, description=text)
    p.set_defaults(func=func)
    p.add_argument("--preset", default="cpu", type=preset_name, help="a preset: smoke, cpu, gpu or esci (default cpu)")
    if runs:
        p.add_argument("--runs-dir", default=None, help="where run directories live (default: runs/ beside the cache)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    if training:
        p.add_argument("--devices", default=None, type=devices_value,
                       help="processes/GPUs per run: a positive integer or auto, e.g. 2 (with --strategy ddp)")
        p.add_argument("--strategy", default=None, help="a Lightning strategy, e.g. ddp (default: auto)")
    return p


COMMANDS = "{world,run,runs,tables,robustness,book,book-check,figure,calibrate,data,real-photos,cache-key,pin-release}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmpaper", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar=COMMANDS)
    command(sub, "world", "generate (or reuse) the world of a preset, or read the ESCI files, and print its Table 1",
            _world, runs=False)
    p = command(sub, "run", "train and evaluate variants (reusing finished run directories)", _run, training=True)
    p.add_argument("--variant", default="all", type=variant_spec,
                   help="all, table2, visual, or a comma list of variant names")
    p.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
    command(sub, "runs", "list the finished and incomplete run directories of a preset", _runs)
    p = command(sub, "tables", "print Tables 2-4 and the claim checks, ours beside the paper's", _tables)
    p.add_argument("--seeds", default=None, type=seed_list,
                   help="e.g. 0,1,2: run the whole study on each seed (world and training), report every claim's "
                        "verdict per seed and pooled, and record it under runs/<preset>/tables/seeds/")
    p = command(sub, "robustness", "judge every claim across an ensemble of worlds that all reproduce the two "
                                   "baselines (each corner calibrated, then the whole study); writes the record the "
                                   "reproduction report shows (hours on 2 cores; resumes)", _robustness)
    p.add_argument("--trials", default=8, type=positive_int,
                   help="calibration trials per corner (default 8; a finished corner's are reused)")
    p.add_argument("--max-trials", default=None, type=positive_int,
                   help="trials a corner still outside the tolerance after --trials may search on to (default "
                        "twice --trials)")
    p.add_argument("--worlds", default=None, type=positive_int,
                   help="only the first N corners (default: all 8)")
    p.add_argument("--corners", default=None, type=lambda v: [c.strip() for c in v.split(",") if c.strip()],
                   help="only these corners, a comma list of ids such as image:high-popularity:low-seen:matcher "
                        "(worlds already recorded stay in the record)")
    p.add_argument("--record", default=None,
                   help="where to write the record (default book/recorded/robustness_<preset>.json)")
    p.add_argument("--within", default=CONSISTENT, type=float,
                   help=f"the worst baseline deviation (tolerance units) a world may have and count (default "
                        f"{CONSISTENT})")
    p = command(sub, "book", "run the variants, execute every chapter with papermill and build the HTML", _book)
    p.add_argument("--out", default=None, help="build directory (default: _build/<preset>)")
    p = command(sub, "book-check", "screenshot every page of the built book in headless Chromium and report "
                                   "tables or figures wider than the column, small figure text and HTML problems",
                _book_check, runs=False)
    p.add_argument("--out", default=None, help="the build directory that `book` wrote (default: _build/<preset>)")
    p = command(sub, "figure", "regenerate one figure of the book from the run directories, without executing "
                               "its chapter (--list names them)", _figure)
    p.add_argument("name", nargs="?", default=None, help="a figure name, as --list prints them")
    p.add_argument("--out", default=None, help="the file to write, F.png, F.svg or F.pdf (default: NAME.png)")
    p.add_argument("--list", action="store_true", help="list every figure of the book with its chapter, and exit")
    p = command(sub, "calibrate", "calibrate the embedded world on the paper's two single-modality baselines "
                                  "(BiBERT, CLIP zero-shot) and Table 1's shape, and write the record", _calibrate)
    p.add_argument("--trials", default=20, type=positive_int, help="candidate settings to try (default 20)")
    p.add_argument("--seeds", default=[0, 1, 2], type=seed_list,
                   help="seeds the best candidates are checked on (default 0,1,2; the first --search-seeds of "
                        "them score each trial)")
    p.add_argument("--search-seeds", default=1, type=positive_int,
                   help="how many of --seeds each trial is scored on (default 1; more is slower and keeps the "
                        "search from fitting one seed)")
    p.add_argument("--verify-top", default=3, type=positive_int,
                   help="how many of the best candidates to check on every seed (default 3)")
    p.add_argument("--record", default=None,
                   help="where to write the record (default data_cards/calibration_<world preset>.json)")
    command(sub, "cache-key", "print what a CI cache of a preset's worlds and runs is keyed by, as name=value lines "
                              "(GitHub Actions outputs): the package version and the world key", _cache_key,
            runs=False)
    _add_data_parser(sub)
    _add_real_photos_parser(sub)
    _add_pin_release_parser(sub)
    return parser


def _add_real_photos_parser(sub) -> None:
    """``real-photos``: the visual-search claim on the Grocery Store photos (no preset: its own configs)."""
    text = ("train the visual-search models on the Grocery Store dataset's real photos (image-to-image and 3-tower, "
            "one per seed), judge the claim per seed and pooled, and print (or --record) the result")
    p = sub.add_parser("real-photos", help=text, description=text)
    p.set_defaults(func=_real_photos)
    p.add_argument("--config", default="cpu", choices=list(REAL_PHOTO_CONFIGS),
                   help="the training budget and encoder (default cpu; smoke is seconds)")
    p.add_argument("--seeds", default=[0, 1, 2], type=seed_list, help="comma list of seeds (default 0,1,2)")
    p.add_argument("--dir", default=GROCERY_DIR, help=f"the verified data (default {GROCERY_DIR}; fetch it with "
                                                      f"`python -m mmpaper data grocery`)")
    p.add_argument("--runs-dir", default=None, help="where run directories live (default: runs/ beside the cache)")
    p.add_argument("--record", nargs="?", const="", default=None,
                   help="write the record (machine, date, commit, seconds, effects, verdicts); without a path to "
                        "book/recorded/grocery_visual_search.json")
    p.add_argument("--force", action="store_true", help="retrain even if finished runs exist")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_pin_release_parser(sub) -> None:
    """``pin-release``: name the release the chapters install (no preset: it edits the book's files)."""
    text = ("name the release the chapters' Colab cells install: writes _config.yml's repository url, release_tag "
            "and release_commit and every chapter's install line, then the .ipynb twins (commit them)")
    p = sub.add_parser("pin-release", help=text, description=text)
    p.set_defaults(func=_pin_release)
    p.add_argument("--tag", required=True, help="the release tag, e.g. v0.3.0 (it must exist in this checkout)")
    p.add_argument("--commit", default=None, help="the tag's full commit (default: git rev-parse TAG^{commit})")
    p.add_argument("--url", default=None, help="the repository, https://github.com/OWNER/REPO (default: the one "
                                               "_config.yml names)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def _add_data_parser(sub) -> None:
    """``data esci`` / ``data status``: the public files, without a preset (they are what the esci preset reads)."""
    data = sub.add_parser("data", help="fetch and check the public data: ESCI + SQID (the esci preset) and the "
                                       "Grocery Store photos (real-photos)")
    data.set_defaults(func=_data)
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="{esci,grocery,status}")
    for cmd, text in [("esci", "fetch the ESCI (and SQID) files with progress bars, resuming partial downloads; "
                               "sizes, sha256 and columns checked against the manifest shipped in the package"),
                      ("status", "say which files are there, partial, missing or failing their checks")]:
        p = dsub.add_parser(cmd, help=text, description=text)
        p.add_argument("--dir", default="data/esci", help="where the files go (default data/esci, the esci "
                                                          "preset's esci_dir)")
        p.add_argument("--no-sqid", action="store_true", help="ESCI only, without SQID's CLIP features")
        p.add_argument("--manifest", default=None, help="a manifest JSON to check against instead of the shipped "
                                                        "one (e.g. a mirror's)")
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        if cmd == "esci":
            p.add_argument("--mirror", default=default_mirror(),
                           help="fetch <mirror>/<file name> (a URL or a folder) instead of the projects' URLs "
                                "(default: $MMPAPER_DATA_MIRROR)")
            p.add_argument("--retries", type=int, default=4, help="retries per file, with exponential backoff")
            p.add_argument("--quiet", action="store_true", help="no progress bars")
        else:
            p.add_argument("--dataset", default="all", choices=["all", "esci", "grocery"],
                           help="which data sets to report (default all)")
            p.add_argument("--grocery-dir", default=GROCERY_DIR,
                           help=f"where the Grocery Store data is (default {GROCERY_DIR})")
    text = ("fetch the Grocery Store dataset (the archive of a pinned commit), unpack it and verify every file "
            "(size, sha256, the split lists, every photo decodes) against the manifest shipped in the package")
    p = dsub.add_parser("grocery", help=text, description=text)
    p.add_argument("--dir", default=GROCERY_DIR, help=f"where the data goes (default {GROCERY_DIR})")
    p.add_argument("--mirror", default=default_mirror(),
                   help="fetch <mirror>/<archive name> (a URL or a folder, e.g. ../shared/data) instead of GitHub "
                        "(default: $MMPAPER_DATA_MIRROR)")
    p.add_argument("--retries", type=int, default=4, help="retries, with exponential backoff")
    p.add_argument("--force", action="store_true", help="unpack and verify again even if a verified copy is there")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


# -------------------------------------------------------------------------------------------- validation
def check_writable_dir(path: str | Path, what: str) -> Path:
    """``path`` is a directory that exists, or can be made, and can be written; else a :class:`UsageError`.
    Nothing is created: the nearest existing ancestor is probed with an unnamed temporary file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a file, not a directory")
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{what} {str(path)!r} cannot be made: {str(probe)!r} is a file")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        where = "" if probe == path else f" ({str(probe)!r} is the nearest existing folder)"
        raise UsageError(f"{what} {str(path)!r} is not writable: {err.strerror}{where}") from None
    return path


def _check_training(preset, devices, strategy) -> None:
    """Lightning's own check of accelerator, devices and strategy, done now rather than after stage 0."""
    import pytorch_lightning as pl  # loaded already by the experiments; its strategy registry is asked for here
    from pytorch_lightning.strategies import StrategyRegistry

    valid = ["auto", *StrategyRegistry.available_strategies()]
    if strategy is not None and strategy not in valid:
        raise UsageError(f"argument --strategy: unknown Lightning strategy {strategy!r}; valid: {valid}")
    try:
        pl.Trainer(accelerator=preset.accelerator, devices=devices or preset.devices,
                   strategy=strategy or preset.strategy, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False)
    except Exception as err:  # noqa: BLE001 - Lightning's MisconfigurationException, ValueError, ImportError...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
        raise UsageError(f"preset {preset.name!r} (accelerator {preset.accelerator!r}) with --devices "
                         f"{devices or preset.devices} and --strategy {strategy or preset.strategy}: {reason}") from None


def validate(args) -> None:
    """Check every option the parsed ``args`` carry, before any work; raises :class:`UsageError`."""
    preset = PRESETS[args.preset]
    if args.command in ("calibrate", "robustness") and preset.world == "esci":
        raise UsageError(f"argument --preset: {args.preset!r} reads public data; only the embedded world is "
                         f"calibrated (valid: {[n for n, p in PRESETS.items() if p.world != 'esci']})")
    if args.command == "calibrate" and args.search_seeds > len(args.seeds):
        raise UsageError(f"argument --search-seeds: {args.search_seeds} is more than the {len(args.seeds)} seeds of "
                         f"--seeds")
    if args.command == "robustness" and args.corners:
        try:
            check_corners(args.corners)
        except ValueError as err:
            raise UsageError(f"argument --corners: {err}") from None
    if CACHE_ENV in os.environ and not os.environ[CACHE_ENV].strip():
        raise UsageError(f"{CACHE_ENV} is set but empty; set it to a directory, or unset it")
    needs_world = args.command in ("world", "run", "book", "calibrate", "robustness") and preset.world != "esci"
    if needs_world:
        cache = default_cache_dir()
        what = CACHE_ENV if CACHE_ENV in os.environ else "the cache directory"
        check_writable_dir(cache, what)
    if hasattr(args, "runs_dir") and args.command != "runs":
        if args.runs_dir is not None:
            check_writable_dir(args.runs_dir, "--runs-dir")
        else:
            what = f"{CACHE_ENV} (runs go beside it)" if CACHE_ENV in os.environ else "the runs directory"
            check_writable_dir(default_runs_dir(), what)
    if args.command == "figure":
        _validate_figure(args)
    elif getattr(args, "out", None) is not None and args.command != "book-check":
        check_writable_dir(args.out, "--out")
    if preset.world == "esci" and args.command in ("world", "run", "book", "calibrate"):
        missing = [name for name, _ in missing_files(Path(preset.esci_dir))]
        if missing:
            raise UsageError(f"preset 'esci' reads the public ESCI + SQID files from {preset.esci_dir!r}, which lacks "
                             f"{', '.join(missing)}; fetch them with: python -m mmpaper data esci --dir {preset.esci_dir}")
    variants = getattr(args, "variant", None)
    if preset.world == "esci" and variants:
        world_only = [n for n in ALL_VARIANTS if variant(n).visual or variant(n).needs_intents]
        asked = [n for n in variants if n in world_only]
        if asked and set(asked) == set(world_only) and len(variants) > len(asked):
            args.variant = [n for n in variants if n not in world_only]  # `all` on ESCI: the rows it can have
        elif asked:
            what = "query photos" if variant(asked[0]).visual else "true shopper intents"
            raise UsageError(f"argument --variant: {asked[0]!r} needs the world's {what}, which preset 'esci' "
                             f"lacks; use --variant table2")
    if args.command in ("run", "book", "calibrate", "robustness"):  # they train: Lightning's own check, now
        _check_training(preset, getattr(args, "devices", None), getattr(args, "strategy", None))


# ------------------------------------------------------------------------------------------------- main
def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    if isinstance(err, KeyError) and err.args:
        text = f"missing key {err.args[0]!r}"
    lines = text.splitlines()
    return (lines[0] + (" ..." if len(lines) > 1 else "")) if lines else err.__class__.__name__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command in ("data", "pin-release"):
            return args.func(args)
        if args.command == "real-photos":
            check_writable_dir(args.runs_dir or default_runs_dir(), "--runs-dir")
        else:
            validate(args)
    except UsageError as err:
        if debug:
            raise
        print(f"mmpaper: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    quiet_libraries()
    if getattr(args, "quiet", False):
        set_level(logging.WARNING)
    try:
        return args.func(args)
    except KeyboardInterrupt as err:
        if debug:
            raise
        print(f"mmpaper: interrupted: {_one_line(err) if str(err) else 'rerun the same command to resume'}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, CatalogError, CalibrationError, FileNotFoundError) as err:
        if debug:
            raise
        print(f"mmpaper: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except (NonFiniteLossError, CorruptCacheError) as err:
        if debug:
            raise
        print(f"mmpaper: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    except (book.ChapterError, book.BookBuildError) as err:  # already readable, and they say where the full log is
        if debug:
            raise
        print(f"mmpaper: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # noqa: BLE001 - anything else is a bug: one line here, the traceback with --debug
        if debug:
            raise
        print(f"mmpaper: error: {err.__class__.__name__}: {_one_line(err)} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED


# ---------------------------------------------------------------------------------------------- handlers
def _overrides(args) -> dict:
    overrides = {}
    if getattr(args, "devices", None):
        overrides["devices"] = args.devices
    if getattr(args, "strategy", None):
        overrides["strategy"] = args.strategy
    return overrides


def experiment(args) -> Experiment:
    """The experiment a command reads or trains: the preset, its runs directory and any device options."""
    return Experiment(args.preset, runs_dir=getattr(args, "runs_dir", None), progress=not args.quiet,
                      **_overrides(args))


def _world(args) -> int:
    ex = experiment(args)
    t0 = time.perf_counter()
    if ex.preset.world == "esci":
        cat = ex.catalog  # ESCI + SQID read from the preset's directory
        print(f"ESCI + SQID from {Path(ex.preset.esci_dir).resolve()} ({time.perf_counter() - t0:.1f} s): "
              f"{len(cat.products)} products, {len(cat.queries)} queries")
        for line in cat.coercions:
            print(f"  note: {line}")
        print(cat.table1().to_markdown())
        return 0
    world = load_world(ex.world_config(), ex.cache_dir, progress=not args.quiet)
    print(f"world {world.config.key()} at {world.path} ({time.perf_counter() - t0:.1f} s; generated in "
          f"{world.generation_seconds:.1f} s)")
    print(world.table1().to_markdown())
    return 0


def _run(args) -> int:
    ex = experiment(args)
    for name in args.variant:
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


def _tables(args) -> int:
    if args.seeds:
        return _seed_sweep(args)
    ex = experiment(args)
    tables = write_tables(ex)
    for name, title in [("table2", "Table 2: recall@100 and label precision (%)"),
                        ("controls", "Control rows (not the paper's; never part of a claim)"),
                        ("table3", "Table 3: overlap with BiBERT's top-100"),
                        ("table4", "Table 4: net matches against BiBERT"),
                        ("visual", "Visual search (KDD 2024): query photos against product images (%)"),
                        ("claims_summary", "The papers' claims: one verdict per claim"),
                        ("claims", "Every part of every claim: effect and 95% paired-bootstrap interval")]:
        if name in tables:
            print(f"\n## {title}\n")
            print(_claims_view(tables[name]).to_markdown() if name == "claims" else
                  tables[name].round(1).to_markdown())
    print(f"\n{VERDICT_RULE}\nMarkdown and CSV (claims.csv: every column) in {ex.runs_dir / 'tables'}")
    return 0


def _claims_view(parts: pd.DataFrame) -> pd.DataFrame:
    """The columns of the claims table that fit a terminal; claims.csv keeps them all."""
    view = parts[["claim_id", "part", "rule", "effect", "ci_low", "ci_high", "verdict", "paper"]].copy()
    return view.round({"effect": 2, "ci_low": 2, "ci_high": 2}).set_index("claim_id")


def _seed_sweep(args) -> int:
    """``tables --seeds 0,1,2``: the whole study per seed, every claim's verdict per seed and pooled."""
    sweep = seed_sweep(args.preset, args.seeds, runs_dir=getattr(args, "runs_dir", None),
                       progress=not args.quiet, **_overrides(args))
    print(f"\n## The papers' claims on seeds {', '.join(map(str, args.seeds))}\n")
    print(sweep.summary.drop(columns="claim").to_markdown())
    view = sweep.pooled[["claim_id", "part", "rule", "pooled effect", "pooled ci_low", "pooled ci_high", "spread",
                         "pooled verdict", "seeds agree"]].round(2).set_index("claim_id")
    print("\n## Every part, pooled over the seeds\n")
    print(view.to_markdown())
    differ = sweep.record["claims_whose_verdict_differs"]
    print(f"\nVerdicts that differ between seeds: {', '.join(differ) if differ else 'none'}")
    print(f"Record (machine, date, every verdict) in {sweep.directory / 'sweep.json'}")
    return 0


def _robustness(args) -> int:
    record = robustness(args.preset, trials=args.trials, max_trials=args.max_trials, worlds=args.worlds,
                        only=args.corners, runs_dir=args.runs_dir,
                        out=args.record, progress=not args.quiet, consistent_within=args.within)
    summary = ensemble.summary(record, texts={c.id: c.text for c in claim_definitions()})
    n = len(ensemble.consistent_worlds(record))
    print(f"\n## The claims across {n} baseline-consistent worlds (of {len(record['worlds'])} calibrated)\n")
    print(summary.drop(columns=["book's world"]).to_markdown() if len(summary) else "no world is consistent")
    print(f"\nRecord (machine, date, every world's settings, deviations and verdicts): "
          f"{args.record or recorded_dir() / f'robustness_{args.preset}.json'}")
    return 0


def _book(args) -> int:
    html = book.build(args.preset, runs_dir=args.runs_dir, out=args.out, progress=not args.quiet)
    print(f"the book: {html / 'index.html'}")
    return 0


def _cache_key(args) -> int:
    print(f"version={__version__}")
    print(f"world={Experiment(args.preset, progress=False).world_key()}")
    return 0


def _pin_release(args) -> int:
    try:
        commit = args.commit or subprocess.run(["git", "rev-parse", "--verify", f"{args.tag}^{{commit}}"], cwd=ROOT,
                                               capture_output=True, text=True, check=True).stdout.strip()
        written = book.pin_release(args.tag, commit, args.url)
    except subprocess.CalledProcessError:
        print(f"mmpaper: error: argument --tag: no tag {args.tag!r} in this checkout (git tag {args.tag} first, or "
              f"give --commit)", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:
        print(f"mmpaper: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    book.sync_notebooks()
    for path in written:
        print(f"wrote {path.relative_to(ROOT)} (and its .ipynb twin)" if path.suffix == ".py" else
              f"wrote {path.relative_to(ROOT)}")
    print(f"the chapters now install {args.tag} ({commit}); commit these files, and build the book from that commit")
    return 0


def _book_check(args) -> int:
    out = Path(args.out) if args.out else ROOT / "_build" / args.preset
    problems = book.browser_check(out / "_build" / "html", out / "screenshots")
    for p in problems:
        print(f"PROBLEM {p}")
    print(f"book-check: {len(problems)} problem(s); screenshots in {out / 'screenshots'}")
    return EXIT_FAILED if problems else 0


def _calibrate(args) -> int:
    record = calibrate(args.preset, trials=args.trials, seeds=tuple(args.seeds), verify_top=args.verify_top,
                       search_seeds=args.search_seeds,
                       workdir=Path(args.runs_dir or default_runs_dir()) / "calibration" / args.preset,
                       out=args.record, progress=not args.quiet)
    return 0 if record["status"] in ("calibrated", "baseline-consistent") else EXIT_FAILED


def _validate_figure(args) -> None:
    """``figure``: a known name (unless --list) and an --out whose suffix is a format and whose folder is writable."""
    if args.list:
        return
    if args.name is None:
        raise UsageError("figure: give a figure NAME, or --list to see them")
    if args.name not in FIGURES:
        raise UsageError(f"figure: unknown figure {args.name!r}; valid: {sorted(FIGURES)}")
    out = Path(args.out or f"{args.name}.png")
    if out.suffix.lstrip(".").lower() not in FORMATS:
        raise UsageError(f"argument --out: {str(out)!r} must end in one of {['.' + f for f in FORMATS]}")
    if out.is_dir():
        raise UsageError(f"argument --out: {str(out)!r} is a directory; give a file name such as {args.name}.png")
    check_writable_dir(out.parent if str(out.parent) else Path("."), "the folder of --out")


def _figure(args) -> int:
    if args.list:
        for name, spec in sorted(FIGURES.items(), key=lambda item: (item[1].chapter, item[0])):
            print(f"{name:22s} {spec.chapter:24s} {spec.title}")
        return 0
    ex = experiment(args)
    out = save(draw(args.name, ex), args.out or f"{args.name}.png")
    print(f"wrote {out} (figure {args.name!r} of {FIGURES[args.name].chapter}, preset {ex.preset.name!r})")
    return 0


def _runs(args) -> int:
    ex = experiment(args)
    rows = ex.runs()
    if not rows:
        print(f"no runs for preset {ex.preset.name!r} in {ex.runs_dir}")
        return 0
    print(f"runs of preset {ex.preset.name!r} in {ex.runs_dir}")
    table = pd.DataFrame(rows)[["stage", "hash", "state", "detail"]]
    print(table.to_markdown(index=False))
    counts = table["state"].value_counts()
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def _data(args) -> int:
    """Exit 0 when every file is in place and passes its checks, 1 when some are missing or bad, 2 on an error."""
    try:
        if args.data_command == "esci":
            check_writable_dir(args.dir, "--dir")
            download_esci(args.dir, sqid=not args.no_sqid, mirror=args.mirror, manifest=args.manifest,
                          retries=args.retries, progress=not args.quiet)
        if args.data_command == "grocery":
            check_writable_dir(args.dir, "--dir")
            root = download_grocery(args.dir, mirror=args.mirror, retries=args.retries, progress=not args.quiet,
                                    force=args.force)
            rows = grocery_status(args.dir, hashes=False)  # every file was hashed while it was unpacked
            print(format_status(rows, args.dir, "grocery"))
            print(f"ready: {root}")
            return 0
        blocks = []
        if args.data_command == "esci" or args.dataset in ("all", "esci"):
            blocks.append((status(args.dir, sqid=not args.no_sqid, manifest=args.manifest), args.dir, "esci"))
        if args.data_command == "status" and args.dataset in ("all", "grocery"):
            blocks.append((grocery_status(args.grocery_dir), args.grocery_dir, "grocery"))
    except KeyboardInterrupt:
        print(f"mmpaper: interrupted: rerun the same command to resume the partial files in {args.dir}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DownloadError, UsageError) as err:
        if getattr(args, "debug", False):
            raise
        print(f"mmpaper: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(format_status(rows, directory, command) for rows, directory, command in blocks))
    return 0 if all(r.ok for rows, _, _ in blocks for r in rows) else EXIT_FAILED


def _real_photos(args) -> int:
    """``real-photos``: both models on every seed (finished runs reused), the claim per seed and pooled."""
    from .report import views  # the tables as the book prints them

    study = real_photo_study(args.config, args.seeds, data_dir=args.dir, runs_dir=args.runs_dir,
                             progress=not args.quiet, force=args.force)
    record = study.record
    print(f"\n## Real photos (Grocery Store, config {args.config!r}, seeds {', '.join(map(str, args.seeds))}): "
          f"test metrics (%)\n")
    print(views.real_photo_metrics(record).to_markdown())
    print("\n## Paired effects, 3-tower against image-to-image (points, 95% BCa interval; ✓ holds, ✗ does not "
          "hold, ? inconclusive)\n")
    print(views.real_photo_effects(record).to_markdown())
    for seed, models in record["seconds"].items():
        times = ", ".join(f"{m} {v['train']:.0f} s (CPU {v['train_cpu']:.0f} s) + eval {v['eval']:.0f} s "
                          f"({v['threads']} threads)" for m, v in models.items() if m != "all models")
        total = models["all models"]
        print(f"seed {seed}: {times}; all models {total['wall']:.0f} s (CPU {total['cpu']:.0f} s)")
    print("\nverdicts: " + "; ".join(f"{cid}: {v['pooled']}" for cid, v in record["verdicts"].items()))
    if args.record is not None:
        path = write_record(record, args.record or None)
        print(f"record written to {path}")
    return 0
