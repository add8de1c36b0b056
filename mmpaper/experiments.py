"""The experiments: presets, the variant registry (Table 2's rows by name) and run directories.

A run directory ``runs/<preset>/<variant>/<hash>/`` holds the resolved config, ``metrics.json``, the top-100
predictions (``topk.npy``, one row per eval query in ``eval_query_ids.npy`` order) and the checkpoint. The hash
covers everything that determines the run (the variant, the preset, the world, the package version and the
upstream stages), so a second call with the same config reuses it and a changed parameter never does.

Stages, as in the paper: stage 0 gives the "public CLIP" (the tiny CLIP pretrained on the world's caption corpus;
for real data an open_clip pretrained tag or SQID's features), stage 1 trains BiBERT on train-period purchases,
and every 4tMM / 3tMM variant starts from those weights.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .rundirs import INCOMPLETE, RunDir, read_json, write_json
from .towers import TINY_CLIP, BiBERTConfig

# ------------------------------------------------------------------------------------------------- variants
PAPER_COLUMNS = ("R@100", "E", "S", "C", "I")


@dataclass(frozen=True)
class Variant:
    name: str
    label: str                       # the Table 2 row as the paper prints it
    model: str                       # bibert | clip | 4tmm | 3tmm
    fusion: str | None = None        # cat | acat | mlp
    tune_bibert: bool = False
    train_mlp: bool = False
    seen_negatives: bool = False
    paper: tuple[float, ...] = ()    # Table 2: R@100, E, S, C, I (%)
    paper_net: tuple[float, ...] = ()  # Table 4: net count mean, std, net R, E, S, C, I
    paper_overlap: tuple[float, float] | None = None  # Table 3: mean, std

    @property
    def trains(self) -> bool:
        return self.model == "bibert" or self.tune_bibert or self.train_mlp or self.visual

    @property
    def visual(self) -> bool:
        return self.model.startswith("vs-")


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("bibert", "BiBERT", "bibert", paper=(78.1, 52.7, 30.3, 2.4, 13.6)),
    Variant("clip", "CLIP (zero-shot)", "clip", paper=(46.0, 45.4, 26.5, 2.7, 25.4),
            paper_net=(84, 15, 10.1, 39.1, 31.5, 3.0, 31.5), paper_overlap=(15, 15)),
    Variant("4tmm-cat", "4tMM cat", "4tmm", "cat", paper=(78.6, 52.5, 31.1, 2.4, 14.0),
            paper_net=(60, 21, 20.9, 52.4, 30.8, 2.2, 14.5), paper_overlap=(39, 21)),
    Variant("4tmm-acat", "4tMM α-cat", "4tmm", "acat", paper=(78.5, 51.9, 31.2, 2.4, 14.5)),
    Variant("4tmm-mlp", "4tMM MLP", "4tmm", "mlp", train_mlp=True, paper=(75.5, 51.3, 31.1, 2.8, 14.8),
            paper_net=(62, 20, 17.7, 50.1, 31.1, 3.1, 15.8), paper_overlap=(32, 20)),
    Variant("4tmm-joint", "4tMM MLP", "4tmm", "mlp", tune_bibert=True, train_mlp=True,
            paper=(73.3, 54.0, 26.8, 2.7, 11.9), paper_net=(60, 23, 56.2, 57.6, 28.7, 2.2, 11.4),
            paper_overlap=(37, 20)),
    Variant("4tmm-joint-seenneg", "4tMM MLP", "4tmm", "mlp", tune_bibert=True, train_mlp=True, seen_negatives=True,
            paper=(77.8, 50.6, 30.5, 2.3, 13.6)),
    Variant("4tmm-mlp-seenneg", "4tMM MLP", "4tmm", "mlp", train_mlp=True, seen_negatives=True,
            paper=(76.4, 51.5, 30.2, 2.3, 13.3)),
    Variant("3tmm-joint", "3tMM MLP", "3tmm", "mlp", tune_bibert=True, train_mlp=True,
            paper=(73.1, 53.8, 26.8, 2.7, 12.1), paper_net=(59, 23, 56.2, 57.6, 28.7, 2.2, 11.5)),
    Variant("3tmm-joint-seenneg", "3tMM MLP", "3tmm", "mlp", tune_bibert=True, train_mlp=True, seen_negatives=True,
            paper=(74.9, 50.0, 30.4, 2.6, 14.0)),
    Variant("3tmm-mlp-seenneg", "3tMM MLP", "3tmm", "mlp", train_mlp=True, seen_negatives=True,
            paper=(76.8, 52.1, 29.5, 2.4, 13.2), paper_net=(55, 24, 57.9, 53.7, 31.2, 2.2, 13.1)),
]}


# The visual-search paper (Zhu et al., KDD 2024): query photo → product image, with and without the image-text
# alignment losses. Same CLI and run directories as Table 2; their own table (no paper numbers: the paper reports
# its offline gains only relative to its production baseline).
VISUAL_VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("vs-img2img", "image-to-image", "vs-img2img"),
    Variant("vs-3tower", "3-tower (+ alignment)", "vs-3tower"),
    Variant("vs-4tower", "4-tower (+ text query)", "vs-4tower"),
]}
ALL_VARIANTS: dict[str, Variant] = {**VARIANTS, **VISUAL_VARIANTS}
VARIANT_GROUPS = {"all": list(ALL_VARIANTS), "table2": list(VARIANTS), "visual": list(VISUAL_VARIANTS)}


def variant(name: str) -> Variant:
    if name not in ALL_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; valid: {list(ALL_VARIANTS)} or one of {list(VARIANT_GROUPS)}")
    return ALL_VARIANTS[name]


def variant_names(spec: str | list[str] | None) -> list[str]:
    """``'all'``, ``'table2'``, ``'visual'``, a comma list or a list of names → validated variant names."""
    if spec is None:
        return VARIANT_GROUPS["all"]
    items = [v.strip() for v in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for item in items for n in VARIANT_GROUPS.get(item, [item])]
    for name in names:
        variant(name)
    return names


# -------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    name: str
    world: str                                   # a world preset (smoke, cpu, gpu) or "esci"
    bibert: BiBERTConfig = field(default_factory=BiBERTConfig)
    clip_model: str = TINY_CLIP
    clip_pretrained: str | None = None           # None: stage 0 pretrains on the caption corpus
    clip_epochs: int = 8
    bibert_epochs: int = 6
    variant_epochs: int = 3
    batch_size: int = 128
    clip_batch_size: int = 256
    lr_clip: float = 2e-3
    lr_bibert: float = 1e-3
    lr_variant: float = 5e-4
    temperature: float = 0.05
    n_seen_negatives: int = 3
    fused_dim: int = 128
    k: int = 100
    patience: int = 2
    val_fraction: float = 0.1
    alpha_grid: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    vs_epochs: int = 6                           # visual search: epochs over the world's training photos
    vs_batch_size: int = 128
    lr_vs: float = 5e-4
    vs_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # w_1 (d_img, title), w_2 (q_img, title), w_3 (q_text)
    vs_k_precision: int = 10
    seed: int = 0
    accelerator: str = "auto"                    # GPU when present; a preset pins "cpu" or "gpu" only on purpose
    devices: int | str = "auto"                  # e.g. 2 with strategy "ddp": NT-Xent over the gathered batch
    strategy: str = "auto"
    esci_dir: str | None = None
    three_tower_query: str = "mlp"               # 3tMM query side, Eq. 5 read as F_q(f_q(q)) ("mlp") or f_q(q)
    vs_shared_encoders: bool = True              # visual search: one CLIP shared by the towers (KDD 2024, Fig. 4)
    world_settings: tuple = ()                   # (name, value) pairs over the world preset (calibration trials)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:12]


PRESETS: dict[str, Preset] = {
    "smoke": Preset("smoke", "smoke", BiBERTConfig(vocab_size=600, hidden_size=32, intermediate_size=64,
                                                   embed_dim=32, max_length=16),
                    clip_epochs=2, bibert_epochs=2, variant_epochs=1, batch_size=64, clip_batch_size=128,
                    patience=None, vs_epochs=1, vs_batch_size=64,
                    accelerator="cpu"),  # pinned: tests compare exact numbers, which GPU kernels would change
    # BiBERT trains until its validation recall stops rising (its curve still rose at 6 epochs): a fair text baseline
    "cpu": Preset("cpu", "cpu", accelerator="cpu", clip_epochs=16, bibert_epochs=20),  # pinned: the book's calibrated, recorded numbers are CPU numbers
    "gpu": Preset("gpu", "gpu", BiBERTConfig(vocab_size=16000, hidden_size=768, num_layers=2, num_heads=4,
                                             intermediate_size=3072, max_length=32, embed_dim=256),
                  clip_model="ViT-B-32-256", clip_epochs=10, bibert_epochs=6, variant_epochs=3, batch_size=1024,
                  clip_batch_size=1024, lr_bibert=2e-4, lr_variant=1e-4, fused_dim=256, accelerator="gpu"),
    "esci": Preset("esci", "esci", BiBERTConfig(vocab_size=16000, hidden_size=256, intermediate_size=1024,
                                                max_length=32, embed_dim=256),
                   clip_model="ViT-L-14", clip_pretrained="openai", batch_size=512, fused_dim=256,
                   accelerator="auto", esci_dir="data/esci"),
}
# Colab: the cpu preset's world and settings on whatever the runtime has (a T4 when one is attached); its own run
# directories, since GPU kernels give slightly different numbers. book.open_experiment picks it inside Colab.
PRESETS["colab"] = replace(PRESETS["cpu"], name="colab", accelerator="auto")


def preset(name: str, **overrides) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {list(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def default_runs_dir() -> Path:
    from .data.world import default_cache_dir

    cache = default_cache_dir()
    return cache.parent / "runs" if cache.name == "cache" else cache / "runs"


def process_rank() -> int:
    """This process's rank under Lightning's DDP launcher (0 when not distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("LOCAL_RANK", 0))


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and \
        torch.distributed.get_world_size() > 1


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


_write_json = write_json  # atomic JSON writes (mmpaper.rundirs)


def _agree(value):
    """Under DDP, rank 0's answer for every process. Whether a run is finished or where it resumes from must be
    one decision: a run another process finished while rank 0 waited for its lock must not be trained by the
    other ranks alone. Outside DDP (or before Lightning has started it) the value itself."""
    if _distributed():
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]
    return value


def _note(line: str) -> None:
    if process_rank() == 0:
        print(f"[mmpaper] {line}", file=sys.stderr, flush=True)


@dataclass
class RunResult:
    variant: str
    directory: Path
    metrics: dict
    reused: bool

    def topk(self) -> np.ndarray:
        return np.load(self.directory / "topk.npy")


# ---------------------------------------------------------------------------------------------- experiment
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
                from .data.esci import load_esci

                self._catalog = load_esci(self.preset.esci_dir)
            else:
                from .data.world import load_world, world_config

                self._catalog = load_world(self.world_config(), self.cache_dir, progress=self.progress)
        return self._catalog

    def world_key(self) -> str:
        if self.preset.world == "esci":
            return f"esci:{Path(self.preset.esci_dir).resolve()}"
        return self.world_config().key()

    def world_config(self):
        """The synthetic world of this preset: its world preset, the preset's seed and any world settings."""
        from .data.world import world_config

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

    # -- hashes (configs only, so they are known before anything trains)
    def stage_hash(self, stage: str) -> str:
        base = {"preset": asdict(self.preset), "world": self.world_key(), "version": __version__}
        if stage == "clip":
            keys = ("clip_model", "clip_pretrained", "clip_epochs", "clip_batch_size", "lr_clip", "seed")
            return _hash({"stage": "clip", "world": base["world"], "version": __version__,
                          **{k: base["preset"][k] for k in keys}})
        return _hash({"stage": stage, **base, "clip": self.stage_hash("clip")})

    def run_dir(self, name: str) -> Path:
        """Where the finished run of a variant lives (``runs/<preset>/<variant>/<hash>``)."""
        variant(name)
        return self.runs_dir / name / self.stage_hash(name)

    def rundir(self, name: str) -> RunDir:
        """The run directory of a variant: finished path, ``.incomplete`` sibling and lock (mmpaper.rundirs)."""
        return RunDir(self.run_dir(name))

    def _ensure(self, rd: RunDir, build, *, force: bool = False) -> bool:
        """Make ``rd`` a finished run: reuse it when it is one, else ``build(partial)`` into its ``.incomplete``
        sibling under its file lock and rename it into place. Returns whether it was reused.

        The lock makes a second process asking for the same run wait and then reuse it. Under DDP only rank 0
        locks and writes; every rank builds (they train together) and a barrier lets the others read the result.
        """
        rank0 = process_rank() == 0
        with rd.lock(enabled=rank0, note=_note):
            reused = not force and _agree(rd.finished())
            if not reused:
                partial = rd.begin(write=rank0)
                try:
                    build(partial)
                except BaseException as err:
                    if rank0:
                        rd.fail(err)
                    raise
                if rank0:
                    rd.finish()
        if _distributed():
            torch.distributed.barrier()
        return reused

    def _load(self, rd: RunDir, name: str, loader, rebuild):
        """``loader(path)`` on a file of a finished run, after checking it against the run's manifest. A file that
        fails the check or does not load is reported, its run removed and rebuilt once."""
        from .data.manifest import CorruptCacheError

        try:
            return loader(rd.verified(name))
        except (CorruptCacheError, OSError, RuntimeError, ValueError, KeyError, EOFError) as err:
            rd.discard(f"{name}: {err.__class__.__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        rebuild()
        return loader(rd.verified(name))

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
            from .towers import CLIPTowers

            p = self.preset
            clip = CLIPTowers(p.clip_model, pretrained=p.clip_pretrained) if p.clip_pretrained is not None \
                else self._pretrain_clip(partial)
            self._models["clip"] = clip.freeze()
            self._models["clip_features"] = self._embed_clip_features(clip)
            if process_rank() == 0:
                product, query = self._models["clip_features"]
                np.savez(partial / "features.npz", product=product, query=query)

        self._ensure(rd, build)
        self._models["stage0"] = True
        return rd

    def _rebuild_stage0(self) -> None:
        for key in ("stage0", "clip", "clip_features"):
            self._models.pop(key, None)
        self._stage0()

    def clip_towers(self):
        from .towers import CLIPTowers

        if "clip" not in self._models:
            p = self.preset
            if p.clip_pretrained is not None:
                clip = CLIPTowers(p.clip_model, pretrained=p.clip_pretrained)
            else:
                rd = self._stage0()
                if "clip" in self._models:  # trained just now
                    return self._models["clip"]
                clip = self._load(rd, "clip.pt", lambda path: CLIPTowers(p.clip_model, pretrained=str(path)),
                                  self._rebuild_stage0)
                if "clip" in self._models:  # rebuilt: the damaged file was trained again
                    return self._models["clip"]
            self._models["clip"] = clip.freeze()
        return self._models["clip"]

    def _pretrain_clip(self, directory: Path):
        import pytorch_lightning as pl

        from .data.modules import CaptionDataModule
        from .towers import CLIPTowers
        from .train import CLIPPretrainSystem, make_trainer

        p, world = self.preset, self.catalog
        pl.seed_everything(p.seed, workers=True, verbose=False)
        clip = CLIPTowers(p.clip_model)
        tokens = clip.tokenize(world.captions["caption"].tolist())
        dm = CaptionDataModule(world.caption_images, tokens, batch_size=p.clip_batch_size, seed=p.seed)
        t0 = time.perf_counter()
        trainer = make_trainer(directory, max_epochs=p.clip_epochs, accelerator=p.accelerator,
                               progress=self.progress)
        self._fit(trainer, CLIPPretrainSystem(clip, lr=p.lr_clip), dm, directory, "stage0-clip")
        if trainer.global_rank == 0:
            clip.save(directory / "clip.pt")
            _write_json(directory / "stage.json", {"stage": "clip", "train_seconds": time.perf_counter() - t0,
                                                   "epochs": trainer.current_epoch})
        return clip

    def _resume_from(self, directory: Path) -> str | None:
        """The checkpoint an interrupted run left in its ``.incomplete`` directory, when it loads (rank 0's answer
        under DDP, so every process resumes from the same one)."""
        if process_rank() == 0:
            rd = RunDir(directory.with_name(directory.name.removesuffix(INCOMPLETE)))
            path = rd.resume_checkpoint()
        else:
            path = str(directory / "last.ckpt") if (directory / "last.ckpt").exists() else None
        return _agree(path)

    def _embed_clip_features(self, clip) -> tuple[np.ndarray, np.ndarray]:
        from .retrieval import embed

        cat, bs = self.catalog, 1024
        images = cat.images
        product = embed(lambda b: clip.encode_image(b["x"]),
                        ({"x": torch.from_numpy(np.array(images[i:i + bs]))}  # a copy: the cached images are read-only
                         for i in range(0, len(images), bs)),
                        desc="CLIP image features", progress=self.progress)
        texts = cat.queries["query"].tolist()
        query = embed(lambda b: clip.encode_text(b["x"]),
                      ({"x": clip.tokenize(texts[i:i + bs])} for i in range(0, len(texts), bs)),
                      desc="CLIP text features", progress=self.progress)
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

                features = self._load(rd, "features.npz", read, self._rebuild_stage0)
                self._models.setdefault("clip_features", features)
        product, query = self._models["clip_features"]
        return torch.from_numpy(product), torch.from_numpy(query)

    # -- stage 1: BiBERT
    def bibert(self):
        """The stage-1 BiBERT (trained by the ``bibert`` variant); a fresh copy for each caller."""
        import copy

        from .towers import BiBERT

        if "bibert" not in self._models:
            self.run("bibert")  # reuses the finished run, or trains it
            self._models["bibert"] = self._load(self.rundir("bibert"), "bibert", BiBERT.load,
                                                lambda: self.run("bibert"))
        return copy.deepcopy(self._models["bibert"])

    def store(self, tokenizer_source=None):
        from .data.modules import FeatureStore, TokenTable

        if self._store is None:
            bibert = tokenizer_source or self.bibert()
            cat = self.catalog
            product_clip, query_clip = self.clip_features()
            self._store = FeatureStore(TokenTable.build(bibert.tokenize, cat.products["title"].tolist()),
                                       TokenTable.build(bibert.tokenize, cat.queries["query"].tolist()),
                                       product_clip=product_clip, query_clip=query_clip)
        return self._store

    # -- models
    def build_model(self, name: str, bibert=None):
        from .models import BiBERTRetriever, CLIPRetriever, FourTowerMM, ThreeTowerMM

        v, p = variant(name), self.preset
        if v.model == "clip":
            return CLIPRetriever(None)
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
            from .models import FourTowerMM

            dm = self._datamodule(seen=False)
            curve = {}
            if len(dm.val_query_ids) == 0:
                _note("no validation queries (too few train-period queries to hold some out): alpha of "
                      "4tmm-acat is 0.5, not chosen")
                best = 0.5
            else:
                bibert = self.bibert()
                for a in self.preset.alpha_grid:
                    model = FourTowerMM(bibert, None, "acat", clip_dim=int(self.clip_features()[0].shape[1]),
                                        alpha=a)
                    curve[a] = self._system("4tmm-acat", model, dm).validation_recall()
                best = max(curve, key=lambda a: (curve[a], -abs(a - 0.5)))
            self._models["alpha"] = best  # every process computes the same α; rank 0 writes it
            if process_rank() == 0:
                _write_json(partial / "alpha.json",
                            {"alpha": best, "validation_recall": {str(a): r for a, r in curve.items()}})

        self.clip_features(), self.bibert()  # upstream stages, each under its own lock, before this one's
        self._ensure(rd, build)
        if "alpha" not in self._models:
            self._models["alpha"] = self._load(rd, "alpha.json", lambda path: read_json(path)["alpha"],
                                               lambda: self._ensure(rd, build))
        return self._models["alpha"]

    def _datamodule(self, seen: bool):
        from .data.modules import PairsDataModule

        p = self.preset
        return PairsDataModule(self.catalog, self.store(), batch_size=p.batch_size,
                               seen_negatives=p.n_seen_negatives if seen else 0, val_fraction=p.val_fraction,
                               seed=p.seed)

    def _system(self, name, model, dm, lr=None):
        from .train import RetrievalSystem

        p = self.preset
        return RetrievalSystem(model, name=name, lr=lr or p.lr_variant, temperature=p.temperature,
                               seen_negatives=dm.k > 0, store=dm.store, val_query_rows=dm.val_query_rows(),
                               val_pairs=dm.val_pairs, query_row=dm.query_row, k=p.k)

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
        if not force and _agree(rd.finished()):
            return RunResult(name, rd.final, rd.metrics(), True)
        if v.visual and getattr(self.catalog, "photos", None) is None:
            raise ValueError(f"variant {name!r} needs query photos; the {self.preset.world!r} catalog has none "
                             f"(run --variant table2)")
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
        reused = self._ensure(rd, lambda partial: self._run(name, partial, callbacks), force=force)
        return RunResult(name, rd.final, rd.metrics(), reused)

    def _run(self, name: str, directory: Path, callbacks=None) -> None:
        """Train (when the variant trains) and evaluate one variant into ``directory`` (its ``.incomplete``
        run directory); rank 0 writes, other DDP ranks only train."""
        import pytorch_lightning as pl

        from .train import make_trainer, restore_best

        v, p = variant(name), self.preset
        if process_rank() > 0 and not v.trains:  # nothing to share: rank 0 evaluates alone
            return
        if process_rank() == 0:
            _write_json(directory / "config.json", {"variant": asdict(v), "preset": asdict(p),
                                                    "world": self.world_key(), "version": __version__,
                                                    "clip_stage": self.stage_hash("clip")})
        if v.visual:
            self._run_visual(v, directory, callbacks)
            return
        pl.seed_everything(p.seed, workers=True, verbose=False)
        t0 = time.perf_counter()
        epochs, processes, best_epoch = 0, 1, None
        if v.model == "bibert":
            from .towers import BiBERT

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
            max_epochs = p.bibert_epochs if v.model == "bibert" else p.variant_epochs
            trainer = make_trainer(directory, max_epochs=max_epochs, accelerator=p.accelerator,
                                   devices=p.devices, strategy=p.strategy, patience=p.patience,
                                   progress=self.progress, validation=len(dm.val_query_ids) > 0)
            epochs = self._fit(trainer, system, dm, directory, name, callbacks)
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
                        "processes": processes,
                        "trainable_parts": model.trainable_parts if v.trains else []})
        if v.fusion == "acat":
            metrics["alpha"] = self.alpha()
        _write_json(directory / "metrics.json", metrics)

    def _fit(self, trainer, system, dm, directory: Path, name: str, callbacks=None) -> int:
        if callbacks:
            trainer.callbacks.extend(callbacks)
        try:
            trainer.fit(system, datamodule=dm, ckpt_path=self._resume_from(directory))
        except (KeyboardInterrupt, SystemExit) as err:  # Lightning turns Ctrl-C into a shutdown + exit(1)
            if isinstance(err, SystemExit) and not trainer.interrupted:
                raise
            raise KeyboardInterrupt(f"variant {name!r} interrupted; rerun to resume from {directory}/last.ckpt")
        if trainer.interrupted:
            raise KeyboardInterrupt(f"variant {name!r} interrupted; rerun to resume from {directory}/last.ckpt")
        return trainer.current_epoch

    # -- visual search (KDD 2024)
    def photo_tokens(self):
        """open_clip tokens of every product title and of every photo's short text query (computed once)."""
        if "photo_tokens" not in self._models:
            clip, cat = self.clip_towers(), self.catalog
            self._models["photo_tokens"] = (clip.tokenize(cat.products["title"].tolist()),
                                            clip.tokenize(cat.photos["query"].tolist()))
        return self._models["photo_tokens"]

    def photo_rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.catalog.photos["split"].to_numpy() == split)

    def build_visual_model(self, name: str):
        from .models import VisualSearchModel

        return VisualSearchModel(self.clip_towers(), variant(name).model.removeprefix("vs-"),
                                 shared=self.preset.vs_shared_encoders)

    def _run_visual(self, v: Variant, directory: Path, callbacks=None) -> RunResult:
        import pytorch_lightning as pl

        from .data.modules import PhotoDataModule
        from .train import VisualSearchSystem, make_trainer

        p, cat = self.preset, self.catalog
        if getattr(cat, "photos", None) is None:
            raise ValueError(f"variant {v.name!r} needs query photos; the {p.world!r} catalog has none")
        titles, queries = self.photo_tokens()
        pl.seed_everything(p.seed, workers=True, verbose=False)
        t0 = time.perf_counter()
        model = self.build_visual_model(v.name)
        dm = PhotoDataModule(cat.photo_images, cat.images, cat.photos["product_id"].to_numpy(), titles,
                             queries if model.kind == "4tower" else None, photo_rows=self.photo_rows("train"),
                             batch_size=p.vs_batch_size, seed=p.seed)
        w1, w2, w3 = p.vs_weights
        system = VisualSearchSystem(model, name=v.name, lr=p.lr_vs, temperature=p.temperature,
                                    w_product_image_text=w1, w_query_image_text=w2, w_query_text=w3)
        trainer = make_trainer(directory, max_epochs=p.vs_epochs, accelerator=p.accelerator, devices=p.devices,
                               strategy=p.strategy, progress=self.progress)
        epochs = self._fit(trainer, system, dm, directory, v.name, callbacks)
        if trainer.global_rank != 0:
            return RunResult(v.name, directory, {}, False)
        train_seconds = time.perf_counter() - t0
        torch.save(model.state_dict(), directory / "model.pt")
        metrics = self.evaluate_visual(model, directory)
        metrics.update({"variant": v.name, "train_seconds": train_seconds, "epochs": epochs,
                        "processes": trainer.world_size, "trainable_parts": model.trainable_parts})
        _write_json(directory / "metrics.json", metrics)
        return RunResult(v.name, directory, metrics, False)

    def evaluate_visual(self, model, directory: Path) -> dict:
        """Every eval photo against every product image: FAISS exact top-k, recall@k of the photographed product,
        precision and false-positive rate in the top ``vs_k_precision``, and how often the distractor wins."""
        from .metrics import distractor_preferred, visual_search_metrics
        from .retrieval import embed, search

        t0 = time.perf_counter()
        cat, p, bs = self.catalog, self.preset, 512
        rows = self.photo_rows("eval")
        _, query_tokens = self.photo_tokens()
        products = embed(model.encode_products,
                         ({"product_image": torch.from_numpy(np.asarray(cat.images[i:i + bs]))}
                          for i in range(0, len(cat.images), bs)), desc="product images", progress=self.progress)
        queries = embed(model.encode_queries,
                        ({"query_image": torch.from_numpy(np.asarray(cat.photo_images[rows[i:i + bs]])),
                          "query_text": query_tokens[rows[i:i + bs]]} for i in range(0, len(rows), bs)),
                        desc="query photos", progress=self.progress)
        _, topk = search(queries, products, min(p.k, len(products)))
        photos = cat.photos.iloc[rows]
        target, distractor = photos["product_id"].to_numpy(), photos["distractor_id"].to_numpy()
        attributes = cat.products[["category", "colour", "pattern"]].to_numpy()
        np.save(directory / "topk.npy", topk)
        np.save(directory / "eval_photo_rows.npy", rows)
        metrics = visual_search_metrics(topk, target, attributes, k_precision=p.vs_k_precision)
        metrics["distractor_preferred"] = distractor_preferred(queries, products, target, distractor)
        # per photo (1 preferred, 0 not, -1 no distractor): the claims' paired statistics resample photos
        np.save(directory / "distractor_preferred.npy",
                distractor_preferred(queries, products, target, distractor, per_photo=True))
        return {**metrics, "n_photos": int(len(rows)), "n_products": int(len(products)), "k": int(topk.shape[1]),
                "eval_seconds": time.perf_counter() - t0}

    def evaluate(self, model, directory: Path) -> dict:
        """§4.2: embed every eval query and product, FAISS exact top-k, recall@k and label precision."""
        from .metrics import label_precision, recall_at_k
        from .retrieval import embed, search

        t0 = time.perf_counter()
        cat, store, k = self.catalog, self.store(), self.preset.k
        qids = self.eval_query_ids()
        qrow = pd.Series(np.arange(len(cat.queries)), index=cat.queries["query_id"].to_numpy())
        products = embed(model.encode_products, store.product_batches(np.arange(len(cat.products)), 1024),
                         desc="products", progress=self.progress)
        queries = embed(model.encode_queries, store.query_batches(qrow.loc[qids].to_numpy(), 1024),
                        desc="queries", progress=self.progress)
        _, topk = search(queries, products, min(k, len(products)))
        recall = recall_at_k(topk, *self.eval_purchases())
        labels = cat.labels(np.broadcast_to(qids[:, None], topk.shape), topk)
        np.save(directory / "topk.npy", topk)
        np.save(directory / "eval_query_ids.npy", qids)
        np.save(directory / "topk_labels.npy", labels)
        lp = label_precision(labels)
        return {"recall": recall, **lp.as_dict(), "n_queries": int(len(qids)), "n_products": int(len(products)),
                "k": int(topk.shape[1]), "eval_seconds": time.perf_counter() - t0}

    def run_all(self, names=None, force: bool = False) -> dict[str, RunResult]:
        return {n: self.run(n, force=force) for n in variant_names(names)}

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
        from .rundirs import list_runs

        return list_runs(self.runs_dir)

    def clean(self) -> None:
        shutil.rmtree(self.runs_dir, ignore_errors=True)
