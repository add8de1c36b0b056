"""Run directories: written atomically, marked when incomplete, listed, and locked across real processes."""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path


from mmpaper.rundirs import RunDir, list_runs

ROOT = Path(__file__).resolve().parents[1]


def _rd(tmp_path, stage="4tmm-mlp", key="abc123") -> RunDir:
    return RunDir(tmp_path / "smoke" / stage / key)


def test_a_run_is_renamed_into_place_only_when_whole(tmp_path):
    rd = _rd(tmp_path)
    partial = rd.begin()
    assert partial == rd.final.with_name("abc123.incomplete") and partial.is_dir()
    (partial / "metrics.json").write_text('{"recall": 0.5}')
    assert not rd.final.exists() and not rd.finished()
    assert json.loads((partial / "status.json").read_text())["state"] == "running"
    rd.finish()
    assert rd.finished(hashes=True) and not partial.exists()
    assert sorted(p.name for p in rd.final.iterdir()) == ["manifest.json", "metrics.json"]  # no status left
    assert rd.metrics() == {"recall": 0.5}


def test_a_forced_rerun_replaces_the_finished_run(tmp_path):
    rd = _rd(tmp_path)
    (rd.begin() / "metrics.json").write_text('{"recall": 0.5}')
    rd.finish()
    (rd.begin() / "metrics.json").write_text('{"recall": 0.75}')
    assert rd.metrics() == {"recall": 0.5}  # the old run stays readable until the new one is whole
    rd.finish()
    assert rd.metrics() == {"recall": 0.75}
    assert sorted(p.name for p in rd.final.parent.iterdir()) == ["abc123"]


def test_listing_tells_finished_failed_and_killed_runs_apart(tmp_path):
    done = _rd(tmp_path, "bibert")
    (done.begin() / "metrics.json").write_text('{"recall": 0.5, "E": 0.25, "epochs": 2}')
    done.finish()
    failed = _rd(tmp_path, "4tmm-joint")
    failed.begin()
    failed.fail(ValueError("boom\nsecond line"))
    killed = _rd(tmp_path, "3tmm-joint")
    killed.begin()
    status = json.loads((killed.partial / "status.json").read_text())
    (killed.partial / "status.json").write_text(json.dumps({**status, "pid": 2**22 + 12345}))  # no such process
    rows = {r["stage"]: r for r in list_runs(tmp_path / "smoke")}
    assert rows["bibert"]["state"] == "finished" and rows["bibert"]["detail"] == "recall 50.0  E 25.0  epochs 2"
    assert rows["4tmm-joint"]["state"] == "incomplete"
    assert rows["4tmm-joint"]["detail"] == "failed: ValueError: boom; no checkpoint"
    assert rows["3tmm-joint"]["state"] == "incomplete" and "killed" in rows["3tmm-joint"]["detail"]
    assert rows["3tmm-joint"]["path"].endswith("abc123.incomplete")
    assert len(rows) == 3


def test_cli_lists_runs(tmp_path, capsys, monkeypatch):
    from mmpaper.cli import main

    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    assert main(["runs", "--preset", "smoke", "--runs-dir", str(tmp_path)]) == 0
    assert "no runs for preset 'smoke'" in capsys.readouterr().out
    rd = _rd(tmp_path)
    rd.begin()
    rd.fail(KeyboardInterrupt("variant '4tmm-mlp' interrupted"))
    assert main(["runs", "--preset", "smoke", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| 4tmm-mlp | abc123 | incomplete | interrupted: KeyboardInterrupt" in out and "1 incomplete" in out


def _script(tmp_path, body: str) -> Path:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return path


def _spawn(script, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path: Path, proc, timeout=240):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.1)


CHILD = """
    import sys, time
    from pathlib import Path
    from mmpaper.rundirs import RunDir, ensure

    runs, tag = Path(sys.argv[1]), sys.argv[2]
    rd = RunDir(runs / "smoke" / "demo" / "abc123")
    (runs / f"ready-{tag}").touch()
    while not (runs / "go").exists():  # both processes start asking at the same moment
        time.sleep(0.05)

    def build(partial):
        (partial / "built_by").write_text(tag)
        time.sleep(3)  # long enough for the other process to arrive and wait

    print("reused" if ensure(rd, build) else "built", (rd.final / "built_by").read_text())
"""


def test_two_processes_asking_for_the_same_run_build_it_once(tmp_path):
    script = _script(tmp_path, CHILD)
    runs = tmp_path / "runs"
    runs.mkdir()
    procs = {tag: _spawn(script, runs, tag) for tag in ("a", "b")}
    for tag, proc in procs.items():
        _wait_for(runs / f"ready-{tag}", proc)
    (runs / "go").touch()
    out = {tag: proc.communicate(timeout=240) for tag, proc in procs.items()}
    for tag, proc in procs.items():
        assert proc.returncode == 0, out[tag][1][-2000:]
    answers = sorted(out[tag][0].split()[0] for tag in procs)
    builders = {out[tag][0].split()[1] for tag in procs}
    assert answers == ["built", "reused"] and len(builders) == 1, out  # one trained; both read its run
    waiter = next(tag for tag in procs if out[tag][0].startswith("reused"))
    assert "waiting for process" in out[waiter][1] and "abc123.incomplete" in out[waiter][1], out[waiter][1]
    assert sorted(p.name for p in (runs / "smoke" / "demo").iterdir() if not p.name.endswith(".lock")) == ["abc123"]


def test_a_running_run_is_listed_as_running(tmp_path):
    script = _script(tmp_path, """
        import sys, time
        from pathlib import Path
        from mmpaper.rundirs import RunDir

        rd = RunDir(Path(sys.argv[1]) / "smoke" / "bibert" / "abc123")
        with rd.lock():
            rd.begin()
            (Path(sys.argv[1]) / "locked").touch()
            time.sleep(120)
    """)
    proc = _spawn(script, tmp_path)
    try:
        _wait_for(tmp_path / "locked", proc)
        (row,) = list_runs(tmp_path / "smoke")
        assert row["state"] == "running" and row["detail"].startswith(f"pid {proc.pid}")
    finally:
        proc.kill()
        proc.wait()
    (row,) = list_runs(tmp_path / "smoke")  # killed: the kernel released its lock
    assert row["state"] == "incomplete" and "killed" in row["detail"]
