"""Faults: a training process killed with SIGKILL mid-epoch, then the same command again; two real processes
asking for the same run at once."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmpaper.rundirs import RunDir, list_runs

ROOT = Path(__file__).resolve().parents[1]
VARIANT = "4tmm-mlp"

# The command under test: train one variant of the smoke preset for 3 epochs. With PAUSE_AT set it stops in the
# middle of epoch 1 (after epoch 0's checkpoint), says so by creating that file, and waits to be killed.
TRAIN = """
    import json, os, sys, time
    from pathlib import Path

    import pytorch_lightning as pl

    from mmpaper.experiments import Experiment


    class PauseMidEpoch(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 2:
                Path(os.environ["PAUSE_AT"]).touch()
                time.sleep(600)


    callbacks = [PauseMidEpoch()] if os.environ.get("PAUSE_AT") else None
    ex = Experiment("smoke", runs_dir=sys.argv[1], progress=False, max_epochs=3)
    r = ex.run(sys.argv[2], callbacks=callbacks)
    print(json.dumps({"reused": r.reused, "directory": str(r.directory), "metrics": r.metrics}))
"""


def _env(tmp_path, **extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
            "MMPAPER_CACHE": str(tmp_path / "cache"), **extra}


def _wait_for(path: Path, proc, timeout=300):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """Stage 0 and stage 1 of the smoke preset, trained once and copied into each test's runs directory."""
    from mmpaper.experiments import Experiment

    root = tmp_path_factory.mktemp("faults")
    os.environ.setdefault("MMPAPER_CACHE", str(root / "cache"))
    ex = Experiment("smoke", runs_dir=root / "runs", cache_dir=os.environ["MMPAPER_CACHE"], progress=False)
    ex.bibert()
    return root


def _runs_with_upstream(upstream, target: Path) -> Path:
    shutil.copytree(upstream / "runs", target)
    return target


@pytest.mark.slow
def test_sigkill_mid_epoch_then_the_same_command_resumes_to_the_same_metrics(upstream, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAIN))
    env = _env(tmp_path, MMPAPER_CACHE=os.environ["MMPAPER_CACHE"])
    clean_runs = _runs_with_upstream(upstream, tmp_path / "clean")
    killed_runs = _runs_with_upstream(upstream, tmp_path / "killed")

    paused = tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, str(script), str(killed_runs), VARIANT], env={**env, "PAUSE_AT": str(paused)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(paused, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    (row,) = [r for r in list_runs(killed_runs / "smoke") if r["stage"] == VARIANT]
    assert row["state"] == "incomplete" and "killed" in row["detail"] and "after 1 epoch" in row["detail"], row
    assert not any(p.name == row["hash"] for p in (killed_runs / "smoke" / VARIANT).iterdir())  # nothing final

    again = subprocess.run([sys.executable, str(script), str(killed_runs), VARIANT], env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads(again.stdout.strip().splitlines()[-1])
    clean = subprocess.run([sys.executable, str(script), str(clean_runs), VARIANT], env=env, capture_output=True,
                           text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-3000:]
    uninterrupted = json.loads(clean.stdout.strip().splitlines()[-1])

    assert not resumed["reused"] and resumed["metrics"]["epochs"] == uninterrupted["metrics"]["epochs"] == 3
    for key in ("recall", "E", "S", "C", "I"):
        assert resumed["metrics"][key] == uninterrupted["metrics"][key], key
    import numpy as np

    np.testing.assert_array_equal(np.load(Path(resumed["directory"]) / "topk.npy"),
                                  np.load(Path(uninterrupted["directory"]) / "topk.npy"))
    assert [r["state"] for r in list_runs(killed_runs / "smoke")] == ["finished"] * len(list_runs(killed_runs / "smoke"))


@pytest.mark.slow
def test_two_cli_processes_train_a_run_once(upstream, tmp_path):
    """``python -m mmpaper run`` twice at once (two chapters, ``make -j``): one trains, the other waits, reuses."""
    runs = _runs_with_upstream(upstream, tmp_path / "runs")
    cmd = [sys.executable, "-m", "mmpaper", "run", "--preset", "smoke", "--variant", VARIANT, "--runs-dir", str(runs),
           "--quiet"]
    env = _env(tmp_path, MMPAPER_CACHE=os.environ["MMPAPER_CACHE"])
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    states = sorted("reused" in o[0] for o in outs)
    finals = [p for p in (runs / "smoke" / VARIANT).iterdir() if not p.name.endswith(".lock")]
    assert len(finals) == 1 and RunDir(finals[0]).finished(hashes=True)
    assert states == [False, True], outs  # exactly one trained it; the other reused it (waiting if it had to)


KILL_BUILD = """
    import sys, time
    from pathlib import Path
    from mmpaper.rundirs import RunDir, ensure

    runs = Path(sys.argv[1])
    rd = RunDir(runs / "smoke" / "demo" / "abc123")

    def build(partial):
        (partial / "part-1.npy").write_bytes(b"x" * 1000)
        if len(sys.argv) > 2:  # the first attempt: killed while writing
            (runs / "writing").touch()
            time.sleep(600)
        (partial / "metrics.json").write_text('{"recall": 0.5}')

    print("reused" if ensure(rd, build) else "built")
"""


def test_sigkill_while_writing_leaves_only_an_incomplete_directory(tmp_path):
    """The fast variant: the process is killed while writing a run; nothing final appears, the listing says it
    was killed, the lock is free, and the same command then finishes it."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(KILL_BUILD))
    runs = tmp_path / "runs"
    runs.mkdir()
    env = _env(tmp_path)
    proc = subprocess.Popen([sys.executable, str(script), str(runs), "kill-me"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(runs / "writing", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rd = RunDir(runs / "smoke" / "demo" / "abc123")
    assert not rd.final.exists() and rd.partial.is_dir() and not rd.finished()
    (row,) = list_runs(runs / "smoke")
    assert row["state"] == "incomplete" and "killed" in row["detail"]
    done = subprocess.run([sys.executable, str(script), str(runs)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["built"], done.stderr[-2000:]
    assert rd.finished(hashes=True) and not rd.partial.exists() and rd.metrics() == {"recall": 0.5}
    assert json.loads((rd.final / "manifest.json").read_text())["files"].keys() == {"part-1.npy", "metrics.json"}
