import io

import numpy as np
import pandas as pd
import pytest

from mmpaper.data.schema import CatalogError, check_features, decode_image, validate_catalog


def _catalog():
    products = pd.DataFrame({"product_id": [0, 1, 2], "title": ["red mug", "blue rug", "tee"]})
    queries = pd.DataFrame({"query_id": [10, 11], "query": ["mug", "rug"], "split": ["train", "eval"]})
    purchases = pd.DataFrame({"query_id": [10, 11], "product_id": [0, 1], "split": ["train", "eval"]})
    return products, queries, purchases


def test_valid_catalog_passes():
    validate_catalog(*_catalog(), images=np.zeros((3, 8, 8, 3), np.uint8))


@pytest.mark.parametrize("mutate, message", [
    (lambda p, q, b: (p.drop(columns="title"), q, b), "catalog/products: column 'title' is missing"),
    (lambda p, q, b: (p.assign(product_id=["a", "b", "c"]), q, b), "column 'product_id' should be int"),
    (lambda p, q, b: (p.assign(product_id=[0, 1, 1]), q, b), "column 'product_id' has duplicate value 1"),
    (lambda p, q, b: (p.assign(title=["red mug", " ", "tee"]), q, b), "column 'title' is empty in row 1"),
    (lambda p, q, b: (p, q, b.assign(product_id=[0, 7])), "purchases: column 'product_id' refers to unknown product 7"),
    (lambda p, q, b: (p, q, b.assign(query_id=[10, 99])), "column 'query_id' refers to unknown query 99"),
    (lambda p, q, b: (p, q.assign(query_id=[10, 10]), b), "queries: column 'query_id' has duplicate value 10"),
])
def test_bad_catalogs_get_one_clear_line(mutate, message):
    with pytest.raises(CatalogError, match=message) as err:
        validate_catalog(*mutate(*_catalog()))
    assert "\n" not in str(err.value)


def test_image_checks():
    with pytest.raises(CatalogError, match="2 images for 3 products"):
        validate_catalog(*_catalog(), images=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(CatalogError, match="should be uint8"):
        validate_catalog(*_catalog(), images=np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(CatalogError, match="images.parquet: image of product 'B0001' does not decode"):
        decode_image(b"not an image", 32, "images.parquet", "B0001")
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (50, 40), (255, 0, 0)).save(buf, format="PNG")
    img = decode_image(buf.getvalue(), 32, "images.parquet", "B0002")
    assert img.shape == (32, 32, 3) and img[0, 0].tolist() == [255, 0, 0]


def test_feature_checks():
    check_features(np.zeros((2, 4)), 4, "f.parquet", "clip")
    with pytest.raises(CatalogError, match="f.parquet: column 'clip' has width 3, expected 4"):
        check_features(np.zeros((2, 3)), 4, "f.parquet", "clip")
    with pytest.raises(CatalogError, match="NaN or infinite values in row 1"):
        check_features(np.array([[0.0, 1.0], [np.nan, 1.0]]), 2, "f.parquet", "clip")
