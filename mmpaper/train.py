"""The Lightning systems: one ``RetrievalSystem`` over any retrieval model (Eq. 1 training with the paper's
switches), and ``CLIPPretrainSystem`` for stage 0 (the tiny CLIP on the caption corpus).

The models stay plain ``nn.Module``s (``mmpaper.models``); the systems hold the loss, the optimiser (Adam, as in
the paper), validation recall and the NaN guard.

What a run writes per epoch is what a resume needs and no more: one ``last.ckpt`` holding the trainable weights,
their optimiser state and the loops' and callbacks' state. Frozen weights (a frozen BiBERT, CLIP's unused text
half) are left out: they come from the upstream stages, which are rebuilt before a run resumes
(:class:`ResumableSystem`).

How a GPU runs a preset (:func:`resolve_precision`, :func:`accelerator_device`): ``precision="mixed"`` is bf16
autocast on a GPU that has bf16 (Ampere and later), fp16 autocast with loss scaling on one that has not (a T4), and
plain float32 on the CPU, so a preset pinned to the CPU never changes a number.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Callable

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from .data.modules import negatives_as_products
from .losses import alignment_loss, nt_xent, symmetric_nt_xent
from .models import RetrievalModel, VisualSearchModel

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the variant and the step."""


def _check_finite(loss: torch.Tensor, name: str, step: int) -> None:
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(f"variant {name!r}: loss is {loss.item()} at step {step}; the run directory "
                                 f"keeps the last checkpoint written before it")


PRECISIONS = ("32-true", "mixed", "bf16-mixed", "16-mixed")


def accelerator_device(accelerator: str) -> torch.device:
    """The device a Trainer with ``accelerator`` trains on in this process, for the work around training
    (embedding a catalog, searching it): CUDA for ``gpu``/``cuda``/``auto`` when a CUDA device is present, else the
    CPU."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolve_precision(precision: str | None, device: torch.device | str) -> str:
    """Lightning's precision for a preset's setting on ``device``: ``mixed`` is ``bf16-mixed`` on a GPU with bf16,
    ``16-mixed`` (fp16 with a loss scaler) on an older GPU such as a T4, and ``32-true`` on the CPU, where autocast
    would only slow training down and change the numbers."""
    precision = precision or "32-true"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {list(PRECISIONS)}")
    if torch.device(device).type != "cuda":
        return "32-true"
    if precision == "mixed":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (None for full float32): what inference runs in, as training."""
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)


class ResumableSystem(pl.LightningModule):
    """A system whose checkpoints hold its trainable weights only. Frozen parameters are left out when saving and
    filled in from the module itself when loading (it was built from the same upstream stages); a trainable
    weight missing from a checkpoint is still an error."""

    def _frozen_names(self) -> set[str]:
        return {name for name, p in self.named_parameters(remove_duplicate=False) if not p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        frozen = self._frozen_names()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k not in frozen}
        checkpoint["frozen_left_out"] = len(frozen)

    def fill_frozen(self, state: dict) -> dict:
        """``state`` with the frozen weights it leaves out taken from this module."""
        own = self.state_dict()
        missing = set(own) - set(state)
        trainable_missing = missing - self._frozen_names()
        if trainable_missing:
            raise KeyError(f"checkpoint lacks trainable weights: {sorted(trainable_missing)[:5]}")
        return {**{k: own[k] for k in missing}, **state}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["state_dict"] = self.fill_frozen(checkpoint["state_dict"])


class RetrievalSystem(ResumableSystem):
    """Trains a retrieval model with NT-Xent (Eq. 1): in-batch negatives, optional seen negatives, gathered
    across processes under DDP. ``validator`` (a :class:`~mmpaper.evaluation.RetrievalEvaluator` over held-out
    train-period queries: ``validator(model, device=...).recall``) gives the validation recall@k that drives early
    stopping; None for no validation."""

    def __init__(self, model: RetrievalModel, *, name: str = "model", lr: float = 1e-3, temperature: float = 0.05,
                 seen_negatives: bool = False, validator: Callable | None = None):
        super().__init__()
        self.model = model
        self.name, self.lr, self.temperature, self.seen_negatives = name, lr, temperature, seen_negatives
        self.validator = validator

    def forward(self, batch):
        return self.model.encode_queries(batch)

    def training_step(self, batch, batch_idx):
        q = self.model.encode_queries(batch)
        d = self.model.encode_products(batch)
        negs = self.model.encode_products(negatives_as_products(batch)) if self.seen_negatives else None
        gather = self.trainer is not None and self.trainer.world_size > 1
        loss = nt_xent(q, d, self.temperature, negs, gather=gather, seen_mask=batch.get("seen_mask"))
        _check_finite(loss, self.name, self.global_step)
        self.log("train_loss", loss, prog_bar=True, batch_size=q.shape[0])
        return loss

    def validation_recall(self) -> float:
        """Recall@k of the held-out train-period queries against the whole catalog."""
        return self.validator(self.model, device=self.device).recall

    def on_train_epoch_end(self):
        if self.validator is not None:
            recall = self.validation_recall() if self.global_rank == 0 else 0.0
            recall = float(self.trainer.strategy.broadcast(recall, src=0))
            self.log("val_recall", recall, prog_bar=True, sync_dist=False, rank_zero_only=False)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"variant {self.name!r} has nothing to train (every part is frozen)")
        return torch.optim.Adam(params, lr=self.lr)


class CLIPPretrainSystem(ResumableSystem):
    """Stage 0: CLIP's symmetric contrastive loss on (image, caption) pairs of the generic corpus."""

    def __init__(self, clip, lr: float = 1e-3, temperature: float = 0.07):
        super().__init__()
        self.clip, self.lr, self.temperature = clip, lr, temperature

    def training_step(self, batch, batch_idx):
        img = self.clip.encode_image(batch["image"])
        txt = self.clip.encode_text(batch["text"])
        loss = symmetric_nt_xent(img, txt, self.temperature)
        _check_finite(loss, "clip-pretrain", self.global_step)
        self.log("train_loss", loss, prog_bar=True, batch_size=img.shape[0])
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.clip.parameters(), lr=self.lr, weight_decay=0.05)
        total = max(1, self.trainer.estimated_stepping_batches)
        warm = max(1, total // 20)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class VisualSearchSystem(ResumableSystem):
    """Trains a visual-search model (KDD 2024) with its loss: image-to-image NT-Xent, plus, for the 3- and
    4-tower models, the image-text alignment constraints against the product title (``alignment_loss``).

    ``validator`` (``validator(model, device) -> float``, e.g. recall@1 of validation photos) is logged as
    ``val_recall`` after every epoch, for early stopping and the best-epoch checkpoint; None for no validation.
    ``warmup`` (a share of the steps) switches on a linear warm-up then cosine decay of the learning rate; None
    keeps it constant."""

    def __init__(self, model: VisualSearchModel, *, name: str = "visual-search", lr: float = 5e-4,
                 temperature: float = 0.05, w_product_image_text: float = 1.0, w_query_image_text: float = 1.0,
                 w_query_text: float = 1.0, validator: Callable | None = None, warmup: float | None = None):
        super().__init__()
        self.model, self.name, self.lr, self.temperature = model, name, lr, temperature
        self.weights = {"w_product_image_text": w_product_image_text, "w_query_image_text": w_query_image_text,
                        "w_query_text": w_query_text}
        self.validator, self.warmup = validator, warmup

    def loss(self, batch) -> torch.Tensor:
        e = self.model.embeddings(batch)
        return alignment_loss(e["query_image"], e["product_image"], e.get("product_text"), self.temperature,
                              self.weights["w_product_image_text"], self.weights["w_query_image_text"],
                              query=e["query"], query_text=e.get("query_text"),
                              w_query_text=self.weights["w_query_text"])

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        _check_finite(loss, self.name, self.global_step)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch["query_image"].shape[0])
        return loss

    def on_train_epoch_end(self):
        if self.validator is not None:
            recall = float(self.validator(self.model, self.device)) if self.global_rank == 0 else 0.0
            recall = float(self.trainer.strategy.broadcast(recall, src=0))
            self.log("val_recall", recall, prog_bar=True, sync_dist=False, rank_zero_only=False)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"variant {self.name!r} has nothing to train (every part is frozen)")
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=0.05)
        if self.warmup is None:
            return opt
        total = max(1, self.trainer.estimated_stepping_batches)
        warm = max(1, int(self.warmup * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


BEST = "best"  # the best-validation-recall checkpoint's file name (without .ckpt)
LAST = "last"  # the resume checkpoint's (rundirs.CHECKPOINT): with no monitor, "top 1" is the latest epoch


def restore_best(system, directory) -> int | None:
    """Load the weights of the epoch with the best validation recall into ``system`` (when early stopping kept
    them, see :func:`make_trainer`); return that epoch's number (counted from 1), or None."""
    path = Path(directory) / f"{BEST}.ckpt"
    if not path.exists():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt["state_dict"]
    system.load_state_dict(system.fill_frozen(state) if isinstance(system, ResumableSystem) else state)
    return int(ckpt["epoch"]) + 1


def make_trainer(directory, *, max_epochs: int, accelerator: str = "auto", devices="auto", strategy="auto",
                 patience: int | None = None, progress: bool = True, deterministic: bool = True,
                 max_steps: int = -1, precision=None, validation: bool = True) -> pl.Trainer:
    """A Trainer with the project's callbacks: the resume checkpoint ``last.ckpt`` (written once per epoch) and
    the best-validation weights in ``directory``, CSV logs, early stopping on validation recall when ``patience``
    is given and there are validation queries (``validation``): with none (a public corpus with few train-period
    queries) early stopping is switched off with a logged note, since ``val_recall`` would never be logged.

    ``precision``: Lightning's (``32-true``, ``bf16-mixed``, ``16-mixed``; :func:`resolve_precision` turns a
    preset's ``mixed`` into one). ``deterministic=False`` also lets cuDNN pick its fastest kernels
    (``benchmark``)."""
    # one file per epoch: a second copy ("latest" beside "last") doubled the bytes written and held nothing more
    callbacks = [ModelCheckpoint(dirpath=directory, filename=LAST, save_top_k=1, every_n_epochs=1,
                                 save_on_train_epoch_end=True, enable_version_counter=False)]
    if patience is not None and not validation:
        if int(os.environ.get("LOCAL_RANK", 0)) == 0:
            logger.warning("note: no validation queries (too few train-period queries to hold some out), so early "
                           "stopping is off: training runs all %d epochs", max_epochs)
    elif patience is not None:
        # the epoch with the best validation recall is the one evaluated (see restore_best), as early stopping
        # is meant: the epochs after it only showed that recall had stopped rising
        callbacks += [EarlyStopping(monitor="val_recall", mode="max", patience=patience),
                      ModelCheckpoint(dirpath=directory, filename=BEST, monitor="val_recall", mode="max",
                                      save_top_k=1, save_on_train_epoch_end=True, enable_version_counter=False,
                                      save_weights_only=True)]
    loggers = [CSVLogger(directory, name="logs", version="")]
    try:  # TensorBoard when installed (an optional third-party package)
        import tensorboard  # noqa: F401
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(directory, name="tb", version=""))
    except ImportError:
        pass
    return pl.Trainer(default_root_dir=directory, max_epochs=max_epochs, max_steps=max_steps,
                      accelerator=accelerator, devices=devices, strategy=strategy, callbacks=callbacks,
                      logger=loggers, enable_progress_bar=progress, enable_model_summary=False,
                      deterministic=deterministic, benchmark=None if deterministic else True,
                      log_every_n_steps=10, num_sanity_val_steps=0, precision=precision)


def fit(trainer: pl.Trainer, system: pl.LightningModule, datamodule, name: str, ckpt_path: str | None = None,
        callbacks=None) -> int:
    """``trainer.fit`` from ``ckpt_path`` (an interrupted run's checkpoint) with extra ``callbacks``; Ctrl-C becomes
    a ``KeyboardInterrupt`` that says how to resume. Returns the number of epochs trained."""
    if callbacks:
        trainer.callbacks.extend(callbacks)
    resume = f"rerun to resume from {Path(trainer.default_root_dir) / 'last.ckpt'}"
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path)
    except (KeyboardInterrupt, SystemExit) as err:  # Lightning turns Ctrl-C into a shutdown + exit(1)
        if isinstance(err, SystemExit) and not trainer.interrupted:
            raise
        raise KeyboardInterrupt(f"variant {name!r} interrupted; {resume}")
    if trainer.interrupted:
        raise KeyboardInterrupt(f"variant {name!r} interrupted; {resume}")
    return trainer.current_epoch
