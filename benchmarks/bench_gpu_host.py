"""The host side of the gpu preset, measured without a GPU: how fast its world is generated on one core and on
every core, how fast batches are assembled at its shapes (the rate at which a GPU can be fed), and how many bytes
a training run writes per epoch, before and after the resume checkpoint was cut to what a resume needs.

    python benchmarks/bench_gpu_host.py                        # several minutes on 2 cores
    python benchmarks/bench_gpu_host.py --scale 0.005 --batches 2 --no-checkpoints   # seconds (the tests)

The world is the gpu world scaled by ``--scale`` (every count; the picture size stays 64 px). Its generation
rate is given in images per second (products, captions and photos) with its seconds; the shop's matching grows
with queries × products, so a full-size world costs somewhat more than the rate times its images.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ("n_products", "n_train_queries", "n_eval_queries", "n_captions", "n_query_photos", "n_train_photos")


def scaled_world(scale: float, **overrides):
    from mmpaper.data.world import world_config

    full = world_config("gpu")
    return world_config("gpu", **{k: max(8, int(round(getattr(full, k) * scale))) for k in SIZES}, **overrides)


def world_rows(scale: float) -> tuple[list[dict], object]:
    """The scaled gpu world generated with one worker and with every core, and (for reference) drawn from one
    stream as the cpu world is."""
    from mmpaper.data.world import generate_world
    from mmpaper.provenance import cores

    rows, world = [], None
    for streams, workers in (("one", 1), ("blocks", 1), ("blocks", cores())):
        cfg = scaled_world(scale, image_streams=streams)
        t0 = time.perf_counter()
        world = generate_world(cfg, workers=workers)
        seconds = time.perf_counter() - t0
        images = len(world.images) + len(world.caption_images) + len(world.photo_images)
        rows.append({"image_streams": streams, "workers": workers, "products": cfg.n_products, "images": images,
                     "seconds": seconds, "images/s": images / seconds})
        print(f"  world ({streams}, {workers} worker{'s' * (workers > 1)}): {seconds:.1f} s", flush=True)
    return rows, world


class _Gather:
    """A DataModule's collate over pre-drawn random rows (picklable, for worker processes)."""

    def __init__(self, collate, rows):
        self.collate, self.rows = collate, rows

    def __call__(self, idx):
        return self.collate(self.rows[idx].tolist())


def pipeline_rows(world, batches: int) -> list[dict]:
    """Batches per second of each DataModule at the gpu preset's shapes, in the main process and with loader
    workers (as many as the cores allow, at most the preset's)."""
    import numpy as np
    import torch

    from mmpaper.data.modules import CaptionDataModule, FeatureStore, PairsDataModule, PhotoDataModule, TokenTable
    from mmpaper.presets import PRESETS
    from mmpaper.provenance import cores
    from mmpaper.towers import GPU_CLIP, CLIPTowers, train_wordpiece

    p = PRESETS["gpu"]
    tok = train_wordpiece(world.products["title"].tolist() + world.queries["query"].tolist(), p.bibert.vocab_size)

    def tokenize(texts):
        enc = tok(list(texts), padding="max_length", truncation=True, max_length=p.bibert.max_length,
                  return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    g = torch.Generator().manual_seed(0)
    clip_dim = 512
    store = FeatureStore(TokenTable.build(tokenize, world.products["title"].tolist()),
                         TokenTable.build(tokenize, world.queries["query"].tolist()),
                         product_clip=torch.randn(len(world.products), clip_dim, generator=g),
                         query_clip=torch.randn(len(world.queries), clip_dim, generator=g))
    clip = CLIPTowers(GPU_CLIP)
    t0 = time.perf_counter()
    caption_tokens = clip.tokenize(world.captions["caption"].tolist())
    title_tokens = clip.tokenize(world.products["title"].tolist())
    photo_tokens = clip.tokenize(world.photos["query"].tolist())
    n_texts = len(world.captions) + len(world.products) + len(world.photos)
    tokenize_rate = n_texts / (time.perf_counter() - t0)
    train = world.photos["split"].to_numpy() == "train"

    def modules(workers: int):
        kw = {"num_workers": workers, "pin_memory": False}
        return {
            f"pairs + {p.n_seen_negatives} seen negatives (BiBERT tokens, CLIP features)":
                (PairsDataModule(world, store, batch_size=p.batch_size, seen_negatives=p.n_seen_negatives, **kw),
                 p.batch_size),
            "captions (64-px images, CLIP tokens)":
                (CaptionDataModule(world.caption_images, caption_tokens, batch_size=p.clip_batch_size, **kw),
                 p.clip_batch_size),
            "photos (photo, product image, title, query text)":
                (PhotoDataModule(world.photo_images, world.images, world.photos["product_id"].to_numpy(),
                                 title_tokens, photo_tokens, photo_rows=train.nonzero()[0],
                                 batch_size=p.vs_batch_size, **kw), p.vs_batch_size)}

    rows = []
    for workers in sorted({0, max(0, min(p.loader_workers, cores() - 1))}):
        for name, (dm, batch_size) in modules(workers).items():
            # the module's own collate over random rows, for as many batches as asked (a small world's epoch is
            # shorter than that), in the main process or in worker processes as the module would run it
            collate, n = dm.train_dataloader().collate_fn, len(dm.train_dataloader().sampler)
            rows_drawn = np.random.default_rng(0).integers(0, n, (batches + 1) * batch_size)
            loader = torch.utils.data.DataLoader(
                range(len(rows_drawn)), batch_size=batch_size, num_workers=workers,
                collate_fn=_Gather(collate, rows_drawn), **({"prefetch_factor": 4} if workers else {}))
            it = iter(loader)
            next(it)  # workers started, first batch made: the steady state is what feeds a GPU
            t0, samples = time.perf_counter(), 0
            for batch in it:
                samples += len(next(iter(batch.values())))
            seconds = time.perf_counter() - t0
            rows.append({"batches": name, "workers": workers, "batch": batch_size,
                         "samples/s": samples / seconds, "ms/batch": 1e3 * seconds * batch_size / samples})
            print(f"  {name}, {workers} workers: {rows[-1]['samples/s']:.0f} samples/s", flush=True)
            del it, loader
    rows.append({"batches": "open_clip tokenizer (captions, titles, photo queries)", "workers": 0, "batch": None,
                 "samples/s": tokenize_rate, "ms/batch": None})
    return rows


def checkpoint_rows() -> list[dict]:
    """Bytes a run writes per epoch at the gpu preset's shapes: before (``latest.ckpt`` and its copy
    ``last.ckpt``, every weight and its optimiser state) and now (one ``last.ckpt``, trainable weights only), each
    from a real one-step Lightning fit on the CPU."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint

    from mmpaper.models import BiBERTRetriever, FourTowerMM, VisualSearchModel
    from mmpaper.presets import PRESETS
    from mmpaper.towers import GPU_CLIP, BiBERT, CLIPTowers
    from mmpaper.train import CLIPPretrainSystem, RetrievalSystem, VisualSearchSystem, make_trainer

    import bench_gpu

    p = PRESETS["gpu"]
    torch.manual_seed(0)
    bibert = BiBERT.from_texts([f"red cotton shirt {i}" for i in range(64)], p.bibert)
    clip = CLIPTowers(GPU_CLIP)
    pair = bench_gpu._pair_batch(bibert, 4)
    clip_dim = clip.embed_dim
    pair_clip = {**pair, "query_clip": torch.randn(4, clip_dim), "product_clip": torch.randn(4, clip_dim)}
    images = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    photo = {"query_image": images, "product_image": images.flip(0), "product_text": clip.tokenize(["a"] * 4)}
    setups = {
        f"stage-0 CLIP ({GPU_CLIP})": (lambda: CLIPPretrainSystem(CLIPTowers(GPU_CLIP), lr=p.lr_clip),
                                       bench_gpu._clip_batch(clip, 4, 64)),
        "stage-0 CLIP (ViT-B-32-256, the preset's old CLIP)": (
            lambda: CLIPPretrainSystem(CLIPTowers("ViT-B-32-256"), lr=p.lr_clip), bench_gpu._clip_batch(clip, 4, 64)),
        "BiBERT": (lambda: RetrievalSystem(BiBERTRetriever(BiBERT(p.bibert, bibert.tokenizer)), lr=p.lr_bibert),
                   pair),
        "4tMM train MLP (BiBERT frozen)": (lambda: RetrievalSystem(FourTowerMM(
            BiBERT(p.bibert, bibert.tokenizer), None, "mlp", clip_dim=clip_dim, out_dim=p.fused_dim)
            .set_trainable(bibert=False, fusion=True, clip=False), lr=p.lr_variant), pair_clip),
        "vs-img2img (CLIP text half frozen)": (lambda: VisualSearchSystem(VisualSearchModel(
            CLIPTowers(GPU_CLIP), "img2img"), lr=p.lr_vs), photo),
    }

    class Once(torch.utils.data.Dataset):
        def __init__(self, batch):
            self.batch = batch

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return self.batch

    def one_batch(batch):
        return torch.utils.data.DataLoader(Once(batch), batch_size=None)

    rows = []
    for name, (make, batch) in setups.items():
        with tempfile.TemporaryDirectory() as tmp:
            now = Path(tmp) / "now"
            trainer = make_trainer(now, max_epochs=1, accelerator="cpu", progress=False, patience=None)
            trainer.fit(make(), train_dataloaders=one_batch(batch))
            after = sum(f.stat().st_size for f in now.glob("*.ckpt"))
            old = Path(tmp) / "before"
            system = make()
            system.on_save_checkpoint = lambda checkpoint: None  # every weight, as before
            trainer = pl.Trainer(default_root_dir=old, max_epochs=1, accelerator="cpu", logger=False,
                                 enable_progress_bar=False, enable_model_summary=False,
                                 callbacks=[ModelCheckpoint(dirpath=old, filename="latest", save_last=True,
                                                            save_top_k=1, every_n_epochs=1,
                                                            save_on_train_epoch_end=True,
                                                            enable_version_counter=False)])
            trainer.fit(system, train_dataloaders=one_batch(batch))
            before = sum(f.stat().st_size for f in old.glob("*.ckpt"))
        params = sum(t.numel() for t in make().parameters())
        rows.append({"run": name, "parameters (M)": params / 1e6, "before MB/epoch": before / 1e6,
                     "now MB/epoch": after / 1e6, "now / before": after / before})
        print(f"  {name}: {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB per epoch", flush=True)
    return rows


# Stage 0 of the gpu preset on a tiny world of its shapes, on the CPU, under cProfile: where its seconds go, by the
# functions that do each part. Run in a child process so that an earlier checkout (--baseline-src) can be profiled
# the same way.
STAGE0_PROFILE = r"""
import cProfile, json, pstats, sys, tempfile, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
from mmpaper.experiments import Experiment
from mmpaper.presets import preset
tiny = (("n_products", 64), ("n_train_queries", 32), ("n_eval_queries", 16), ("n_captions", 64),
        ("n_query_photos", 8), ("n_train_photos", 16), ("n_brands", 20))
p = preset("gpu", accelerator="cpu", clip_epochs=2, clip_batch_size=32, world_settings=tiny)
tmp = tempfile.mkdtemp()
ex = Experiment(p, runs_dir=tmp + "/runs", cache_dir=tmp + "/cache", progress=False)
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
ex.clip_features()
prof.disable()
total = time.perf_counter() - t0
stats = pstats.Stats(prof).stats
def cum(file_part, name):
    return sum(v[3] for (f, _, fn), v in stats.items() if fn == name and file_part in f)
parts = {
    "world generation and cache": cum("mmpaper/data/cache.py", "load_world"),
    "CLIP built (open_clip create_model)": cum("open_clip/factory.py", "create_model"),
    "open_clip tokenisation": cum("mmpaper/towers.py", "tokenize"),
    "checkpoint writes (per epoch)": cum("callbacks/model_checkpoint.py", "_save_checkpoint"),
    "frozen features embedded": cum("mmpaper/retrieval.py", "embed"),
    "run-directory manifest (SHA-256 of every file)": cum("mmpaper/data/manifest.py", "write_manifest"),
}
fit = cum("pytorch_lightning/trainer/trainer.py", "fit")
parts["training steps (fit, checkpoints apart)"] = fit - parts["checkpoint writes (per epoch)"]
parts["other"] = total - sum(parts.values())
sizes = {f.name: f.stat().st_size for f in (ex.clip_dir()).glob("*") if f.is_file()}
print(json.dumps({"total": total, "parts": parts, "clip_model": p.clip_model, "files": sizes}))
"""


def stage0_profile(src: Path) -> dict:
    """cProfile of stage 0 (the gpu preset's CLIP, 2 epochs over 64 captions of a tiny 64-px world) with the
    package at ``src``, in a child process on one thread."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", STAGE0_PROFILE], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise RuntimeError(f"stage-0 profile in {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stage0_rows(baseline: Path | None) -> tuple[list[dict], dict]:
    runs = {"now": stage0_profile(ROOT)}
    if baseline is not None:
        runs["before"] = stage0_profile(baseline)
    names = list(runs["now"]["parts"])
    rows = [{"part": name, **{f"{label} s": r["parts"].get(name) for label, r in runs.items()}} for name in names]
    rows.append({"part": "total", **{f"{label} s": r["total"] for label, r in runs.items()}})
    return rows, {label: {"clip_model": r["clip_model"], "files": r["files"]} for label, r in runs.items()}


def cpu_rates() -> list[dict]:
    """Samples per second, on this CPU, of the inference the old code ran on the CPU beside a GPU (Lightning
    hands a trained model back on the CPU, and the evaluators defaulted to it): CLIP image and text features at
    the old and the new stage-0 shapes, BiBERT-768 product embeddings."""
    import torch

    from mmpaper.presets import PRESETS
    from mmpaper.retrieval import embed
    from mmpaper.towers import GPU_CLIP, BiBERT, CLIPTowers

    import bench_gpu

    p = PRESETS["gpu"]
    torch.manual_seed(0)
    rows = []
    images = torch.randint(0, 256, (64, 64, 64, 3), dtype=torch.uint8)
    for name in ("ViT-B-32-256", GPU_CLIP):
        clip = CLIPTowers(name).eval()
        tokens = clip.tokenize(["a photo of a striped red mug"] * 64)
        for what, fn, batch in (("image", lambda b, c=clip: c.encode_image(b["x"]), images),
                                ("text", lambda b, c=clip: c.encode_text(b["x"]), tokens)):
            embed(fn, [{"x": batch[:8]}], progress=False)
            t0 = time.perf_counter()
            embed(fn, [{"x": batch[i:i + 32]} for i in range(0, 64, 32)], progress=False)
            rows.append({"work": f"CLIP {what} features ({name})", "samples/s": 64 / (time.perf_counter() - t0)})
    bibert = BiBERT.from_texts([f"red cotton shirt {i}" for i in range(64)], p.bibert).eval()
    pair = bench_gpu._pair_batch(bibert, 64)
    batch = {"input_ids": pair["product_input_ids"], "attention_mask": pair["product_attention_mask"]}
    fn = lambda b: bibert.encode_product(b["input_ids"], b["attention_mask"])  # noqa: E731
    embed(fn, [{k: v[:8] for k, v in batch.items()}], progress=False)
    t0 = time.perf_counter()
    embed(fn, [{k: v[i:i + 32] for k, v in batch.items()} for i in range(0, 64, 32)], progress=False)
    rows.append({"work": "BiBERT-768 product embeddings", "samples/s": 64 / (time.perf_counter() - t0)})
    return rows


def main(argv=None) -> dict:
    import logging
    import warnings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.05, help="the gpu world's counts times this (default 0.05)")
    ap.add_argument("--batches", type=int, default=20, help="batches timed per loader")
    ap.add_argument("--no-checkpoints", action="store_true", help="skip the checkpoint sizes (GBs of writes)")
    ap.add_argument("--no-profile", action="store_true", help="skip the stage-0 profile and the CPU rates")
    ap.add_argument("--baseline-src", default=None,
                    help="a checkout of an earlier commit: its stage 0 is profiled beside this one's")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().addFilter(lambda r: "No pretrained weights loaded" not in r.getMessage())
    from common import print_table, save

    stage0, stage0_files, rates = [], {}, []
    if not args.no_profile:
        stage0, stage0_files = stage0_rows(Path(args.baseline_src) if args.baseline_src else None)
        print_table(stage0, "Stage 0 of the gpu preset on a tiny world, CPU, cProfile (seconds)")
        rates = cpu_rates()
        print_table(rates, "Inference on this CPU (one thread unless the machine says otherwise)")
    world_table, world = world_rows(args.scale)
    pipeline = pipeline_rows(world, args.batches)
    checkpoints = [] if args.no_checkpoints else checkpoint_rows()
    print_table(world_table, f"World generation, the gpu world × {args.scale}")
    print_table(pipeline, "Input pipeline at the gpu preset's shapes")
    if checkpoints:
        print_table(checkpoints, "Checkpoint bytes written per epoch at the gpu preset's shapes")
    from mmpaper.provenance import cores

    path = save("gpu-host", {"scale": args.scale, "threads": os.environ.get("OMP_NUM_THREADS"), "cores": cores(),
                             "world": world_table, "pipeline": pipeline, "checkpoints": checkpoints,
                             "stage0": stage0, "stage0_files": stage0_files, "cpu_rates": rates}, args.out_dir)
    print(f"\nwrote {path}")
    return {"world": world_table, "pipeline": pipeline, "checkpoints": checkpoints, "stage0": stage0,
            "cpu_rates": rates}


if __name__ == "__main__":
    main()
