"""The Grocery Store dataset (Klasson, Zhang, Kjellström, WACV 2019; github.com/marcusklasson/GroceryStoreDataset,
MIT) as a visual-search catalog: real phone photos of products against catalog images with their descriptions.

``python -m mmpaper data grocery`` fetches, unpacks and verifies it (:mod:`mmpaper.data.download`); this module
reads the verified tree, in its published layout::

    dataset/classes.csv          Class Name (str), Class ID (int), Coarse Class Name (str), Coarse Class ID (int),
                                 Iconic Image Path (str), Product Description Path (str)
    dataset/{train,val,test}.txt one photo per line: path, fine label, coarse label
    dataset/{train,val,test}/<group>/<coarse>[/<fine>]/<fine>_NNN.jpg    the natural photos (348 px, a phone's)
    dataset/iconic-images-and-descriptions/...                           one catalog image and description each

Mapping to the catalog (the KDD 2024 visual-search setting): a *product* is one of the 81 fine classes, with its
iconic image (the catalog image ``d_img``) and its description cut to :data:`DESCRIPTION_WORDS` words (the text
``d_title`` of the KDD towers: descriptions run 6-91 words, median 29, and a title is short); a *photo* is a
natural image with its product (the fine class), coarse class and split, as published (train to learn, val to
choose the epoch, test reported). Every image is cut to its centre square and downscaled to ``size`` pixels
(:data:`LOAD_SIZE` by default), so the whole set is some 100 MB of uint8 in memory and decodes in seconds.

A retrieved product other than the photographed one is a *false positive*: *fine* when it is of the same coarse
class (another apple for a Granny Smith), *gross* when it is of another coarse class (a yoghurt for an apple). The
coarse classes are the dataset's own: a lime for a lemon is gross here, since Lime and Lemon are two coarse classes.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .download import GROCERY_DIR, ArchiveManifest, grocery_ready, load_grocery_manifest
from .schema import CatalogError, check_columns, check_images, check_references, check_text, check_unique

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
LOAD_SIZE = 80              # pixels of the stored square images; training crops of them are resized to the encoder's
DESCRIPTION_WORDS = 24      # words of a description kept as the product's title (the text tower's input)
CLASSES_COLUMNS = ("Class Name (str)", "Class ID (int)", "Coarse Class Name (str)", "Coarse Class ID (int)",
                   "Iconic Image Path (str)", "Product Description Path (str)")


@dataclass
class GroceryCatalog:
    """The Grocery Store dataset in the catalog's terms.

    ``products``: one row per fine class (``product_id`` = the fine label): ``name``, ``coarse_id``, ``coarse``,
    ``group`` (Fruit, Vegetables or Packages), ``title`` (the cut description), ``description`` (whole).
    ``photos``: one row per natural photo: ``photo_id``, ``path``, ``product_id``, ``coarse_id``, ``split``.
    ``images`` ``[n_products, size, size, 3]`` and ``photo_images`` ``[n_photos, size, size, 3]``: uint8 RGB, in
    the row order of the tables."""

    products: pd.DataFrame
    photos: pd.DataFrame
    images: np.ndarray = field(repr=False)
    photo_images: np.ndarray = field(repr=False)
    root: Path
    commit: str
    size: int
    description_words: int

    def photo_rows(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {list(SPLITS)}")
        return np.flatnonzero(self.photos["split"].to_numpy() == split)

    @property
    def coarse(self) -> np.ndarray:
        """The coarse class of every product, by product row: what tells a fine false positive from a gross one."""
        return self.products["coarse_id"].to_numpy()

    def table(self) -> pd.DataFrame:
        """Photos, products photographed and coarse classes per split (the data card's table)."""
        g = self.photos.groupby("split", sort=False)
        return pd.DataFrame({"photos": g.size(), "products": g["product_id"].nunique(),
                             "coarse classes": g["coarse_id"].nunique()}).reindex(list(SPLITS))


def cut_description(text: str, words: int = DESCRIPTION_WORDS) -> str:
    """The first ``words`` words of a description, whitespace normalised: the product's title for the text tower
    (whose own context, 32 tokens for the photo CLIP, truncates anything longer)."""
    return " ".join(str(text).split()[:words])


def decode_photo(path: Path, size: int, display: str) -> np.ndarray:
    """One image as uint8 ``[size, size, 3]``: its centre square, downscaled (JPEG draft decoding first, so a 348 px
    photo is decoded at a fraction of its pixels); a :class:`CatalogError` naming ``display`` when it will not."""
    from PIL import Image  # Pillow: only when images are read

    try:
        with Image.open(path) as img:
            img.draft("RGB", (2 * size, 2 * size))
            img = img.convert("RGB")
            w, h = img.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + s, top + s), reducing_gap=2.0)
            return np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise CatalogError(f"{display}: the photo is missing") from None
    except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError... all the same finding
        raise CatalogError(f"{display}: photo does not decode ({err.__class__.__name__}: {str(err)[:80]})") from None


def _read_classes(root: Path) -> pd.DataFrame:
    path = root / "dataset" / "classes.csv"
    display = f"{root.name}/dataset/classes.csv"
    if not path.is_file():
        raise CatalogError(f"{display}: the class list is missing")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise CatalogError(f"{display}: empty file")
    header = [c.strip() for c in rows[0]]
    for col in CLASSES_COLUMNS:
        if col not in header:
            raise CatalogError(f"{display}: column {col!r} is missing (columns: {header})")
    df = pd.DataFrame([r for r in rows[1:] if any(c.strip() for c in r)], columns=header)
    for col in ("Class ID (int)", "Coarse Class ID (int)"):
        bad = ~df[col].str.strip().str.fullmatch(r"\d+")
        if bad.any():
            raise CatalogError(f"{display}: column {col!r} has non-integer value {df[col][bad].iloc[0]!r} in row "
                               f"{int(np.flatnonzero(bad.to_numpy())[0]) + 1}")
        df[col] = df[col].astype(int)
    products = pd.DataFrame({"product_id": df["Class ID (int)"].to_numpy(np.int64),
                             "name": df["Class Name (str)"].str.strip(),
                             "coarse_id": df["Coarse Class ID (int)"].to_numpy(np.int64),
                             "coarse": df["Coarse Class Name (str)"].str.strip(),
                             "image_path": df["Iconic Image Path (str)"].str.strip().str.lstrip("/"),
                             "description_path": df["Product Description Path (str)"].str.strip().str.lstrip("/")})
    check_unique(products, "product_id", display)
    if not np.array_equal(np.sort(products["product_id"].to_numpy()), np.arange(len(products))):
        raise CatalogError(f"{display}: column 'Class ID (int)' should number the classes 0..{len(products) - 1}")
    per_coarse = products.groupby("coarse_id")["coarse"].nunique()
    if (per_coarse > 1).any():
        raise CatalogError(f"{display}: coarse class id {int(per_coarse[per_coarse > 1].index[0])} has several names")
    products = products.sort_values("product_id").reset_index(drop=True)
    # the top folder of the iconic image's path: Fruit, Vegetables or Packages
    products["group"] = products["image_path"].str.split("/").str[1]
    return products


def _read_split(root: Path, split: str, products: pd.DataFrame) -> pd.DataFrame:
    path = root / "dataset" / f"{split}.txt"
    display = f"{root.name}/dataset/{split}.txt"
    if not path.is_file():
        raise CatalogError(f"{display}: the split list of {split!r} is missing")
    coarse_of = dict(zip(products["product_id"], products["coarse_id"]))
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not re.fullmatch(r"\d+", parts[1]) or not re.fullmatch(r"\d+", parts[2]):
            raise CatalogError(f"{display} line {n}: expected 'path, fine label, coarse label', got {line!r}")
        fine, coarse = int(parts[1]), int(parts[2])
        if fine not in coarse_of:
            raise CatalogError(f"{display} line {n}: fine label {fine} is not a class of classes.csv")
        if coarse_of[fine] != coarse:
            raise CatalogError(f"{display} line {n}: coarse label {coarse} differs from classes.csv's "
                               f"{coarse_of[fine]} for class {fine}")
        rows.append((parts[0], fine, coarse, split))
    if not rows:
        raise CatalogError(f"{display}: the split list of {split!r} names no photo")
    return pd.DataFrame(rows, columns=["path", "product_id", "coarse_id", "split"])


def load_grocery(directory: str | Path = GROCERY_DIR, *, size: int = LOAD_SIZE,
                 description_words: int = DESCRIPTION_WORDS, manifest: ArchiveManifest | None = None,
                 progress: bool = False) -> GroceryCatalog:
    """Read the verified Grocery Store tree under ``directory`` (what ``python -m mmpaper data grocery --dir
    DIRECTORY`` wrote) into a :class:`GroceryCatalog`. Every problem is a one-line :class:`CatalogError` naming the
    file (and line, column or value): no verified tree, a missing split list or photo, a label that disagrees
    with classes.csv, a photo that will not decode."""
    from tqdm.auto import tqdm  # a notebook widget bar or a terminal bar

    m = manifest or load_grocery_manifest()
    root = grocery_ready(directory, m)
    if root is None:
        raise CatalogError(f"{Path(directory) / m.root}: no verified Grocery Store data; fetch it with: "
                           f"python -m mmpaper data grocery --dir {directory}")
    if size < 8:
        raise ValueError(f"size={size}: images need at least 8 pixels a side")
    products = _read_classes(root)
    descriptions = []
    for rel in products["description_path"]:
        path = root / "dataset" / rel
        if not path.is_file():
            raise CatalogError(f"{root.name}/dataset/{rel}: the product description is missing")
        descriptions.append(" ".join(path.read_text(encoding="utf-8", errors="replace").split()))
    products["description"] = descriptions
    products["title"] = [cut_description(d, description_words) for d in descriptions]
    check_columns(products, "products", f"{root.name}/dataset/classes.csv")
    check_text(products, "title", f"{root.name}/dataset/iconic-images-and-descriptions")
    photos = pd.concat([_read_split(root, s, products) for s in SPLITS], ignore_index=True)
    photos.insert(0, "photo_id", np.arange(len(photos), dtype=np.int64))
    check_columns(photos, "photos", f"{root.name}/dataset/<split>.txt")
    check_references(photos, "product_id", products["product_id"], f"{root.name}/dataset/<split>.txt", "product")
    images = np.stack([decode_photo(root / "dataset" / rel, size, f"{root.name}/dataset/{rel}")
                       for rel in products["image_path"]])
    photo_images = np.empty((len(photos), size, size, 3), dtype=np.uint8)
    for i, rel in enumerate(tqdm(photos["path"], desc="decode photos", unit="photo", disable=not progress,
                                 leave=False)):
        photo_images[i] = decode_photo(root / "dataset" / rel, size, f"{root.name}/dataset/{rel}")
    check_images(images, f"{root.name}/iconic images")
    check_images(photo_images, f"{root.name}/photos")
    logger.debug("Grocery Store: %d products, %d photos at %d px from %s", len(products), len(photos), size, root)
    return GroceryCatalog(products.drop(columns=["description_path"]), photos, images, photo_images, root, m.commit,
                          size, description_words)
