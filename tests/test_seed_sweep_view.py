"""The recorded seed sweep as the reproduction report shows it."""
import json

import pandas as pd

from mmpaper.report import narrative, records, views


def _record(tmp_path, differ):
    rec = {"preset": "cpu", "seeds": [0, 1, 2], "date": "2026-11-21T22:33:45+00:00", "git_commit": "abcdef123",
           "machine": {"cpu": "Some CPU", "cores": 2, "gpu": None}, "claims_whose_verdict_differs": differ}
    (tmp_path / "claims_seeds_cpu.json").write_text(json.dumps(rec))
    pd.DataFrame({"claim_id": ["clip", "joint"], "claim": ["c", "j"], "seed 0": ["holds", "holds"],
                  "seed 1": ["holds", "inconclusive"], "seed 2": ["holds", "holds"], "pooled": ["holds", "holds"],
                  "seeds agree": ["yes", "no"], "parts whose verdict differs": ["", "best Exact"]}
                 ).to_csv(tmp_path / "claims_seeds_cpu.csv", index=False)


def test_recorded_sweep_is_read_and_shown_per_seed(tmp_path):
    _record(tmp_path, ["joint"])
    record, summary = records.load_seed_sweep("cpu", tmp_path)
    table = views.seed_sweep_table(summary)
    assert list(table.columns) == ["seed 0", "seed 1", "seed 2", "pooled", "seeds agree"]
    assert table.loc["joint", "seed 1"] == "inconclusive"
    text = narrative.seed_sweep_text(record, "cpu")
    assert "2026-11-21" in text and "Some CPU" in text and "abcdef1" in text and "joint" in text
    assert "uncommitted" not in text
    dirty = {**record, "git_commit": "abcdef123-dirty"}  # run from a working tree that differed from the commit
    assert "commit abcdef1 with uncommitted changes" in narrative.seed_sweep_text(dirty, "cpu")
    _record(tmp_path, [])
    assert "same verdict on every seed" in narrative.seed_sweep_text(records.load_seed_sweep("cpu", tmp_path)[0], "cpu")


def test_no_recorded_sweep_says_how_to_make_one(tmp_path):
    assert records.load_seed_sweep("cpu", tmp_path) is None
    assert "--seeds" in narrative.seed_sweep_text(None, "cpu")


def test_the_committed_cpu_sweep_covers_every_claim():
    recorded = records.load_seed_sweep("cpu")
    assert recorded is not None
    record, summary = recorded
    assert record["seeds"] == [0, 1, 2]
    assert set(summary["claim_id"]) >= {"clip", "concat", "joint", "mlp", "seenneg", "3tmm", "overlap", "net",
                                         "headline"}
    differ = set(summary.loc[summary["seeds agree"] == "no", "claim_id"])
    assert differ == set(record["claims_whose_verdict_differs"])


def test_recorded_sweep_parts_show_pooled_effects_with_intervals(tmp_path):
    _record(tmp_path, [])
    assert records.load_seed_sweep_parts("cpu", tmp_path) is None  # none recorded: the chapter shows verdicts only
    pd.DataFrame({"claim_id": ["seenneg"], "part": ["recall gain"], "pooled effect": [16.123],
                  "pooled ci_low": [15.2], "pooled ci_high": [17.05], "spread": [2.31], "pooled verdict": ["does not hold"],
                  "seeds agree": ["yes"]}).to_csv(tmp_path / "claims_seeds_cpu_parts.csv", index=False)
    table = views.seed_sweep_effects(records.load_seed_sweep_parts("cpu", tmp_path))
    row = table.loc[("seenneg", "recall gain")]
    assert row["pooled effect [95% interval]"].startswith("+16.1 [+15.2, +17")
    assert row["pooled verdict"] == "does not hold" and row["spread over seeds"] == "2.31"
