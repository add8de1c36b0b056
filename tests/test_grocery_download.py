"""`mmpaper data grocery`: fetch the archive of a pinned commit, unpack it all or nothing, and verify every file
against a manifest — against a loopback HTTP server serving a small archive the test makes in the published layout
(a clean download through a redirect, a truncated archive, a changed file, a missing split list, a photo that will
not decode, an interrupted unpack, a local-folder mirror), and against the byte mirror of the real archive in
``../shared/data`` when this machine has one (skipped with the reason when it does not)."""
import gzip
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from grocery_fixture import ARCHIVE, COMMIT, ROOT, make_files, make_manifest, make_zip, published
from mmpaper.data import download as dl
from mmpaper.data.grocery import load_grocery
from mmpaper.data.schema import CatalogError
from test_download import FAST, Server

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data"
REAL_COMMIT = "fc80ba90f803d79d0383df52c5a4ac5de99ff6fc"
REAL_ARCHIVE = MIRROR / f"GroceryStoreDataset-{REAL_COMMIT}.zip"
needs_mirror = pytest.mark.skipif(not REAL_ARCHIVE.exists(), reason=f"no byte mirror of the Grocery Store archive "
                                                                    f"at {REAL_ARCHIVE} (these machines are offline; "
                                                                    f"elsewhere `python -m mmpaper data grocery` "
                                                                    f"fetches it from GitHub)")


def _left_behind(directory: Path) -> list[str]:
    """Anything of an unpack in ``directory``: the tree, a staging or old folder."""
    return sorted(p.name for p in directory.iterdir() if ROOT in p.name) if directory.exists() else []


# ------------------------------------------------------------------------------------- loopback server
def test_clean_download_through_redirect_then_status_and_load(tmp_path):
    archive, manifest = published(tmp_path)
    target = tmp_path / "data"
    with Server({ARCHIVE: archive.read_bytes()}) as server:
        root = dl.download_grocery(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
        assert [p for p, _ in server.requests] == [f"/raw/{ARCHIVE}", f"/media/{ARCHIVE}"]
    assert root == target / ROOT and _left_behind(target) == [ROOT, ARCHIVE]  # the archive is kept
    assert not list(target.glob("*.part"))
    for path, (size, sha) in manifest.files.items():
        assert (root / path).stat().st_size == size and dl.sha256_file(root / path) == sha
    assert json.loads((root / dl.VERIFIED).read_text())["manifest"] == manifest.digest
    rows = dl.grocery_status(target, manifest)
    assert [r.state for r in rows] == ["ok", "ok"] and "files verified" in rows[1].detail
    cat = load_grocery(target, manifest=manifest, size=16)
    assert (len(cat.products), len(cat.photos)) == (6, 6 * 11)
    assert cat.table()["photos"].to_dict() == {"train": 36, "val": 12, "test": 18}
    # a second call finds the verified tree and fetches nothing
    assert dl.download_grocery(target, mirror="http://127.0.0.1:9", manifest=manifest, **FAST) == root


def test_truncated_archive_is_removed_and_nothing_is_unpacked(tmp_path):
    archive, manifest = published(tmp_path)
    data = archive.read_bytes()
    target = tmp_path / "data"
    with Server({ARCHIVE: data[: len(data) // 2]}) as server:
        with pytest.raises(dl.BadArchiveError) as info:
            dl.download_grocery(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{ARCHIVE}: not a whole zip archive")
    assert "removed it, rerun `python -m mmpaper data grocery`" in message
    assert _left_behind(target) == [] and not (target / ARCHIVE).exists()
    with pytest.raises(CatalogError, match="no verified Grocery Store data; fetch it with: python -m mmpaper data "
                                           "grocery"):
        load_grocery(target, manifest=manifest)


def test_a_file_whose_hash_differs_fails_the_unpack_naming_it(tmp_path):
    archive, manifest = published(tmp_path)
    files = make_files()
    changed = "dataset/test/Fruit/Lemon/Lemon_002.jpg"
    flipped = bytearray(files[changed])
    flipped[len(flipped) // 2] ^= 0xFF  # one byte changed: same size, another sha256
    files[changed] = bytes(flipped)
    other = make_zip(files, tmp_path / "other.zip")
    target = tmp_path / "data"
    with Server({ARCHIVE: other.read_bytes()}) as server:
        with pytest.raises(dl.DownloadError) as info:
            dl.download_grocery(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
    assert re.fullmatch(f"{ROOT}/{changed}: sha256 [0-9a-f]{{64}} differs from the manifest's [0-9a-f]{{64}}; the "
                        f"archive is not the pinned commit's \\({COMMIT[:12]}\\), nothing was unpacked",
                        str(info.value))
    assert _left_behind(target) == [ARCHIVE]  # the archive stays (it is whole); no tree, no staging
    files[changed] = files[changed][:-7]  # shorter: named by its size
    with pytest.raises(dl.DownloadError, match=f"{changed}: 1,\\d{{3}} bytes, the manifest says 1,\\d{{3}}; "):
        dl.unpack_grocery(make_zip(files, tmp_path / "short.zip"), target, manifest, progress=False)


def test_a_missing_split_list_is_named(tmp_path):
    archive, manifest = published(tmp_path)
    without = make_zip(make_files(), tmp_path / "without.zip", drop=("dataset/val.txt",))
    target = tmp_path / "data"
    with Server({ARCHIVE: without.read_bytes()}) as server:
        with pytest.raises(dl.DownloadError) as info:
            dl.download_grocery(target, mirror=server.url + "/raw", manifest=manifest, **FAST)
    assert str(info.value) == (f"{ROOT}/dataset/val.txt: the split list of 'val' is missing from {ARCHIVE} (1 of the "
                               f"manifest's {len(manifest.files)} files missing)")
    assert _left_behind(target) == [ARCHIVE]


def test_a_manifest_without_a_split_list_is_refused():
    with pytest.raises(dl.DownloadError, match="the split list of 'val' \\(dataset/val.txt\\) is not among its files"):
        dl.ArchiveManifest("grocery", "s", COMMIT, ARCHIVE, "u", ROOT, 1, {"val": "dataset/val.txt"},
                           {"dataset/train.txt": (1, "0" * 64)})


def test_a_photo_that_will_not_decode_fails_the_unpack_naming_it(tmp_path):
    bad = "test/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_003.jpg"
    # the manifest is made from this very archive: the hashes pass, only decoding can tell
    archive, manifest = published(tmp_path, photo_bytes=lambda rel, data: data[:200] if rel == bad else data)
    target = tmp_path / "data"
    with pytest.raises(dl.DownloadError) as info:
        dl.unpack_grocery(archive, target, manifest, progress=False)
    assert str(info.value).startswith(f"{ROOT}/dataset/{bad}: photo does not decode (")
    assert str(info.value).endswith("the unpacked files were removed") and "\n" not in str(info.value)
    assert _left_behind(target) == []


def test_an_interrupted_unpack_leaves_nothing_and_a_killed_one_is_cleaned_up(tmp_path, monkeypatch):
    archive, manifest = published(tmp_path)
    target = tmp_path / "data"
    calls = []

    def interrupt(path, display):
        calls.append(display)
        if len(calls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(dl, "check_photo", interrupt)
    with pytest.raises(KeyboardInterrupt):
        dl.unpack_grocery(archive, target, manifest, progress=False)
    assert _left_behind(target) == []
    monkeypatch.undo()
    stale = target / f".{ROOT}.unpacking-999999999"  # a staging folder of a process that was killed
    (stale / "dataset").mkdir(parents=True)
    assert dl.unpack_grocery(archive, target, manifest, progress=False) == target / ROOT
    assert _left_behind(target) == [ROOT]


def test_a_damaged_tree_is_reported_and_replaced_only_by_a_whole_one(tmp_path):
    archive, manifest = published(tmp_path)
    target = tmp_path / "data"
    root = dl.unpack_grocery(archive, target, manifest, progress=False)
    photo = root / "dataset/train/Vegetables/Carrots/Carrots_001.jpg"
    photo.write_bytes(photo.read_bytes()[:-10])
    row = dl.grocery_status(target, manifest)[1]
    assert row.state == "bad" and row.detail.startswith(f"{ROOT}/dataset/train/Vegetables/Carrots/Carrots_001.jpg has ")
    (root / "dataset/test.txt").unlink()
    assert dl.grocery_status(target, manifest)[1].detail == f"{ROOT}/dataset/test.txt is missing"
    (target / ARCHIVE).write_bytes(archive.read_bytes())  # the archive is there: no fetch, only the unpack
    dl.download_grocery(target, mirror="http://127.0.0.1:9", manifest=manifest, force=True, **FAST)
    assert dl.grocery_status(target, manifest)[1].state == "ok"


def test_a_local_folder_mirror_and_the_environment_variable(tmp_path, monkeypatch):
    archive, manifest = published(tmp_path)
    monkeypatch.setenv(dl.MIRROR_ENV, str(archive.parent))
    assert dl.default_mirror() == str(archive.parent)
    root = dl.download_grocery(tmp_path / "data", mirror=dl.default_mirror(), manifest=manifest, **FAST)
    assert (root / "dataset/classes.csv").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(dl.DownloadError) as info:  # not retried: a folder that lacks the file will keep lacking it
        dl.download_grocery(tmp_path / "other", mirror=str(empty), manifest=manifest, retries=3, backoff=30,
                            progress=False)
    assert str(info.value).startswith(f"{ARCHIVE}: not in the mirror (file://{empty}/{ARCHIVE} does not exist)")
    monkeypatch.setenv(dl.MIRROR_ENV, " ")
    assert dl.default_mirror() is None


def test_disk_full_before_anything_is_fetched(tmp_path, monkeypatch):
    _, manifest = published(tmp_path)
    monkeypatch.setattr(dl, "_free_bytes", lambda directory: 1000)
    with pytest.raises(dl.DownloadError, match="disk full: 0.00 GiB needed \\(archive and unpacked files\\) but "
                                               "0.00 GiB free on"):
        dl.download_grocery(tmp_path / "data", mirror="http://127.0.0.1:9", manifest=manifest, **FAST)


def test_the_manifest_is_gzipped_json_with_no_timestamp_and_round_trips(tmp_path):
    archive, manifest = published(tmp_path)
    again = make_manifest(archive, tmp_path / "again.json.gz")
    assert (tmp_path / "again.json.gz").read_bytes() == (tmp_path / "manifest.json.gz").read_bytes()
    assert dl.load_grocery_manifest(tmp_path / "again.json.gz") == again == manifest
    doc = json.loads(gzip.decompress((tmp_path / "manifest.json.gz").read_bytes()))
    assert doc["root"] == ROOT and doc["commit"] == COMMIT and len(doc["files"]) == len(make_files())
    (tmp_path / "broken.json.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(dl.DownloadError, match="broken.json.gz: not a valid archive manifest"):
        dl.load_grocery_manifest(tmp_path / "broken.json.gz")


def test_cli_data_grocery_and_status(tmp_path, capsys, monkeypatch):
    from mmpaper.cli import main

    archive, manifest = published(tmp_path)
    monkeypatch.setattr(dl, "load_grocery_manifest", lambda path=None: manifest)
    target = tmp_path / "data"
    assert main(["data", "status", "--dataset", "grocery", "--grocery-dir", str(target)]) == 1
    out = capsys.readouterr().out
    assert "missing" in out and "0 of 2 files ready; fetch the rest with: python -m mmpaper data grocery" in out
    with Server({ARCHIVE: archive.read_bytes()}) as server:
        assert main(["data", "grocery", "--dir", str(target), "--mirror", server.url + "/raw", "--quiet"]) == 0
    assert f"ready: {target / ROOT}" in capsys.readouterr().out
    assert main(["data", "status", "--dataset", "grocery", "--grocery-dir", str(target)]) == 0
    assert "2 of 2 files ready" in capsys.readouterr().out
    (target / ARCHIVE).unlink()  # the archive is not needed once the tree is verified
    assert main(["data", "status", "--dataset", "grocery", "--grocery-dir", str(target)]) == 0
    assert "ok (not kept)" in capsys.readouterr().out
    with Server({ARCHIVE: archive.read_bytes()[:1000]}) as server:
        assert main(["data", "grocery", "--dir", str(tmp_path / "b"), "--mirror", server.url + "/raw", "--quiet",
                     "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mmpaper: error: {ARCHIVE}: not a whole zip archive") and err.count("\n") == 1


def test_the_shipped_manifest_pins_the_published_archive():
    m = dl.load_grocery_manifest()
    assert m.commit == REAL_COMMIT and m.root == f"GroceryStoreDataset-{REAL_COMMIT}"
    assert m.url == f"https://github.com/marcusklasson/GroceryStoreDataset/archive/{REAL_COMMIT}.zip"
    assert m.archive == f"GroceryStoreDataset-{REAL_COMMIT}.zip" and len(m.files) == 5717
    assert m.splits == {s: f"dataset/{s}.txt" for s in ("train", "val", "test")}
    assert sum(p.endswith(".jpg") and p.startswith(("dataset/train/", "dataset/val/", "dataset/test/"))
               for p in m.files) == 2640 + 296 + 2485
    assert all(re.fullmatch("[0-9a-f]{64}", sha) and size > 0 for size, sha in m.files.values())
    assert (REPO / "mmpaper" / "data" / dl.GROCERY_MANIFEST).stat().st_size < 300_000  # kept compact


# ---------------------------------------------------------------------------------------- the real mirror
@pytest.fixture(scope="session")
def real_tree(tmp_path_factory):
    """The real archive fetched from the byte mirror through the download command's mirror option, once."""
    if not REAL_ARCHIVE.exists():
        pytest.skip(f"no byte mirror at {REAL_ARCHIVE}")
    target = tmp_path_factory.mktemp("grocery")
    from mmpaper.cli import main

    assert main(["data", "grocery", "--dir", str(target), "--mirror", str(MIRROR), "--quiet"]) == 0
    return target


@needs_mirror
def test_the_mirror_unpacks_and_verifies_against_the_shipped_manifest(real_tree):
    m = dl.load_grocery_manifest()
    assert dl.grocery_ready(real_tree) == real_tree / m.root
    assert [r.state for r in dl.grocery_status(real_tree)] == ["ok", "ok"]
    assert not [p for p in real_tree.iterdir() if p.name.startswith(".")]


@needs_mirror
def test_the_shipped_manifest_is_what_the_mirror_holds(tmp_path):
    made = dl.write_grocery_manifest(REAL_ARCHIVE, tmp_path / "m.json.gz", commit=REAL_COMMIT,
                                     source="https://github.com/marcusklasson/GroceryStoreDataset",
                                     url=f"https://github.com/marcusklasson/GroceryStoreDataset/archive/{REAL_COMMIT}"
                                         ".zip")
    assert made == dl.load_grocery_manifest()
    assert (tmp_path / "m.json.gz").read_bytes() == (REPO / "mmpaper/data" / dl.GROCERY_MANIFEST).read_bytes()


@needs_mirror
def test_the_real_data_loads_as_published(real_tree):
    cat = load_grocery(real_tree, size=24)
    assert cat.table().to_dict() == {"photos": {"train": 2640, "val": 296, "test": 2485},
                                     "products": {"train": 81, "val": 60, "test": 81},
                                     "coarse classes": {"train": 43, "val": 37, "test": 43}}
    assert cat.photo_images.shape == (5421, 24, 24, 3) and cat.images.shape == (81, 24, 24, 3)
    p = cat.products.set_index("name")
    assert (p.loc["Granny-Smith", "coarse"], p.loc["Lime", "coarse"], p.loc["Lemon", "coarse"]) == \
        ("Apple", "Lime", "Lemon")
    assert p.loc["Granny-Smith", "title"].startswith("Granny Smith is a green apple")
    assert cat.products["title"].str.split().str.len().max() == 24
    assert sorted(p["group"].unique()) == ["Fruit", "Packages", "Vegetables"]
    assert os.path.basename(cat.root) == f"GroceryStoreDataset-{REAL_COMMIT}"


def test_zip_members_outside_the_manifest_are_not_unpacked(tmp_path):
    archive, manifest = published(tmp_path)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(f"{ROOT}/../escape.txt", b"no")
        zf.writestr(f"{ROOT}/extra.txt", b"not in the manifest")
    root = dl.unpack_grocery(archive, tmp_path / "data", manifest, progress=False)
    assert not (root / "extra.txt").exists() and not (tmp_path / "escape.txt").exists()
