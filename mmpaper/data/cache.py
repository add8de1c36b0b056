"""The world cache: a generated world written once (atomically, with a manifest of every file), read back after
its files are checked, and generated only when no whole copy is there (:func:`load_world`)."""
from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from ..paths import default_cache_dir
from .manifest import CorruptCacheError, check_manifest, write_manifest
from .world import WORLD_VERSION, World, WorldConfig, generate_world, world_config

_TABLES = ("products", "queries", "purchases", "seen_negatives", "captions", "photos")
_ARRAYS = ("images", "caption_images", "photo_images")


def save_world(world: World, directory: Path) -> Path:
    """Write a world atomically: into a temporary sibling, renamed into place only when complete."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for name in _TABLES:
            getattr(world, name).to_parquet(tmp / f"{name}.parquet", index=False)
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(world, name))
        meta = {"version": WORLD_VERSION, "config": asdict(world.config), "brands": world.brands,
                "generation_seconds": world.generation_seconds,
                "table1": world.table1().reset_index().to_dict(orient="records")}
        (tmp / "world.json").write_text(json.dumps(meta, indent=2))
        write_manifest(tmp)  # last: every file's size and SHA-256, checked by read_world
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
        spool = getattr(world.images, "filename", None)
        if spool and Path(spool).parent.name.startswith("mmpaper-images-"):
            shutil.rmtree(Path(spool).parent, ignore_errors=True)  # the render spool, now copied into place
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    world.path = directory
    return directory


def read_world(directory: Path) -> World:
    """Read a saved world, after checking every file against its manifest (``CorruptCacheError`` names the first
    file that is missing, truncated or changed; a directory without a manifest was never finished)."""
    directory = Path(directory)
    check_manifest(directory, hashes=True)
    try:
        meta = json.loads((directory / "world.json").read_text())
        cfg = WorldConfig(**meta["config"])
        tables = {name: pd.read_parquet(directory / f"{name}.parquet") for name in _TABLES}
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    except (OSError, ValueError, TypeError, KeyError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise CorruptCacheError(f"{directory}: {err.__class__.__name__}: {str(err).splitlines()[0]}") from err
    return World(cfg, meta["brands"], **tables, **arrays, path=directory,
                 generation_seconds=meta.get("generation_seconds"))


def load_world(config: WorldConfig | str = "cpu", cache_dir: Path | str | None = None,
               progress: bool = False) -> World:
    """The world for a config or preset name: read from the cache, or generated and cached.

    A damaged cached world (see :func:`read_world`) is removed with a warning and generated again. A file lock
    makes a second process that asks for the same world meanwhile wait for it rather than generate it too."""
    cfg = world_config(config) if isinstance(config, str) else config
    directory = Path(cache_dir or default_cache_dir()) / "world" / cfg.key()

    def cached() -> World | None:
        if not directory.exists():
            return None
        try:
            return read_world(directory)
        except CorruptCacheError as err:
            warnings.warn(f"cached world {directory} is damaged ({err}); generating it again", stacklevel=3)
            shutil.rmtree(directory, ignore_errors=True)
            return None

    world = cached()
    if world is not None:
        return world
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory.with_name(directory.name + ".lock"))):
        world = cached()  # another process may have generated it while this one waited
        if world is not None:
            return world
        save_world(generate_world(cfg, progress=progress), directory)
    return read_world(directory)
