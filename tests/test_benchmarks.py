"""The benchmark scripts at their smallest settings, so they cannot rot: each runs, prints its table and writes
JSON with the measurements the summary reads."""
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


def _load(tmp_path, name):
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_bench_eval_smallest(tmp_path):
    import bench_eval

    bench_eval.main(["--queries", "300", "--products", "20000", "--dims", "32", "--metrics-queries", "500",
                     "--out-dir", str(tmp_path)])
    r = _load(tmp_path, "eval")
    rows = {x["method"]: x for x in r["rows"]}
    assert set(rows) == {"mmpaper", "faiss-flat", "torch-topk"}
    # every method returns the exact top-100 (random float data has no ties that matter at this size)
    assert all(x["same_top_k"] > 0.999 for x in rows.values())
    assert rows["mmpaper"]["metrics_seconds"] > 0 and r["metrics_full"]["queries"] == 500
    assert rows["faiss-flat"]["time_vs_faiss_flat"] == 1.0 and r["machine"]["cores"] >= 1


def test_bench_scaling_ann_and_summary_smallest(tmp_path, monkeypatch):
    import bench_ann
    import bench_scaling
    import summarize

    bench_scaling.main(["--sizes", "5000", "20000", "--queries", "200", "--dim", "32", "--out-dir", str(tmp_path)])
    assert (tmp_path / "scaling.png").exists()
    assert [x["products"] for x in _load(tmp_path, "scaling")["rows"]] == [5000, 20000]
    bench_ann.main(["--products", "20000", "--queries", "100", "--dim", "32", "--maxsim-products", "1000",
                    "--maxsim-queries", "5", "--out-dir", str(tmp_path)])
    ann = _load(tmp_path, "ann")
    assert ann["ann"][0]["recall@100 vs exact"] == 1.0
    assert all(0 <= x["recall@100 vs exact"] <= 1 for x in ann["ann"])
    assert ann["maxsim"][1]["× cosine"] > 1  # sixteen product vectors cost more than one
    monkeypatch.setattr(summarize, "RESULTS", tmp_path)
    monkeypatch.setattr(summarize, "ROOT", tmp_path)
    assert summarize.main() == 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "Scaling of exact search" in text and "MaxSim" in text


def test_bench_train_and_embed_smallest(tmp_path):
    import bench_embed
    import bench_train

    bench_train.main(["--preset", "smoke", "--steps", "4", "--repeats", "1", "--out-dir", str(tmp_path)])
    rows = _load(tmp_path, "train")["rows"]
    assert len(rows) == 3 and all(x["Lightning / bare"] > 0 and x["samples/s (Lightning)"] > 0 for x in rows)
    bench_embed.main(["--preset", "smoke", "--products", "256", "--batch", "128", "--out-dir", str(tmp_path)])
    assert all(x["products/s"] > 0 for x in _load(tmp_path, "embed")["rows"])


def test_bench_gpu_without_cuda_says_so_and_exits_0(monkeypatch, capsys, tmp_path):
    import bench_gpu
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.main(["--out-dir", str(tmp_path)]) == 0
    assert "no CUDA device" in capsys.readouterr().out and not list(tmp_path.iterdir())


def test_bench_gpu_stages_at_smoke_scale_on_the_cpu(tmp_path):
    """The gpu study's stages, profile and input-pipeline measurement with the gpu preset's settings at smoke
    scale on the CPU (a subset of the variants: the tables stage then says what it needs)."""
    import bench_gpu

    assert bench_gpu.main(["--smoke", "--variants", "bibert,clip,4tmm-mlp,vs-img2img", "--loader-batches", "2",
                           "--runs-dir", str(tmp_path / "runs"), "--out-dir", str(tmp_path)]) == 0
    r = _load(tmp_path, "gpu-smoke")
    stages = {row["stage"]: row for row in r["rows"]}
    for name in ("world", "stage 0 (CLIP)", "bibert", "clip", "4tmm-mlp", "vs-img2img"):
        assert stages[name]["seconds"] > 0 and stages[name]["samples/s"] > 0, name
    assert stages["tables"]["seconds"] is None and "every Table 2 variant" in stages["tables"]["note"]
    assert r["precision"] == "32-true" and r["device"] == "cpu" and r["total_seconds"] > 0
    assert "partial" not in r  # the partial record written after each stage is replaced by the whole one
    steps = {(row["step"], row["deterministic"]) for row in r["profile"]["rows"]}
    assert steps == {(s, d) for s in ("stage-0 CLIP", "BiBERT") for d in (True, False)}
    assert all(found["ops"] for found in r["profile"]["top_ops"].values())
    assert {row["workers"] for row in r["loader"]} >= {0}


def test_a_gpu_study_stopped_from_outside_is_summarised_as_partial(tmp_path, monkeypatch):
    import summarize

    rows = [{"stage": "world", "seconds": 40.0, "samples": 1000, "unit": "images"},
            {"stage": "input pipeline (measured apart)", "seconds": 9.0, "note": "not part of the study's total"},
            {"stage": "stage 0 (CLIP)", "seconds": 60.0, "samples": 500, "unit": "captions"}]
    (tmp_path / "gpu-test-gpu.json").write_text(json.dumps(
        {"benchmark": "gpu-test-gpu", "machine": {"date": "2026-11-30", "cpu": "x86_64", "cores": 16, "memory_gib": 128, "gpu": "Test GPU", "torch": "2.11", "faiss": "1.15"}, "device": "Test GPU", "partial": True,
         "rows": rows, "profile": None}))
    monkeypatch.setattr(summarize, "RESULTS", tmp_path)
    monkeypatch.setattr(summarize, "ROOT", tmp_path)
    assert summarize.main() == 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "on Test GPU (stopped before the end)" in text and "after 3 stages (100 s of study). The stages it finished" in text


def test_a_gpu_study_whose_budget_skipped_stages_claims_no_total(tmp_path, monkeypatch):
    import summarize

    m = {"date": "2026-11-30", "cpu": "x86_64", "cores": 16, "memory_gib": 128, "gpu": "Test GPU", "torch": "2.11",
         "faiss": "1.15"}
    rows = [{"stage": "world", "seconds": 40.0}, {"stage": "bibert", "seconds": None, "note": "skipped: 61 s > budget 60 s"}]
    (tmp_path / "gpu-test-gpu.json").write_text(json.dumps(
        {"benchmark": "gpu-test-gpu", "machine": m, "device": "Test GPU", "precision": "bf16-mixed", "rows": rows,
         "total_seconds": 40.0, "budget_seconds": 60.0, "profile": None}))
    monkeypatch.setattr(summarize, "RESULTS", tmp_path)
    monkeypatch.setattr(summarize, "ROOT", tmp_path)
    assert summarize.main() == 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "left 1 unmeasured (bibert)" in text and "**not measured**" in text and "(met against" not in text


def test_bench_gpu_installs_only_what_is_missing(monkeypatch, capsys):
    import bench_gpu

    assert bench_gpu.missing_requirements() == []                     # this environment has the study's set
    assert "open_clip_torch>=" in " ".join(str(r) for r in bench_gpu.study_requirements())
    monkeypatch.setattr(bench_gpu, "_requirements", lambda: ["open_clip_torch>=999", "faiss-cpu>=1.8", "torch>=2"])
    assert bench_gpu.missing_requirements() == ["open_clip_torch>=999"]  # torch is no study requirement
    ran = []
    monkeypatch.setattr(bench_gpu.subprocess, "run", lambda cmd: ran.append(cmd) or type("R", (), {"returncode": 0}))
    assert bench_gpu.install(["--no-index", "--find-links", ".whl"]) == 0
    assert ran[0][-4:] == ["--no-index", "--find-links", ".whl", "open_clip_torch>=999"]


def test_bench_gpu_host_smallest_and_its_summary(tmp_path, monkeypatch):
    import bench_gpu_host
    import summarize

    bench_gpu_host.main(["--scale", "0.004", "--batches", "2", "--no-checkpoints", "--no-profile",
                         "--out-dir", str(tmp_path)])
    r = _load(tmp_path, "gpu-host")
    assert [(x["image_streams"], x["workers"] > 1) for x in r["world"]][:2] == [("one", False), ("blocks", False)]
    assert all(x["images/s"] > 0 for x in r["world"]) and all(x["samples/s"] > 0 for x in r["pipeline"])
    (tmp_path / "gpu-smoke.json").write_text(json.dumps({"rows": [], "machine": r["machine"]}))  # never summarised
    monkeypatch.setattr(summarize, "RESULTS", tmp_path)
    monkeypatch.setattr(summarize, "ROOT", tmp_path)
    assert summarize.main() == 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "The gpu preset" in text and "Input pipeline" in text
    assert "Measured: `make bench-gpu`" not in text  # the smoke run of bench_gpu is a test, never a measurement


def test_measured_against_estimate_projects_the_unmeasured_stages_at_the_median_ratio():
    from mmpaper.report import views

    est = {"rows": [{"stage": "stage 0: CLIP pretraining", "H200 s (arithmetic)": 8.0},
                    {"stage": "stage 0: frozen features", "H200 s (arithmetic)": 2.0},
                    {"stage": "bibert", "H200 s (arithmetic)": 5.0},
                    {"stage": "4tmm-joint", "H200 s (arithmetic)": 4.0},
                    {"stage": "vs-4tower", "H200 s (arithmetic)": 6.0}]}
    first = {"rows": [{"stage": "world", "seconds": 7.0}, {"stage": "stage 0 (CLIP)", "seconds": 20.0},
                      {"stage": "input pipeline (measured apart)", "seconds": 99.0, "note": "not part of the total"},
                      {"stage": "bibert", "seconds": 15.0}, {"stage": "4tmm-joint", "seconds": None,
                                                             "note": "skipped: over budget"}]}
    second = {"rows": [{"stage": "4tmm-joint", "seconds": 16.0}, {"stage": "bibert", "seconds": 1000.0}]}
    rows, median, total = views.measured_against_estimate(est, [first, second])
    # ratios: stage 0 20/10 = 2, bibert 15/5 = 3 (the first run's), 4tmm-joint 16/4 = 4: median 3
    assert median == 3.0
    by = {r["stage"]: r for r in rows}
    assert by["stage 0 (CLIP)"]["arithmetic (s)"] == 10.0 and by["vs-4tower"]["projected (s)"] == 18.0
    assert total == 7.0 + 20.0 + 15.0 + 16.0 + 18.0


def test_bench_rows_smallest_and_its_summary(tmp_path, monkeypatch):
    import bench_rows
    import summarize

    bench_rows.main(["--preset", "smoke", "--rows", "bibert,vs-img2img", "--runs-dir", str(tmp_path / "none"),
                     "--out-dir", str(tmp_path)])
    r = _load(tmp_path, "rows-smoke")
    assert [x["speed-up"] for x in r["rows"]][0] == 1.0 and r["rows"][1]["speed-up"] > 0
    # the baseline arm ran on the process's threads, the other on the preset's one a row
    assert {(x["arm"].startswith("one"), x["row"], x["threads"] == 1) for x in r["per_row"]} >= \
        {(False, "bibert", True), (False, "vs-img2img", True)}
    assert all(0 <= x["recall@100"] <= 100 for x in r["per_row"])
    monkeypatch.setattr(summarize, "RESULTS", tmp_path)
    monkeypatch.setattr(summarize, "ROOT", tmp_path)
    assert summarize.main() == 0
    assert "Table 2 rows side by side (smoke)" in (tmp_path / "BENCHMARKS.md").read_text()
