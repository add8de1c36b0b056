"""Calibration of the embedded world on the two baselines (issue 11): the objective, the record, the command."""
import json
import math
from dataclasses import fields

import pytest

from mmpaper import calibrate as cal
from mmpaper import paper
from mmpaper.data.world import WORLD_PRESETS, WorldConfig


def _achieved(shift=0.0):
    out = {row: {m: v + shift for m, v in paper.TARGETS[row].items()} for row in ("bibert", "clip")}
    out["purchases_per_query"] = dict(paper.TARGETS["purchases_per_query"])
    return out


def test_deviations_are_in_units_of_the_tolerance():
    a = _achieved()
    assert paper.distance(a) == 0 and paper.within_tolerance(a)
    a["bibert"]["R@100"] += 5.0          # exactly at the tolerance: still within
    a["clip"]["C"] -= 1.5                # half the tolerance
    dev = paper.deviations(a)
    assert dev["bibert R@100"] == pytest.approx(1.0) and dev["clip C"] == pytest.approx(0.5)
    assert paper.within_tolerance(a)
    a["clip"]["I"] += 5.01
    assert not paper.within_tolerance(a)
    a = _achieved()
    a["purchases_per_query"]["train"] = 5.5 * 1.2  # 20% off, twice the 10% tolerance
    assert paper.deviations(a)["purchases/query train"] == pytest.approx(2.0)


def test_every_searched_setting_is_a_world_setting():
    names = {f.name for f in fields(WorldConfig)}
    for space in cal.SPACES.values():
        assert set(space) <= names
        for lo, hi in space.values():
            assert lo < hi


def test_targets_are_the_papers_two_baseline_rows_only():
    from mmpaper.paper import VARIANTS

    assert set(paper.TARGETS) == {"bibert", "clip", "purchases_per_query"}
    for row in ("bibert", "clip"):
        assert tuple(paper.TARGETS[row].values()) == VARIANTS[row].paper


def test_committed_cpu_record_matches_the_code_defaults():
    from mmpaper.report.records import load_calibration

    record = load_calibration("cpu")
    if record is None:
        pytest.skip("the cpu world has no calibration record yet")
    assert set(record) >= {"preset", "status", "created", "machine", "targets", "tolerance", "seeds", "achieved",
                           "within_tolerance", "chosen", "search", "trials", "seconds"}
    assert record["targets"] == paper.TARGETS
    defaults = WORLD_PRESETS["cpu"]
    for name, value in record["chosen"].items():  # the chosen settings are the preset's defaults in code
        assert getattr(defaults, name) == pytest.approx(value), name
    for seed in map(str, record["seeds"]):
        assert record["within_tolerance"][seed] == paper.within_tolerance(record["achieved"][seed])


def test_smoke_calibration_writes_a_complete_record_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "record.json"
    record = cal.calibrate("smoke", trials=2, seeds=(0,), verify_top=1, workdir=tmp_path / "work", out=out,
                           progress=False)
    on_disk = json.loads(out.read_text())
    assert on_disk == json.loads(json.dumps(record))
    assert len(on_disk["trials"]) == 2 and on_disk["search"]["n_trials"] == 2
    worst = on_disk["worst_deviation"]
    assert on_disk["status"] == ("calibrated" if worst <= 1 else "baseline-consistent" if worst <= paper.CONSISTENT
                                 else "not within tolerance")
    assert set(on_disk["achieved"]["0"]) == {"bibert", "clip", "purchases_per_query"}
    assert set(on_disk["chosen"]) == set(cal.SPACES["smoke"])
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing half-written beside it
    # a second call with more trials resumes the stored study: the first two trials are not run again
    again = cal.calibrate("smoke", trials=3, seeds=(0,), verify_top=1, workdir=tmp_path / "work", out=out,
                          progress=False)
    assert [t["params"] for t in again["trials"][:2]] == [t["params"] for t in on_disk["trials"]]
    assert len(again["trials"]) == 3


def test_a_resumed_search_draws_new_candidates(tmp_path, monkeypatch):
    """Past the enqueued starts the search samples at random; resumed with a sampler seeded as before, it drew the
    first call's candidates again (the ensemble's corners once repeated four of six)."""
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    starts = len(cal.STARTS)
    kw = dict(seeds=(0,), verify_top=1, workdir=tmp_path / "work", out=tmp_path / "r.json", progress=False)
    first = cal.calibrate("smoke", trials=starts + 1, **kw)
    again = cal.calibrate("smoke", trials=starts + 2, **kw)
    assert again["trials"][starts]["params"] == first["trials"][starts]["params"]  # resumed, not redrawn
    assert again["trials"][starts + 1]["params"] != first["trials"][starts]["params"]


def test_a_trial_scored_on_several_seeds_pools_their_deviations(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    record = cal.calibrate("smoke", trials=1, seeds=(0, 1), search_seeds=2, verify_top=1, workdir=tmp_path / "work",
                           out=tmp_path / "record.json", progress=False)
    assert record["search"]["objective"].endswith("seeds 0, 1")
    pooled = math.sqrt(sum(paper.distance(record["achieved"][s]) ** 2 for s in ("0", "1")) / 2)
    assert record["trials"][0]["distance"] == pytest.approx(pooled, abs=0.01)  # achieved is rounded in the record
    assert record["achieved"]["0"] != record["achieved"]["1"]
    with pytest.raises(cal.CalibrationError, match="--search-seeds 3"):
        cal.calibrate("smoke", trials=1, seeds=(0, 1), search_seeds=3, workdir=tmp_path / "w2",
                      out=tmp_path / "r2.json", progress=False)


def test_a_second_calibration_while_one_runs_is_refused(tmp_path):
    from filelock import FileLock

    work = tmp_path / "work"
    work.mkdir()
    with FileLock(str(work / ".lock")):
        with pytest.raises(cal.CalibrationError, match="another calibration"):
            cal.calibrate("smoke", trials=1, workdir=work, out=tmp_path / "r.json", progress=False)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "--trials: '0' is not a positive integer"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--preset", "esci"], "only the embedded world is calibrated"),
    (["--seeds", "a,b"], "not a comma list"),
    (["--seeds", "0,1", "--search-seeds", "3"], "--search-seeds: 3 is more than the 2 seeds of --seeds"),
])
def test_calibrate_cli_refuses_bad_input_in_one_line(args, message, tmp_path, capsys):
    # in this process: the exit status of the real command is tested once, in tests/test_bad_input.py
    from mmpaper.cli import main

    assert main(["calibrate", *args, "--record", str(tmp_path / "r.json")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmpaper: error:") and message in lines[0], lines
    assert not (tmp_path / "r.json").exists()
