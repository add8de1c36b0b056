"""The recorded results the book shows but does not re-run: the calibration record of a world preset
(``data_cards/calibration_<world>.json``), the recorded seed sweep (``book/recorded/claims_seeds_<preset>``) and the
ensemble of baseline-consistent worlds (``book/recorded/robustness_<preset>.json``) and the real-photo study
(``book/recorded/grocery_visual_search.json``)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..paths import calibration_record, recorded_dir


def calibration_path(world: str, directory: str | Path | None = None) -> Path:
    path = calibration_record(world)
    return Path(directory) / path.name if directory else path


def load_calibration(world: str, directory: str | Path | None = None) -> dict | None:
    """The calibration record of a world preset (``data_cards/calibration_<world>.json``), or None if absent."""
    return _read_record(calibration_path(world, directory))


def _read_record(path: Path) -> dict | None:
    """A recorded JSON result, None when absent; a broken file is a one-line error naming it."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def seed_sweep_path(preset: str, directory: str | Path | None = None) -> Path:
    return Path(directory or recorded_dir()) / f"claims_seeds_{preset}.json"


def load_seed_sweep(preset: str, directory: str | Path | None = None) -> tuple[dict, pd.DataFrame] | None:
    """The recorded seed sweep of a preset (``python -m mmpaper tables --seeds``, copied to ``book/recorded``): its
    record (machine, date, commit) and its per-claim verdicts per seed; None when none was recorded."""
    path = seed_sweep_path(preset, directory)
    table = path.with_suffix(".csv")
    if not path.exists() or not table.exists():
        return None
    return json.loads(path.read_text()), pd.read_csv(table)


def load_seed_sweep_parts(preset: str, directory: str | Path | None = None) -> pd.DataFrame | None:
    """Every claim part of the recorded seed sweep (``claims_by_seed.csv``, copied beside the record as
    ``claims_seeds_<preset>_parts.csv``): its effect and interval per seed, pooled, and its verdicts; None when
    absent."""
    path = seed_sweep_path(preset, directory)
    parts = path.with_name(f"{path.stem}_parts.csv")
    return pd.read_csv(parts) if parts.exists() else None


def robustness_path(preset: str, directory: str | Path | None = None) -> Path:
    return Path(directory or recorded_dir()) / f"robustness_{preset}.json"


def load_robustness(preset: str, directory: str | Path | None = None) -> dict | None:
    """The recorded ensemble of worlds of a preset (``python -m mmpaper robustness``), or None if absent."""
    return _read_record(robustness_path(preset, directory))


REAL_PHOTO_RECORD = "grocery_visual_search.json"  # python -m mmpaper real-photos --seeds 0,1,2 --record


def real_photo_record_path(directory: str | Path | None = None) -> Path:
    return Path(directory or recorded_dir()) / REAL_PHOTO_RECORD


def load_real_photo_record(directory: str | Path | None = None) -> dict | None:
    """The recorded real-photo study (the visual-search claim on the Grocery Store dataset, several seeds): machine,
    date, commit, seconds, metrics and every part's effect, interval and verdict per seed and pooled; None when
    none was recorded."""
    return _read_record(real_photo_record_path(directory))
