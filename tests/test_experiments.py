"""The Table 2 pipeline on the smoke world: every variant runs through the CLI, runs are reused, reproducible,
resumable, and fail clearly."""
import json
import os

import numpy as np
import pytest
import torch

from mmpaper.cli import main
from mmpaper.experiments import Experiment
from mmpaper.paper import VARIANTS, VISUAL_VARIANTS
from mmpaper.presets import preset


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    os.environ["MMPAPER_CACHE"] = str(root / "cache")
    assert main(["run", "--preset", "smoke", "--variant", "all", "--runs-dir", str(root / "runs"), "--quiet"]) == 0
    return root


def _ex(root, **kw):
    return Experiment("smoke", runs_dir=root / "runs", cache_dir=root / "cache", progress=False, **kw)


def test_every_variant_leaves_a_complete_run_directory(smoke_runs):
    ex = _ex(smoke_runs)
    for name in VARIANTS:
        r = ex.result(name)
        for f in ("config.json", "metrics.json", "topk.npy", "model.pt", "eval_query_ids.npy"):
            assert (r.directory / f).exists(), (name, f)
        assert 0 <= r.metrics["recall"] <= 1 and r.metrics["n_unlabelled"] == 0
        assert np.load(r.directory / "topk.npy").shape == (len(ex.eval_query_ids()), r.metrics["k"])
        if VARIANTS[name].trains:
            assert (r.directory / "last.ckpt").exists()
        assert ex.rundir(name).finished(hashes=True) and not ex.rundir(name).partial.exists()
    assert not list((smoke_runs / "runs").rglob("*.incomplete"))  # every run was renamed into place
    assert json.loads((ex.result("4tmm-mlp").directory / "metrics.json").read_text())["trainable_parts"] == ["fusion"]
    assert ex.result("4tmm-joint").metrics["trainable_parts"] == ["bibert", "fusion"]
    assert 0.1 <= ex.result("4tmm-acat").metrics["alpha"] <= 0.9
    n_photos = int((ex.catalog.photos["split"] == "eval").sum())
    for name in VISUAL_VARIANTS:
        r = ex.result(name)
        assert np.load(r.directory / "topk.npy").shape == (n_photos, r.metrics["k"])
        assert (r.directory / "last.ckpt").exists()
        assert 0 <= r.metrics["false_positive@10"] <= 1 and 0 <= r.metrics["recall@100"] <= 1
    assert "product_text" not in ex.result("vs-img2img").metrics["trainable_parts"]
    assert ex.result("vs-4tower").metrics["trainable_parts"][-2:] == ["query_text", "fusion"]


def test_second_call_reuses_and_changed_parameter_does_not(smoke_runs):
    ex = _ex(smoke_runs)
    assert ex.run("4tmm-cat").reused
    changed = _ex(smoke_runs, temperature=0.1)
    assert changed.run_dir("4tmm-cat") != ex.run_dir("4tmm-cat")
    assert changed.stage_hash("clip") == ex.stage_hash("clip")  # stage 0 does not depend on the temperature


def test_tables_print_all_rows(smoke_runs, capsys):
    assert main(["tables", "--preset", "smoke", "--runs-dir", str(smoke_runs / "runs")]) == 0
    out = capsys.readouterr().out
    for name in VARIANTS:
        assert f"| {name} " in out
    assert "paper R@100" in out and "Table 4" in out
    for name in VISUAL_VARIANTS:
        assert f"| {name} " in out
    assert "alignment losses cut image-to-image false positives" in out  # the vs-align claim
    table = (smoke_runs / "runs" / "smoke" / "tables" / "table2.csv").read_text()
    assert len(table.strip().splitlines()) == 1 + len(VARIANTS)


def test_same_seed_same_metrics(smoke_runs, tmp_path):
    a = _ex(smoke_runs).result("4tmm-joint-seenneg").metrics
    again = Experiment("smoke", runs_dir=tmp_path, cache_dir=smoke_runs / "cache", progress=False)
    b = again.run("4tmm-joint-seenneg").metrics
    for key in ("recall", "E", "S", "C", "I"):
        assert a[key] == b[key], key
    np.testing.assert_array_equal(np.load(_ex(smoke_runs).run_dir("4tmm-joint-seenneg") / "topk.npy"),
                                  np.load(again.run_dir("4tmm-joint-seenneg") / "topk.npy"))


def test_interrupted_run_resumes_to_the_same_metrics(smoke_runs, tmp_path):
    import pytorch_lightning as pl

    class Interrupt(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.current_epoch == 1:  # after epoch 0's checkpoint, as a Ctrl-C mid-training would
                raise KeyboardInterrupt

    kw = dict(cache_dir=smoke_runs / "cache", progress=False, max_epochs=2)
    clean = Experiment("smoke", runs_dir=tmp_path / "clean", **kw).run("4tmm-mlp").metrics
    broken = Experiment("smoke", runs_dir=tmp_path / "resumed", **kw)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        broken.run("4tmm-mlp", callbacks=[Interrupt()])
    rd = broken.rundir("4tmm-mlp")
    assert (rd.partial / "last.ckpt").exists() and not rd.final.exists()  # nothing that looks finished
    assert json.loads((rd.partial / "status.json").read_text())["state"] == "interrupted"
    with pytest.raises(FileNotFoundError, match="an incomplete one is in .*4tmm-mlp/[0-9a-f]+.incomplete"):
        broken.result("4tmm-mlp")
    resumed = Experiment("smoke", runs_dir=tmp_path / "resumed", **kw).run("4tmm-mlp")
    assert not resumed.reused and resumed.metrics["epochs"] == clean["epochs"]
    for key in ("recall", "E", "S", "C", "I"):
        assert resumed.metrics[key] == clean[key], key


def test_nan_loss_stops_with_variant_and_step(smoke_runs, tmp_path):
    from mmpaper.train import NonFiniteLossError

    ex = Experiment("smoke", runs_dir=tmp_path, cache_dir=smoke_runs / "cache", progress=False, lr_variant=1e30)
    with pytest.raises(NonFiniteLossError, match=r"variant '4tmm-mlp': loss is (nan|inf) at step \d+"):
        ex.run("4tmm-mlp")
    rd = ex.rundir("4tmm-mlp")
    assert (rd.partial / "config.json").exists() and not rd.final.exists()
    status = json.loads((rd.partial / "status.json").read_text())
    assert status["state"] == "failed" and status["error"].startswith("NonFiniteLossError: variant '4tmm-mlp'")


def test_unknown_names_list_the_valid_ones(capsys):
    assert main(["run", "--preset", "smoke", "--variant", "5tmm"]) == 2
    assert "argument --variant: unknown variant '5tmm'; valid: ['bibert', 'clip'" in capsys.readouterr().err
    assert main(["run", "--preset", "tiny"]) == 2
    assert "argument --preset: unknown preset 'tiny'; valid: ['smoke', 'cpu', 'gpu', 'esci'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def _with_stage0(smoke_runs, runs_dir):
    """A runs directory that already holds the smoke study's stage 0 (its hash does not read row_threads)."""
    import shutil

    shutil.copytree(smoke_runs / "runs" / "smoke" / "stage0-clip", runs_dir / "smoke" / "stage0-clip")
    return runs_dir


def test_rows_side_by_side_give_the_numbers_each_gives_alone(smoke_runs, tmp_path, monkeypatch):
    """With row_threads fixed, run_all trains rows in two worker processes at once; each row's top-100 and metrics
    are those of the same row run alone in this process, on the same threads."""
    names = ["bibert", "bibert-seenneg", "4tmm-mlp"]  # 4tmm-mlp starts from bibert, trained beside it
    kw = dict(cache_dir=smoke_runs / "cache", progress=False, row_threads=1)
    side = Experiment("smoke", runs_dir=_with_stage0(smoke_runs, tmp_path / "side"), **kw)
    assert side.row_workers(2) == 2 and _ex(smoke_runs).row_workers(2) == 1  # smoke leaves threads to the process
    together = side.run_all(names, workers=2)
    import mmpaper.experiments as experiments

    with monkeypatch.context() as m:  # finished rows (a chapter reading them) and one to run start no process
        m.setattr(experiments, "ProcessPoolExecutor", None)
        again = side.run_all(names + ["clip"], workers=2)
        assert all(again[n].reused for n in names) and not again["clip"].reused
    alone = Experiment("smoke", runs_dir=_with_stage0(smoke_runs, tmp_path / "alone"), **kw)
    timing = ("train_seconds", "eval_seconds")
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # this process's own threads: the row still trains on the preset's one
    try:
        ones = {name: alone.run(name) for name in names}
        assert torch.get_num_threads() == 2  # and this process has its own back
    finally:
        torch.set_num_threads(before)
    for name, one in ones.items():
        assert not together[name].reused and together[name].metrics["threads"] == one.metrics["threads"] == 1
        assert np.array_equal(np.load(together[name].directory / "topk.npy"), np.load(one.directory / "topk.npy"))
        assert ({k: v for k, v in together[name].metrics.items() if k not in timing}
                == {k: v for k, v in one.metrics.items() if k not in timing}), name


def test_a_row_failing_in_a_worker_is_reported_after_the_others_finish(smoke_runs, tmp_path):
    ex = Experiment("smoke", runs_dir=_with_stage0(smoke_runs, tmp_path), cache_dir=smoke_runs / "cache",
                    progress=False, row_threads=1, lr_variant=1e30)  # the multimodal rows' loss turns NaN
    with pytest.raises(RuntimeError, match=r"1 of 2 rows failed \(4tmm-mlp\); the others are finished"):
        ex.run_all(["bibert", "4tmm-mlp"], workers=2)
    assert ex.rundir("bibert").finished() and ex.rundir("4tmm-mlp").partial.exists()


@pytest.mark.parametrize("threads", [0, -1, 1.5])
def test_row_threads_must_be_a_positive_count(threads):
    with pytest.raises(ValueError, match=r"preset 'smoke': row_threads must be a positive number of threads"):
        preset("smoke", row_threads=threads)
