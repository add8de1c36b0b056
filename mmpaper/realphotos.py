"""The visual-search models (KDD 2024) trained and evaluated on real photos: the Grocery Store dataset.

A shopper's phone photo is the query; the product is a catalog ("iconic") image with its description. Two models
are trained per seed, with the same encoder, data, augmentation and budget, so the comparison isolates the
training objective (``mmpaper.losses.alignment_loss``):

* ``img2img``: image-to-image metric learning, ``L(q_img, d_img)``;
* ``3tower``: the same plus the image-text alignment losses against the description,
  ``L(q_img, d_img) + w_1 L(d_img, d_title) + w_2 L(q_img, d_title)``.

The 4-tower model needs what a shopper types beside the photo; the dataset has no such text, and the only text a
photo carries is its class name — the very label that decides whether a result is a false positive — so the
4-tower is left out rather than fed its answer.

No pretrained weights can be downloaded here, so every encoder starts from scratch (not from the world's stage-0
CLIP, which learnt 32-pixel renders and the world's captions, nothing of real photos): ``mmpaper-photo-clip``, the
tiny CLIP's architecture (open_clip's modified ResNet at width 16, a 2-layer text transformer) at 64 pixels, with
GroupNorm in place of BatchNorm (:func:`group_norm` says why). The image encoders are shared (KDD 2024, Fig. 4).
Photos are stored at :data:`~mmpaper.data.grocery.LOAD_SIZE` pixels and the encoder sees 64: random resized crops
with colour jitter in training (``PhoneAugment``), the whole photo downscaled in evaluation. Batches hold distinct
products (``DistinctProductBatches``), so no in-batch negative is the positive's own product. Validation recall@1
on the published val photos chooses the epoch; the test photos are reported.

A run directory ``runs/grocery-<config>/vs-<model>-seed<N>/<hash>/`` holds ``metrics.json`` (test metrics,
validation curve, seconds), ``topk.npy`` (the test photos' top 10 product rows), ``per_photo.npz`` (recall@k, fine@k,
gross@k per test photo) and ``model.pt``; the hash covers the config, the seed, the manifest of the data and the
package version, so a changed setting never reuses a stale run (:mod:`mmpaper.rundirs`).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from . import __version__
from .data.augment import PhoneAugment
from .data.download import GROCERY_DIR, load_grocery_manifest
from .data.grocery import DESCRIPTION_WORDS, LOAD_SIZE, GroceryCatalog, load_grocery
from .data.modules import RealPhotoDataModule
from .evaluation import RealPhotoEvaluator
from .fsio import config_hash, write_json
from .models import VisualSearchModel
from .paths import default_runs_dir
from .provenance import git_commit
from .rundirs import RunDir, ensure, resume_checkpoint
from .towers import CLIPTowers
from .train import VisualSearchSystem, fit, make_trainer, restore_best

logger = logging.getLogger(__name__)

KINDS = ("img2img", "3tower")            # the models trained on real photos (no 4-tower: see the module docstring)
PHOTO_CLIP = "mmpaper-photo-clip"        # clip_configs/mmpaper-photo-clip.json
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class RealPhotoConfig:
    """Everything that determines a real-photo run but the seed (one budget for both models)."""

    name: str = "cpu"
    clip_model: str = PHOTO_CLIP                 # the encoder architecture, from scratch
    load_size: int = LOAD_SIZE                   # pixels of the stored photos (centre square, downscaled)
    image_size: int = 64                         # pixels the encoder sees (training crops are resized to it)
    description_words: int = DESCRIPTION_WORDS   # words of a description kept as the title
    epochs: int = 8
    batch_size: int = 64                         # distinct products per batch
    lr: float = 2e-3
    temperature: float = 0.05
    weights: tuple[float, float] = (1.0, 1.0)    # w_1 (d_img, title), w_2 (q_img, title) of the 3-tower loss
    warmup: float = 0.05                         # share of the steps with a linear warm-up, then cosine decay
    shared: bool = True                          # one image encoder for photos and catalog images (KDD Fig. 4)
    group_norm: bool = True                      # GroupNorm for the ResNet's BatchNorm (see group_norm)
    augment: bool = True
    max_train_photos: int | None = None          # a subset of the training photos (the smoke config)
    ks: tuple[int, ...] = (1, 5)
    accelerator: str = "cpu"                     # pinned: the recorded numbers are CPU numbers

    def key(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "name"}


REAL_PHOTO_CONFIGS: dict[str, RealPhotoConfig] = {
    "cpu": RealPhotoConfig(),
    "colab": RealPhotoConfig(name="colab", accelerator="auto"),  # the same on a GPU when the runtime has one
    # seconds, for tests and the smoke book: the tiny CLIP at 32 px, one epoch over 256 photos
    "smoke": RealPhotoConfig(name="smoke", clip_model="mmpaper-tiny-clip", load_size=40, image_size=32, epochs=1,
                             batch_size=32, max_train_photos=256),
}
# which real-photo config a book preset's chapter reads
FOR_PRESET = {"smoke": "smoke", "cpu": "cpu", "colab": "colab", "gpu": "colab", "esci": "cpu"}


def real_photo_config(name: str | RealPhotoConfig, **overrides) -> RealPhotoConfig:
    if isinstance(name, RealPhotoConfig):
        return replace(name, **overrides)
    if name not in REAL_PHOTO_CONFIGS:
        raise ValueError(f"unknown real-photo config {name!r}; valid: {list(REAL_PHOTO_CONFIGS)}")
    return replace(REAL_PHOTO_CONFIGS[name], **overrides)


def group_norm(module: torch.nn.Module, max_groups: int = 8) -> torch.nn.Module:
    """Replace every ``BatchNorm2d`` under ``module`` with a ``GroupNorm`` (``min(max_groups, channels // 4)``
    groups), in place. Why: the model embeds a batch's photos and its catalog images in two forward passes, so in
    training BatchNorm normalises each domain by its own statistics, while in evaluation its running statistics
    are a blend of both: the encoder meets inputs normalised as it never saw them. In a trial of image-to-image
    matching with the cpu config's settings (seed 0), recall@1 on the test photos was 9% with BatchNorm and 21% with
    GroupNorm, which normalises each image by itself, the same in training and in evaluation."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.BatchNorm2d):
            setattr(module, name, torch.nn.GroupNorm(max(1, min(max_groups, child.num_features // 4)),
                                                     child.num_features))
        else:
            group_norm(child, max_groups)
    return module


@dataclass
class RealPhotoRun:
    kind: str
    seed: int
    directory: Path
    metrics: dict
    reused: bool

    def per_photo(self) -> dict[str, np.ndarray]:
        with np.load(self.directory / "per_photo.npz") as f:
            return {k: f[k] for k in f.files}

    def topk(self) -> np.ndarray:
        return np.load(self.directory / "topk.npy")


class RealPhotoExperiment:
    """The real-photo runs of one config: ``RealPhotoExperiment("cpu").run("3tower", seed=0)`` trains (or reuses)
    and evaluates on the test photos. ``data_dir`` holds the verified data (``python -m mmpaper data grocery``)."""

    def __init__(self, config: str | RealPhotoConfig = "cpu", *, data_dir: str | Path | None = None,
                 runs_dir: str | Path | None = None, progress: bool = False, manifest=None):
        self.config = real_photo_config(config)
        self.data_dir = Path(data_dir or GROCERY_DIR)
        self.runs_dir = Path(runs_dir or default_runs_dir()) / f"grocery-{self.config.name}"
        self.progress = progress
        self.manifest = manifest or load_grocery_manifest()
        self._catalog: GroceryCatalog | None = None

    @property
    def catalog(self) -> GroceryCatalog:
        if self._catalog is None:
            self._catalog = load_grocery(self.data_dir, size=self.config.load_size,
                                         description_words=self.config.description_words, manifest=self.manifest,
                                         progress=self.progress)
        return self._catalog

    # -- run directories
    def run_hash(self, kind: str, seed: int) -> str:
        return config_hash({"stage": f"real-photos-{kind}", "config": self.config.key(), "seed": int(seed),
                            "data": self.manifest.digest, "version": __version__})

    def rundir(self, kind: str, seed: int) -> RunDir:
        if kind not in KINDS:
            raise ValueError(f"unknown real-photo model {kind!r}; valid: {list(KINDS)}")
        return RunDir(self.runs_dir / f"vs-{kind}-seed{seed}" / self.run_hash(kind, seed))

    def result(self, kind: str, seed: int) -> RealPhotoRun:
        """The finished run (never trains); a clear error naming the command that makes it."""
        rd = self.rundir(kind, seed)
        if not rd.finished():
            raise FileNotFoundError(f"no finished real-photo run of {kind!r} (seed {seed}, config "
                                    f"{self.config.name!r}) in {rd.final}; run: python -m mmpaper real-photos "
                                    f"--config {self.config.name} --seeds {seed}")
        return RealPhotoRun(kind, seed, rd.final, rd.metrics(), True)

    def run(self, kind: str, seed: int = 0, *, force: bool = False) -> RealPhotoRun:
        """Train and evaluate one model on one seed, or reuse its finished run directory."""
        rd = self.rundir(kind, seed)
        reused = ensure(rd, lambda partial: self._build(kind, seed, partial), force=force)
        return RealPhotoRun(kind, seed, rd.final, rd.metrics(), reused)

    # -- training
    def train_rows(self, seed: int) -> np.ndarray:
        rows = self.catalog.photo_rows("train")
        n = self.config.max_train_photos
        if n is not None and n < len(rows):  # a fixed subset (seed 0's draw), the same for every model and seed
            rows = np.sort(np.random.default_rng(0).choice(rows, n, replace=False))
        return rows

    def evaluator(self, split: str) -> RealPhotoEvaluator:
        cat = self.catalog
        rows = cat.photo_rows(split)
        return RealPhotoEvaluator(cat.images, cat.photo_images[rows], cat.photos["product_id"].to_numpy()[rows],
                                  cat.coarse, ks=self.config.ks, progress=self.progress, name=split)

    def build_model(self, kind: str, seed: int) -> VisualSearchModel:
        torch.manual_seed(seed)  # the encoder's initial weights: the seed's, from scratch
        clip = CLIPTowers(self.config.clip_model)
        if self.config.group_norm:
            group_norm(clip.model.visual)
        return VisualSearchModel(clip, kind, shared=self.config.shared)

    def _build(self, kind: str, seed: int, directory: Path) -> None:
        c, cat = self.config, self.catalog
        pl.seed_everything(seed, workers=True, verbose=False)
        t0, cpu0 = time.perf_counter(), time.process_time()
        model = self.build_model(kind, seed)
        tokens = model.product_text.tokenize(cat.products["title"].tolist()) if kind != "img2img" else None
        dm = RealPhotoDataModule(cat.photo_images, cat.images, cat.photos["product_id"].to_numpy(),
                                 self.train_rows(seed), tokens,
                                 augment=PhoneAugment(c.image_size) if c.augment else None,
                                 batch_size=c.batch_size, seed=seed)
        val = self.evaluator("val")
        curve: list[float] = []

        def validate(m, device):
            recall = val(m, device).primary
            curve.append(recall)
            return recall

        w1, w2 = c.weights
        system = VisualSearchSystem(model, name=f"grocery {kind} seed {seed}", lr=c.lr, temperature=c.temperature,
                                    w_product_image_text=w1, w_query_image_text=w2, validator=validate,
                                    warmup=c.warmup)
        # patience = the whole budget: every model trains every epoch; the best validation epoch is evaluated
        trainer = make_trainer(directory, max_epochs=c.epochs, accelerator=c.accelerator, devices=1,
                               patience=c.epochs, progress=self.progress)
        epochs = fit(trainer, system, dm, f"grocery {kind} seed {seed}", resume_checkpoint(directory))
        best_epoch = restore_best(system, directory)
        # wall seconds, and CPU seconds of this process: on a shared machine the wall clock counts other jobs too,
        # while CPU seconds over threads is what the training costs on idle cores
        train_seconds, train_cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        torch.save(model.state_dict(), directory / "model.pt")
        for name in ("last.ckpt", "latest.ckpt", "best.ckpt"):  # model.pt holds the evaluated weights
            (directory / name).unlink(missing_ok=True)
        test = self.evaluator("test")(model, device=next(model.parameters()).device)
        np.save(directory / "topk.npy", test.topk)
        np.savez(directory / "per_photo.npz", **test.per_photo)
        write_json(directory / "metrics.json", {
            **test.metrics, "model": kind, "seed": seed, "config": c.name, "train_seconds": train_seconds,
            "train_cpu_seconds": train_cpu_seconds,
            "epochs": epochs, "best_epoch": best_epoch, "val_recall@1": curve,
            "n_train_photos": int(len(dm.sampler.rows)), "steps_per_epoch": len(dm.sampler),
            "threads": torch.get_num_threads(), "device": str(next(model.parameters()).device),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "git_commit": git_commit()})
        logger.info("grocery %s seed %d: recall@1 %.3f (trained in %.0f s)", kind, seed, test.metrics["recall@1"],
                    train_seconds)
