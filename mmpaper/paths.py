"""Where things live: the repository root, the cache of generated worlds, the run directories and the records
the book shows. The one place these paths are computed (imports nothing from the package).

The recorded results the chapters show (the calibration record, the seed sweep, the benchmarks) live in the source
checkout (``data_cards/``, ``book/recorded/``, ``benchmarks/results/``), where the commands that record them write;
the wheel ships the same files as package data under ``mmpaper/recorded/`` (``pyproject.toml``'s package-dir), so
an installed mmpaper (Colab) reads them there."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root, in a source checkout
PACKAGE = Path(__file__).resolve().parent
SHIPPED = PACKAGE / "recorded"  # the recorded results as an installed wheel ships them
CACHE_ENV = "MMPAPER_CACHE"


def in_checkout() -> bool:
    """Whether the package is imported from a source checkout (the repository's files are beside it)."""
    return (ROOT / "pyproject.toml").is_file() and (ROOT / "mmpaper").is_dir()


def source_checkout() -> bool:
    """Whether the package runs from a writable source checkout (not an installed wheel)."""
    return (ROOT / "pyproject.toml").exists() and os.access(ROOT, os.W_OK)


def default_cache_dir() -> Path:
    """``$MMPAPER_CACHE``, else ``cache/`` in a source checkout, else ``~/.cache/mmpaper``."""
    if CACHE_ENV in os.environ:
        return Path(os.environ[CACHE_ENV])
    if source_checkout():
        return ROOT / "cache"
    return Path.home() / ".cache" / "mmpaper"


def default_runs_dir() -> Path:
    """``runs/`` beside the cache directory (``cache/`` → ``runs/``), else ``<cache>/runs``."""
    cache = default_cache_dir()
    return cache.parent / "runs" if cache.name == "cache" else cache / "runs"


def _recorded(checkout: str, shipped: str) -> Path:
    return ROOT / checkout if in_checkout() else SHIPPED / shipped


def calibration_record(world_preset: str) -> Path:
    """The calibration record of a world preset (``data_cards/calibration_<world>.json``)."""
    return _recorded("data_cards", "calibration") / f"calibration_{world_preset}.json"


def recorded_dir() -> Path:
    """Where the book keeps runs it shows but does not re-run (seed sweeps, the ensemble of worlds)."""
    return _recorded("book/recorded", "seed_sweeps")


def benchmark_results() -> Path:
    """The benchmark scripts' JSON records (``make bench``), which the appendix shows."""
    return _recorded("benchmarks/results", "benchmarks")
