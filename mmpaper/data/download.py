"""Fetching the public data (ESCI + SQID) and checking it against the manifest shipped with the package.

``python -m mmpaper data esci [--dir data/esci] [--no-sqid]`` calls :func:`download_esci`; ``python -m mmpaper
data status`` calls :func:`status`. Every file named in ``esci_manifest.json`` is fetched into ``<name>.part``
beside its final name, with a progress bar; an interrupted transfer resumes from the bytes already there (HTTP
``Range``), transient failures are retried with exponential backoff, and only a file whose size, sha256 (where the
project published them) and columns are right is renamed to its final name. A file that fails a check is removed,
so the loader never reads it. Every failure is one line saying what to do next.
"""
from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..fsio import sha256_file

DEFAULT_DIR = "data/esci"
CHUNK = 1 << 20
# a server that answered with these codes will answer the same way again: no retry
PERMANENT_HTTP = {400, 401, 403, 404, 410, 451}


class DownloadError(RuntimeError):
    """A public data file could not be fetched or failed its checks (the message is one line)."""


class OfflineError(DownloadError):
    """The server could not be reached at all (no network, refused, unknown host)."""

    def __init__(self, host: str, reason: str, entries: list, directory: Path, mirror: str | None):
        self.host, self.reason = host, reason
        super().__init__(f"cannot reach {host} ({reason}); offline? {_by_hand(entries, directory, mirror)}")


@dataclass(frozen=True)
class Version:
    size: int
    sha256: str
    source: str = ""


@dataclass(frozen=True)
class ManifestFile:
    name: str
    dataset: str                      # esci | sqid
    url: str
    columns: tuple[str, ...] = ()
    versions: tuple[Version, ...] = ()  # every published version known; empty: size and sha256 unknown

    @property
    def known(self) -> bool:
        return bool(self.versions)

    @property
    def expected_size(self) -> int | None:
        """The largest known published size (what the disk must hold), None when unknown."""
        return max(v.size for v in self.versions) if self.versions else None


def load_manifest(path: str | Path | None = None) -> list[ManifestFile]:
    """The files of the shipped manifest (or of ``path``, e.g. a mirror's own manifest)."""
    text = Path(path).read_text() if path else \
        resources.files("mmpaper.data").joinpath("esci_manifest.json").read_text()
    try:
        entries = json.loads(text)["files"]
        return [ManifestFile(e["name"], e["dataset"], e["url"], tuple(e.get("columns", ())),
                             tuple(Version(v["size"], v["sha256"].lower(), v.get("source", ""))
                                   for v in e.get("versions", ()))) for e in entries]
    except (KeyError, TypeError, ValueError) as err:
        raise DownloadError(f"{path or 'esci_manifest.json'}: not a valid manifest ({err!r})") from err


def manifest_files(sqid: bool = True, manifest: str | Path | list[ManifestFile] | None = None) -> list[ManifestFile]:
    files = manifest if isinstance(manifest, list) else load_manifest(manifest)
    return [f for f in files if sqid or f.dataset != "sqid"]


def file_columns(path: Path) -> list[str]:
    """Column names of a Parquet file (from its footer, without reading the data) or a CSV file's header."""
    if path.name.endswith(".parquet") or path.name.endswith(".parquet.part"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with open(path, newline="", encoding="utf-8") as f:
        import csv

        return next(csv.reader(f), [])


def check_file(entry: ManifestFile, path: Path, display: str | None = None) -> str | None:
    """What is wrong with ``path`` as ``entry`` (size, sha256, columns), or None when it passes."""
    display = display or entry.name
    size = path.stat().st_size
    if entry.known:
        sizes = sorted({v.size for v in entry.versions})
        if size not in sizes:
            return f"{display}: size {size:,} bytes, expected {' or '.join(f'{s:,}' for s in sizes)}"
        digest = sha256_file(path)
        if digest not in {v.sha256 for v in entry.versions if v.size == size}:
            return f"{display}: sha256 {digest} does not match the manifest"
    if entry.columns:
        try:
            columns = file_columns(path)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the same finding
            return f"{display}: not a readable {Path(entry.name).suffix[1:]} file ({err})"
        missing = [c for c in entry.columns if c not in columns]
        if missing:
            return f"{display}: column {missing[0]!r} is missing (columns: {columns})"
    return None


def _url(entry: ManifestFile, mirror: str | None) -> str:
    return f"{mirror.rstrip('/')}/{entry.name}" if mirror else entry.url


def _by_hand(entries: list[ManifestFile], directory: Path, mirror: str | None) -> str:
    return f"fetch by hand into {directory}/: " + "; ".join(f"{e.name} from {_url(e, mirror)}" for e in entries)


def _free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def _offline(err: BaseException) -> bool:
    """No route to the server at all (refused, unknown host, unreachable) as opposed to a transfer cut short."""
    reason = getattr(err, "reason", err)
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror)) or \
        (isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED))


def _fetch_once(url: str, part: Path, expected: int | None, timeout: float, progress: bool, name: str) -> None:
    """One attempt: continue ``part`` from its current length; raise on any failure (the caller retries)."""
    from tqdm.auto import tqdm  # a notebook widget bar or a terminal bar; it warns at import outside notebooks

    offset = part.stat().st_size if part.exists() else 0
    if expected is not None and offset > expected:  # longer than any published version: start again
        part.unlink()
        offset = 0
    if expected is not None and offset == expected:
        return
    request = urllib.request.Request(url, headers={"User-Agent": "mmpaper", **({"Range": f"bytes={offset}-"}
                                                                                 if offset else {})})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left past the bytes we have: the part is whole
            return
        raise
    with response:
        if offset and response.status != 206:  # the server ignored Range: it sends the whole file again
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else expected
        written = offset
        with open(part, "ab" if offset else "wb") as out, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                     disable=not progress, leave=False) as bar:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                written += len(block)
                bar.update(len(block))
        if total is not None and written < total:
            raise http.client.IncompleteRead(b"", total - written)


def fetch(entry: ManifestFile, directory: str | Path, *, mirror: str | None = None, retries: int = 4,
          backoff: float = 1.0, timeout: float = 60.0, progress: bool = True) -> Path:
    """Fetch one manifest file into ``directory`` (resuming a ``.part``), check it and rename it into place."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final, part = directory / entry.name, directory / f"{entry.name}.part"
    url = _url(entry, mirror)
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, entry.expected_size, timeout, progress, entry.name)
            break
        except urllib.error.HTTPError as err:
            if err.code in PERMANENT_HTTP or attempt == retries:
                if err.code in PERMANENT_HTTP:  # a server error (5xx) keeps the part for the next run to resume
                    part.unlink(missing_ok=True)
                what = "the project may have moved it:" if err.code in PERMANENT_HTTP else \
                    f"still failing after {retries + 1} attempts; rerun to resume, or"
                raise DownloadError(f"{entry.name}: HTTP {err.code} {err.reason} from {url}; {what} "
                                    f"{_by_hand([entry], directory, mirror)}") from None
        except OSError as err:  # URLError, connection reset, timeout, disk full (all OSErrors)
            if errno.ENOSPC in (err.errno, getattr(getattr(err, "reason", None), "errno", None)):
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(f"disk full writing {part} ({have:,} bytes kept, rerun to resume): free "
                                    f"space on {directory} or pass --dir elsewhere") from None
            if attempt == retries:
                if _offline(err) and not part.exists():
                    raise OfflineError(urllib.parse.urlsplit(url).netloc, str(getattr(err, "reason", err)), [entry],
                                       directory, mirror) from None
                raise DownloadError(f"{entry.name}: transfer failed {retries + 1} times ({err}); rerun to resume "
                                    f"from {part}, or {_by_hand([entry], directory, mirror)}") from None
        except http.client.HTTPException as err:  # IncompleteRead, a dropped connection mid-response
            if attempt == retries:
                raise DownloadError(f"{entry.name}: transfer cut short {retries + 1} times ({err!r}); rerun to "
                                    f"resume from {part}") from None
        time.sleep(backoff * 2 ** attempt)
    problem = check_file(entry, part, display=f"{entry.name} from {url}")
    if problem:
        part.unlink()
        raise DownloadError(f"{problem}; the download was removed and nothing was loaded")
    os.replace(part, final)  # atomic: the loader sees the whole, checked file or none
    return final


def download_esci(directory: str | Path = DEFAULT_DIR, *, sqid: bool = True, mirror: str | None = None,
                  manifest: str | Path | list[ManifestFile] | None = None, retries: int = 4, backoff: float = 1.0,
                  timeout: float = 60.0, progress: bool = True) -> list[Path]:
    """Fetch every missing ESCI (and SQID) file of the manifest into ``directory``; returns the final paths.

    Files already in place are kept (``python -m mmpaper data status`` checks them). ``mirror`` replaces each
    file's URL with ``<mirror>/<name>``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = manifest_files(sqid, manifest)
    todo = [e for e in entries if not (directory / e.name).exists()]
    need = sum((e.expected_size or 0) - ((directory / f"{e.name}.part").stat().st_size
                                          if (directory / f"{e.name}.part").exists() else 0) for e in todo)
    free = _free_bytes(directory)
    if need > free:
        raise DownloadError(f"disk full: {need / 2**30:.2f} GiB still to fetch but {free / 2**30:.2f} GiB free on "
                            f"{directory}; free space or pass --dir elsewhere")
    try:
        for e in todo:
            fetch(e, directory, mirror=mirror, retries=retries, backoff=backoff, timeout=timeout, progress=progress)
    except OfflineError as err:  # name every file still to fetch, not only the first
        left = [e for e in todo if not (directory / e.name).exists()]
        raise OfflineError(err.host, err.reason, left, directory, mirror) from None
    return [directory / e.name for e in entries]


@dataclass
class FileStatus:
    name: str
    dataset: str
    state: str              # ok | ok (size/sha256 unknown; columns ok) | missing | partial | bad
    size: int | None        # bytes on disk (final or .part)
    expected: int | None
    detail: str = ""
    url: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.state.startswith("ok")


def status(directory: str | Path = DEFAULT_DIR, *, sqid: bool = True,
           manifest: str | Path | list[ManifestFile] | None = None) -> list[FileStatus]:
    """Each manifest file's state in ``directory``: checked against size, sha256 and columns."""
    directory = Path(directory)
    out = []
    for e in manifest_files(sqid, manifest):
        final, part = directory / e.name, directory / f"{e.name}.part"
        if final.exists():
            problem = check_file(e, final)
            state = "bad" if problem else ("ok" if e.known else "ok (size/sha256 unknown; columns ok)")
            out.append(FileStatus(e.name, e.dataset, state, final.stat().st_size, e.expected_size, problem or "",
                                  e.url))
        elif part.exists():
            out.append(FileStatus(e.name, e.dataset, "partial", part.stat().st_size, e.expected_size,
                                  "rerun `python -m mmpaper data esci` to resume", e.url))
        else:
            out.append(FileStatus(e.name, e.dataset, "missing", None, e.expected_size, "", e.url))
    return out


def format_status(rows: list[FileStatus], directory: str | Path) -> str:
    def size(n):
        return "?" if n is None else f"{n / 2**20:,.1f} MiB"

    lines = [f"public data in {Path(directory).resolve()}:"]
    for r in rows:
        have = f"{size(r.size)} of {size(r.expected)}" if r.state == "partial" else size(r.size if r.size is not None
                                                                                         else r.expected)
        lines.append(f"  {r.state:8s} {r.dataset:5s} {r.name:45s} {have:>22s}  {r.detail}".rstrip())
    n_ok = sum(r.ok for r in rows)
    lines.append(f"{n_ok} of {len(rows)} files ready" + ("" if n_ok == len(rows) else
                                                          "; fetch the rest with: python -m mmpaper data esci"))
    return "\n".join(lines)
