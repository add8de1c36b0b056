"""File manifests: every file's size (and SHA-256) recorded after the last write, so a cache that was cut short,
truncated or overwritten afterwards is told apart from a whole one before anything is loaded from it.

Used by the world cache (``data/world.py``) and by run directories (``mmpaper/rundirs.py``).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..fsio import atomic_write_text, sha256_file

MANIFEST = "manifest.json"
# Files above this size are checked by size only: hashing a paper-scale image array (~10 GB) on every read would
# cost more than the damage it could still catch (a truncated file already has the wrong size).
HASH_LIMIT = 256 * 2**20


class CorruptCacheError(RuntimeError):
    """A cached file is missing, truncated or changed since its manifest was written."""


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: str | Path, extra: dict | None = None) -> dict:
    """Record every file under ``directory`` (size, and SHA-256 up to :data:`HASH_LIMIT`) in ``manifest.json``,
    written last and atomically: a directory without it was never finished."""
    directory = Path(directory)
    files = {}
    for path in _files(directory):
        size = path.stat().st_size
        files[path.relative_to(directory).as_posix()] = {"size": size,
                                                         "sha256": sha256_file(path) if size <= HASH_LIMIT else None}
    manifest = {"files": files, **(extra or {})}
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise CorruptCacheError(f"{path} is missing (the directory was never finished)")
    try:
        manifest = json.loads(path.read_text())
        manifest["files"].items()
    except (ValueError, KeyError, AttributeError, TypeError) as err:
        raise CorruptCacheError(f"{path} does not parse ({err.__class__.__name__})") from err
    return manifest


def check_manifest(directory: str | Path, *, hashes: bool = True, only: list[str] | None = None) -> dict:
    """Raise :class:`CorruptCacheError` naming the first file that is missing, has another size, or (with
    ``hashes``) another SHA-256 than the manifest says. ``only`` limits the check to some files or folders."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    checked = 0
    for name, entry in manifest["files"].items():
        if only is not None and not any(name == o or name.startswith(o.rstrip("/") + "/") for o in only):
            continue
        checked += 1
        path = directory / name
        if not path.is_file():
            raise CorruptCacheError(f"{path} is missing")
        size = path.stat().st_size
        if size != entry["size"]:
            raise CorruptCacheError(f"{path} has {size} bytes, the manifest says {entry['size']} (truncated or "
                                    f"overwritten)")
        if hashes and entry.get("sha256") and sha256_file(path) != entry["sha256"]:
            raise CorruptCacheError(f"{path} has changed since it was written (SHA-256 differs from the manifest)")
    if only is not None and not checked:
        raise CorruptCacheError(f"{directory}: the manifest lists no {only[0]!r}")
    return manifest
