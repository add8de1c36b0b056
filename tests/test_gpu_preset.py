"""The gpu preset's code paths on the CPU (CI has no GPU): precision and device resolution, resume checkpoints
that hold the trainable weights only, loader workers that change no batch, the 64-px CLIP, worlds rendered in
blocks, run hashes that adding these settings left alone; and, marked ``gpu``, the same paths on CUDA."""
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from mmpaper.presets import PRESETS, hashed_settings, preset
from mmpaper.train import accelerator_device, autocast_dtype, resolve_precision


# ------------------------------------------------------------------------------------------ precision, device
def test_mixed_precision_is_bf16_or_fp16_on_a_gpu_and_float32_on_the_cpu(monkeypatch):
    for setting in ("32-true", "mixed", "bf16-mixed", "16-mixed", None):
        assert resolve_precision(setting, "cpu") == "32-true"          # a CPU run never changes a number
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("mixed", "cuda") == "bf16-mixed"           # Ampere and later (an H200)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("mixed", "cuda") == "16-mixed"             # a T4: fp16 with a loss scaler
    assert resolve_precision("32-true", "cuda") == "32-true"
    assert autocast_dtype("bf16-mixed") == torch.bfloat16 and autocast_dtype("16-mixed") == torch.float16
    assert autocast_dtype("32-true") is None
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", "cpu")


def test_the_training_device_is_the_gpu_only_when_asked_for_and_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert {accelerator_device(a).type for a in ("cpu", "gpu", "auto")} == {"cpu"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert accelerator_device("cpu").type == "cpu"                      # the pinned presets stay on the CPU
    assert accelerator_device("gpu") == accelerator_device("auto") == torch.device("cuda", 0)


def test_gpu_preset_settings_and_cpu_presets_untouched():
    gpu = PRESETS["gpu"]
    assert (gpu.precision, gpu.deterministic, gpu.clip_model) == ("mixed", False, "mmpaper-ViT-B-8-64")
    assert gpu.loader_workers == 0 and gpu.accelerator == "gpu"  # workers measured slower on an H200 host
    for name in ("smoke", "cpu", "colab"):
        p = PRESETS[name]
        assert (p.precision, p.deterministic, p.loader_workers) == ("32-true", True, 0), name


def test_settings_added_at_their_defaults_leave_run_hashes_alone(tmp_path):
    """Every run recorded before these settings existed keeps its hash: the defaults are left out of it, and the
    loader's workers (the same batches either way) never enter it."""
    from mmpaper.experiments import Experiment

    settings = hashed_settings(PRESETS["cpu"])
    assert not {"precision", "deterministic", "loader_workers"} & set(settings)
    assert set(settings) == set(asdict(PRESETS["cpu"])) - {"precision", "deterministic", "loader_workers"}
    base = Experiment("smoke", runs_dir=tmp_path)
    assert Experiment(preset("smoke", loader_workers=3), runs_dir=tmp_path).stage_hash("bibert") == \
        base.stage_hash("bibert")
    mixed = Experiment(preset("smoke", precision="mixed"), runs_dir=tmp_path)
    assert mixed.stage_hash("bibert") != base.stage_hash("bibert")
    assert mixed.stage_hash("clip") != base.stage_hash("clip")         # stage 0 trains in that precision too
    assert Experiment(preset("smoke", deterministic=False), runs_dir=tmp_path).stage_hash("clip") != \
        base.stage_hash("clip")
    threads = Experiment(preset("smoke", row_threads=1), runs_dir=tmp_path)
    assert threads.stage_hash("bibert") != base.stage_hash("bibert")  # a row's numbers depend on its threads
    assert threads.stage_hash("clip") == base.stage_hash("clip")      # stage 0 runs on the process's own


def test_an_experiment_on_the_cpu_has_no_workers_and_float32_inference(tmp_path):
    from mmpaper.experiments import Experiment

    ex = Experiment(replace(PRESETS["gpu"], accelerator="cpu"), runs_dir=tmp_path)
    assert ex.device.type == "cpu" and ex.precision == "32-true" and ex.dtype is None
    assert ex.loader_options() == {"num_workers": 0, "pin_memory": False}


# ------------------------------------------------------------------------------------------ checkpoints
def _frozen_bibert_system(bibert):
    import copy

    from mmpaper.models import FourTowerMM
    from mmpaper.train import RetrievalSystem

    model = FourTowerMM(copy.deepcopy(bibert), None, "mlp", clip_dim=8, out_dim=8).set_trainable(bibert=False, fusion=True,
                                                                                  clip=False)
    return RetrievalSystem(model, name="4tmm-mlp")


def test_a_checkpoint_leaves_out_frozen_weights_and_a_resume_fills_them_in(bibert):
    system = _frozen_bibert_system(bibert)
    full = system.state_dict()
    checkpoint = {"state_dict": dict(full)}
    system.on_save_checkpoint(checkpoint)
    kept = checkpoint["state_dict"]
    assert kept and all(k.startswith("model.fusion") for k in kept)    # only the MLP trains here
    assert checkpoint["frozen_left_out"] > 0 and len(kept) < len(full)
    # shared BiBERT weights (query and product towers are one module) are left out under both names
    assert not any(k.startswith("model.bibert.") for k in kept)
    system.on_load_checkpoint(checkpoint)
    assert set(checkpoint["state_dict"]) == set(full)
    for k, v in checkpoint["state_dict"].items():
        assert torch.equal(v, full[k])
    lacking = {"state_dict": {k: v for k, v in kept.items() if not k.endswith("bias")}}
    with pytest.raises(KeyError, match="lacks trainable weights"):
        system.on_load_checkpoint(lacking)


def test_one_resume_checkpoint_per_epoch_with_the_trainable_weights(bibert, tmp_path):
    from mmpaper.train import make_trainer

    system = _frozen_bibert_system(bibert)
    q = bibert.tokenize(["red shirt", "blue jeans", "green mug", "black wallet"])
    batch = {"query_input_ids": q["input_ids"], "query_attention_mask": q["attention_mask"],
             "product_input_ids": q["input_ids"], "product_attention_mask": q["attention_mask"],
             "query_clip": torch.randn(4, 8), "product_clip": torch.randn(4, 8)}
    loader = torch.utils.data.DataLoader([batch], batch_size=None)
    trainer = make_trainer(tmp_path, max_epochs=2, accelerator="cpu", progress=False)
    trainer.fit(system, train_dataloaders=loader)
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["last.ckpt"]   # no second copy ("latest")
    ckpt = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 1 and all(k.startswith("model.fusion") for k in ckpt["state_dict"])
    resumed = _frozen_bibert_system(bibert)
    again = make_trainer(tmp_path / "again", max_epochs=3, accelerator="cpu", progress=False)
    again.fit(resumed, train_dataloaders=loader, ckpt_path=str(tmp_path / "last.ckpt"))
    assert again.current_epoch == 3


# ------------------------------------------------------------------------------------------ data loading
def test_loader_workers_give_the_same_batches_in_the_same_order():
    from mmpaper.data.modules import CaptionDataModule

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (70, 8, 8, 3), dtype=np.uint8)
    tokens = torch.from_numpy(rng.integers(0, 100, (70, 6)))

    def epochs(workers):
        dm = CaptionDataModule(images, tokens, batch_size=16, seed=3, num_workers=workers)
        loader = dm.train_dataloader()
        out = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)
            out += [b["text"] for b in loader]
        return out

    plain, workers = epochs(0), epochs(2)
    assert len(plain) == len(workers) == 8 and all(torch.equal(a, b) for a, b in zip(plain, workers))


# ------------------------------------------------------------------------------------------ the 64-px CLIP
def test_the_gpu_clip_sees_64_pixel_pictures_whole_in_64_patches():
    from mmpaper.towers import GPU_CLIP, CLIPTowers

    torch.manual_seed(0)
    clip = CLIPTowers(GPU_CLIP)
    assert clip.image_size == 64 and clip.embed_dim == 512
    visual = clip.model.visual
    assert visual.conv1.kernel_size == (8, 8) and visual.positional_embedding.shape[0] == 1 + 64
    assert clip.tokenize(["a photo of a striped red mug"]).shape == (1, 32)
    images = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    x = clip.prepare_images(images)
    assert x.shape == (2, 3, 64, 64)                                    # no upsampling on the way in
    with torch.no_grad():
        assert clip.encode_image(images).shape == (2, 512)


def test_tokenising_each_distinct_text_once_gives_open_clips_tokens(clip):
    import open_clip

    texts = ["a red mug", "blue shoe", "a red mug", "", "blue shoe", "a red mug"]
    assert torch.equal(clip.tokenize(texts), open_clip.get_tokenizer(clip.model_name)(texts))


def test_a_stage0_step_and_a_bibert_step_at_the_gpu_presets_shapes_on_the_cpu(tmp_path):
    """One optimiser step of each system the gpu preset trains, at its shapes (ViT-B/8 at 64 px, BiBERT at 768),
    through the project's trainer: the CPU runs the code paths a GPU runs, in float32."""
    from mmpaper.models import BiBERTRetriever
    from mmpaper.towers import GPU_CLIP, BiBERT, CLIPTowers
    from mmpaper.train import CLIPPretrainSystem, RetrievalSystem, make_trainer

    p = PRESETS["gpu"]
    torch.manual_seed(0)
    clip = CLIPTowers(GPU_CLIP)
    images = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    clip_batch = {"image": images, "text": clip.tokenize(["a red mug", "a blue shoe", "a lamp", "a bowl"])}
    bibert = BiBERT.from_texts(["red cotton shirt", "blue denim jeans", "ceramic mug", "wool scarf"] * 8, p.bibert)
    enc = bibert.tokenize(["red shirt", "blue jeans", "ceramic mug", "wool scarf"])
    pair_batch = {"query_input_ids": enc["input_ids"], "query_attention_mask": enc["attention_mask"],
                  "product_input_ids": enc["input_ids"], "product_attention_mask": enc["attention_mask"]}
    for name, system, batch in (("clip", CLIPPretrainSystem(clip, lr=p.lr_clip), clip_batch),
                                ("bibert", RetrievalSystem(BiBERTRetriever(bibert), lr=p.lr_bibert), pair_batch)):
        before = {k: v.clone() for k, v in system.state_dict().items()}
        trainer = make_trainer(tmp_path / name, max_epochs=1, accelerator="cpu", progress=False,
                               precision=resolve_precision(p.precision, "cpu"), deterministic=p.deterministic)
        trainer.fit(system, train_dataloaders=torch.utils.data.DataLoader([batch], batch_size=None))
        after = system.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before), name
        assert (tmp_path / name / "last.ckpt").exists()


# ------------------------------------------------------------------------------------------ rendering
def test_rendering_is_the_same_in_any_chunk_size(monkeypatch):
    from mmpaper.data import render

    rng = np.random.default_rng(0)
    cat, col, pat = rng.integers(0, 27, 37), rng.integers(0, 12, 37), rng.integers(0, 5, 37)
    kw = dict(background=rng.uniform(0, 255, (37, 3)), clutter=2, occlusion=0.12)
    whole = render.render(cat, col, pat, np.random.default_rng(1), 32, **kw)
    monkeypatch.setattr(render, "CHUNK_ELEMENTS", 5 * 32 * 32 * 3)      # 5 images at a time
    np.testing.assert_array_equal(render.render(cat, col, pat, np.random.default_rng(1), 32, **kw), whole)


def test_blocks_render_the_same_pixels_with_any_number_of_workers(monkeypatch):
    from mmpaper.data import render

    monkeypatch.setattr(render, "IMAGE_BLOCK", 16)
    rng = np.random.default_rng(0)
    cat, col, pat = rng.integers(0, 27, 50), rng.integers(0, 12, 50), rng.integers(0, 5, 50)
    one = render.render_blocks(cat, col, pat, [0, 8, 0], 32, workers=1, clutter=1)
    assert one.shape == (50, 32, 32, 3) and one.dtype == np.uint8
    np.testing.assert_array_equal(render.render_blocks(cat, col, pat, [0, 8, 0], 32, workers=3, clutter=1), one)
    out = np.zeros_like(one)
    render.render_blocks(cat, col, pat, [0, 8, 0], 32, workers=2, clutter=1, out=out)
    np.testing.assert_array_equal(out, one)
    assert not np.array_equal(render.render_blocks(cat, col, pat, [0, 8, 1], 32, workers=1, clutter=1), one)


def test_a_world_in_blocks_is_the_same_with_any_number_of_workers_and_keyed_apart():
    from mmpaper.data.world import generate_world, world_config

    small = dict(n_products=300, n_train_queries=150, n_eval_queries=60, n_captions=200, n_query_photos=30,
                 n_train_photos=60, n_brands=20, image_size=32)
    cfg = world_config("smoke", image_streams="blocks", **small)
    a, b = generate_world(cfg, workers=1), generate_world(cfg, workers=3)
    for name in ("images", "caption_images", "photo_images"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.seen_negatives.equals(b.seen_negatives) and a.queries.equals(b.queries)
    one = world_config("smoke", **small)
    assert cfg.key() != one.key() and cfg.caption_key() != one.caption_key()
    with pytest.raises(ValueError, match="image_streams='many'"):
        world_config("smoke", image_streams="many")


def test_the_one_stream_key_is_what_it_was_before_image_streams_existed():
    from mmpaper.data.world import WORLD_VERSION, world_config
    from mmpaper.fsio import config_hash

    cfg = world_config("cpu")
    before = {k: v for k, v in asdict(cfg).items() if k != "image_streams"}
    assert cfg.key() == config_hash({"version": WORLD_VERSION, **before})


def test_the_gpu_world_keeps_many_more_products_of_a_kind_than_a_top_100():
    from mmpaper.data.vocabulary import CATEGORY_NAMES
    from mmpaper.data.world import world_config

    cfg = world_config("gpu")
    share = 1.0 / np.arange(1, len(CATEGORY_NAMES) + 1) ** cfg.category_skew
    smallest = cfg.n_products * share.min() / share.sum()
    assert smallest > 10 * PRESETS["gpu"].k and cfg.image_size == 64 and cfg.image_streams == "blocks"


# ------------------------------------------------------------------------------------------ on a GPU
@pytest.mark.gpu
def test_on_cuda_the_gpu_preset_trains_in_bf16_and_evaluates_on_the_gpu(tmp_path):
    """Where CUDA is present: the gpu preset's settings at smoke scale (benchmarks/bench_gpu.py --smoke's preset
    moved onto the GPU) train BiBERT and evaluate it with the GPU's precision and search engine."""
    import sys
    from pathlib import Path

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_gpu

    from mmpaper.experiments import Experiment
    from mmpaper.retrieval import exact_engine

    ex = Experiment(replace(bench_gpu.smoke_preset(), accelerator="gpu"), runs_dir=tmp_path / "runs",
                    cache_dir=tmp_path / "cache", progress=False)
    assert ex.device.type == "cuda" and ex.precision in ("bf16-mixed", "16-mixed")
    assert exact_engine(True) in ("faiss-gpu", "torch")
    metrics = ex.run("bibert").metrics
    assert 0 <= metrics["recall"] <= 1 and metrics["epochs"] >= 1
