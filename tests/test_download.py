"""`mmpaper data esci` against a real HTTP server on loopback serving files in the published ESCI + SQID schema:
a clean download (through a GitHub-like redirect), a connection dropped mid-file then resumed with Range, a wrong
checksum, a 404, no server at all, a server that ignores Range, a file with the wrong columns and a full disk."""
import errno
import hashlib
import http.server
import re
import socket
import threading

import numpy as np
import pandas as pd
import pytest

from mmpaper.data import download as dl
from mmpaper.data.esci import CLIP_WIDTH, ESCI_FILES, SQID_FILES, load_esci
from mmpaper.data.schema import CatalogError

COLOURS = ["red", "blue", "green", "black", "white"]
CATEGORIES = ["mug", "rug", "lamp", "shirt", "scarf", "bottle"]


def write_esci_fixture(directory, n_queries=12, seed=0, width=CLIP_WIDTH):
    """Files in exactly the published columns and names: a small catalog of ``colour category`` products, queries
    asking for a colour and a category, judgements E (both match), S (category only), C/I (neither)."""
    rng = np.random.default_rng(seed)
    products = [(c, k, b) for c in COLOURS for k in CATEGORIES for b in ("acme", "zenith")]
    asins = [f"B0{i:08d}" for i in range(len(products))]
    titles = [f"{b.title()} {c} {k}" for c, k, b in products]
    rows = []
    for q in range(n_queries):
        colour, cat = COLOURS[q % len(COLOURS)], CATEGORIES[(q * 7) % len(CATEGORIES)]
        split = "test" if q % 3 == 0 else "train"
        for i, (c, k, _) in enumerate(products):
            label = "E" if (c, k) == (colour, cat) else "S" if k == cat else None
            if label is None and rng.random() < 0.15:
                label = "C" if rng.random() < 0.3 else "I"
            if label:
                rows.append((f"{colour} {cat}", q, asins[i], label, split))
    examples = pd.DataFrame(rows, columns=["query", "query_id", "product_id", "esci_label", "split"])
    examples.insert(0, "example_id", np.arange(len(examples), dtype=np.int64))
    examples.insert(4, "product_locale", "us")
    examples.insert(6, "small_version", np.int64(1))
    examples.insert(7, "large_version", np.int64(1))
    examples = examples[["example_id", "query", "query_id", "product_id", "product_locale", "esci_label",
                         "small_version", "large_version", "split"]]
    catalog = pd.DataFrame({"product_id": asins, "product_title": titles,
                            "product_description": [None] * len(asins), "product_bullet_point": [None] * len(asins),
                            "product_brand": [b for _, _, b in products], "product_color": [c for c, _, _ in products],
                            "product_locale": "us"})
    examples.to_parquet(directory / ESCI_FILES["examples"])
    catalog.to_parquet(directory / ESCI_FILES["products"])
    pd.DataFrame({"product_id": asins,
                  "clip_text_features": list(rng.normal(size=(len(asins), width)).astype(np.float32)),
                  "clip_image_features": list(rng.normal(size=(len(asins), width)).astype(np.float32))}
                 ).to_parquet(directory / SQID_FILES["product_features"])
    pd.DataFrame({"query_id": np.arange(n_queries, dtype=np.int64),
                  "clip_text_features": list(rng.normal(size=(n_queries, width)).astype(np.float32))}
                 ).to_parquet(directory / SQID_FILES["query_features"])
    pd.DataFrame({"product_id": asins, "image_url": [f"https://example.invalid/{a}.jpg" for a in asins]}
                 ).to_csv(directory / SQID_FILES["image_urls"], index=False)
    return examples, catalog


def fixture_manifest(directory, **changes):
    """The shipped manifest's files, with the fixtures' own sizes and sha256 (``changes``: name → Version list)."""
    out = []
    for e in dl.load_manifest():
        data = (directory / e.name).read_bytes()
        versions = changes.get(e.name, (dl.Version(len(data), hashlib.sha256(data).hexdigest()),))
        out.append(dl.ManifestFile(e.name, e.dataset, e.url, e.columns, tuple(versions)))
    return out


class Server:
    """A loopback HTTP server: ``/raw/<name>`` redirects to ``/media/<name>`` (as GitHub does for LFS files),
    which serves the bytes with Range support. ``drop[name] = n``: the next response for ``name`` sends only
    ``n`` bytes of the body and closes the connection. ``ignore_range``: always answer 200 with the whole file."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.drop, self.ignore_range, self.requests = files, {}, False, []
        self.fail = {}  # name -> number of 503 answers to give before serving it
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path.startswith("/raw/"):
                    self.send_response(302)
                    self.send_header("Location", "/media/" + self.path[len("/raw/"):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/media/") or name not in server.files:
                    self.send_error(404, "Not Found")
                    return
                if server.fail.get(name):
                    server.fail[name] -= 1
                    self.send_error(503, "Service Unavailable")
                    return
                data = server.files[name]
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.drop.pop(name, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def published(tmp_path):
    """The fixture files as the 'projects' publish them, plus a manifest with their sizes and sha256."""
    src = tmp_path / "published"
    src.mkdir()
    write_esci_fixture(src)
    files = {p.name: p.read_bytes() for p in src.iterdir()}
    return src, files, fixture_manifest(src)


FAST = {"retries": 2, "backoff": 0.01, "timeout": 5, "progress": False}


def test_clean_download_through_redirect_then_status_and_load(published, tmp_path):
    src, files, manifest = published
    target = tmp_path / "data"
    with Server(files) as server:
        paths = dl.download_esci(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
    assert {p.name for p in paths} == set(files)
    for p in paths:
        assert p.read_bytes() == files[p.name]
    assert not list(target.glob("*.part"))
    assert all(r.state == "ok" for r in dl.status(target, manifest=manifest))
    assert len(load_esci(target).products) == 60      # the loader reads what was fetched


def test_dropped_connection_resumes_with_range(published, tmp_path):
    src, files, manifest = published
    name = ESCI_FILES["examples"]
    target = tmp_path / "data"
    with Server(files) as server:
        server.drop[name] = 1000
        with pytest.raises(dl.DownloadError, match=f"{name}: transfer .* rerun to resume from"):
            dl.fetch(next(e for e in manifest if e.name == name), target, mirror=server.url + "/raw",
                     **{**FAST, "retries": 0})
        assert (target / f"{name}.part").stat().st_size == 1000 and not (target / name).exists()
        assert dl.status(target, manifest=manifest)[0].state == "partial"
        server.requests.clear()
        dl.download_esci(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
        assert (server.requests[0][0], server.requests[1]) == (f"/raw/{name}", (f"/media/{name}", "bytes=1000-"))
        # a drop inside one run: the retry resumes where the cut left the file
        (target / ESCI_FILES["products"]).unlink()
        server.drop[ESCI_FILES["products"]] = 700
        server.requests.clear()
        dl.download_esci(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
        assert [r for r in server.requests if r[0].startswith("/media/")] == \
            [(f"/media/{ESCI_FILES['products']}", None), (f"/media/{ESCI_FILES['products']}", "bytes=700-")]
    for name, data in files.items():
        assert (target / name).read_bytes() == data


def test_server_that_ignores_range_restarts_the_file(published, tmp_path):
    src, files, manifest = published
    name = ESCI_FILES["products"]
    target = tmp_path / "data"
    target.mkdir()
    (target / f"{name}.part").write_bytes(b"x" * 500)  # stale bytes a resume must not keep
    with Server(files) as server:
        server.ignore_range = True
        dl.fetch(next(e for e in manifest if e.name == name), target, mirror=server.url + "/raw", **FAST)
    assert (target / name).read_bytes() == files[name]


def test_server_errors_are_retried_with_backoff(published, tmp_path):
    src, files, manifest = published
    name = SQID_FILES["product_features"]
    entry = next(e for e in manifest if e.name == name)
    with Server(files) as server:
        server.fail[name] = 2
        assert dl.fetch(entry, tmp_path / "a", mirror=server.url + "/raw", **FAST).read_bytes() == files[name]
        server.fail[name] = 3
        with pytest.raises(dl.DownloadError, match=f"{name}: HTTP 503 .*still failing after 3 attempts; rerun"):
            dl.fetch(entry, tmp_path / "b", mirror=server.url + "/raw", **FAST)


def test_wrong_checksum_removes_the_file_and_nothing_is_loaded(published, tmp_path):
    src, files, _ = published
    name = ESCI_FILES["examples"]
    manifest = fixture_manifest(src, **{name: [dl.Version(len(files[name]), "0" * 64)]})
    target = tmp_path / "data"
    with Server(files) as server:
        with pytest.raises(dl.DownloadError, match=f"{name} from http://127.0.0.1:\\d+/raw/{name}: sha256 "
                                                   "[0-9a-f]{64} does not match the manifest; the download was "
                                                   "removed and nothing was loaded"):
            dl.download_esci(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
    assert not (target / name).exists() and not (target / f"{name}.part").exists()
    with pytest.raises(CatalogError, match="missing public data files"):
        load_esci(target)


def test_wrong_columns_of_a_file_with_unknown_checksum(published, tmp_path):
    src, files, manifest = published
    name = SQID_FILES["image_urls"]
    manifest = [e if e.name != name else dl.ManifestFile(e.name, e.dataset, e.url, e.columns, ()) for e in manifest]
    files = {**files, name: b"product_id,url\nB000000000,https://example.invalid/a.jpg\n"}
    target = tmp_path / "data"
    with Server(files) as server:
        with pytest.raises(dl.DownloadError, match=f"{name} from .*: column 'image_url' is missing"):
            dl.download_esci(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
    assert not (target / name).exists() and not (target / f"{name}.part").exists()


def test_404_is_one_line_and_not_retried(published, tmp_path):
    src, files, manifest = published
    name = SQID_FILES["query_features"]
    files = {k: v for k, v in files.items() if k != name}
    target = tmp_path / "data"
    with Server(files) as server:
        with pytest.raises(dl.DownloadError) as info:
            dl.download_esci(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
        assert sum(path == f"/media/{name}" for path, _ in server.requests) == 1
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(f"{name}: HTTP 404 Not Found from http://127.0.0.1:\\d+/raw/{name}; the project may have "
                        f"moved it: fetch by hand into {target}/: {name} from http://127.0.0.1:\\d+/raw/{name}",
                        message)


def test_no_server_names_every_file_to_fetch_by_hand(published, tmp_path):
    _, files, manifest = published
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = tmp_path / "data"
    with pytest.raises(dl.OfflineError) as info:
        dl.download_esci(target, mirror=f"http://127.0.0.1:{port}", manifest=manifest, **FAST)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"cannot reach 127.0.0.1:{port} (")
    assert f"offline? fetch by hand into {target}/: " in message
    for name in files:
        assert f"{name} from http://127.0.0.1:{port}/{name}" in message
    assert not list(target.iterdir())


def test_disk_full(published, tmp_path, monkeypatch):
    src, files, manifest = published
    target = tmp_path / "data"
    monkeypatch.setattr(dl, "_free_bytes", lambda directory: 10)
    with pytest.raises(dl.DownloadError, match="disk full: 0.00 GiB still to fetch but 0.00 GiB free on"):
        dl.download_esci(target, mirror="http://127.0.0.1:9", manifest=manifest, **FAST)
    monkeypatch.undo()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dl, "_fetch_once", no_space)
    with pytest.raises(dl.DownloadError, match=f"disk full writing {target}/.*\\.part \\(0 bytes kept, rerun to "
                                               "resume\\)"):
        dl.download_esci(target, mirror="http://127.0.0.1:9", manifest=manifest, **FAST)


def test_cli_data_esci_and_status(published, tmp_path, capsys):
    import json

    from mmpaper.cli import main

    src, files, manifest = published
    manifest_path = tmp_path / "mirror_manifest.json"
    manifest_path.write_text(json.dumps({"files": [
        {"name": e.name, "dataset": e.dataset, "url": e.url, "columns": list(e.columns),
         "versions": [{"size": v.size, "sha256": v.sha256} for v in e.versions]} for e in manifest]}))
    target = tmp_path / "data"
    assert main(["data", "status", "--dir", str(target), "--manifest", str(manifest_path), "--dataset", "esci"]) == 1
    assert "0 of 5 files ready" in capsys.readouterr().out
    with Server(files) as server:
        assert main(["data", "esci", "--dir", str(target), "--no-sqid", "--mirror", server.url + "/raw",
                     "--manifest", str(manifest_path), "--quiet"]) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(ESCI_FILES.values())
    assert main(["data", "status", "--dir", str(target), "--no-sqid", "--manifest", str(manifest_path),
                 "--dataset", "esci"]) == 0
    assert "2 of 2 files ready" in capsys.readouterr().out
    assert main(["data", "esci", "--dir", str(target), "--mirror", "http://127.0.0.1:9",
                 "--manifest", str(manifest_path), "--quiet", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmpaper: error: cannot reach 127.0.0.1:9") and err.count("\n") == 1


def test_shipped_manifest_names_the_published_files():
    manifest = dl.load_manifest()
    assert {e.name for e in manifest} == set(ESCI_FILES.values()) | set(SQID_FILES.values())
    for e in manifest:
        repo = "amazon-science/esci-data" if e.dataset == "esci" else "Crossing-Minds/shopping-queries-image-dataset"
        assert e.url.startswith(f"https://github.com/{repo}/raw/main/") and e.url.endswith("/" + e.name)
        assert e.columns
        for v in e.versions:
            assert v.size > 0 and re.fullmatch("[0-9a-f]{64}", v.sha256) and "commit" in v.source
    # the two ESCI files and the SQID features have published LFS sizes and sha256; the image URLs do not
    assert [e.name for e in manifest if not e.known] == [SQID_FILES["image_urls"]]


def test_esci_download_delegates_to_the_downloader(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(dl, "download_esci", lambda directory, sqid=True: calls.append((directory, sqid)))
    from mmpaper.data import esci

    esci.download(tmp_path, sqid=False)
    assert calls == [(tmp_path, False)]
    monkeypatch.setattr(dl, "download_esci", lambda directory, sqid=True: (_ for _ in ()).throw(
        dl.DownloadError("cannot reach github.com (x)")))
    with pytest.raises(CatalogError, match="cannot reach github.com"):
        esci.download(tmp_path)
