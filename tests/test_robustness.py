"""The ensemble of baseline-consistent worlds (mmpaper.robustness) and how the report reads it."""
import json


from mmpaper.report import ensemble, narrative
from mmpaper.robustness import FACTORS, corners
from mmpaper.stats import FAILS, HOLDS, INCONCLUSIVE


def test_corners_are_the_full_factorial_and_share_calibrations_only_across_seen_negative_sources():
    cs = corners()
    assert len(cs) == 2 ** len(FACTORS) == 8 and len({c.id for c in cs}) == 8
    by_calibration = {}
    for c in cs:
        by_calibration.setdefault(c.calibration, []).append(c)
    assert len(by_calibration) == 4
    for group in by_calibration.values():  # two corners, the same seed, differing only in the seen-negative source
        assert len(group) == 2 and group[0].seed == group[1].seed
        assert {g.levels["seen_negative_source"] for g in group} == {"matcher", "consideration"}
        assert "seen_negative_source" not in group[0].calibration_fixed
    assert len({c.seed for c in cs}) == 4


def _record(verdicts: dict[str, list[str]]) -> dict:
    worlds = []
    for i, c in enumerate(corners()):
        worlds.append({"id": c.id, "levels": c.levels, "consistent": True, "status": "done",
                       "claims": [{"claim_id": cid, "part": "p", "effect": 1.0, "claim_verdict": v[i],
                                   "paper_value": 0.5} for cid, v in verdicts.items()]})
    worlds.append({"id": "off", "levels": corners()[0].levels, "consistent": False, "status": "done"})
    return {"worlds": worlds, "factors": {n: [lv for lv, _ in levels] for n, levels in FACTORS.items()}}


def test_summary_counts_worlds_and_names_the_setting_a_claim_turns_on():
    gap_high = [c.levels["image_gap"] == "high" for c in corners()]
    record = _record({
        "always": [HOLDS] * 8,
        "never": [FAILS] * 8,
        "by-gap": [HOLDS if g else FAILS for g in gap_high],                  # holds exactly when the gap is high
        "mostly-source": [HOLDS if c.levels["seen_negative_source"] == "matcher" else INCONCLUSIVE
                          for c in corners()][:7] + [HOLDS],                   # all matcher worlds, one other
    })
    s = ensemble.summary(record, book={"always": HOLDS})
    assert s.loc["always", "holds in"] == "8 of 8" and s.loc["always", "turns on"] == "—"
    assert s.loc["never", "does not hold in"] == "8 of 8"
    assert s.loc["by-gap", "holds in"] == "4 of 8"
    assert s.loc["by-gap", "turns on"] == "the image gap: holds exactly when it is high"
    assert s.loc["mostly-source", "turns on"].startswith("mostly where seen negatives come from: holds in 100% of "
                                                         "the worlds where it is matcher, 25% where it is consideration")
    assert s.loc["always", "book's world"] == HOLDS and s.loc["never", "book's world"] == "—"
    assert len(ensemble.consistent_worlds(record)) == 8  # the inconsistent world is left out


def test_ensemble_text_says_where_the_record_comes_from_and_how_to_make_one():
    assert "python -m mmpaper robustness --preset cpu" in narrative.ensemble_text(None, "cpu")
    record = _record({"always": [HOLDS] * 8})
    record.update({"started": "2026-11-30T01:00:00+00:00", "machine": {"cpu": "Xeon", "cores": 2, "gpu": None},
                   "git_commit": "abcdef123", "seconds": 7200, "trials": 8, "consistent_within": 1.5,
                   "factor_values": {"image_gap": {"low": 0.05, "high": 0.35}}})
    text = narrative.ensemble_text(record, "cpu")
    assert "2026-11-30" in text and "Xeon" in text and "commit abcdef1" in text and "2.0 hours" in text
    assert "8 of them reproduce both baselines within 1.5" in text and "1 did not (off)" in text
    assert "unfinished" in text  # no "finished" time: the record says how much of the ensemble there is
    record.update({"finished": "2026-11-30T03:00:00+00:00"})
    assert "unfinished" not in narrative.ensemble_text(record, "cpu")
    partial = {**record, "worlds": record["worlds"][:2], "factors": {"a": ["x", "y"], "b": ["x", "y"], "c": ["x", "y"]}}
    partial.pop("finished")
    assert "2 of its 8 corners are recorded so far" in narrative.ensemble_text(partial, "cpu")


def test_robustness_on_smoke_writes_a_record_and_resumes(tmp_path, monkeypatch):
    """Two worlds (one calibration, both seen-negative sources), one trial each; every smoke world is let count
    (its tiny baselines are nowhere near the paper's), so the whole study runs in both."""
    from mmpaper.robustness import robustness

    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "record.json"
    record = robustness("smoke", trials=1, worlds=2, runs_dir=tmp_path / "runs", out=out, progress=False,
                        consistent_within=float("inf"))
    assert [w["levels"]["seen_negative_source"] for w in record["worlds"]] == ["matcher", "consideration"]
    for w in record["worlds"]:
        assert w["consistent"] and w["settings"]["image_gap"] == 0.05 and w["settings"]["popularity_weight"] == 0.75
        assert {c["claim_id"] for c in w["claims"]} >= {"concat", "seenneg", "headline", "vs-align"}
        assert set(w["deviations"]) >= {"bibert R@100", "clip I"}
    a, b = record["worlds"]
    assert a["settings"] == {**b["settings"], "seen_negative_source": "matcher"}  # one calibration, two sources
    assert json.loads(out.read_text())["worlds"][1]["id"] == b["id"]
    again = robustness("smoke", trials=1, worlds=2, runs_dir=tmp_path / "runs", out=out, progress=False,
                       consistent_within=float("inf"))
    # resumed from the record: the same worlds, verdicts and seconds, nothing trained again
    assert [w["id"] for w in again["worlds"]] == [w["id"] for w in record["worlds"]]
    assert [[c["claim_verdict"] for c in w["claims"]] for w in again["worlds"]] == \
        [[c["claim_verdict"] for c in w["claims"]] for w in record["worlds"]]
    assert [w["seconds"] for w in again["worlds"]] == [w["seconds"] for w in record["worlds"]]
    assert len(again["calls"]) == 2 and again["started"] == record["started"]  # both calls, the first one's date
    s = ensemble.summary(again)
    assert set(s["holds in"]) <= {"0 of 2", "1 of 2", "2 of 2", "set by the calibration"}


def test_a_corner_outside_the_tolerance_searches_on_and_the_others_stay(tmp_path, monkeypatch):
    """A world no trial brings within the tolerance (here: none may deviate at all) gets the search's extra trials
    and is recorded as not consistent, with no study run; a rerun that allows no more trials reuses it, and a call
    naming one corner keeps the worlds recorded before."""
    from mmpaper.robustness import corners, robustness

    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "record.json"
    first = corners()[0].id
    record = robustness("smoke", trials=1, max_trials=2, only=[first], runs_dir=tmp_path / "runs", out=out,
                        progress=False, consistent_within=0.0)
    [world] = record["worlds"]
    assert world["id"] == first and not world["consistent"] and "claims" not in world
    assert world["calibration_trials"] == 2 and "finished" not in record  # one corner of eight
    again = robustness("smoke", trials=1, max_trials=2, only=[corners()[2].id], runs_dir=tmp_path / "runs",
                       out=out, progress=False, consistent_within=0.0)
    assert [w["id"] for w in again["worlds"]] == [first, corners()[2].id]
    assert again["worlds"][0]["seconds"] == world["seconds"]  # reused, not searched again


def test_a_resumed_ensemble_names_every_call_its_dates_machines_and_commits():
    call = lambda day, cpu, commit: {"started": f"2026-{day}T01:00:00+00:00", "git_commit": commit,  # noqa: E731
                                     "machine": {"cpu": cpu, "cores": 2, "gpu": None}}
    record = {"worlds": [], "seconds": 7200, "factor_values": {},
              "calls": [call("11-30", "AMD EPYC", "cd911c2aaaa"), call("12-08", "Intel Xeon", "3f3e167bbbb-dirty")]}
    text = narrative.ensemble_text(record, "cpu")
    assert "from 2026-11-30 to 2026-12-08, in 2 calls that resumed it" in text
    assert "AMD EPYC, 2 cores, no GPU; Intel Xeon, 2 cores, no GPU" in text
    assert "commits cd911c2, 3f3e167 with uncommitted changes" in text and "the same search went on" not in text
    record.update({"trials": 6, "worlds": [{"id": "a", "calibration": "cal-high-low", "calibration_trials": 18,
                                            "consistent": False}]})
    assert "the same search went on" in narrative.ensemble_text(record, "cpu") and \
        "cal-high-low (18 trials)" in narrative.ensemble_text(record, "cpu")
