"""Files written whole or not at all, file hashes and config hashes: one home for each (imports nothing from
the package).

Every atomic write goes to a temporary sibling with a unique name (``.<name>.<pid>.<random>.tmp``) and is moved
into place with ``os.replace``, so a reader never sees half a file and two writers never share a temporary file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def write_json(path: str | Path, obj, *, indent: int = 2) -> Path:
    """JSON written atomically (floats that NumPy gives are written as floats)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=float) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def atomic_save(path: str | Path, save) -> Path:
    """``save(tmp_path)`` writes a file its own way (``torch.save``, ``np.save``); the result is moved into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def config_hash(obj, length: int = 12) -> str:
    """A short, stable hash of a JSON-able config (keys sorted; anything else by ``str``)."""
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]
