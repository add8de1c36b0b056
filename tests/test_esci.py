"""The ESCI + SQID loader on small files written in exactly the public schema."""
import numpy as np
import pandas as pd
import pytest

from mmpaper.data.esci import CLIP_WIDTH, ESCI_FILES, SQID_FILES, load_esci
from mmpaper.data.schema import CatalogError


def write_public_files(directory, width=CLIP_WIDTH, nan_row=False):
    rng = np.random.default_rng(0)
    asins = [f"B0{i:08d}" for i in range(6)]
    examples = pd.DataFrame({
        "example_id": range(8),
        "query": ["red mug", "red mug", "red mug", "blue rug", "blue rug", "tee", "tee", "lamp"],
        "query_id": [1, 1, 1, 2, 2, 3, 3, 4],
        "product_id": [asins[0], asins[1], asins[2], asins[3], asins[4], asins[5], asins[0], asins[1]],
        "product_locale": ["us"] * 7 + ["es"],
        "esci_label": ["E", "S", "I", "E", "C", "E", "I", "E"],
        "small_version": [1] * 8, "large_version": [1] * 8,
        "split": ["train", "train", "train", "test", "test", "train", "train", "test"]})
    products = pd.DataFrame({
        "product_id": asins, "product_title": ["Red mug", "Pink mug", "Tea", "Blue rug", "Pillow", "White tee"],
        "product_description": [None] * 6, "product_bullet_point": [None] * 6,
        "product_brand": ["A", "B", None, "C", "D", "E"], "product_color": ["red", "pink", None, "blue", "", "white"],
        "product_locale": ["us"] * 6})
    examples.to_parquet(directory / ESCI_FILES["examples"])
    products.to_parquet(directory / ESCI_FILES["products"])
    img = rng.normal(size=(6, width)).astype(np.float32)
    if nan_row:
        img[2, 0] = np.nan
    pd.DataFrame({"product_id": asins, "clip_text_features": list(rng.normal(size=(6, width)).astype(np.float32)),
                  "clip_image_features": list(img)}).to_parquet(directory / SQID_FILES["product_features"])
    pd.DataFrame({"query_id": [1, 2, 3, 4], "clip_text_features": list(rng.normal(size=(4, width)).astype(np.float32))}
                 ).to_parquet(directory / SQID_FILES["query_features"])
    pd.DataFrame({"product_id": asins, "image_url": [f"https://example.invalid/{a}.jpg" for a in asins]}
                 ).to_csv(directory / SQID_FILES["image_urls"], index=False)
    return asins


def test_round_trip(tmp_path):
    asins = write_public_files(tmp_path)
    cat = load_esci(tmp_path)
    assert cat.products["asin"].tolist() == asins
    assert set(cat.queries["query_id"]) == {1, 2, 3}             # the 'es' example is another locale
    assert cat.queries.set_index("query_id").loc[2, "split"] == "eval"
    e = cat.purchases.sort_values("query_id")
    assert list(zip(e["query_id"], cat.products["asin"].iloc[e["product_id"]])) == \
        [(1, asins[0]), (2, asins[3]), (3, asins[5])]
    labels = cat.labels(np.array([[1, 1, 1, 2]]), np.array([[0, 1, 2, 5]]))
    np.testing.assert_array_equal(labels, [[0, 1, 3, -1]])       # E, S, I, never judged
    assert cat.product_clip_image.shape == (6, CLIP_WIDTH) and cat.query_clip_text.shape == (3, CLIP_WIDTH)
    src = pd.read_parquet(tmp_path / SQID_FILES["product_features"])
    np.testing.assert_array_equal(cat.product_clip_image[3], src["clip_image_features"][3])
    assert set(zip(cat.seen_negatives["query_id"], cat.seen_negatives["product_id"])) == {(1, 2), (3, 0)}


def test_missing_files_say_what_to_put_where(tmp_path):
    with pytest.raises(CatalogError, match="missing public data files: shopping_queries_dataset_examples.parquet "
                                           "\\(from https://github.com/amazon-science/esci-data"):
        load_esci(tmp_path)


def test_bad_features_are_named(tmp_path):
    write_public_files(tmp_path, nan_row=True)
    with pytest.raises(CatalogError, match="product_features.parquet: column 'clip_image_features' has NaN"):
        load_esci(tmp_path)
    write_public_files(tmp_path, width=16)
    with pytest.raises(CatalogError, match="has width 16, expected 768"):
        load_esci(tmp_path)


def test_unknown_label_and_missing_column(tmp_path):
    write_public_files(tmp_path)
    ex = pd.read_parquet(tmp_path / ESCI_FILES["examples"])
    ex.assign(esci_label=["E", "X"] + ["E"] * 6).to_parquet(tmp_path / ESCI_FILES["examples"])
    with pytest.raises(CatalogError, match="column 'esci_label' row 1 has unknown value 'X'; valid:"):
        load_esci(tmp_path)
    ex.drop(columns="esci_label").to_parquet(tmp_path / ESCI_FILES["examples"])
    with pytest.raises(CatalogError, match="shopping_queries_dataset_examples.parquet: column 'esci_label' is missing"):
        load_esci(tmp_path)


def _tiny_esci_experiment(directory, **overrides):
    from mmpaper.experiments import Experiment
    from mmpaper.towers import BiBERTConfig

    small = BiBERTConfig(vocab_size=200, hidden_size=16, intermediate_size=32, embed_dim=8, max_length=8)
    return Experiment("esci", runs_dir=directory / "runs", progress=False, esci_dir=str(directory), bibert=small,
                      batch_size=4, max_epochs=2, accelerator="cpu", devices=1, **overrides)


def test_no_validation_queries_turns_early_stopping_off_with_a_note(tmp_path, capsys):
    """Two train-period queries: 10% held out rounds to none, so early stopping (patience 2 in the esci preset)
    has no val_recall to watch; the run trains all its epochs and says why, instead of a Lightning error."""
    write_public_files(tmp_path)
    ex = _tiny_esci_experiment(tmp_path)
    assert ex.preset.patience is not None
    r = ex.run("bibert")
    err = capsys.readouterr().err
    assert "note: no validation queries" in err and "early stopping is off: training runs all 2 epochs" in err
    assert r.metrics["epochs"] == 2 and 0 <= r.metrics["recall"] <= 1
    assert ex.rundir("bibert").finished(hashes=True)


def test_no_training_pairs_is_refused_clearly(tmp_path):
    write_public_files(tmp_path)
    ex = pd.read_parquet(tmp_path / ESCI_FILES["examples"])
    ex.assign(split="test").to_parquet(tmp_path / ESCI_FILES["examples"])
    experiment = _tiny_esci_experiment(tmp_path)
    with pytest.raises(ValueError, match="no train-period purchases to train on: the catalog has 0 train-period pairs"):
        experiment.run("bibert")
    rd = experiment.rundir("bibert")
    assert not rd.final.exists() and rd.status()["state"] == "failed"
