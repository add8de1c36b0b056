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

import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import CatalogError, check_features, validate_catalog

ESCI_URL = "https://github.com/amazon-science/esci-data/raw/main/shopping_queries_dataset/"
SQID_URL = "https://github.com/Crossing-Minds/shopping-queries-image-dataset/raw/main/sqid/"
ESCI_FILES = {"examples": "shopping_queries_dataset_examples.parquet",
              "products": "shopping_queries_dataset_products.parquet"}
SQID_FILES = {"product_features": "product_features.parquet", "query_features": "query_features.parquet",
              "image_urls": "product_image_urls.csv"}
ESCI_LABELS = {"E": 0, "S": 1, "C": 2, "I": 3}
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

    def labels(self, query_ids, product_ids) -> np.ndarray:
        """E/S/C/I codes of the judged pairs; ``-1`` for pairs ESCI never judged."""
        return _pair_labels(self.judgements, np.asarray(query_ids), np.asarray(product_ids))


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
    """Fetch the missing public files from their official sources (needs internet)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, url in missing_files(directory, sqid):
        tmp = directory / f".{name}.part"
        try:
            urllib.request.urlretrieve(url, tmp)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise CatalogError(f"could not download {name} from {url} ({err}); put the file in {directory} by hand")
        tmp.rename(directory / name)


def _require(df: pd.DataFrame, columns: list[str], file: str) -> None:
    for col in columns:
        if col not in df.columns:
            raise CatalogError(f"{file}: column {col!r} is missing (columns: {list(df.columns)})")


def _vectors(series: pd.Series, file: str, column: str) -> np.ndarray:
    try:
        arr = np.stack([np.asarray(v, dtype=np.float32) for v in series]) if len(series) else \
            np.zeros((0, CLIP_WIDTH), np.float32)
    except ValueError as err:
        raise CatalogError(f"{file}: column {column!r} holds vectors of different widths ({err})") from err
    check_features(arr, CLIP_WIDTH, file, column)
    return arr


def load_esci(directory: str | Path, *, locale: str = "us", small_version: bool = True, sqid: bool = True,
              download_missing: bool = False) -> PublicCatalog:
    """Read ESCI (+ SQID) from ``directory`` and map it to the catalog schema.

    With ``sqid=True`` the catalog keeps the products and queries that SQID has CLIP features for, and carries
    those features (the frozen ``g_i``/``g_t`` outputs) for the CLIP, 4tMM and 3tMM models.
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
    ex_file, pr_file = (directory / ESCI_FILES["examples"]), (directory / ESCI_FILES["products"])
    examples = pd.read_parquet(ex_file)
    _require(examples, EXAMPLE_COLUMNS, ex_file.name)
    products = pd.read_parquet(pr_file)
    _require(products, PRODUCT_COLUMNS, pr_file.name)
    examples = examples[examples["product_locale"] == locale]
    if small_version:
        examples = examples[examples["small_version"] == 1]
    products = products[products["product_locale"] == locale].drop_duplicates("product_id")
    bad = ~examples["esci_label"].isin(list(ESCI_LABELS))
    if bad.any():
        raise CatalogError(f"{ex_file.name}: column 'esci_label' has unknown value "
                           f"{examples['esci_label'][bad].iloc[0]!r}; valid: {list(ESCI_LABELS)}")
    features = {}
    if sqid:
        pf_file, qf_file = directory / SQID_FILES["product_features"], directory / SQID_FILES["query_features"]
        pf = pd.read_parquet(pf_file)
        _require(pf, ["product_id", "clip_text_features", "clip_image_features"], pf_file.name)
        qf = pd.read_parquet(qf_file)
        _require(qf, ["query_id", "clip_text_features"], qf_file.name)
        products = products[products["product_id"].isin(pf["product_id"])]
        examples = examples[examples["product_id"].isin(products["product_id"]) &
                            examples["query_id"].isin(qf["query_id"])]
    asins = products["product_id"].to_numpy()
    pid = pd.Series(np.arange(len(asins), dtype=np.int64), index=asins)
    examples = examples[examples["product_id"].isin(pid.index)]
    qtab = examples.drop_duplicates("query_id")[["query_id", "query", "split"]].sort_values("query_id")
    qtab = qtab.assign(split=qtab["split"].map({"train": "train", "test": "eval"})).reset_index(drop=True)
    cat_products = pd.DataFrame({"product_id": pid.to_numpy(), "asin": asins,
                                 "title": products["product_title"].fillna("").to_numpy(),
                                 "brand": products["product_brand"].fillna("").to_numpy(),
                                 "colour": products["product_color"].fillna("").to_numpy()})
    judged = pd.DataFrame({"query_id": examples["query_id"].to_numpy(np.int64),
                           "product_id": pid.loc[examples["product_id"].to_numpy()].to_numpy(),
                           "label": examples["esci_label"].map(ESCI_LABELS).to_numpy(np.int8),
                           "split": examples["split"].map({"train": "train", "test": "eval"}).to_numpy()})
    purchases = judged[judged["label"] == ESCI_LABELS["E"]][["query_id", "product_id", "split"]]
    # ESCI's Irrelevant judgements are products the engine matched but the shopper would not buy: seen negatives
    seen = judged[judged["label"] == ESCI_LABELS["I"]][["query_id", "product_id"]]
    if sqid:
        pf = pf.set_index("product_id").loc[asins]
        features["product_clip_image"] = _vectors(pf["clip_image_features"], pf_file.name, "clip_image_features")
        features["product_clip_text"] = _vectors(pf["clip_text_features"], pf_file.name, "clip_text_features")
        qf = qf.drop_duplicates("query_id").set_index("query_id").loc[qtab["query_id"]]
        features["query_clip_text"] = _vectors(qf["clip_text_features"], qf_file.name, "clip_text_features")
    validate_catalog(cat_products, qtab, purchases.reset_index(drop=True), seen.reset_index(drop=True),
                     source=str(directory))
    return PublicCatalog(cat_products, qtab, purchases.reset_index(drop=True), judged.reset_index(drop=True),
                         seen.reset_index(drop=True), **features)
