"""Public data: the Amazon Shopping Queries dataset (ESCI) joined with SQID's precomputed CLIP features.

Files are read from a local directory, in their published names and columns:

* ESCI (https://github.com/amazon-science/esci-data, folder ``shopping_queries_dataset/``):
  ``shopping_queries_dataset_examples.parquet`` (example_id, query, query_id, product_id, product_locale,
  esci_label, small_version, large_version, split) and ``shopping_queries_dataset_products.parquet``
  (product_id, product_title, product_description, product_bullet_point, product_brand, product_color,
  product_locale).
* SQID (https://github.com/Crossing-Minds/shopping-queries-image-dataset, folder ``sqid/``):
  ``product_features.parquet`` (product_id, clip_text_features, clip_image_features: CLIP ViT-L/14, 768-d),
  ``query_features.parquet`` (query_id, clip_text_features) and ``product_image_urls.csv`` (product_id, image_url).

Mapping to the catalog schema: ESCI's E label is the positive ("purchase") pair; all four ESCI labels are the
relevance labels (E→Exact, S→Substitute, C→Complement, I→Irrelevant); ESCI's ``train`` split is the train
period and ``test`` the eval period. Product ASINs become integer ``product_id``s (the ASIN stays in ``asin``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..paper import LABELS, C, E, I, S
from . import download as downloader
from .download import DownloadError
from .schema import CatalogError, check_features, show_value as _show, validate_catalog

ESCI_URL = "https://github.com/amazon-science/esci-data/raw/main/shopping_queries_dataset/"
SQID_URL = "https://github.com/Crossing-Minds/shopping-queries-image-dataset/raw/main/sqid/"
ESCI_FILES = {"examples": "shopping_queries_dataset_examples.parquet",
              "products": "shopping_queries_dataset_products.parquet"}
SQID_FILES = {"product_features": "product_features.parquet", "query_features": "query_features.parquet",
              "image_urls": "product_image_urls.csv"}
ESCI_LABELS = dict(zip(LABELS, (E, S, C, I)))  # ESCI's letters are the paper's labels
SPLITS = {"train": "train", "test": "eval"}  # ESCI's split -> the catalog's period
EXAMPLE_COLUMNS = ["example_id", "query", "query_id", "product_id", "product_locale", "esci_label",
                   "small_version", "large_version", "split"]
PRODUCT_COLUMNS = ["product_id", "product_title", "product_description", "product_bullet_point",
                   "product_brand", "product_color", "product_locale"]
CLIP_WIDTH = 768  # SQID's CLIP ViT-L/14 features


@dataclass
class PublicCatalog:
    """ESCI (+ SQID) in the catalog schema. Labels exist only for judged pairs (others are unlabelled)."""

    products: pd.DataFrame
    queries: pd.DataFrame
    purchases: pd.DataFrame
    judgements: pd.DataFrame
    seen_negatives: pd.DataFrame
    product_clip_image: np.ndarray | None = None
    product_clip_text: np.ndarray | None = None
    query_clip_text: np.ndarray | None = None
    images: np.ndarray | None = field(default=None, repr=False)
    coercions: list[str] = field(default_factory=list)  # what the loader changed on purpose, one line each

    def labels(self, query_ids, product_ids) -> np.ndarray:
        """E/S/C/I codes of the judged pairs; ``-1`` for pairs ESCI never judged."""
        return _pair_labels(self.judgements, np.asarray(query_ids), np.asarray(product_ids))

    def table1(self) -> pd.DataFrame:
        """The paper's Table 1 for this corpus: purchase pairs (E judgements), distinct queries, distinct products
        per split (eval: the whole catalog, searched at evaluation)."""
        rows = []
        for split in ("train", "eval"):
            pairs = self.purchases[self.purchases["split"] == split]
            products = pairs["product_id"].nunique() if split == "train" else len(self.products)
            rows.append({"split": split, "pairs": len(pairs), "queries": pairs["query_id"].nunique(),
                         "products": products})
        return pd.DataFrame(rows).set_index("split")


def _pair_labels(judgements: pd.DataFrame, query_ids: np.ndarray, product_ids: np.ndarray) -> np.ndarray:
    if len(judgements) == 0:
        return np.full(np.shape(query_ids), -1, dtype=np.int8)
    n = int(max(judgements["product_id"].max(), product_ids.max(initial=0))) + 1
    codes = judgements["query_id"].to_numpy(np.int64) * n + judgements["product_id"].to_numpy(np.int64)
    order = np.argsort(codes)
    codes, labels = codes[order], judgements["label"].to_numpy(np.int8)[order]
    want = query_ids.astype(np.int64) * n + product_ids.astype(np.int64)
    pos = np.minimum(np.searchsorted(codes, want), codes.size - 1)
    return np.where(codes[pos] == want, labels[pos], -1).astype(np.int8).reshape(np.shape(query_ids))


def missing_files(directory: Path, sqid: bool = True) -> list[tuple[str, str]]:
    files = [(name, ESCI_URL + name) for name in ESCI_FILES.values()]
    if sqid:
        files += [(name, SQID_URL + name) for name in SQID_FILES.values()]
    return [(name, url) for name, url in files if not (directory / name).exists()]


def download(directory: Path, sqid: bool = True) -> None:
    """Fetch the missing public files from their official sources (needs internet): progress bars, resume,
    retries and checks against the shipped manifest, as ``python -m mmpaper data esci`` (see ``data/download.py``)."""
    try:
        downloader.download_esci(directory, sqid=sqid)
    except DownloadError as err:
        raise CatalogError(str(err)) from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__


def _require(columns, required: list[str], file: str) -> None:
    for col in required:
        if col not in columns:
            raise CatalogError(f"{file}: column {col!r} is missing (columns: {list(columns)})")


def _bad_utf8_row(values: list[bytes | None]) -> tuple[int, bytes]:
    for row, value in enumerate(values):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return row, value
    return -1, b""


def read_public_parquet(path: Path, required: list[str]) -> pd.DataFrame:
    """One public Parquet file as a DataFrame, its rows numbered from 0 as in the file.

    pyarrow's read errors are wrapped with the file's name. Text must be valid UTF-8: a string column holding
    invalid bytes is refused (file, column, row, value). A *binary* column whose bytes are valid UTF-8 is decoded
    to text on purpose (some exports store text as bytes); one that is not is refused the same way.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise CatalogError(f"{path.name}: cannot be read as Parquet ({_first_line(err)})") from err
    _require(table.column_names, required, path.name)
    decoded = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            try:
                column.validate(full=True)
                continue
            except pa.ArrowInvalid:
                raw = column.combine_chunks().view(pa.large_binary() if pa.types.is_large_string(column.type)
                                                   else pa.binary()).to_pylist()
        elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            raw = column.to_pylist()
        else:
            continue
        row, value = _bad_utf8_row(raw)
        if row >= 0:
            raise CatalogError(f"{path.name}: column {name!r} row {row} is not valid UTF-8 text: {value[:40]!r}")
        decoded[name] = [None if v is None else v.decode("utf-8") for v in raw]
    table = table.drop_columns(list(decoded)) if decoded else table
    try:
        df = table.to_pandas()
    except (pa.ArrowException, ValueError) as err:
        raise CatalogError(f"{path.name}: cannot be converted to a table ({_first_line(err)})") from err
    for name, values in decoded.items():
        df[name] = pd.Series(values, dtype=object)
    return df


def _integer_ids(df: pd.DataFrame, column: str, file: str, notes: list[str]) -> None:
    """Integer ids in place. Text that spells integers (``"17"``; SQID's query_features stores query_id as text)
    and whole floats are converted on purpose, with a note; anything else is refused with its row and value."""
    col = df[column]
    if pd.api.types.is_integer_dtype(col.dtype):
        return
    missing = col.isna()
    if missing.any():
        row = int(df.index[np.flatnonzero(missing.to_numpy())[0]])
        raise CatalogError(f"{file}: column {column!r} row {row} has no value")
    if pd.api.types.is_float_dtype(col.dtype):
        whole = np.isfinite(col.to_numpy()) & (col.to_numpy() == np.round(col.to_numpy()))
        converted = col.where(whole)
    else:
        converted = pd.to_numeric(col.map(lambda v: v.strip() if isinstance(v, str) and v.strip().isdigit()
                                           else None), errors="coerce")
    bad = converted.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"{file}: column {column!r} row {int(df.index[i])} has {_show(col.iloc[i])}, not an "
                           f"integer id")
    df[column] = converted.astype(np.int64)
    notes.append(f"{file}: column {column!r} stored as {col.dtype}; read as integer ids")


def _text_ids(df: pd.DataFrame, column: str, file: str) -> None:
    """ASINs are text (``"B07..."``, or ISBN-10 digits whose leading zeros a number would lose): refuse others."""
    col = df[column]
    bad = ~col.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"{file}: column {column!r} row {int(df.index[i])} has {_show(col.iloc[i])}; product ids "
                           f"(ASINs) must be text")


_TRUE, _FALSE = {"1", "true", "t", "yes"}, {"0", "false", "f", "no", ""}


def _flags(df: pd.DataFrame, column: str, file: str, notes: list[str]) -> None:
    """0/1 version flags as booleans in place. Booleans, 0/1 and the texts ``0``/``1``/``true``/``false`` are
    read on purpose (a note says so when they were not 0/1 integers); anything else is refused."""
    col = df[column]
    if pd.api.types.is_bool_dtype(col.dtype):
        return
    if pd.api.types.is_integer_dtype(col.dtype):
        bad = ~col.isin([0, 1]).to_numpy()
        flags = col == 1
    else:
        text = col.map(lambda v: str(v).strip().lower() if v is not None and v == v else None)
        bad = ~text.isin(_TRUE | _FALSE).to_numpy()
        flags = text.isin(_TRUE)
        if not bad.any():
            notes.append(f"{file}: column {column!r} stored as {col.dtype}; read as 0/1 flags")
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"{file}: column {column!r} row {int(df.index[i])} has {_show(col.iloc[i])}; valid: 0 or 1")
    df[column] = flags.to_numpy(bool)


def _nonempty(df: pd.DataFrame, what: str) -> pd.DataFrame:
    if len(df) == 0:
        raise CatalogError(what)
    return df


def _conflicting_duplicates(df: pd.DataFrame, key: list[str], columns: list[str], file: str,
                            notes: list[str], what: str) -> pd.DataFrame:
    """Rows that repeat ``key``: exact repeats (same ``columns``) are dropped on purpose, with a note; repeats that
    disagree on a column are refused, naming both rows and values."""
    dup = df.duplicated(key, keep=False)
    if not dup.any():
        return df
    rows = df[dup]
    for col in columns:
        n = rows.groupby(key, sort=False)[col].nunique(dropna=False)
        if (n > 1).any():
            k = n.index[np.flatnonzero((n > 1).to_numpy())[0]]
            k = k if isinstance(k, tuple) else (k,)
            same = rows[(rows[key] == pd.Series(k, index=key)).all(axis=1)]
            first, other = same.iloc[0], same[same[col] != same[col].iloc[0]].iloc[0]
            ident = " and ".join(f"{c} {_show(v)}" for c, v in zip(key, k))
            raise CatalogError(f"{file}: {ident} appears in row {int(same.index[0])} with {col} {_show(first[col])} "
                               f"and in row {int(other.name)} with {_show(other[col])}; {what}")
    kept = df.drop_duplicates(key)
    notes.append(f"{file}: {len(df) - len(kept)} exact repeated rows of the same {'/'.join(key)} dropped")
    return kept


def _unique_feature_rows(df: pd.DataFrame, column: str, file: str) -> None:
    dup = df[column].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        value = df[column].iloc[i]
        first = int(df.index[np.flatnonzero((df[column] == value).to_numpy())[0]])
        raise CatalogError(f"{file}: row {int(df.index[i])} repeats {column} {_show(value)} of row {first}; one "
                           f"feature row per id")


def _vectors(series: pd.Series, file: str, column: str) -> np.ndarray:
    try:
        arr = np.stack([np.asarray(v, dtype=np.float32) for v in series]) if len(series) else \
            np.zeros((0, CLIP_WIDTH), np.float32)
    except (ValueError, TypeError) as err:
        raise CatalogError(f"{file}: column {column!r} holds vectors of different widths or non-numbers "
                           f"({_first_line(err)})") from err
    check_features(arr, CLIP_WIDTH, file, column)
    return arr


def load_esci(directory: str | Path, *, locale: str = "us", small_version: bool = True, sqid: bool = True,
              download_missing: bool = False) -> PublicCatalog:
    """Read ESCI (+ SQID) from ``directory`` and map it to the catalog schema.

    With ``sqid=True`` the catalog keeps the products and queries that SQID has CLIP features for (SQID covers a
    subset of ESCI: the small-version ``us`` test products, plus some), and carries those features — matched to
    products and queries by id, never by position — as the frozen ``g_i``/``g_t`` outputs for the CLIP, 4tMM
    and 3tMM models.

    Inconsistent files are refused with a :class:`CatalogError` naming the file, column, row (counted from 0)
    and value. What is changed on purpose instead is listed in ``PublicCatalog.coercions``: exact repeated rows
    dropped; integer ids stored as text read as integers; 0/1 flags stored as text or booleans read as flags;
    text stored as UTF-8 bytes decoded; products and queries without SQID features left out.
    """
    directory = Path(directory)
    missing = missing_files(directory, sqid)
    if missing and download_missing:
        download(directory, sqid)
        missing = missing_files(directory, sqid)
    if missing:
        listing = "; ".join(f"{name} (from {url})" for name, url in missing)
        raise CatalogError(f"{directory}: missing public data files: {listing}. Put them there, or call "
                           f"load_esci(..., download_missing=True) on a machine with internet")
    notes: list[str] = []
    ex_file, pr_file = (directory / ESCI_FILES["examples"]), (directory / ESCI_FILES["products"])
    exn, prn = ex_file.name, pr_file.name
    examples = read_public_parquet(ex_file, EXAMPLE_COLUMNS)
    products = read_public_parquet(pr_file, PRODUCT_COLUMNS)

    # -- types, before any filter compares values (a mistyped id or flag would silently match nothing)
    _integer_ids(examples, "query_id", exn, notes)
    _text_ids(examples, "product_id", exn)
    _text_ids(products, "product_id", prn)
    _flags(examples, "small_version", exn, notes)
    _flags(examples, "large_version", exn, notes)
    bad = ~examples["esci_label"].isin(list(ESCI_LABELS)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"{exn}: column 'esci_label' row {int(examples.index[i])} has unknown value "
                           f"{_show(examples['esci_label'].iloc[i])}; valid: {list(ESCI_LABELS)}")
    bad = ~examples["split"].isin(list(SPLITS)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"{exn}: column 'split' row {int(examples.index[i])} has unknown value "
                           f"{_show(examples['split'].iloc[i])}; valid: {list(SPLITS)}")

    # -- filters, each of which must leave something
    locales = sorted(map(str, examples["product_locale"].dropna().unique()))
    examples = _nonempty(examples[examples["product_locale"] == locale],
                         f"{exn}: no row has product_locale {locale!r} (locales there: {locales})")
    if small_version:
        examples = _nonempty(examples[examples["small_version"]],
                             f"{exn}: no row of locale {locale!r} has small_version 1")
    products = _nonempty(products[products["product_locale"] == locale],
                         f"{prn}: no row has product_locale {locale!r}")

    # -- consistency: one title per product, one text and split per query, one label per pair
    products = _conflicting_duplicates(products, ["product_id"], ["product_title", "product_brand", "product_color"],
                                       prn, notes, "one product, one title")
    examples = _conflicting_duplicates(examples, ["query_id", "product_id"], ["esci_label"], exn, notes,
                                       "a pair is judged once")
    for col in ("query", "split"):
        q = examples.drop_duplicates(["query_id", col])
        _conflicting_duplicates(q, ["query_id"], [col], exn, [], f"one query, one {col}")

    features = {}
    if sqid:
        pf_file, qf_file = directory / SQID_FILES["product_features"], directory / SQID_FILES["query_features"]
        pf = read_public_parquet(pf_file, ["product_id", "clip_text_features", "clip_image_features"])
        qf = read_public_parquet(qf_file, ["query_id", "clip_text_features"])
        _text_ids(pf, "product_id", pf_file.name)
        _integer_ids(qf, "query_id", qf_file.name, notes)
        _unique_feature_rows(pf, "product_id", pf_file.name)
        _unique_feature_rows(qf, "query_id", qf_file.name)
        n = len(products)
        products = _nonempty(products[products["product_id"].isin(pf["product_id"])],
                             f"{pf_file.name}: none of the {n} products of locale {locale!r} has a feature row "
                             f"(product_id there e.g. {_show(pf['product_id'].iloc[0]) if len(pf) else 'none'})")
        if len(products) < n:
            notes.append(f"{pf_file.name}: {n - len(products)} of {n} products have no SQID features; left out")
        n = examples["query_id"].nunique()
        examples = _nonempty(examples[examples["query_id"].isin(qf["query_id"])],
                             f"{qf_file.name}: none of the {n} queries has a feature row "
                             f"(query_id there e.g. {_show(qf['query_id'].iloc[0]) if len(qf) else 'none'})")
        if examples["query_id"].nunique() < n:
            notes.append(f"{qf_file.name}: {n - examples['query_id'].nunique()} of {n} queries have no SQID "
                         f"features; left out")
    asins = products["product_id"].to_numpy()
    pid = pd.Series(np.arange(len(asins), dtype=np.int64), index=asins)
    examples = _nonempty(examples[examples["product_id"].isin(pid.index)],
                         f"{exn}: no judged product of locale {locale!r} is listed in {prn}"
                         + (" with SQID features" if sqid else ""))
    qtab = examples.drop_duplicates("query_id")[["query_id", "query", "split"]].sort_values("query_id")
    qtab = qtab.assign(split=qtab["split"].map(SPLITS)).reset_index(drop=True)
    cat_products = pd.DataFrame({"product_id": pid.to_numpy(), "asin": asins,
                                 "title": products["product_title"].fillna("").to_numpy(),
                                 "brand": products["product_brand"].fillna("").to_numpy(),
                                 "colour": products["product_color"].fillna("").to_numpy()})
    judged = pd.DataFrame({"query_id": examples["query_id"].to_numpy(np.int64),
                           "product_id": pid.loc[examples["product_id"].to_numpy()].to_numpy(),
                           "label": examples["esci_label"].map(ESCI_LABELS).to_numpy(np.int8),
                           "split": examples["split"].map(SPLITS).to_numpy()})
    purchases = judged[judged["label"] == ESCI_LABELS["E"]][["query_id", "product_id", "split"]]
    # ESCI's Irrelevant judgements are products the engine matched but the shopper would not buy: seen negatives
    seen = judged[judged["label"] == ESCI_LABELS["I"]][["query_id", "product_id"]]
    if sqid:  # by id: the feature files' row order is theirs, not the catalog's
        pf = pf.set_index("product_id").loc[asins]
        features["product_clip_image"] = _vectors(pf["clip_image_features"], pf_file.name, "clip_image_features")
        features["product_clip_text"] = _vectors(pf["clip_text_features"], pf_file.name, "clip_text_features")
        qf = qf.set_index("query_id").loc[qtab["query_id"]]
        features["query_clip_text"] = _vectors(qf["clip_text_features"], qf_file.name, "clip_text_features")
    validate_catalog(cat_products, qtab, purchases.reset_index(drop=True), seen.reset_index(drop=True),
                     source=str(directory))
    return PublicCatalog(cat_products, qtab, purchases.reset_index(drop=True), judged.reset_index(drop=True),
                         seen.reset_index(drop=True), **features, coercions=notes)
