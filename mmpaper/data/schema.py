"""The catalog schema every data source is mapped to, and the one validation step for any catalog.

Every problem is a :class:`CatalogError` with a one-line message naming the file, the column and an example
value, e.g. ``products.parquet: column 'product_id' has duplicate value 17``.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd


class CatalogError(ValueError):
    """A catalog file that does not fit the schema."""


# table -> {column: kind}; kinds: "int", "float", "str"
SCHEMA: dict[str, dict[str, str]] = {
    "products": {"product_id": "int", "title": "str"},
    "queries": {"query_id": "int", "query": "str", "split": "str"},
    "purchases": {"query_id": "int", "product_id": "int", "split": "str"},
    "seen_negatives": {"query_id": "int", "product_id": "int"},
    "labels": {"query_id": "int", "product_id": "int", "label": "int"},
    "photos": {"photo_id": "int", "product_id": "int", "split": "str"},  # query photos (the Grocery Store's)
}
_KIND_CHECK = {"int": pd.api.types.is_integer_dtype, "float": pd.api.types.is_float_dtype,
               "str": lambda d: pd.api.types.is_string_dtype(d) or pd.api.types.is_object_dtype(d)}


def show_value(value) -> str:
    """A value as a reader would type it in a message (``0``, not ``np.int64(0)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


_show = show_value


def check_columns(df: pd.DataFrame, table: str, file: str) -> None:
    for col, kind in SCHEMA[table].items():
        if col not in df.columns:
            raise CatalogError(f"{file}: column {col!r} is missing (columns: {list(df.columns)})")
        if not _KIND_CHECK[kind](df[col].dtype):
            example = df[col].iloc[0] if len(df) else None
            raise CatalogError(f"{file}: column {col!r} should be {kind}, got {df[col].dtype} (e.g. {_show(example)})")


def check_unique(df: pd.DataFrame, column: str, file: str) -> None:
    dup = df[column][df[column].duplicated()]
    if len(dup):
        raise CatalogError(f"{file}: column {column!r} has duplicate value {_show(dup.iloc[0])} "
                           f"({len(dup)} duplicates)")


def check_text(df: pd.DataFrame, column: str, file: str) -> None:
    empty = df[column].isna() | (df[column].astype(str).str.strip() == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise CatalogError(f"{file}: column {column!r} is empty in row {row} ({int(empty.sum())} empty)")


def check_references(df: pd.DataFrame, column: str, known: pd.Series, file: str, target: str) -> None:
    unknown = ~df[column].isin(known)
    if unknown.any():
        raise CatalogError(f"{file}: column {column!r} refers to unknown {target} {_show(df[column][unknown].iloc[0])} "
                           f"({int(unknown.sum())} rows)")


def check_features(features: np.ndarray, width: int | None, file: str, column: str) -> None:
    features = np.asarray(features)
    if features.ndim != 2:
        raise CatalogError(f"{file}: column {column!r} should hold vectors, got shape {features.shape}")
    if width is not None and features.shape[1] != width:
        raise CatalogError(f"{file}: column {column!r} has width {features.shape[1]}, expected {width}")
    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise CatalogError(f"{file}: column {column!r} has NaN or infinite values in row {int(np.flatnonzero(bad)[0])}"
                           f" ({int(bad.sum())} rows)")


def check_images(images: np.ndarray, file: str) -> None:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise CatalogError(f"{file}: images should be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")


def decode_image(data: bytes, size: int, file: str, key) -> np.ndarray:
    """Decode one encoded image (JPEG/PNG bytes) to uint8 ``[size, size, 3]``; a clear error if it won't."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB").resize((size, size)), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise CatalogError(f"{file}: image of product {key!r} does not decode ({err.__class__.__name__})") from err


def validate_catalog(products: pd.DataFrame, queries: pd.DataFrame, purchases: pd.DataFrame,
                     seen_negatives: pd.DataFrame | None = None, images: np.ndarray | None = None,
                     source: str = "catalog") -> None:
    """Check a whole catalog: columns and types, unique ids, non-empty text, references, image array."""
    check_columns(products, "products", f"{source}/products")
    check_unique(products, "product_id", f"{source}/products")
    check_text(products, "title", f"{source}/products")
    check_columns(queries, "queries", f"{source}/queries")
    check_unique(queries, "query_id", f"{source}/queries")
    check_text(queries, "query", f"{source}/queries")
    check_columns(purchases, "purchases", f"{source}/purchases")
    check_references(purchases, "product_id", products["product_id"], f"{source}/purchases", "product")
    check_references(purchases, "query_id", queries["query_id"], f"{source}/purchases", "query")
    if seen_negatives is not None:
        check_columns(seen_negatives, "seen_negatives", f"{source}/seen_negatives")
        check_references(seen_negatives, "product_id", products["product_id"], f"{source}/seen_negatives", "product")
        check_references(seen_negatives, "query_id", queries["query_id"], f"{source}/seen_negatives", "query")
    if images is not None:
        check_images(images, f"{source}/images")
        if len(images) != len(products):
            raise CatalogError(f"{source}/images: {len(images)} images for {len(products)} products")
