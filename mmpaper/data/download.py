"""Fetching the public data (ESCI + SQID, the Grocery Store dataset) and checking it against the manifests shipped
with the package.

``python -m mmpaper data esci [--dir data/esci] [--no-sqid]`` calls :func:`download_esci`; ``python -m mmpaper
data grocery [--dir data/grocery]`` calls :func:`download_grocery`; ``python -m mmpaper data status`` calls
:func:`status` and :func:`grocery_status`. ``--mirror`` (or :data:`MIRROR_ENV`) replaces each file's URL with
``<mirror>/<file name>``; a mirror may be a URL or a local folder. Every file named in ``esci_manifest.json`` is
fetched into ``<name>.part`` beside its final name, with a progress bar; an interrupted transfer resumes from the bytes already there (HTTP
``Range``), transient failures are retried with exponential backoff, and only a file whose size, sha256 (where the
project published them) and columns are right is renamed to its final name. A file that fails a check is removed,
so the loader never reads it. Every failure is one line saying what to do next.

The Grocery Store dataset comes as GitHub's zip of a pinned commit, whose bytes GitHub does not promise to keep
stable; so the zip is not checked, its *contents* are: :func:`unpack_grocery` extracts every file the shipped
manifest (``grocery_manifest.json.gz``: path, size and sha256 of each file, the split lists among them) names into
a hidden staging folder, hashing as it writes, decodes every photo, and renames the folder into place only when
all of it passed; on any failure the staging folder is removed, so a half-unpacked tree is never left behind.
The manifest was made from the byte mirror of the archive by :func:`write_grocery_manifest`.
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import time
import zipfile
import zlib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..fsio import sha256_file, write_json

logger = logging.getLogger(__name__)

DEFAULT_DIR = "data/esci"
MIRROR_ENV = "MMPAPER_DATA_MIRROR"  # a mirror (URL or folder) that --mirror defaults to
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


def default_mirror() -> str | None:
    """The mirror :data:`MIRROR_ENV` names (what ``--mirror`` defaults to), or None when it is unset or empty."""
    return os.environ.get(MIRROR_ENV, "").strip() or None


def _url(entry: ManifestFile, mirror: str | None) -> str:
    if not mirror:
        return entry.url
    if "://" not in mirror:  # a local folder (e.g. ../shared/data): read through urllib's file: handler, same path
        return f"{Path(mirror).expanduser().resolve().as_uri()}/{entry.name}"
    return f"{mirror.rstrip('/')}/{entry.name}"


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
            if isinstance(getattr(err, "reason", None), FileNotFoundError):  # a local mirror lacks it: no retry
                part.unlink(missing_ok=True)
                raise DownloadError(f"{entry.name}: not in the mirror ({url} does not exist); "
                                    f"{_by_hand([entry], directory, None)}") from None
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


def format_status(rows: list[FileStatus], directory: str | Path, command: str = "esci") -> str:
    def size(n):
        return "?" if n is None else f"{n / 2**20:,.1f} MiB"

    lines = [f"public data in {Path(directory).resolve()}:"]
    for r in rows:
        have = f"{size(r.size)} of {size(r.expected)}" if r.state == "partial" else size(r.size if r.size is not None
                                                                                         else r.expected)
        lines.append(f"  {r.state:8s} {r.dataset:5s} {r.name:45s} {have:>22s}  {r.detail}".rstrip())
    n_ok = sum(r.ok for r in rows)
    lines.append(f"{n_ok} of {len(rows)} files ready" + ("" if n_ok == len(rows) else
                                                          f"; fetch the rest with: python -m mmpaper data {command}"))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the Grocery Store dataset
GROCERY_DIR = "data/grocery"
GROCERY_MANIFEST = "grocery_manifest.json.gz"
VERIFIED = ".verified.json"   # written last into the staging folder: the manifest the whole tree passed
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


class BadArchiveError(DownloadError):
    """The archive itself cannot be read (truncated, not a zip, a damaged member): fetch it again."""


@dataclass(frozen=True)
class ArchiveManifest:
    """What a pinned archive must unpack to: its file name, URL and top folder, and every file's size and sha256
    (the split lists among them)."""

    dataset: str
    source: str                            # the repository the archive is made from
    commit: str                            # the pinned commit
    archive: str                           # the file fetched (``<mirror>/<archive>`` with a mirror)
    url: str
    root: str                              # the archive's top folder, which is what lands in the data folder
    size_hint: int                         # bytes of the archive as mirrored (GitHub's own zip may differ a little)
    splits: dict[str, str]                 # split -> path of its list, under ``root``
    files: dict[str, tuple[int, str]] = field(repr=False, default_factory=dict)  # path -> (size, sha256)

    def __post_init__(self):
        for split, path in self.splits.items():
            if path not in self.files:
                raise DownloadError(f"{GROCERY_MANIFEST}: the split list of {split!r} ({path}) is not among its "
                                    f"files")

    @property
    def digest(self) -> str:
        """A hash of the file table: which manifest a verified tree passed."""
        table = json.dumps(sorted([p, *v] for p, v in self.files.items()))
        return hashlib.sha256(table.encode()).hexdigest()[:16]

    @property
    def unpacked_bytes(self) -> int:
        return sum(size for size, _ in self.files.values())

    def entry(self) -> ManifestFile:
        """The archive as a file to fetch: no size or sha256 (a GitHub zip's bytes may change), checked by its
        contents instead."""
        return ManifestFile(self.archive, self.dataset, self.url)


def load_grocery_manifest(path: str | Path | None = None) -> ArchiveManifest:
    """The shipped manifest of the Grocery Store archive (or the gzipped JSON at ``path``)."""
    try:
        raw = Path(path).read_bytes() if path else \
            resources.files("mmpaper.data").joinpath(GROCERY_MANIFEST).read_bytes()
        m = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        return ArchiveManifest(m["dataset"], m["source"], m["commit"], m["archive"], m["url"], m["root"],
                               int(m["size_hint"]), dict(m["splits"]),
                               {f[0]: (int(f[1]), str(f[2]).lower()) for f in m["files"]})
    except (OSError, KeyError, TypeError, ValueError, IndexError, EOFError) as err:
        raise DownloadError(f"{path or GROCERY_MANIFEST}: not a valid archive manifest ({err!r})") from err


def write_grocery_manifest(archive: str | Path, out: str | Path, *, commit: str, source: str, url: str,
                           splits: dict[str, str] | None = None) -> ArchiveManifest:
    """Write the manifest of an archive: the size and sha256 of every file in it (read from the zip, nothing is
    unpacked), as gzipped JSON with no timestamp, so the same archive gives the same bytes. How the shipped one
    was made, from the byte mirror of GitHub's archive of the pinned commit::

        write_grocery_manifest("GroceryStoreDataset-<commit>.zip", "mmpaper/data/grocery_manifest.json.gz",
                               commit="<commit>", source="https://github.com/marcusklasson/GroceryStoreDataset",
                               url="https://github.com/marcusklasson/GroceryStoreDataset/archive/<commit>.zip")
    """
    archive = Path(archive)
    splits = splits or {s: f"dataset/{s}.txt" for s in ("train", "val", "test")}
    files = {}
    with zipfile.ZipFile(archive) as zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        roots = {i.filename.split("/", 1)[0] for i in members}
        if len(roots) != 1:
            raise DownloadError(f"{archive.name}: expected one top folder, found {sorted(roots)[:3]}")
        root = roots.pop()
        for info in sorted(members, key=lambda i: i.filename):
            h = hashlib.sha256()
            with zf.open(info) as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    h.update(block)
            files[info.filename.split("/", 1)[1]] = (info.file_size, h.hexdigest())
    manifest = ArchiveManifest("grocery", source, commit, archive.name, url, root, archive.stat().st_size,
                               splits, files)
    doc = {"dataset": manifest.dataset, "source": source, "commit": commit, "archive": archive.name, "url": url,
           "root": root, "size_hint": manifest.size_hint, "splits": splits,
           "made_by": "mmpaper.data.download.write_grocery_manifest from the byte mirror of the archive",
           "files": [[p, size, sha] for p, (size, sha) in files.items()]}
    out = Path(out)
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(json.dumps(doc, separators=(",", ":")).encode())
    return manifest


def check_photo(path: str | Path, display: str) -> None:
    """Raise :class:`DownloadError` naming ``display`` when the image at ``path`` does not decode."""
    from PIL import Image  # Pillow: only when photos are checked

    try:
        with Image.open(path) as img:
            img.draft("RGB", (64, 64))  # decode at reduced scale: this checks the data, not the pixels
            img.load()
    except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError... all the same finding
        raise DownloadError(f"{display}: photo does not decode ({err.__class__.__name__}: {str(err)[:80]}); the "
                            f"unpacked files were removed") from None


def _pid_of(staging: Path) -> int | None:
    try:
        return int(staging.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def _remove_stale_staging(directory: Path, root: str) -> None:
    """Staging folders of unpacks that were killed (their process is gone): nothing of them is kept."""
    for stale in directory.glob(f".{root}.unpacking-*"):
        pid = _pid_of(stale)
        alive = False
        if pid is not None and pid != os.getpid():
            try:
                os.kill(pid, 0)
                alive = True
            except OSError:
                alive = False
        if not alive:
            shutil.rmtree(stale, ignore_errors=True)


def unpack_grocery(archive: str | Path, directory: str | Path, manifest: ArchiveManifest | None = None, *,
                   progress: bool = True) -> Path:
    """Unpack the files the manifest names from ``archive`` into ``directory/<root>``, all or nothing.

    Each file is hashed as it is written and compared with the manifest (size and sha256); a file the manifest
    names but the archive lacks (a split list, a photo) and every photo that does not decode fail the unpack.
    Everything goes to a hidden staging folder that is renamed into place only once the whole tree has passed
    (with a ``.verified.json`` naming the manifest); any failure, Ctrl-C included, removes it. Files in the
    archive that the manifest does not name are not unpacked. Raises :class:`BadArchiveError` when the archive
    itself cannot be read, :class:`DownloadError` (one line naming the file) for anything else."""
    from tqdm.auto import tqdm  # a notebook widget bar or a terminal bar

    m = manifest or load_grocery_manifest()
    archive, directory = Path(archive), Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / m.root
    _remove_stale_staging(directory, m.root)
    staging = directory / f".{m.root}.unpacking-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    split_of = {path: split for split, path in m.splits.items()}
    t0 = time.perf_counter()
    try:
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise BadArchiveError(f"{archive.name}: not a whole zip archive ({err}; truncated or damaged)") from None
        with zf:
            members = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            missing = sorted((p for p in m.files if f"{m.root}/{p}" not in members),
                             key=lambda p: (p not in split_of, p))  # a missing split list is named first
            if missing:
                what = f"the split list of {split_of[missing[0]]!r}" if missing[0] in split_of else "a file"
                raise DownloadError(f"{m.root}/{missing[0]}: {what} is missing from {archive.name} "
                                    f"({len(missing)} of the manifest's {len(m.files)} files missing)")
            for path, (size, sha) in tqdm(m.files.items(), desc=f"unpack {archive.name}", unit="file",
                                          disable=not progress, leave=False):
                target = staging / path
                target.parent.mkdir(parents=True, exist_ok=True)
                h, n = hashlib.sha256(), 0
                try:
                    with zf.open(members[f"{m.root}/{path}"]) as src, open(target, "wb") as out:
                        for block in iter(lambda: src.read(CHUNK), b""):
                            h.update(block)
                            out.write(block)
                            n += len(block)
                except (zipfile.BadZipFile, EOFError, zlib.error) as err:
                    raise BadArchiveError(f"{archive.name}: {m.root}/{path} cannot be read from the archive "
                                          f"({err}; truncated or damaged)") from None
                if n != size or h.hexdigest() != sha:
                    why = f"{n:,} bytes, the manifest says {size:,}" if n != size else \
                        f"sha256 {h.hexdigest()} differs from the manifest's {sha}"
                    raise DownloadError(f"{m.root}/{path}: {why}; the archive is not the pinned commit's "
                                        f"({m.commit[:12]}), nothing was unpacked")
                if path.lower().endswith(PHOTO_SUFFIXES):
                    check_photo(target, f"{m.root}/{path}")
        extra = len(members) - len(m.files)
        if extra > 0:
            logger.info("%s: %d files that the manifest does not name were not unpacked", archive.name, extra)
        write_json(staging / VERIFIED, {"manifest": m.digest, "commit": m.commit, "files": len(m.files),
                                        "archive": archive.name, "seconds": round(time.perf_counter() - t0, 1)})
        old = None
        if final.exists():  # a tree that failed its checks, or --force: replaced only by a whole, checked one
            old = directory / f".{m.root}.old-{os.getpid()}"
            os.replace(final, old)
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def grocery_ready(directory: str | Path = GROCERY_DIR, manifest: ArchiveManifest | None = None) -> Path | None:
    """The unpacked tree when it is there and was verified against this manifest (the quick check the loader and
    the book use; ``data status`` re-hashes every file), else None."""
    m = manifest or load_grocery_manifest()
    root = Path(directory) / m.root
    try:
        return root if json.loads((root / VERIFIED).read_text()).get("manifest") == m.digest else None
    except (OSError, ValueError, AttributeError):
        return None


def check_grocery_tree(root: str | Path, manifest: ArchiveManifest | None = None, *,
                       hashes: bool = True) -> str | None:
    """What is wrong with an unpacked tree (the first file missing, of another size or, with ``hashes``, another
    sha256 than the manifest says), or None when every file passes."""
    m = manifest or load_grocery_manifest()
    root = Path(root)
    for path, (size, sha) in m.files.items():
        p = root / path
        if not p.is_file():
            return f"{m.root}/{path} is missing"
        if p.stat().st_size != size:
            return f"{m.root}/{path} has {p.stat().st_size:,} bytes, the manifest says {size:,}"
        if hashes and sha256_file(p) != sha:
            return f"{m.root}/{path}: sha256 differs from the manifest (changed since it was unpacked)"
    return None


def download_grocery(directory: str | Path = GROCERY_DIR, *, mirror: str | None = None,
                     manifest: str | Path | ArchiveManifest | None = None, retries: int = 4, backoff: float = 1.0,
                     timeout: float = 60.0, progress: bool = True, force: bool = False) -> Path:
    """Fetch the Grocery Store archive of the pinned commit (resuming a ``.part``), unpack it and verify every file
    against the manifest; returns the unpacked tree. A tree already verified is kept (``force``: unpack again).
    An archive that turns out unreadable is removed, so the next run fetches it again."""
    m = manifest if isinstance(manifest, ArchiveManifest) else load_grocery_manifest(manifest)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ready = grocery_ready(directory, m)
    if ready is not None and not force:
        return ready
    archive, part = directory / m.archive, directory / f"{m.archive}.part"
    need = m.unpacked_bytes + (0 if archive.exists() else
                               max(m.size_hint - (part.stat().st_size if part.exists() else 0), 0))
    free = _free_bytes(directory)
    if need > free:
        raise DownloadError(f"disk full: {need / 2**30:.2f} GiB needed (archive and unpacked files) but "
                            f"{free / 2**30:.2f} GiB free on {directory}; free space or pass --dir elsewhere")
    if not archive.exists():
        fetch(m.entry(), directory, mirror=mirror, retries=retries, backoff=backoff, timeout=timeout,
              progress=progress)
    try:
        return unpack_grocery(archive, directory, m, progress=progress)
    except BadArchiveError as err:
        archive.unlink(missing_ok=True)
        raise BadArchiveError(f"{err}; removed it, rerun `python -m mmpaper data grocery` to fetch it "
                              f"again") from None


def grocery_status(directory: str | Path = GROCERY_DIR, manifest: str | Path | ArchiveManifest | None = None, *,
                   hashes: bool = True) -> list[FileStatus]:
    """Two rows: the archive (kept after unpacking, not needed once the tree is verified) and the unpacked tree,
    every file re-checked against the manifest (size and, with ``hashes``, sha256)."""
    m = manifest if isinstance(manifest, ArchiveManifest) else load_grocery_manifest(manifest)
    directory = Path(directory)
    archive, part, root = directory / m.archive, directory / f"{m.archive}.part", directory / m.root
    tree_ok = False
    if root.is_dir():
        problem = None if grocery_ready(directory, m) else f"{VERIFIED} missing or from another manifest"
        problem = problem or check_grocery_tree(root, m, hashes=hashes)
        tree_ok = problem is None
        tree = FileStatus(f"{m.root}/", m.dataset, "bad" if problem else "ok", m.unpacked_bytes, m.unpacked_bytes,
                          problem or f"{len(m.files):,} files verified (commit {m.commit[:12]})", m.url)
    else:
        tree = FileStatus(f"{m.root}/", m.dataset, "missing", None, m.unpacked_bytes, "", m.url)
    if archive.exists():
        row = FileStatus(m.archive, m.dataset, "ok", archive.stat().st_size, m.size_hint,
                         "" if tree_ok else "not yet unpacked and verified: rerun `python -m mmpaper data grocery`",
                         m.url)
    elif part.exists():
        row = FileStatus(m.archive, m.dataset, "partial", part.stat().st_size, m.size_hint,
                         "rerun `python -m mmpaper data grocery` to resume", m.url)
    else:
        row = FileStatus(m.archive, m.dataset, "ok (not kept)" if tree_ok else "missing", None, m.size_hint, "",
                         m.url)
    return [row, tree]
