"""Where things live: the repository root, the cache of generated worlds, the run directories and the records
the book shows. The one place these paths are computed (imports nothing from the package)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root, in a source checkout
PACKAGE = Path(__file__).resolve().parent
CACHE_ENV = "MMPAPER_CACHE"


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


def calibration_record(world_preset: str) -> Path:
    """The calibration record of a world preset (``data_cards/calibration_<world>.json``)."""
    return ROOT / "data_cards" / f"calibration_{world_preset}.json"


def recorded_dir() -> Path:
    """Where the book keeps runs it shows but does not re-run (seed sweeps, the ensemble of worlds)."""
    return ROOT / "book" / "recorded"


def benchmark_results() -> Path:
    return ROOT / "benchmarks" / "results"
