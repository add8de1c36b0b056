"""A small Grocery Store archive in the published layout (zip with one top folder, ``dataset/classes.csv`` with its
exact header, the split lists, photos under ``dataset/<split>/<group>/<coarse>/<fine>/``, an iconic image and a
description per product), and its manifest: what the tests fetch, unpack and load instead of the 124 MB original.

Products are plain colours with a per-product stripe, so a model can tell them apart in a few steps; two coarse
classes hold two products each (fine false positives are possible), two hold one."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from mmpaper.data import download as dl

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROOT = f"GroceryStoreDataset-{COMMIT}"
ARCHIVE = f"{ROOT}.zip"
# (fine name, coarse name, group, colour)
PRODUCTS = [("Granny-Smith", "Apple", "Fruit", (60, 200, 60)), ("Pink-Lady", "Apple", "Fruit", (230, 90, 120)),
            ("Lemon", "Lemon", "Fruit", (240, 230, 50)), ("Arla-Standard-Milk", "Milk", "Packages", (240, 240, 240)),
            ("Arla-Medium-Fat-Milk", "Milk", "Packages", (90, 150, 230)), ("Carrots", "Carrots", "Vegetables",
                                                                            (240, 140, 30))]
COARSE = {"Apple": 0, "Lemon": 1, "Milk": 2, "Carrots": 3}
SPLIT_SIZES = {"train": 6, "val": 2, "test": 3}
HEADER = ("Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int),Iconic Image Path (str),"
          "Product Description Path (str)")


def _folder(fine: str, coarse: str, group: str) -> str:
    return f"{group}/{coarse}" + (f"/{fine}" if fine != coarse else "")


def jpeg(colour, stripe: int, seed: int, size: int = 48) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 12, (size, size, 3)), 0, 255)
    img[:, stripe * 6:(stripe * 6) + 5] = 30  # a dark stripe whose place is the product's
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_files(*, photo_bytes=None) -> dict[str, bytes]:
    """Every file of the archive by its path under the top folder. ``photo_bytes(path, data) -> data`` may
    replace a photo's bytes (e.g. a photo that will not decode)."""
    files = {"README.md": b"# Grocery Store Dataset (test fixture)\n", "LICENSE": b"MIT\n"}
    classes = [HEADER]
    lists = {s: [] for s in SPLIT_SIZES}
    for pid, (fine, coarse, group, colour) in enumerate(PRODUCTS):
        folder = _folder(fine, coarse, group)
        icon = f"/iconic-images-and-descriptions/{folder}/{fine}_Iconic.jpg"
        desc = f"/iconic-images-and-descriptions/{folder}/{fine}_Description.txt"
        classes.append(f"{fine},{pid},{coarse},{COARSE[coarse]},{icon},{desc}")
        files[f"dataset{icon}"] = jpeg(colour, pid, seed=1000 + pid)
        files[f"dataset{desc}"] = (f"{fine.replace('-', ' ')} is a {coarse.lower()} of the {group.lower()} "
                                   f"department, with a taste that is mild and fresh.").encode()
        for split, n in SPLIT_SIZES.items():
            for i in range(1, n + 1):
                rel = f"{split}/{folder}/{fine}_{i:03d}.jpg"
                data = jpeg(colour, pid, seed=pid * 100 + i + 17 * len(split))
                files[f"dataset/{rel}"] = photo_bytes(rel, data) if photo_bytes else data
                lists[split].append(f"{rel}, {pid}, {COARSE[coarse]}")
    files["dataset/classes.csv"] = ("\n".join(classes) + "\n").encode()
    for split, lines in lists.items():
        files[f"dataset/{split}.txt"] = ("\n".join(lines) + "\n").encode()
    return files


def make_zip(files: dict[str, bytes], path: Path, *, drop: tuple[str, ...] = ()) -> Path:
    """A zip as ``git archive --prefix=<root>/`` makes it: folders, then files, all under one top folder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ROOT}/", b"")
        for name in sorted(files):
            if name not in drop:
                zf.writestr(f"{ROOT}/{name}", files[name])
    return path


def make_manifest(zip_path: Path, out: Path) -> dl.ArchiveManifest:
    return dl.write_grocery_manifest(zip_path, out, commit=COMMIT, source="https://example.invalid/grocery",
                                     url=f"https://example.invalid/grocery/archive/{COMMIT}.zip")


def published(tmp_path: Path, **kwargs) -> tuple[Path, dl.ArchiveManifest]:
    """The fixture archive in ``tmp_path/published/`` and its manifest (made from that same archive)."""
    src = tmp_path / "published"
    src.mkdir(exist_ok=True)
    archive = make_zip(make_files(**kwargs), src / ARCHIVE)
    return archive, make_manifest(archive, tmp_path / "manifest.json.gz")
