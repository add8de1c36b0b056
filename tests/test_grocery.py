"""The Grocery Store path past the download: the loader (and its one-line errors), the false-positive metrics
against brute force and hand-worked values, the augmentation and the distinct-product batches, the real-photo
models (same seed, same numbers; run directories reused), the claim's paired effects, and the book's section with
and without the data. Everything runs on the small archive of ``grocery_fixture`` (seconds)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from grocery_fixture import ROOT, published
from mmpaper.data import download as dl
from mmpaper.data.augment import PhoneAugment
from mmpaper.data.grocery import cut_description, load_grocery
from mmpaper.data.modules import DistinctProductBatches
from mmpaper.data.schema import CatalogError
from mmpaper.metrics import false_positive_kinds, real_photo_metrics, real_photo_per_photo


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The fixture archive unpacked and verified once: (data folder, manifest)."""
    tmp = tmp_path_factory.mktemp("grocery")
    archive, manifest = published(tmp)
    dl.unpack_grocery(archive, tmp / "data", manifest, progress=False)
    return tmp / "data", manifest


def _copy(tree, tmp_path) -> Path:
    """A writable copy of the verified tree, to damage."""
    import shutil

    data, _ = tree
    shutil.copytree(data, tmp_path / "data")
    return tmp_path / "data"


# ------------------------------------------------------------------------------------------------- loader
def test_loader_maps_products_photos_and_splits(tree):
    data, manifest = tree
    cat = load_grocery(data, manifest=manifest, size=20, description_words=5)
    assert list(cat.products["name"]) == ["Granny-Smith", "Pink-Lady", "Lemon", "Arla-Standard-Milk",
                                          "Arla-Medium-Fat-Milk", "Carrots"]
    assert list(cat.products["coarse"]) == ["Apple", "Apple", "Lemon", "Milk", "Milk", "Carrots"]
    assert list(cat.coarse) == [0, 0, 1, 2, 2, 3]
    assert list(cat.products["group"]) == ["Fruit", "Fruit", "Fruit", "Packages", "Packages", "Vegetables"]
    assert cat.products.loc[0, "title"] == "Granny Smith is a apple"  # the description's first five words
    assert cat.products.loc[0, "description"].endswith("mild and fresh.")
    assert cat.images.shape == (6, 20, 20, 3) and cat.photo_images.shape == (66, 20, 20, 3)
    assert cat.images.dtype == np.uint8
    test = cat.photos.iloc[cat.photo_rows("test")]
    assert len(test) == 18 and set(test["split"]) == {"test"}
    assert test["path"].iloc[0] == "test/Fruit/Apple/Granny-Smith/Granny-Smith_001.jpg"
    # the stripe that tells products apart survives the downscale: column 6·pid of a 48 px photo is dark
    assert cat.photo_images[0, :, 0:2].mean() < cat.photo_images[0, :, 10:20].mean() - 40
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        cat.photo_rows("dev")


def test_cut_description():
    assert cut_description("  Lemon is used\nas a  flavor in food ", 4) == "Lemon is used as"
    assert cut_description("Short.", 24) == "Short."


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "dataset/val.txt").unlink(), "dataset/val.txt: the split list of 'val' is missing"),
    (lambda root: (root / "dataset/test.txt").write_text("test/a.jpg, 0\n"),
     "dataset/test.txt line 1: expected 'path, fine label, coarse label', got 'test/a.jpg, 0'"),
    (lambda root: (root / "dataset/test.txt").write_text("test/a.jpg, 1, 3\n"),
     "dataset/test.txt line 1: coarse label 3 differs from classes.csv's 0 for class 1"),
    (lambda root: (root / "dataset/train.txt").write_text("train/x.jpg, 9, 0\n"),
     "dataset/train.txt line 1: fine label 9 is not a class of classes.csv"),
    (lambda root: (root / "dataset/train/Fruit/Lemon/Lemon_004.jpg").write_bytes(b"not a jpeg"),
     "dataset/train/Fruit/Lemon/Lemon_004.jpg: photo does not decode"),
    (lambda root: (root / "dataset/train/Fruit/Lemon/Lemon_004.jpg").unlink(),
     "dataset/train/Fruit/Lemon/Lemon_004.jpg: the photo is missing"),
    (lambda root: (root / "dataset/classes.csv").write_text("Class Name (str),Class ID (int)\nA,0\n"),
     "dataset/classes.csv: column 'Coarse Class Name \\(str\\)' is missing"),
])
def test_bad_input_is_one_line_naming_the_file(tree, tmp_path, damage, message):
    data = _copy(tree, tmp_path)
    damage(data / ROOT)
    with pytest.raises(CatalogError) as info:
        load_grocery(data, manifest=tree[1], size=16)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(ROOT + "/")
    assert re.search(message, str(info.value)), str(info.value)


def test_loader_refuses_a_tree_that_was_not_verified(tree, tmp_path):
    data = _copy(tree, tmp_path)
    (data / ROOT / dl.VERIFIED).unlink()
    with pytest.raises(CatalogError, match=f"{ROOT}: no verified Grocery Store data; fetch it with: python -m "
                                           f"mmpaper data grocery --dir {data}"):
        load_grocery(data, manifest=tree[1])


# ------------------------------------------------------------------------------------------------ metrics
def test_false_positive_kinds_by_hand():
    coarse = np.array([0, 0, 1, 2, 2, 3])          # two apples, a lemon, two milks, carrots
    topk = np.array([[1, 0, 2, 4, 5],              # photo of product 0: a fine FP first, then the product
                     [2, 3, 4, 5, 1],              # photo of product 3: milk 4 is fine, the rest gross
                     [5, 4, -1, -1, -1]])          # a short list (padding)
    target = np.array([0, 3, 2])
    k1 = false_positive_kinds(topk, target, coarse, 1)
    assert k1 == {"hit": pytest.approx([0, 0, 0]), "fine": pytest.approx([1, 0, 0]), "gross": pytest.approx([0, 1, 1])}
    k5 = false_positive_kinds(topk, target, coarse, 5)
    assert list(k5["hit"]) == [1, 1, 0] and list(k5["fine"]) == [1, 1, 0] and list(k5["gross"]) == [3, 3, 2]
    m = real_photo_metrics(topk, target, coarse, ks=(1, 5))
    assert m["recall@1"] == 0 and m["recall@5"] == pytest.approx(2 / 3)
    assert m["fine_fp@1"] == pytest.approx(1 / 3) and m["gross_fp@5"] == pytest.approx(8 / 15)
    with pytest.raises(ValueError, match="k=6 must lie in 1..5"):
        false_positive_kinds(topk, target, coarse, 6)


def test_false_positive_kinds_against_brute_force():
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 7, 30)
    topk = np.stack([rng.permutation(30)[:10] for _ in range(50)])
    target = rng.integers(0, 30, 50)
    per = real_photo_per_photo(topk, target, coarse, ks=(1, 3, 10))
    for i in range(50):
        for k in (1, 3, 10):
            top = list(topk[i, :k])
            assert per[f"recall@{k}"][i] == (target[i] in top)
            assert per[f"fine@{k}"][i] == sum(p != target[i] and coarse[p] == coarse[target[i]] for p in top)
            assert per[f"gross@{k}"][i] == sum(coarse[p] != coarse[target[i]] for p in top)
            assert per[f"recall@{k}"][i] + per[f"fine@{k}"][i] + per[f"gross@{k}"][i] == k


# ------------------------------------------------------------------------------------- batches, augmentation
def test_distinct_product_batches_are_distinct_seeded_and_proportional():
    product_of_row = np.repeat(np.arange(10), np.arange(1, 11))  # product p has p + 1 photos
    rows = np.arange(len(product_of_row))
    s = DistinctProductBatches(rows, product_of_row, batch_size=4, seed=3)
    assert len(s) == len(rows) // 4 == len(list(s))
    counts = np.zeros(10)
    for epoch in range(200):
        s.set_epoch(epoch)
        for e, b, batch in s:
            assert e == epoch and len(set(product_of_row[batch])) == len(batch) == 4
            counts += np.bincount(product_of_row[batch], minlength=10)
    s.set_epoch(7)
    again = DistinctProductBatches(rows, product_of_row, batch_size=4, seed=3)
    again.set_epoch(7)
    assert [b.tolist() for *_, b in s] == [b.tolist() for *_, b in again]
    # photos of a product with more of them are drawn more often (without replacement it is not exactly p + 1)
    assert np.all(np.diff(counts) > 0)
    with pytest.raises(ValueError, match="at least 2 distinct products"):
        DistinctProductBatches(np.arange(3), np.zeros(3, int), batch_size=4)


def test_phone_augment_is_a_function_of_its_stream():
    images = torch.randint(0, 256, (3, 40, 40, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    aug = PhoneAugment(32)
    a = aug(images, torch.Generator().manual_seed(5))
    b = aug(images, torch.Generator().manual_seed(5))
    c = aug(images, torch.Generator().manual_seed(6))
    assert a.shape == (3, 32, 32, 3) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    d = aug.draw(500, 40, 60, torch.Generator().manual_seed(1))
    left, top, w, h = d["box"].unbind(1)
    assert (left >= 0).all() and (top >= 0).all() and (left + w <= 60).all() and (top + h <= 40).all()
    assert ((w * h) <= 2400).all() and ((w * h) >= 0.35 * 2400 * 0.8).all()  # a share of the area (rounded)
    assert 0.3 < d["flip"].float().mean() < 0.7
    for key, x in (("brightness", 0.3), ("contrast", 0.3), ("saturation", 0.3), ("gains", 0.08)):
        assert ((d[key] >= 1 - x) & (d[key] <= 1 + x)).all(), key
    with pytest.raises(ValueError, match="uint8 \\[N, H, W, 3\\]"):
        aug(images.float(), torch.Generator())


def test_phone_augment_without_randomness_is_a_resize():
    """No crop, flip or colour change: what is left is the downscale, which must match torchvision's antialiased
    resize on a smooth photo (the crops go through the same roi_align)."""
    yy, xx = torch.meshgrid(torch.arange(80.0), torch.arange(80.0), indexing="ij")
    smooth = torch.stack([xx * 3, yy * 3, (xx + yy) * 1.5], -1).clamp(0, 255).to(torch.uint8)[None]
    still = PhoneAugment(40, scale=(1, 1), ratio=(1, 1), flip=0, brightness=0, contrast=0, saturation=0,
                         white_balance=0)
    out = still(smooth, torch.Generator().manual_seed(0)).float()
    ref = torch.nn.functional.interpolate(smooth.permute(0, 3, 1, 2).float(), size=(40, 40), mode="bilinear",
                                          antialias=True, align_corners=False).permute(0, 2, 3, 1)
    assert (out - ref).abs()[:, 2:-2, 2:-2].max() <= 1.0  # the same pixels but at the border


# ------------------------------------------------------------------------------------------------- models
SMOKE = {"batch_size": 4, "max_train_photos": None, "epochs": 2}


def _experiment(tree, runs, **overrides):
    from mmpaper.realphotos import RealPhotoExperiment, real_photo_config

    data, manifest = tree
    return RealPhotoExperiment(real_photo_config("smoke", **{**SMOKE, **overrides}), data_dir=data, runs_dir=runs,
                               manifest=manifest)


def test_same_seed_same_numbers_and_finished_runs_are_reused(tree, tmp_path):
    a = _experiment(tree, tmp_path / "a").run("3tower", seed=1)
    b = _experiment(tree, tmp_path / "b").run("3tower", seed=1)
    assert not a.reused and not b.reused
    assert np.array_equal(a.topk(), b.topk())
    for key in ("recall@1", "recall@5", "fine_fp@5", "gross_fp@5", "val_recall@1"):
        assert a.metrics[key] == b.metrics[key], key
    assert torch.equal(torch.load(a.directory / "model.pt")["query_image.model.visual.attnpool.c_proj.weight"],
                       torch.load(b.directory / "model.pt")["query_image.model.visual.attnpool.c_proj.weight"])
    again = _experiment(tree, tmp_path / "a").run("3tower", seed=1)
    assert again.reused and again.directory == a.directory
    assert not list(a.directory.glob("*.ckpt"))  # model.pt holds the evaluated weights
    assert set(a.per_photo()) == {"recall@1", "fine@1", "gross@1", "recall@5", "fine@5", "gross@5"}
    assert a.metrics["n_photos"] == 18 and a.metrics["epochs"] == 2 and len(a.metrics["val_recall@1"]) == 2


def test_another_seed_or_setting_is_another_run(tree, tmp_path):
    ex = _experiment(tree, tmp_path)
    assert ex.run_hash("img2img", 0) != ex.run_hash("img2img", 1) != ex.run_hash("3tower", 1)
    assert _experiment(tree, tmp_path, lr=1e-3).run_hash("img2img", 0) != ex.run_hash("img2img", 0)
    with pytest.raises(FileNotFoundError, match="python -m mmpaper real-photos --config smoke --seeds 0"):
        ex.result("img2img", 0)
    with pytest.raises(ValueError, match="unknown real-photo model '4tower'"):
        ex.rundir("4tower", 0)


def test_both_models_share_encoder_and_budget_and_differ_only_in_the_loss(tree, tmp_path):
    ex = _experiment(tree, tmp_path)
    a, b = ex.build_model("img2img", 0), ex.build_model("3tower", 0)
    assert a.query_image is a.product_image and b.query_image is b.product_image  # shared (KDD Fig. 4)
    sa, sb = a.query_image.model.visual.state_dict(), b.query_image.model.visual.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the same initial image encoder on the same seed
    assert a.parts == ("query_image", "product_image") and b.parts[-1] == "product_text"


# --------------------------------------------------------------------------------------- claim and record
def _fake_runs(effect_gross: float, seeds=(0, 1)):
    """Per-photo arrays whose paired effects are worked out by hand: on 40 photos, image-to-image finds the product
    at rank 1 on 10 and in the top 5 on 20; the 3-tower on 12 and 20; gross false positives in the top 5: 3 per
    photo for image-to-image, ``3 - effect_gross`` for the 3-tower."""
    from mmpaper.realphotos import RealPhotoRun

    class Run(RealPhotoRun):
        def __init__(self, arrays):
            self.arrays, self.metrics, self.reused = arrays, {"n_train_photos": 1}, True

        def per_photo(self):
            return self.arrays

    n = 40
    base = {"recall@1": (np.arange(n) < 10) * 1.0, "recall@5": (np.arange(n) < 20) * 1.0,
            "fine@1": np.zeros(n), "gross@1": (np.arange(n) >= 10) * 1.0, "fine@5": np.ones(n),
            "gross@5": np.full(n, 3.0)}
    three = {**base, "recall@1": (np.arange(n) < 12) * 1.0, "gross@5": np.full(n, 3.0 - effect_gross)}
    return {s: {"img2img": Run(base), "3tower": Run(three)} for s in seeds}


def test_the_claim_is_judged_on_paired_photos_with_hand_worked_effects():
    from mmpaper.realphotos_sweep import judge

    per_seed, pooled = judge(_fake_runs(0.5), k=5, n_resamples=999)
    rows = pooled.set_index("part")
    assert rows.loc["fewer gross false positives in the top 5", "effect"] == pytest.approx(100 * 0.5 / 5)
    assert rows.loc["recall@1 kept (no loss of 2 points or more)", "effect"] == pytest.approx(100 * 2 / 40)
    assert rows.loc["recall@5 kept (no loss of 2 points or more)", "effect"] == pytest.approx(0)
    assert rows.loc["fewer fine false positives in the top 5", "effect"] == pytest.approx(0)
    # a constant difference on every photo has no spread: its interval is the point itself, and it holds
    assert rows.loc["fewer gross false positives in the top 5", "verdict"] == "holds"
    assert set(per_seed) == {0, 1} and per_seed[0]["effect"].tolist() == pooled["effect"].tolist()
    worse = judge(_fake_runs(-0.5), k=5, n_resamples=999)[1].set_index("part")
    assert worse.loc["fewer gross false positives in the top 5", "verdict"] == "does not hold"
    assert worse["claim_verdict"].iloc[0] == "does not hold"


def _record():
    seeds = [0, 1]
    part = lambda cid, name, e, v: {"claim_id": cid, "part": name, "quantity": "q", "rule": "above 0 points",  # noqa
                                    "effect": e, "ci_low": e - 1, "ci_high": e + 1, "verdict": v,
                                    "claim_verdict": v}
    parts = [part("real-align", "fewer gross false positives in the top 5", 3.0, "holds"),
             part("real-align", "recall@1 kept (no loss of 2 points or more)", 4.0, "holds"),
             part("real-align", "recall@5 kept (no loss of 2 points or more)", 5.0, "holds"),
             part("real-align-fine", "fewer fine false positives in the top 5", -1.5, "does not hold")]
    metrics = {"vs-img2img": {"recall@1": 0.2, "recall@5": 0.6, "gross_fp@1": 0.7, "fine_fp@5": 0.08,
                              "gross_fp@5": 0.8},
               "vs-3tower": {"recall@1": 0.3, "recall@5": 0.7, "gross_fp@1": 0.6, "fine_fp@5": 0.1,
                             "gross_fp@5": 0.75}}
    return {"config": "cpu", "seeds": seeds, "k": 5, "n_test_photos": 2485, "date": "2026-11-29T22:00:00+00:00",
            "machine": {"cpu": "Test CPU", "cores": 2, "gpu": None, "python": "3.11"}, "git_commit": "abcdef1234567",
            "metrics": {str(s): metrics for s in seeds}, "per_seed": {str(s): parts for s in seeds},
            "pooled": parts, "verdicts": {"real-align": {"0": "holds", "1": "holds", "pooled": "holds"},
                                          "real-align-fine": {"0": "does not hold", "1": "does not hold",
                                                              "pooled": "does not hold"}}}


def test_views_and_narrative_read_the_record():
    from mmpaper.report import narrative, views

    record = _record()
    m = views.real_photo_metrics(record)
    assert m.loc["image-to-image", "recall@1 %"] == "20.0 (20.0–20.0)"
    assert m.loc["3-tower (+ alignment)", "gross FP@5 %"] == "75.0 (75.0–75.0)"
    e = views.real_photo_effects(record)
    assert list(e.columns) == ["rule", "seed 0", "seed 1", "pooled", "verdict", "seeds agree"]
    assert e.iloc[0]["pooled"] == "+3.0 [+2.0, +4.0] ✓" and e.iloc[3]["verdict"] == "does not hold"
    text = narrative.real_photo_text(record)
    assert "**holds** pooled over the seeds, and every seed gives that verdict" in text
    assert "+3.0 points (95% interval +2.0 to +4.0)" in text and "move within the kind" in text
    assert "chosen on image-to-image trial runs that also printed their test-photo numbers" in text  # said
    status = narrative.real_photo_status(available=False, data_dir="data/grocery", record=record, live_seeds=[],
                                         config="cpu")
    assert "**The Grocery Store photos are not on this machine**" in status
    assert "python -m mmpaper data grocery --dir data/grocery" in status
    assert "2026-11-29 on Test CPU, 2 cores, no GPU (commit abcdef1)" in status
    nothing = narrative.real_photo_status(available=False, data_dir="d", record=None, live_seeds=[], config="cpu")
    assert "No real-photo result is recorded yet" in nothing


def test_the_book_section_without_data_trains_nothing_and_shows_the_record(tmp_path, monkeypatch):
    from mmpaper import figures
    from mmpaper.book import runtime

    monkeypatch.setattr(runtime, "load_real_photo_record", lambda: _record())
    monkeypatch.setattr(runtime, "set_level", lambda level: None)  # the test session keeps its logging
    section = runtime.open_real_photos("smoke", tmp_path / "runs", data_dir=tmp_path / "nothing")
    assert not section.available and section.study is None and section.result["config"] == "cpu"
    assert not (tmp_path / "runs").exists()
    fig = figures.draw("real-photo-search", section)
    texts = " ".join(t.get_text() for t in fig.findobj(__import__("matplotlib").text.Text))
    assert "not on this machine" in texts and f"--dir {tmp_path / 'nothing'}" in texts


def test_the_book_section_with_data_trains_seed_0_once_and_draws_the_grid(tree, tmp_path, monkeypatch):
    from mmpaper import figures, realphotos
    from mmpaper.book import runtime
    from mmpaper.figures import min_font_pt
    from mmpaper.plots import MIN_FONT_PT

    data, manifest = tree
    monkeypatch.setitem(realphotos.REAL_PHOTO_CONFIGS, "smoke",
                        realphotos.real_photo_config("smoke", **{**SMOKE, "epochs": 1}))
    monkeypatch.setattr(realphotos, "load_grocery_manifest", lambda path=None: manifest)
    monkeypatch.setattr(runtime, "load_real_photo_record", lambda: None)
    monkeypatch.setattr(runtime, "set_level", lambda level: None)
    section = runtime.open_real_photos("smoke", tmp_path / "runs", data_dir=data)
    assert section.available and section.live_seeds == [0] and section.result is section.study.record
    assert not any(r.reused for r in section.study.runs[0].values())
    record = section.study.record
    assert record["seeds"] == [0] and record["n_test_photos"] == 18 and record["config"] == "smoke"
    assert {p["claim_id"] for p in record["pooled"]} == {"real-align", "real-align-fine"}
    assert set(record["seconds"]["0"]) == {"img2img", "3tower", "all models"}
    json.dumps(record)  # the record is plain JSON
    again = runtime.open_real_photos("smoke", tmp_path / "runs", data_dir=data)
    assert all(r.reused for r in again.study.runs[0].values())
    fig = figures.draw("real-photo-search", again)
    assert fig.get_figwidth() == 7.0 and min_font_pt(fig) >= MIN_FONT_PT
    assert len(fig.axes) == 3 * 2 * 7  # three photos, two models, a label, the photo and five products


def test_cli_real_photos_prints_the_tables_and_writes_the_record(tree, tmp_path, monkeypatch, capsys):
    from mmpaper import realphotos
    from mmpaper.cli import main

    data, manifest = tree
    monkeypatch.setitem(realphotos.REAL_PHOTO_CONFIGS, "smoke",
                        realphotos.real_photo_config("smoke", **{**SMOKE, "epochs": 1}))
    monkeypatch.setattr(realphotos, "load_grocery_manifest", lambda path=None: manifest)
    out = tmp_path / "record.json"
    assert main(["real-photos", "--config", "smoke", "--seeds", "0,1", "--dir", str(data), "--runs-dir",
                 str(tmp_path / "runs"), "--record", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| image-to-image" in text and "fewer gross false positives in the top 5" in text
    assert "seed 1: img2img" in text and f"record written to {out}" in text
    record = json.loads(out.read_text())
    assert record["seeds"] == [0, 1] and set(record["per_seed"]) == {"0", "1"} and record["git_commit"]
    assert record["machine"]["cores"] and record["date"][:2] == "20"
    assert set(record["verdicts"]["real-align"]) == {"0", "1", "pooled"}
    assert main(["real-photos", "--config", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    # finished runs are read without the data; a run still to train needs it
    assert main(["real-photos", "--config", "smoke", "--seeds", "0", "--dir", str(tmp_path / "none"),
                 "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["real-photos", "--config", "smoke", "--seeds", "0", "--dir", str(tmp_path / "none"),
                 "--runs-dir", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmpaper: error: ") and "no verified Grocery Store data; fetch it with" in err


def test_visual_search_system_warms_up_then_decays(tree, tmp_path):
    from types import SimpleNamespace

    from mmpaper.train import VisualSearchSystem

    model = _experiment(tree, tmp_path).build_model("img2img", 0)
    constant = VisualSearchSystem(model, lr=1e-3)
    constant._trainer = SimpleNamespace(estimated_stepping_batches=100)
    assert isinstance(constant.configure_optimizers(), torch.optim.AdamW)
    system = VisualSearchSystem(model, lr=1e-3, warmup=0.05)
    system._trainer = SimpleNamespace(estimated_stepping_batches=100)
    sched = system.configure_optimizers()["lr_scheduler"]["scheduler"]
    factor = sched.lr_lambdas[0]
    assert factor(0) == pytest.approx(1 / 5)                     # five warm-up steps of a hundred
    assert factor(4) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.04)))
    assert factor(50) == pytest.approx(0.5) and factor(100) == pytest.approx(0.0)
