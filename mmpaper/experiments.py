"""The experiment: the order of the stages, their runs and their results, for one preset.

A run directory ``runs/<preset>/<variant>/<hash>/`` holds the resolved config, ``metrics.json``, the top-100
predictions (``topk.npy``, one row per eval query in ``eval_query_ids.npy`` order) and the checkpoint. The hash
covers everything that determines the run (the variant, the preset, the world, the package version and the
upstream stages), so a second call with the same config reuses it and a changed parameter never does
(:mod:`mmpaper.rundirs` says what a run directory is and how it is written).

Stages, as in the paper: stage 0 gives the "public CLIP" (the tiny CLIP pretrained on the world's caption corpus;
for real data an open_clip pretrained tag or SQID's features), stage 1 trains BiBERT on train-period purchases,
and every 4tMM / 3tMM variant starts from those weights. Presets live in :mod:`mmpaper.presets`, the variants in
:mod:`mmpaper.paper`, the evaluators in :mod:`mmpaper.evaluation`.
"""
from __future__ import annotations

import copy
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from tqdm.auto import tqdm

from . import __version__
from .data.esci import load_esci
from .data.modules import CaptionDataModule, FeatureStore, PairsDataModule, PhotoDataModule, TokenTable
from .data.cache import load_world
from .data.vocabulary import CATEGORY_NAMES
from .data.world import world_config
from .distributed import agree, process_rank
from .evaluation import RetrievalEvaluator, VisualSearchEvaluator
from .fsio import config_hash, read_json, write_json
from .logs import quiet_libraries
from .models import (BiBERTRetriever, CategoryOrderRetriever, CLIPRetriever, FourTowerMM, ThreeTowerMM,
                     VisualSearchModel)
from .paper import Variant, variant, variant_names
from .paths import default_runs_dir
from .presets import Preset, hashed_settings, preset
from .provenance import cores
from .retrieval import embed
from .rundirs import RunDir, ensure, list_runs, load_verified, resume_checkpoint
from .towers import BiBERT, CLIPTowers
from .train import (CLIPPretrainSystem, RetrievalSystem, VisualSearchSystem, accelerator_device, autocast_dtype,
                    fit, make_trainer, resolve_precision, restore_best)

logger = logging.getLogger(__name__)


def _note(line: str) -> None:
    if process_rank() == 0:
        logger.info(line)


@contextmanager
def _threads(n: int | None):
    """torch's and FAISS's intra-op threads set to ``n`` for a block (None: left as they are)."""
    if n is None:
        yield
        return
    import faiss

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        faiss.omp_set_num_threads(before[1])


_WORKER: dict = {}


def _start_row_worker(preset: Preset, runs_dir: str, cache_dir) -> None:
    quiet_libraries()  # two workers' Lightning banners would interleave under the parent's one progress bar
    _WORKER["experiment"] = Experiment(preset, runs_dir=runs_dir, cache_dir=cache_dir, progress=False)


def _run_in_worker(name: str, force: bool) -> tuple[str, bool]:
    r = _WORKER["experiment"].run(name, force=force)
    return str(r.directory), r.reused


@dataclass
class RunResult:
    variant: str
    directory: Path
    metrics: dict
    reused: bool


class Experiment:
    """All runs of one preset: ``Experiment("cpu").run("4tmm-cat")`` trains (or reuses) and evaluates."""

    def __init__(self, preset_name: str | Preset = "cpu", *, runs_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None, progress: bool = True, **overrides):
        self.preset = preset_name if isinstance(preset_name, Preset) else preset(preset_name, **overrides)
        self.runs_dir = Path(runs_dir or default_runs_dir()) / self.preset.name
        self.cache_dir = cache_dir
        self.progress = progress
        self._catalog = None
        self._store = None
        self._models: dict[str, object] = {}

    # -- data
    @property
    def catalog(self):
        if self._catalog is None:
            if self.preset.world == "esci":
                self._catalog = load_esci(self.preset.esci_dir)
            else:
                self._catalog = load_world(self.world_config(), self.cache_dir, progress=self.progress)
        return self._catalog

    def world_key(self) -> str:
        if self.preset.world == "esci":
            return f"esci:{Path(self.preset.esci_dir).resolve()}"
        return self.world_config().key()

    def world_config(self):
        """The synthetic world of this preset: its world preset, the preset's seed and any world settings."""
        return world_config(self.preset.world, seed=self.preset.seed, **dict(self.preset.world_settings))

    def eval_query_ids(self) -> np.ndarray:
        p = self.catalog.purchases
        return np.sort(p.loc[p["split"] == "eval", "query_id"].unique())

    def eval_purchases(self) -> tuple[np.ndarray, np.ndarray]:
        """Eval-period purchases as ``(row in eval_query_ids(), product_id)`` pairs, the metrics' input."""
        qids = self.eval_query_ids()
        p = self.catalog.purchases
        p = p[p["split"] == "eval"]
        return np.searchsorted(qids, p["query_id"].to_numpy()), p["product_id"].to_numpy()

    # -- the machine: where inference runs, in which precision, how data is loaded
    @property
    def device(self) -> torch.device:
        """Where this preset's models train and embed: the GPU when the accelerator asks for one and one is
        present, else the CPU (a preset pinned to the CPU never leaves it)."""
        return accelerator_device(self.preset.accelerator)

    @property
    def precision(self) -> str:
        """Lightning's precision for this preset on :attr:`device` (``mixed`` → bf16 or fp16 on a GPU)."""
        return resolve_precision(self.preset.precision, self.device)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype of inference (embedding a catalog), as of training; None for float32."""
        return autocast_dtype(self.precision)

    def loader_options(self) -> dict:
        """DataLoader worker processes and pinned memory beside a GPU; none on the CPU."""
        gpu = self.device.type == "cuda"
        workers = min(self.preset.loader_workers, cores() - 1) if gpu else 0  # a core stays for the main process
        return {"num_workers": max(workers, 0), "pin_memory": gpu}

    def _trainer(self, directory: Path, max_epochs: int, **kw) -> pl.Trainer:
        p = self.preset
        return make_trainer(directory, max_epochs=max_epochs, accelerator=p.accelerator, progress=self.progress,
                            precision=self.precision, deterministic=p.deterministic, **kw)

    # -- hashes (configs only, so they are known before anything trains)
    def stage_hash(self, stage: str) -> str:
        base = {"preset": hashed_settings(self.preset), "world": self.world_key(), "version": __version__}
        if stage == "clip":
            keys = ("clip_model", "clip_pretrained", "clip_epochs", "clip_batch_size", "lr_clip", "seed", "precision",
                    "deterministic")
            return config_hash({"stage": "clip", "world": base["world"], "version": __version__,
                                **{k: base["preset"][k] for k in keys if k in base["preset"]}})
        return config_hash({"stage": stage, **base, "clip": self.stage_hash("clip")})

    def run_dir(self, name: str) -> Path:
        """Where the finished run of a variant lives (``runs/<preset>/<variant>/<hash>``)."""
        variant(name)
        return self.runs_dir / name / self.stage_hash(name)

    def rundir(self, name: str) -> RunDir:
        """The run directory of a variant: finished path, ``.incomplete`` sibling and lock (mmpaper.rundirs)."""
        return RunDir(self.run_dir(name))

    # -- stage 0: the "public" CLIP and its frozen features
    def clip_dir(self) -> Path:
        return self.runs_dir / "stage0-clip" / self.stage_hash("clip")

    def _stage0(self) -> RunDir:
        """Stage 0 as one run directory: the "public" CLIP, pretrained here on the caption corpus (``clip.pt``)
        unless the preset names an open_clip pretrained tag, and its frozen features of every product image and
        every query (``features.npz``)."""
        rd = RunDir(self.clip_dir())
        if "stage0" in self._models:
            return rd

        def build(partial: Path) -> None:
            p = self.preset
            clip = CLIPTowers(p.clip_model, pretrained=p.clip_pretrained) if p.clip_pretrained is not None \
                else self._pretrain_clip(partial)
            self._models["clip"] = clip.freeze()
            self._models["clip_features"] = self._embed_clip_features(clip)
            if process_rank() == 0:
                product, query = self._models["clip_features"]
                np.savez(partial / "features.npz", product=product, query=query)

        ensure(rd, build)
        self._models["stage0"] = True
        return rd

    def _rebuild_stage0(self) -> None:
        for key in ("stage0", "clip", "clip_features"):
            self._models.pop(key, None)
        self._stage0()

    def clip_towers(self) -> CLIPTowers:
        if "clip" not in self._models:
            p = self.preset
            if p.clip_pretrained is not None:
                clip = CLIPTowers(p.clip_model, pretrained=p.clip_pretrained)
            else:
                rd = self._stage0()
                if "clip" in self._models:  # trained just now
                    return self._models["clip"]
                clip = load_verified(rd, "clip.pt", lambda path: CLIPTowers(p.clip_model, pretrained=str(path)),
                                     self._rebuild_stage0)
                if "clip" in self._models:  # rebuilt: the damaged file was trained again
                    return self._models["clip"]
            self._models["clip"] = clip.freeze()
        return self._models["clip"]

    def _pretrain_clip(self, directory: Path) -> CLIPTowers:
        p, world = self.preset, self.catalog
        pl.seed_everything(p.seed, workers=True, verbose=False)
        clip = CLIPTowers(p.clip_model)
        tokens = clip.tokenize(world.captions["caption"].tolist())
        dm = CaptionDataModule(world.caption_images, tokens, batch_size=p.clip_batch_size, seed=p.seed,
                               **self.loader_options())
        t0 = time.perf_counter()
        trainer = self._trainer(directory, p.clip_epochs)
        fit(trainer, CLIPPretrainSystem(clip, lr=p.lr_clip), dm, "stage0-clip", resume_checkpoint(directory))
        if trainer.global_rank == 0:
            clip.save(directory / "clip.pt")
            write_json(directory / "stage.json", {"stage": "clip", "train_seconds": time.perf_counter() - t0,
                                                  "epochs": trainer.current_epoch})
        return clip

    def _embed_clip_features(self, clip: CLIPTowers) -> tuple[np.ndarray, np.ndarray]:
        cat, bs, device = self.catalog, 1024, self.device
        images = cat.images
        tokens = clip.tokenize(cat.queries["query"].tolist())
        clip.to(device)  # Lightning hands a trained model back on the CPU: embed where it trained
        try:
            product = embed(lambda b: clip.encode_image(b["x"]),
                            ({"x": torch.from_numpy(np.array(images[i:i + bs]))}  # a copy: cached images are read-only
                             for i in range(0, len(images), bs)),
                            desc="CLIP image features", progress=self.progress, device=device, dtype=self.dtype)
            query = embed(lambda b: clip.encode_text(b["x"]),
                          ({"x": tokens[i:i + bs]} for i in range(0, len(tokens), bs)),
                          desc="CLIP text features", progress=self.progress, device=device, dtype=self.dtype)
        finally:
            clip.to("cpu")
        return np.asarray(product), np.asarray(query)

    def clip_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen ``g_i`` of every product image and ``g_t`` of every query, computed once per stage-0 CLIP."""
        cat = self.catalog
        if getattr(cat, "product_clip_image", None) is not None:  # SQID's precomputed features
            return torch.from_numpy(cat.product_clip_image), torch.from_numpy(cat.query_clip_text)
        if "clip_features" not in self._models:
            rd = self._stage0()
            if "clip_features" not in self._models:
                def read(path):
                    with np.load(path) as data:
                        return data["product"], data["query"]

                features = load_verified(rd, "features.npz", read, self._rebuild_stage0)
                self._models.setdefault("clip_features", features)
        product, query = self._models["clip_features"]
        return torch.from_numpy(product), torch.from_numpy(query)

    # -- stage 1: BiBERT
    def bibert(self) -> BiBERT:
        """The stage-1 BiBERT (trained by the ``bibert`` variant); a fresh copy for each caller."""
        if "bibert" not in self._models:
            self.run("bibert")  # reuses the finished run, or trains it
            self._models["bibert"] = load_verified(self.rundir("bibert"), "bibert", BiBERT.load,
                                                   lambda: self.run("bibert"))
        return copy.deepcopy(self._models["bibert"])

    def store(self, tokenizer_source=None) -> FeatureStore:
        if self._store is None:
            bibert = tokenizer_source or self.bibert()
            cat = self.catalog
            product_clip, query_clip = self.clip_features()
            self._store = FeatureStore(TokenTable.build(bibert.tokenize, cat.products["title"].tolist()),
                                       TokenTable.build(bibert.tokenize, cat.queries["query"].tolist()),
                                       product_clip=product_clip, query_clip=query_clip,
                                       **self._control_features())
        return self._store

    def _has_intents(self) -> bool:
        return "category" in self.catalog.queries.columns and "popularity" in self.catalog.products.columns

    def _control_features(self) -> dict:
        """What the control rows read (world only): each query's true category, each product's category and its
        place in the two orders, popularity (the oracle) and a seeded random order, both in [0, 0.5)."""
        if not self._has_intents():
            return {}
        cat = self.catalog
        n = len(cat.products)
        by_popularity = np.empty(n)
        by_popularity[np.argsort(cat.products["popularity"].to_numpy(), kind="stable")] = np.arange(n)
        random_order = np.random.default_rng([self.preset.seed, 7]).permutation(n)
        return {"query_features": {"query_category": torch.from_numpy(cat.queries["category"].to_numpy(np.int64))},
                "product_features": {
                    "product_category": torch.from_numpy(cat.products["category"].to_numpy(np.int64)),
                    "product_order_oracle": torch.from_numpy(0.5 * by_popularity / n).float(),
                    "product_order_category-random": torch.from_numpy(0.5 * random_order / n).float()}}

    # -- models
    def build_model(self, name: str, bibert: BiBERT | None = None):
        v, p = variant(name), self.preset
        if v.model == "clip":
            return CLIPRetriever(None)
        if v.model in ("oracle", "category-random"):
            return CategoryOrderRetriever(len(CATEGORY_NAMES), order=f"product_order_{v.model}")
        bibert = bibert if bibert is not None else self.bibert()
        if v.model == "bibert":
            return BiBERTRetriever(bibert)
        clip_dim = int(self.clip_features()[0].shape[1])
        if v.model == "4tmm":
            model = FourTowerMM(bibert, None, v.fusion, clip_dim=clip_dim, alpha=self.alpha() if v.fusion == "acat"
                                else 0.5, out_dim=p.fused_dim)
        else:
            model = ThreeTowerMM(bibert, None, clip_dim=clip_dim, out_dim=p.fused_dim,
                                 query_side=p.three_tower_query)
        return model.set_trainable(bibert=v.tune_bibert, fusion=v.train_mlp, clip=False)

    def alpha(self) -> float:
        """α of Eq. 4, chosen by validation recall on held-out train-period queries (never the eval set); with no
        validation queries (tiny data) α is 0.5, i.e. plain concat, with a note."""
        if "alpha" in self._models:
            return self._models["alpha"]
        rd = RunDir(self.runs_dir / "alpha" / self.stage_hash("alpha"))

        def build(partial: Path) -> None:
            with _threads(self.preset.row_threads):
                choose(partial)

        def choose(partial: Path) -> None:
            dm = self._datamodule(seen=False)
            curve = {}
            if len(dm.val_query_ids) == 0:
                _note("no validation queries (too few train-period queries to hold some out): alpha of "
                      "4tmm-acat is 0.5, not chosen")
                best = 0.5
            else:
                bibert = self.bibert()
                validator = self._validator(dm)
                for a in self.preset.alpha_grid:
                    model = FourTowerMM(bibert, None, "acat", clip_dim=int(self.clip_features()[0].shape[1]),
                                        alpha=a)
                    curve[a] = validator(model).recall
                best = max(curve, key=lambda a: (curve[a], -abs(a - 0.5)))
            self._models["alpha"] = best  # every process computes the same α; rank 0 writes it
            if process_rank() == 0:
                write_json(partial / "alpha.json",
                           {"alpha": best, "validation_recall": {str(a): r for a, r in curve.items()}})

        self.clip_features(), self.bibert()  # upstream stages, each under its own lock, before this one's
        ensure(rd, build)
        if "alpha" not in self._models:
            self._models["alpha"] = load_verified(rd, "alpha.json", lambda path: read_json(path)["alpha"],
                                                  lambda: ensure(rd, build))
        return self._models["alpha"]

    def _datamodule(self, seen: bool) -> PairsDataModule:
        p = self.preset
        return PairsDataModule(self.catalog, self.store(), batch_size=p.batch_size,
                               seen_negatives=p.n_seen_negatives if seen else 0, val_fraction=p.val_fraction,
                               seed=p.seed, **self.loader_options())

    def _validator(self, dm: PairsDataModule) -> RetrievalEvaluator:
        """Validation recall@k of the held-out train-period queries against the whole catalog (early stopping,
        the α of α-concat): the eval month is never used for a choice."""
        rows = dm.val_query_rows()
        local = {q: i for i, q in enumerate(rows)}
        qrows = dm.query_row.loc[dm.val_pairs["query_id"]].to_numpy()
        return RetrievalEvaluator(dm.store, rows, np.array([local[r] for r in qrows], dtype=np.int64),
                                  dm.val_pairs["product_id"].to_numpy(), k=self.preset.k, batch_size=512,
                                  use_gpu=self.device.type == "cuda", device=self.device, dtype=self.dtype,
                                  name="validation")

    def _system(self, name: str, model, dm: PairsDataModule, lr: float | None = None) -> RetrievalSystem:
        p = self.preset
        return RetrievalSystem(model, name=name, lr=lr or p.lr_variant, temperature=p.temperature,
                               seen_negatives=dm.k > 0,
                               validator=self._validator(dm) if len(dm.val_query_ids) else None)

    # -- one variant
    def run(self, name: str, *, force: bool = False, callbacks=None) -> RunResult:
        """Train (when the variant trains) and evaluate one variant; reuse its run directory when complete.

        Under DDP (``devices=2, strategy="ddp"``) Lightning re-runs the whole command in a second process, so every
        process passes through every variant in the same order: all of them train, only rank 0 evaluates and
        writes, and a barrier per variant lets the others read what rank 0 wrote (the trained BiBERT that later
        stages start from, the metrics).

        The run is written into ``<hash>.incomplete`` and renamed to ``<hash>`` when whole (mmpaper.rundirs); a
        failed or interrupted run stays ``.incomplete``, marked with what stopped it, and the next call resumes
        from its checkpoint. Another process asking for the same run meanwhile waits for it, then reuses it."""
        v, rd = variant(name), self.rundir(name)
        if not force and agree(rd.finished()):
            return RunResult(name, rd.final, rd.metrics(), True)
        if v.visual and getattr(self.catalog, "photos", None) is None:
            raise ValueError(f"variant {name!r} needs query photos; the {self.preset.world!r} catalog has none "
                             f"(run --variant table2)")
        if v.needs_intents and not self._has_intents():
            raise ValueError(f"control {name!r} reads the shoppers' true categories, which only the embedded world "
                             f"has; the {self.preset.world!r} catalog has none (run --variant table2)")
        # upstream stages first, so whether they were trained now or earlier never shifts this run's random state;
        # each takes its own lock, so no lock is held while waiting for another
        if v.visual:
            self.clip_towers()
        else:
            self.clip_features()
            if v.model not in ("bibert", "clip"):
                self.bibert()
            if v.fusion == "acat":
                self.alpha()
        def build(partial: Path) -> None:
            with _threads(self.preset.row_threads):
                self._run(name, partial, callbacks)

        reused = ensure(rd, build, force=force)
        return RunResult(name, rd.final, rd.metrics(), reused)

    def _run(self, name: str, directory: Path, callbacks=None) -> None:
        """Train (when the variant trains) and evaluate one variant into ``directory`` (its ``.incomplete``
        run directory); rank 0 writes, other DDP ranks only train."""
        v, p = variant(name), self.preset
        if process_rank() > 0 and not v.trains:  # nothing to share: rank 0 evaluates alone
            return
        if process_rank() == 0:
            write_json(directory / "config.json", {"variant": asdict(v), "preset": asdict(p),
                                                   "world": self.world_key(), "version": __version__,
                                                   "clip_stage": self.stage_hash("clip")})
        if v.visual:
            self._run_visual(v, directory, callbacks)
            return
        pl.seed_everything(p.seed, workers=True, verbose=False)
        t0 = time.perf_counter()
        epochs, processes, best_epoch = 0, 1, None
        if v.model == "bibert":
            cat = self.catalog
            train_q = cat.queries[cat.queries["split"] != "eval"]["query"].tolist()
            bibert = BiBERT.from_texts(cat.products["title"].tolist() + train_q, p.bibert)
            self._store = None  # the store tokenises with this new BiBERT's vocabulary
            self.store(tokenizer_source=bibert)
            model = self.build_model(name, bibert=bibert)
        else:
            model = self.build_model(name)
        if v.trains:
            dm = self._datamodule(seen=v.seen_negatives)
            lr = p.lr_bibert if v.model == "bibert" else p.lr_variant
            system = self._system(name, model, dm, lr=lr)
            trainer = self._trainer(directory, p.max_epochs, devices=p.devices, strategy=p.strategy,
                                    patience=p.patience, validation=len(dm.val_query_ids) > 0)
            epochs = fit(trainer, system, dm, name, resume_checkpoint(directory), callbacks)
            if trainer.global_rank != 0:  # under DDP the other processes stop here; rank 0 evaluates and writes
                return
            best_epoch = restore_best(system, directory)
            processes = trainer.world_size
        train_seconds = time.perf_counter() - t0
        if v.model == "bibert":
            model.bibert.save(directory / "bibert")
        torch.save(model.state_dict(), directory / "model.pt")
        metrics = self.evaluate(model, directory)
        metrics.update({"variant": name, "train_seconds": train_seconds, "epochs": epochs, "best_epoch": best_epoch,
                        "processes": processes, "threads": torch.get_num_threads(),
                        "trainable_parts": model.trainable_parts if v.trains else []})
        if v.fusion == "acat":
            metrics["alpha"] = self.alpha()
        write_json(directory / "metrics.json", metrics)

    # -- visual search (KDD 2024)
    def photo_tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        """open_clip tokens of every product title and of every photo's short text query (computed once)."""
        if "photo_tokens" not in self._models:
            clip, cat = self.clip_towers(), self.catalog
            self._models["photo_tokens"] = (clip.tokenize(cat.products["title"].tolist()),
                                            clip.tokenize(cat.photos["query"].tolist()))
        return self._models["photo_tokens"]

    def photo_rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.catalog.photos["split"].to_numpy() == split)

    def build_visual_model(self, name: str) -> VisualSearchModel:
        return VisualSearchModel(self.clip_towers(), variant(name).model.removeprefix("vs-"),
                                 shared=self.preset.vs_shared_encoders)

    def _run_visual(self, v: Variant, directory: Path, callbacks=None) -> None:
        p, cat = self.preset, self.catalog
        if getattr(cat, "photos", None) is None:
            raise ValueError(f"variant {v.name!r} needs query photos; the {p.world!r} catalog has none")
        titles, queries = self.photo_tokens()
        pl.seed_everything(p.seed, workers=True, verbose=False)
        t0 = time.perf_counter()
        model = self.build_visual_model(v.name)
        dm = PhotoDataModule(cat.photo_images, cat.images, cat.photos["product_id"].to_numpy(), titles,
                             queries if model.kind == "4tower" else None, photo_rows=self.photo_rows("train"),
                             batch_size=p.vs_batch_size, seed=p.seed, **self.loader_options())
        w1, w2, w3 = p.vs_weights
        system = VisualSearchSystem(model, name=v.name, lr=p.lr_vs, temperature=p.temperature,
                                    w_product_image_text=w1, w_query_image_text=w2, w_query_text=w3)
        trainer = self._trainer(directory, p.vs_epochs, devices=p.devices, strategy=p.strategy)
        epochs = fit(trainer, system, dm, v.name, resume_checkpoint(directory), callbacks)
        if trainer.global_rank != 0:
            return
        train_seconds = time.perf_counter() - t0
        torch.save(model.state_dict(), directory / "model.pt")
        metrics = self.evaluate_visual(model, directory)
        metrics.update({"variant": v.name, "train_seconds": train_seconds, "epochs": epochs,
                        "processes": trainer.world_size, "threads": torch.get_num_threads(),
                        "trainable_parts": model.trainable_parts})
        write_json(directory / "metrics.json", metrics)

    def visual_evaluator(self) -> VisualSearchEvaluator:
        """Every eval photo against every product image (:class:`~mmpaper.evaluation.VisualSearchEvaluator`)."""
        cat, p = self.catalog, self.preset
        rows = self.photo_rows("eval")
        photos = cat.photos.iloc[rows]
        return VisualSearchEvaluator(cat.images, cat.photo_images, rows, self.photo_tokens()[1],
                                     photos["product_id"].to_numpy(), photos["distractor_id"].to_numpy(),
                                     cat.products[["category", "colour", "pattern"]].to_numpy(), k=p.k,
                                     k_precision=p.vs_k_precision, progress=self.progress, device=self.device,
                                     dtype=self.dtype, use_gpu=self.device.type == "cuda")

    def evaluate_visual(self, model, directory: Path) -> dict:
        """Evaluate a visual-search model and write its per-photo arrays into ``directory``."""
        result = self.visual_evaluator()(model)
        np.save(directory / "topk.npy", result.topk)
        np.save(directory / "eval_photo_rows.npy", self.photo_rows("eval"))
        np.save(directory / "distractor_preferred.npy", result.preferred)
        return result.metrics

    # -- evaluation (§4.2)
    def evaluator(self) -> RetrievalEvaluator:
        """Every eval query against every product: recall@k and label precision (Table 2)."""
        cat = self.catalog
        qids = self.eval_query_ids()
        qrow = pd.Series(np.arange(len(cat.queries)), index=cat.queries["query_id"].to_numpy())
        return RetrievalEvaluator(self.store(), qrow.loc[qids].to_numpy(), *self.eval_purchases(), k=self.preset.k,
                                  batch_size=1024, progress=self.progress,
                                  labeller=lambda topk: cat.labels(np.broadcast_to(qids[:, None], topk.shape), topk),
                                  use_gpu=self.device.type == "cuda", device=self.device, dtype=self.dtype)

    def evaluate(self, model, directory: Path) -> dict:
        """Evaluate a Table 2 model and write its top-k, the eval query ids and the top-k labels to ``directory``."""
        result = self.evaluator()(model)
        np.save(directory / "topk.npy", result.topk)
        np.save(directory / "eval_query_ids.npy", self.eval_query_ids())
        np.save(directory / "topk_labels.npy", result.labels)
        return result.metrics

    def row_workers(self, workers: int | None = None) -> int:
        """How many rows :meth:`run_all` trains at once: with ``row_threads`` fixed, one worker process per that
        many cores (at most four); otherwise one, in this process (a GPU, DDP, or threads left to the process)."""
        p = self.preset
        if p.row_threads is None or self.device.type != "cpu" or p.devices not in ("auto", 1) or process_rank():
            return 1
        return max(1, workers if workers is not None else min(4, cores() // p.row_threads))

    def run_all(self, names=None, force: bool = False, workers: int | None = None) -> dict[str, RunResult]:
        """Every named variant, trained or reused (:meth:`run`). With :meth:`row_workers` above one, stage 0 runs
        here on all the process's threads, then the rows run in that many worker processes, each row on the
        preset's ``row_threads``: the numbers are those of each row run alone. A row that fails is reported after
        the others finish, which keep their run directories."""
        names = variant_names(names)
        todo = [n for n in names if force or not self.rundir(n).finished()]
        workers = min(self.row_workers(workers), len(todo))
        if workers <= 1:  # also when everything is finished: a chapter reading its runs starts no process
            return {n: self.run(n, force=force) for n in names}
        self.clip_features()  # stage 0, which every row reads, before any row starts
        order = sorted(names, key=self._row_priority)
        results, failed = {}, {}
        spawn = multiprocessing.get_context("spawn")  # forking a process that holds torch's thread pools can hang
        with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_row_worker,
                                 initargs=(self.preset, str(self.runs_dir.parent), self.cache_dir)) as pool:
            futures = {pool.submit(_run_in_worker, n, force): n for n in order if n in todo}
            bar = tqdm(total=len(futures), desc=f"rows, {workers} at a time", disable=not self.progress)
            for future in as_completed(futures):
                name = futures[future]
                try:
                    directory, reused = future.result()
                except Exception as err:  # noqa: BLE001 - the others go on; reported below
                    failed[name] = err
                    logger.error(f"row {name!r} failed: {type(err).__name__}: {err}")
                else:
                    rd = RunDir(Path(directory))
                    results[name] = RunResult(name, rd.final, rd.metrics(), reused)
                bar.set_postfix_str(f"{name} {'failed' if name in failed else 'done'}", refresh=False)
                bar.update()
            bar.close()
        if failed:
            first = next(iter(failed.values()))
            raise RuntimeError(f"{len(failed)} of {len(futures)} rows failed ({', '.join(failed)}); the others are "
                               f"finished. First: {type(first).__name__}: {first}") from first
        return {n: results[n] if n in results else self.run(n) for n in names}  # the rest were finished already

    @staticmethod
    def _row_priority(name: str) -> tuple:
        """The order rows start in: BiBERT first (most rows start from it), then the rows that train, seen-negative
        ones first (four times the contrasts a step), then the rows that only evaluate."""
        v = variant(name)
        return (name != "bibert", v.model != "bibert", not v.trains, not v.seen_negatives, v.visual)

    def result(self, name: str) -> RunResult:
        """The finished run of a variant (never trains); a clear error naming the command that makes it."""
        rd = self.rundir(name)
        if not rd.finished():
            started = f" (an incomplete one is in {rd.partial})" if rd.partial.exists() else ""
            raise FileNotFoundError(f"no finished run of {name!r} for preset {self.preset.name!r} in {rd.final}"
                                    f"{started}; run: python -m mmpaper run --preset {self.preset.name} "
                                    f"--variant {name}")
        return RunResult(name, rd.final, rd.metrics(), True)

    def runs(self) -> list[dict]:
        """Every finished and incomplete run of this preset (``python -m mmpaper runs``)."""
        return list_runs(self.runs_dir)
