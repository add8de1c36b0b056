"""Training cost on this CPU: the step time of the Lightning system against a bare PyTorch loop over the same
model, batches and optimiser (target: overhead under 10%), and samples per second for BiBERT, the tiny CLIP and
4tMM (joint tuning) at the ``cpu`` preset's sizes.

    python benchmarks/bench_train.py               # ~1-2 minutes
    python benchmarks/bench_train.py --steps 6 --repeats 1 --preset smoke   # seconds
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from common import print_table, quiet, save  # noqa: E402


def _setups(preset_name: str):
    """(name, LightningModule factory, DataLoader factory, batch size) for each model, on the preset's world."""
    from mmpaper.data.modules import CaptionDataModule, FeatureStore, PairsDataModule, TokenTable
    from mmpaper.experiments import Experiment
    from mmpaper.models import BiBERTRetriever, FourTowerMM
    from mmpaper.towers import BiBERT, CLIPTowers
    from mmpaper.train import CLIPPretrainSystem, RetrievalSystem

    ex = Experiment(preset_name, progress=False)
    p, cat = ex.preset, ex.catalog
    torch.manual_seed(0)
    bibert = BiBERT.from_texts(cat.products["title"].tolist() + cat.queries["query"].tolist(), p.bibert)
    clip_dim = 64
    g = torch.Generator().manual_seed(0)
    store = FeatureStore(TokenTable.build(bibert.tokenize, cat.products["title"].tolist()),
                         TokenTable.build(bibert.tokenize, cat.queries["query"].tolist()),
                         product_clip=torch.nn.functional.normalize(torch.randn(len(cat.products), clip_dim,
                                                                                generator=g), dim=1),
                         query_clip=torch.nn.functional.normalize(torch.randn(len(cat.queries), clip_dim,
                                                                              generator=g), dim=1))
    pairs = PairsDataModule(cat, store, batch_size=p.batch_size, seed=0)
    clip = CLIPTowers(p.clip_model)
    captions = CaptionDataModule(cat.caption_images, clip.tokenize(cat.captions["caption"].tolist()),
                                 batch_size=p.clip_batch_size, seed=0)
    import copy

    return [
        ("BiBERT", lambda: RetrievalSystem(BiBERTRetriever(copy.deepcopy(bibert)), lr=p.lr_bibert),
         pairs.train_dataloader, p.batch_size),
        ("4tMM joint (BiBERT + MLP)", lambda: RetrievalSystem(
            FourTowerMM(copy.deepcopy(bibert), None, "mlp", clip_dim=clip_dim, out_dim=p.fused_dim)
            .set_trainable(bibert=True, fusion=True, clip=False), lr=p.lr_variant), pairs.train_dataloader,
         p.batch_size),
        ("tiny CLIP (stage 0)", lambda: CLIPPretrainSystem(copy.deepcopy(clip), lr=p.lr_clip),
         captions.train_dataloader, p.clip_batch_size),
    ]


class _StepClock(pl.Callback):
    """Wall time at the start of every training batch (and at the end): the step time, data loading included."""

    def __init__(self):
        self.starts = []

    def on_train_batch_start(self, *args):
        self.starts.append(time.perf_counter())

    def on_train_end(self, *args):
        self.starts.append(time.perf_counter())


def lightning_steps(system, loader_fn, steps: int) -> list[float]:
    from mmpaper.train import make_trainer

    clock = _StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(tmp, max_epochs=1, max_steps=steps, progress=False, accelerator="cpu")
        trainer.callbacks.append(clock)
        trainer.fit(system, train_dataloaders=loader_fn())
    return list(np.diff(clock.starts))[1:]  # the first step pays one-off set-up


def bare_steps(system, loader_fn, steps: int) -> list[float]:
    """The same training step without Lightning: loss, zero_grad, backward, Adam step."""
    from mmpaper.train import CLIPPretrainSystem

    sched = None
    if isinstance(system, CLIPPretrainSystem):  # its optimiser reads the Trainer's step count; rebuild it by hand
        opt = torch.optim.AdamW(system.clip.parameters(), lr=system.lr, weight_decay=0.05)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 20)))
    else:
        opt = system.configure_optimizers()
    system.train()
    times, t_prev = [], None
    for i, batch in enumerate(loader_fn()):
        if i >= steps:
            break
        now = time.perf_counter()
        if t_prev is not None:
            times.append(now - t_prev)
        t_prev = now
        loss = _loss(system, batch, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    times.append(time.perf_counter() - t_prev)
    return times[1:]


def _loss(system, batch, i):
    from mmpaper.losses import nt_xent, symmetric_nt_xent
    from mmpaper.train import CLIPPretrainSystem

    if isinstance(system, CLIPPretrainSystem):
        return symmetric_nt_xent(system.clip.encode_image(batch["image"]), system.clip.encode_text(batch["text"]),
                                 system.temperature)
    return nt_xent(system.model.encode_queries(batch), system.model.encode_products(batch), system.temperature)


def main(argv=None) -> dict:

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3, help="alternating bare / Lightning runs per model")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    quiet()
    rows = []
    for name, make, loader_fn, bs in _setups(args.preset):
        bare, light = [], []
        for _ in range(args.repeats):  # alternate, so drift of a noisy machine hits both alike
            torch.manual_seed(0)
            bare.append(statistics.median(bare_steps(make(), loader_fn, args.steps)))
            torch.manual_seed(0)
            light.append(statistics.median(lightning_steps(make(), loader_fn, args.steps)))
        b, lt = statistics.median(bare), statistics.median(light)
        rows.append({"model": name, "batch": bs, "bare step ms": 1e3 * b, "Lightning step ms": 1e3 * lt,
                     "Lightning / bare": lt / b, "samples/s (Lightning)": bs / lt})
        print(f"  {name}: {rows[-1]['Lightning / bare']:.3f}", flush=True)
    print_table(rows, f"Training step, preset {args.preset} ({args.steps} steps × {args.repeats} alternating runs, "
                      f"median step)")
    path = save("train", {"preset": args.preset, "steps": args.steps, "repeats": args.repeats, "rows": rows,
                          "targets": {"Lightning / bare": 1.10}}, args.out_dir)
    print(f"\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    main()
