"""The bad-input corpus: wrong options, broken public files and damaged caches, tried as a careless user would.

Every refused case asserts: exit status 2, one line ``mmpaper: error: ...`` that names the culprit (option or
file, and the value), no traceback, and nothing written (no run directory, no cache). Every coerced or
regenerated case asserts the one-line note or warning and a whole result.
"""
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmpaper.cli import main
from mmpaper.data.esci import ESCI_FILES, SQID_FILES, load_esci
from mmpaper.data.manifest import CorruptCacheError, check_manifest, write_manifest
from mmpaper.data.schema import CatalogError
from mmpaper.rundirs import RunDir
from test_esci import write_public_files


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A private cache and runs location that must stay empty after a refused command."""
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _written(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "data/esci" not in p.as_posix() and p.name != "blocker"]


def refused(capsys, argv, *names, root=None, code=2):
    """Run the CLI; assert the exit status, one line naming every one of ``names``, no traceback."""
    status = main(argv)
    err = capsys.readouterr().err
    assert status == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mmpaper: error: "), err
    assert "Traceback" not in err and "np.int64" not in err, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    if root is not None:
        assert _written(root) == [], _written(root)
    return lines[0]


# ------------------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("argv, names", [
    (["run", "--preset", "smoke", "--devices", "0"], ["--devices", "'0'", "positive integer or 'auto'"]),
    (["run", "--preset", "smoke", "--devices", "-1"], ["--devices", "'-1'", "positive integer or 'auto'"]),
    (["run", "--preset", "smoke", "--devices", "two"], ["--devices", "'two'", "positive integer or 'auto'"]),
    (["run", "--preset", "smoke", "--devices", "1.5"], ["--devices", "'1.5'"]),
    (["run", "--preset", "smoke", "--strategy", "bogus"], ["--strategy", "'bogus'", "'ddp'"]),
    (["run", "--preset", "tiny"], ["--preset", "unknown preset 'tiny'", "'smoke'", "'cpu'"]),
    (["world", "--preset", "tiny"], ["--preset", "unknown preset 'tiny'"]),
    (["run", "--preset", "smoke", "--variant", "5tmm"], ["--variant", "unknown variant '5tmm'", "'bibert'", "'all'"]),
    (["run", "--preset", "smoke", "--variant", "bibert,,clip"], ["--variant", "unknown variant ''"]),
    (["robustness", "--preset", "smoke", "--corners", "image:mid"], ["--corners", "unknown corner 'image:mid'",
                                                                     "image:low-popularity:low-seen:matcher"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'", "'run'"]),
    (["run", "--preset", "smoke", "--epochs", "3"], ["unrecognized arguments: --epochs 3"]),
    ([], ["the following arguments are required"]),
])
def test_bad_options_are_refused_before_any_work(home, capsys, argv, names):
    refused(capsys, argv, *names, root=home)


def test_runs_dir_that_is_a_file(home, capsys):
    (home / "blocker").write_text("x")
    refused(capsys, ["run", "--preset", "smoke", "--runs-dir", str(home / "blocker")], "--runs-dir",
            str(home / "blocker"), "is a file", root=home)


def test_runs_dir_below_a_file(home, capsys):
    (home / "blocker").write_text("x")
    refused(capsys, ["tables", "--preset", "smoke", "--runs-dir", str(home / "blocker" / "runs")], "--runs-dir",
            "cannot be made", str(home / "blocker"), root=home)


def test_runs_dir_on_a_read_only_filesystem(home, capsys):
    if not os.path.isdir("/sys") or os.access("/sys", os.W_OK) and not os.geteuid() == 0:
        pytest.skip("no read-only /sys here")
    refused(capsys, ["run", "--preset", "smoke", "--runs-dir", "/sys/mmpaper-runs"], "--runs-dir",
            "'/sys/mmpaper-runs'", "not writable", root=home)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_runs_dir_read_only_by_permission(home, capsys):
    ro = home / "ro"
    ro.mkdir(mode=0o500)
    refused(capsys, ["run", "--preset", "smoke", "--runs-dir", str(ro / "runs")], "--runs-dir", "not writable")


def test_cache_that_is_a_file(home, capsys, monkeypatch):
    (home / "blocker").write_text("x")
    monkeypatch.setenv("MMPAPER_CACHE", str(home / "blocker"))
    refused(capsys, ["world", "--preset", "smoke"], "MMPAPER_CACHE", str(home / "blocker"), "is a file", root=home)


def test_cache_on_a_read_only_filesystem(home, capsys, monkeypatch):
    monkeypatch.setenv("MMPAPER_CACHE", "/sys/mmpaper-cache")
    if os.access("/sys", os.W_OK) and os.geteuid() != 0:
        pytest.skip("no read-only /sys here")
    refused(capsys, ["run", "--preset", "smoke", "--runs-dir", str(home / "runs")], "MMPAPER_CACHE",
            "'/sys/mmpaper-cache'", "not writable", root=home)


def test_empty_cache_variable(home, capsys, monkeypatch):
    monkeypatch.setenv("MMPAPER_CACHE", "")
    refused(capsys, ["world", "--preset", "smoke"], "MMPAPER_CACHE", "empty", root=home)


def test_esci_preset_without_files_says_what_is_missing(home, capsys):
    for cmd in ("world", "run"):
        refused(capsys, [cmd, "--preset", "esci"], "preset 'esci'", "data/esci",
                ESCI_FILES["examples"], SQID_FILES["product_features"], root=home)


def test_visual_variant_on_esci(home, capsys):
    (home / "data" / "esci").mkdir(parents=True)
    write_public_files(home / "data" / "esci")
    refused(capsys, ["run", "--preset", "esci", "--variant", "vs-3tower"], "--variant", "'vs-3tower'",
            "query photos", "table2", root=home)


def test_gpu_preset_without_a_gpu(home, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    refused(capsys, ["run", "--preset", "gpu", "--variant", "bibert"], "preset 'gpu'", "accelerator 'gpu'",
            root=home)


def test_tables_before_any_run(home, capsys):
    refused(capsys, ["tables", "--preset", "smoke", "--runs-dir", str(home / "runs")], "no finished run of",
            "python -m mmpaper run --preset smoke", root=home)


def test_debug_shows_the_traceback(home):
    from mmpaper.cli import UsageError

    with pytest.raises(UsageError, match="--devices"):
        main(["run", "--preset", "smoke", "--devices", "0", "--debug"])


def test_exit_status_of_the_real_command(home):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mmpaper", "run", "--preset", "smoke", "--devices", "zero"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["mmpaper: error: argument --devices: 'zero' is not a positive "
                                                "integer or 'auto'"]
    assert _written(home) == []


# -------------------------------------------------------------------------------------------- public files
def _esci(home) -> Path:
    d = home / "data" / "esci"
    d.mkdir(parents=True, exist_ok=True)
    write_public_files(d)
    return d


def _edit(path: Path, change) -> None:
    df = pd.read_parquet(path)
    change(df).to_parquet(path)


def _examples(d):
    return d / ESCI_FILES["examples"]


def _products(d):
    return d / ESCI_FILES["products"]


def _pfeatures(d):
    return d / SQID_FILES["product_features"]


def _qfeatures(d):
    return d / SQID_FILES["query_features"]


def _set(column, values):
    return lambda df: df.assign(**{column: values})


def _with_row(row: int, **values):
    def change(df):
        df = df.copy()
        for col, v in values.items():
            df[col] = df[col].astype(object)
            df.at[row, col] = v
        return df
    return change


def _append_copy_of(row: int, **values):
    def change(df):
        extra = df.iloc[[row]].copy()
        for col, v in values.items():
            extra[col] = [v]
        return pd.concat([df, extra], ignore_index=True)
    return change


def _write_strings(path: Path, column: str, raw: list[bytes], binary: bool) -> None:
    """Replace a text column by raw bytes: a binary column, or a string column holding invalid UTF-8."""
    table = pq.read_table(path)
    arr = pa.array(raw, type=pa.binary())
    if not binary:
        arr = arr.view(pa.string())  # pyarrow writes it without validating, as a careless exporter would
    pq.write_table(table.set_column(table.column_names.index(column), column, arr), path)


# (file, change, what the one line must name)
FILE_CASES = {
    "product id with two titles": (_products, _append_copy_of(0, product_title="Blue mug"),
                                   ["products.parquet", "product_id 'B000000000'", "row 0", "'Red mug'", "row 6",
                                    "'Blue mug'"]),
    "pair judged E and I": (_examples, _append_copy_of(0, example_id=99, esci_label="I"),
                            ["examples.parquet", "query_id 1 and product_id 'B000000000'", "row 0", "'E'", "row 8",
                             "'I'"]),
    "query with two texts": (_examples, _with_row(1, query="blue mug"),
                             ["examples.parquet", "query_id 1", "'red mug'", "'blue mug'", "one query, one query"]),
    "query in two splits": (_examples, _with_row(1, split="test"),
                            ["examples.parquet", "query_id 1", "'train'", "'test'", "one query, one split"]),
    "repeated product feature row": (_pfeatures, _append_copy_of(3),
                                     ["product_features.parquet", "row 6 repeats product_id 'B000000003' of row 3"]),
    "repeated query feature row": (_qfeatures, _append_copy_of(1),
                                   ["query_features.parquet", "row 4 repeats query_id 2 of row 1"]),
    "unknown split": (_examples, _with_row(5, split="valid"),
                      ["examples.parquet", "column 'split' row 5", "'valid'", "['train', 'test']"]),
    "unknown label": (_examples, _with_row(1, esci_label="X"),
                      ["examples.parquet", "column 'esci_label' row 1", "'X'", "['E', 'S', 'C', 'I']"]),
    "query id not a number": (_examples, _set("query_id", ["1", "1", "q-1", "2", "2", "3", "3", "4"]),
                              ["examples.parquet", "column 'query_id' row 2", "'q-1'", "not an integer id"]),
    "query id missing": (_qfeatures, _with_row(2, query_id=None),
                         ["query_features.parquet", "column 'query_id' row 2", "no value"]),
    "ASIN stored as a number": (_products, _set("product_id", list(range(6))),
                                ["products.parquet", "column 'product_id' row 0", "0", "must be text"]),
    "version flag not 0/1": (_examples, _set("small_version", ["maybe"] * 8),
                             ["examples.parquet", "column 'small_version' row 0", "'maybe'", "valid: 0 or 1"]),
    "locale with no rows": (_examples, _set("product_locale", ["es"] * 8),
                            ["examples.parquet", "no row has product_locale 'us'", "['es']"]),
    "products of another locale": (_products, _set("product_locale", ["jp"] * 6),
                                   ["products.parquet", "no row has product_locale 'us'"]),
    "no small-version rows": (_examples, _set("small_version", [0] * 8),
                              ["examples.parquet", "no row of locale 'us' has small_version 1"]),
    "features keyed by other ids": (_pfeatures, _set("product_id", [f"X{i}" for i in range(6)]),
                                    ["product_features.parquet", "none of the 6 products", "feature row", "'X0'"]),
    "query features of other queries": (_qfeatures, _set("query_id", [91, 92, 93, 94]),
                                        ["query_features.parquet", "none of the", "queries has a feature row", "91"]),
    "missing column": (_examples, lambda df: df.drop(columns="split"),
                       ["examples.parquet", "column 'split' is missing"]),
    "feature widths differ": (_pfeatures, _set("clip_image_features",
                                               [np.zeros(768, np.float32)] * 5 + [np.zeros(3, np.float32)]),
                              ["product_features.parquet", "clip_image_features"]),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_inconsistent_public_files_are_refused(home, capsys, case):
    file, change, names = FILE_CASES[case]
    d = _esci(home)
    _edit(file(d), change)
    with pytest.raises(CatalogError):
        load_esci(d)
    refused(capsys, ["world", "--preset", "esci"], *names, root=home)


def test_invalid_utf8_in_a_text_column(home, capsys):
    d = _esci(home)
    _write_strings(_examples(d), "query", [b"red mug"] * 3 + [b"blue \xffrug"] + [b"x"] * 4, binary=False)
    refused(capsys, ["world", "--preset", "esci"], "examples.parquet", "column 'query' row 3", "not valid UTF-8",
            "blue \\xffrug", root=home)


def test_invalid_utf8_in_a_bytes_column(home, capsys):
    d = _esci(home)
    _write_strings(_products(d), "product_title", [b"Red mug", b"\xc3(", b"Tea", b"Rug", b"Pillow", b"Tee"],
                   binary=True)
    refused(capsys, ["world", "--preset", "esci"], "products.parquet", "column 'product_title' row 1",
            "not valid UTF-8", root=home)


@pytest.mark.parametrize("damage", ["truncated", "not parquet", "empty"])
def test_unreadable_parquet_is_named(home, capsys, damage):
    d = _esci(home)
    path = _qfeatures(d)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "not parquet": b"query_id,clip\n1,2\n", "empty": b""}[damage])
    refused(capsys, ["world", "--preset", "esci"], "query_features.parquet", "cannot be read as Parquet", root=home)


# ------------------------------------------------------------------------------- coerced on purpose, noted
def test_coercions_give_the_same_catalog(home, capsys):
    """SQID's own query ids are text; flags may be text; titles may be UTF-8 bytes; rows may repeat exactly;
    feature rows may come in any order. Each is read on purpose, noted, and gives the catalog of clean files."""
    d = _esci(home)
    clean = load_esci(d)
    _edit(_qfeatures(d), lambda df: df.assign(query_id=df["query_id"].astype(str)).iloc[::-1])
    _edit(_examples(d), lambda df: pd.concat([df, df.iloc[[3]]]).assign(small_version=lambda x: x["small_version"]
                                                                         .map({1: "true", 0: "false"})))
    _edit(_pfeatures(d), lambda df: df.iloc[[5, 3, 1, 0, 2, 4]])
    _write_strings(_products(d), "product_title", [t.encode() for t in pd.read_parquet(_products(d))["product_title"]],
                   binary=True)
    cat = load_esci(d)
    pd.testing.assert_frame_equal(cat.products, clean.products)
    pd.testing.assert_frame_equal(cat.queries, clean.queries)
    pd.testing.assert_frame_equal(cat.purchases, clean.purchases)
    np.testing.assert_array_equal(cat.product_clip_image, clean.product_clip_image)  # matched by id, not row
    np.testing.assert_array_equal(cat.query_clip_text, clean.query_clip_text)
    notes = " | ".join(cat.coercions)
    for expected in ("query_features.parquet: column 'query_id' stored as ", "; read as integer ids",
                     "column 'small_version' stored as ", "; read as 0/1 flags", "1 exact repeated rows"):
        assert expected in notes, notes
    assert main(["world", "--preset", "esci"]) == 0
    out = capsys.readouterr().out
    assert "note: query_features.parquet: column 'query_id'" in out and "| train " in out


# ------------------------------------------------------------------------------------------------ caches
def _tiny_world(tmp_path):
    from mmpaper.data.cache import load_world
    from mmpaper.data.world import world_config

    cfg = world_config("smoke")
    return cfg, load_world(cfg, tmp_path)


@pytest.mark.parametrize("damage", ["truncate images.npy", "truncate products.parquet", "garble world.json",
                                    "remove manifest.json", "remove photos.parquet"])
def test_damaged_world_cache_is_regenerated_with_a_warning(tmp_path, damage):
    from mmpaper.data.cache import load_world

    cfg, world = _tiny_world(tmp_path)
    whole = world.products.copy(), np.asarray(world.images).copy()
    action, name = damage.split(" ")
    path = world.path / name
    if action == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif action == "garble":
        path.write_text(path.read_text().replace("{", "[", 1))
    else:
        path.unlink()
    with pytest.raises(CorruptCacheError):
        check_manifest(world.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_world(cfg, tmp_path)
    messages = [str(w.message) for w in caught if "damaged" in str(w.message)]
    assert len(messages) == 1 and str(world.path) in messages[0] and "\n" not in messages[0], messages
    assert name in messages[0] or "manifest" in messages[0], messages
    pd.testing.assert_frame_equal(again.products, whole[0])
    np.testing.assert_array_equal(np.asarray(again.images), whole[1])
    check_manifest(again.path)


def _finished_run(tmp_path) -> RunDir:
    rd = RunDir(tmp_path / "runs" / "smoke" / "4tmm-mlp" / "abc123")
    partial = rd.begin()
    np.save(partial / "topk.npy", np.arange(400).reshape(20, 20))
    (partial / "metrics.json").write_text('{"recall": 0.5, "E": 0.25}')
    rd.finish()
    return rd


@pytest.mark.parametrize("damage", ["truncate topk.npy", "remove metrics.json", "garble manifest.json",
                                    "change topk.npy"])
def test_damaged_run_directory_is_not_reused(tmp_path, damage):
    rd = _finished_run(tmp_path)
    assert rd.finished(hashes=True)
    action, name = damage.split(" ")
    path = rd.final / name
    if action == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif action == "remove":
        path.unlink()
    elif action == "garble":
        path.write_text("{not json")
    else:  # same size, other bytes: only the SHA-256 catches it
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not rd.finished(hashes=action == "change")
    (message,) = [str(w.message) for w in caught]
    assert str(rd.final) in message and "regenerating" in message and "\n" not in message
    assert not rd.final.exists()  # removed, so nothing that looks like a finished run is left


def test_checkpoint_that_does_not_load_is_not_resumed(tmp_path):
    rd = RunDir(tmp_path / "runs" / "smoke" / "bibert" / "abc123")
    partial = rd.begin()
    (partial / "last.ckpt").write_bytes(b"PK\x03\x04 cut short by a kill")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert rd.resume_checkpoint() is None
    (message,) = [str(w.message) for w in caught]
    assert "last.ckpt" in message and "does not load" in message and "again from the start" in message
    assert not (partial / "last.ckpt").exists()


def test_manifest_names_the_damaged_file(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"0123456789")
    write_manifest(tmp_path)
    (tmp_path / "a.npy").write_bytes(b"01234")
    with pytest.raises(CorruptCacheError, match=r"a.npy has 5 bytes, the manifest says 10 \(truncated"):
        check_manifest(tmp_path)
