"""Presets: the sizes, budgets and devices of a whole study, by name (``smoke``, ``cpu``, ``colab``, ``gpu``,
``esci``). A preset names its world (a world preset of :mod:`mmpaper.data.world`, or ``esci``); its ``seed`` drives
the world, the stage-0 CLIP and every training run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .towers import GPU_CLIP, TINY_CLIP, BiBERTConfig


@dataclass(frozen=True)
class Preset:
    name: str
    world: str                                   # a world preset (smoke, cpu, gpu) or "esci"
    bibert: BiBERTConfig = field(default_factory=BiBERTConfig)
    clip_model: str = TINY_CLIP
    clip_pretrained: str | None = None           # None: stage 0 pretrains on the caption corpus
    clip_epochs: int = 8
    max_epochs: int = 6                          # every trained Table 2 row (and control): one budget, early-stopped
    batch_size: int = 128
    clip_batch_size: int = 256
    lr_clip: float = 2e-3
    lr_bibert: float = 1e-3
    lr_variant: float = 5e-4
    temperature: float = 0.05
    n_seen_negatives: int = 3
    fused_dim: int = 128
    k: int = 100
    patience: int | None = 2                     # epochs without a better validation recall before stopping
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
    # how a GPU runs the study. None of these changes a number on the CPU: precision "mixed" is float32 there, and
    # loader workers start only beside a GPU (mmpaper.train.resolve_precision, Experiment.device)
    precision: str = "32-true"                   # "mixed": bf16 autocast where the GPU has bf16, fp16 with loss
                                                 # scaling where it has not (a T4); "32-true": float32 throughout
    deterministic: bool = True                   # deterministic kernels; False lets cuDNN pick its fastest ones
    loader_workers: int = 0                      # DataLoader worker processes beside a GPU (batches are the same)
    # torch and FAISS threads of every trained or evaluated row (not stage 0); None: the process's. The thread count
    # changes how float sums are split, hence a row's numbers, so it is a setting: with it fixed, rows train side by
    # side in worker processes (Experiment.run_all) and give the numbers each gives alone
    row_threads: int | None = None

    def __post_init__(self):
        if self.row_threads is not None and (not isinstance(self.row_threads, int) or self.row_threads < 1):
            raise ValueError(f"preset {self.name!r}: row_threads must be a positive number of threads or None, "
                             f"got {self.row_threads!r}")


# Settings added after runs were recorded, and what every earlier run did: left out of a run's hash while at these
# values, so adding them kept every existing run directory valid. loader_workers never changes a number (the same
# batches arrive in the same order), so it is never hashed.
_HASHED_UNLESS_DEFAULT = {"precision": "32-true", "deterministic": True, "row_threads": None}
_NEVER_HASHED = ("loader_workers",)


def hashed_settings(p: "Preset") -> dict:
    """The preset's settings that determine a run's numbers, as its run-directory hash reads them."""
    out = asdict(p)
    for name in _NEVER_HASHED:
        out.pop(name)
    for name, default in _HASHED_UNLESS_DEFAULT.items():
        if out[name] == default:
            out.pop(name)
    return out


PRESETS: dict[str, Preset] = {
    "smoke": Preset("smoke", "smoke", BiBERTConfig(vocab_size=600, hidden_size=32, intermediate_size=64,
                                                   embed_dim=32, max_length=16),
                    clip_epochs=2, max_epochs=2, batch_size=64, clip_batch_size=128,
                    patience=None, vs_epochs=1, vs_batch_size=64,
                    accelerator="cpu"),  # pinned: tests compare exact numbers, which GPU kernels would change
    # every trained row stops when its validation recall stops rising, under one budget: a fair comparison
    # rows on one thread each, two at a time on two cores: 1.4 times the throughput of one row on both cores
    "cpu": Preset("cpu", "cpu", accelerator="cpu", clip_epochs=16, max_epochs=20,
                  row_threads=1),  # pinned: the book's calibrated, recorded numbers are CPU numbers
    # one GPU, the paper's regime: BERT-width BiBERT, a ViT-B CLIP shaped for the world's 64-px pictures (towers.py),
    # bf16, cuDNN's fastest kernels, batches assembled by worker processes. Sized so that the whole study fits ten
    # minutes on one H200-class GPU (BENCHMARKS.md, "The gpu preset"); not yet calibrated
    "gpu": Preset("gpu", "gpu", BiBERTConfig(vocab_size=16000, hidden_size=768, num_layers=2, num_heads=4,
                                             intermediate_size=3072, max_length=32, embed_dim=256),
                  clip_model=GPU_CLIP, clip_epochs=10, max_epochs=6, batch_size=1024,
                  clip_batch_size=1024, lr_clip=5e-4, lr_bibert=2e-4, lr_variant=1e-4, fused_dim=256,
                  vs_epochs=4, vs_batch_size=512, lr_vs=1e-4, accelerator="gpu", precision="mixed",
                  deterministic=False, loader_workers=0),  # measured on an H200's host (BENCHMARKS.md):
    # batches made in the main process (0.2-0.4 M samples/s) outran 4 worker processes tenfold, and both outran
    # every stage's GPU
    "esci": Preset("esci", "esci", BiBERTConfig(vocab_size=16000, hidden_size=256, intermediate_size=1024,
                                                max_length=32, embed_dim=256),
                   clip_model="ViT-L-14", clip_pretrained="openai", batch_size=512, fused_dim=256,
                   accelerator="auto", esci_dir="data/esci"),
}
# Colab: the cpu preset's world and settings on whatever the runtime has (a T4 when one is attached); its own run
# directories, since GPU kernels give slightly different numbers. book.open_experiment picks it inside Colab. Its
# models are small enough that kernel launches, not arithmetic, bound a step: float32 stays (fp16 would add loss
# scaling and gain little), and batches are assembled in the main process (on two cores a worker process was
# slower: BENCHMARKS.md, "The gpu preset"). Rows run one at a time on every thread the runtime has (a GPU row
# gains nothing from a second process beside it).
PRESETS["colab"] = replace(PRESETS["cpu"], name="colab", accelerator="auto", row_threads=None)


def preset(name: str, **overrides) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {list(PRESETS)}")
    return replace(PRESETS[name], **overrides)
