"""The esci preset end to end on public-schema fixtures fetched from a loopback server: `data esci`, then
`run --variant all` (every Table 2 row; the visual-search rows need the world's photos) and `tables`. Label
coverage (the share of top-k slots that carry an ESCI judgement) is checked against a brute-force count."""
import json
from dataclasses import replace

import numpy as np
import pytest

from mmpaper import experiments, presets
from mmpaper.cli import main
from mmpaper.data.esci import ESCI_LABELS
from mmpaper.paper import VARIANTS, VISUAL_VARIANTS
from mmpaper.towers import BiBERTConfig
from test_download import Server, fixture_manifest, write_esci_fixture

TINY = BiBERTConfig(vocab_size=300, hidden_size=32, intermediate_size=64, embed_dim=16, max_length=12)


def test_esci_preset_downloads_runs_all_and_reports_label_coverage(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    published = tmp_path / "published"
    published.mkdir()
    examples, catalog = write_esci_fixture(published, n_queries=30)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": [
        {"name": e.name, "dataset": e.dataset, "url": e.url, "columns": list(e.columns),
         "versions": [{"size": v.size, "sha256": v.sha256} for v in e.versions]} for e in fixture_manifest(published)]}))
    data = tmp_path / "data" / "esci"
    with Server({p.name: p.read_bytes() for p in published.iterdir()}) as server:
        assert main(["data", "esci", "--dir", str(data), "--mirror", server.url + "/raw", "--manifest",
                     str(manifest), "--quiet"]) == 0
    # the real esci preset with a tiny BiBERT and short training (its CLIP side is SQID's precomputed features)
    monkeypatch.setitem(presets.PRESETS, "esci", replace(
        presets.PRESETS["esci"], bibert=TINY, esci_dir=str(data), batch_size=16, max_epochs=1,
        fused_dim=16, patience=None, alpha_grid=(0.3, 0.7), k=10))  # k < 60 products
    runs = tmp_path / "runs"
    capsys.readouterr()
    assert main(["run", "--preset", "esci", "--variant", "all", "--runs-dir", str(runs), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line.strip()] == [*VARIANTS, "bibert-seenneg"]
    assert not any(name in out for name in VISUAL_VARIANTS)
    assert main(["tables", "--preset", "esci", "--runs-dir", str(runs)]) == 0
    tables = capsys.readouterr().out
    assert "Table 2" in tables and "Table 4" in tables

    # brute force: which (eval query, predicted product) slots carry an ESCI judgement, and which label
    asin_row = {a: i for i, a in enumerate(catalog["product_id"])}
    judged = {(q, asin_row[a]): ESCI_LABELS[lab] for q, a, lab in
              zip(examples["query_id"], examples["product_id"], examples["esci_label"])}
    ex = experiments.Experiment("esci", runs_dir=runs)
    for name in VARIANTS:
        directory = ex.result(name).directory
        metrics = json.loads((directory / "metrics.json").read_text())
        topk, qids = np.load(directory / "topk.npy"), np.load(directory / "eval_query_ids.npy")
        labels = [judged.get((int(q), int(p)), -1) for q, row in zip(qids, topk) for p in row if p >= 0]
        n_labelled = sum(lab >= 0 for lab in labels)
        assert (metrics["n_labelled"], metrics["n_unlabelled"]) == (n_labelled, len(labels) - n_labelled)
        assert 0 < n_labelled < len(labels)  # ESCI judges only some products per query
        counts = np.bincount([lab for lab in labels if lab >= 0], minlength=4)
        np.testing.assert_allclose([metrics[c] for c in "ESCI"], counts / n_labelled)
        if "label_coverage" in metrics:
            assert metrics["label_coverage"] == pytest.approx(n_labelled / len(labels))
