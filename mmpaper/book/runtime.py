"""What a chapter calls at run time: :func:`open_experiment` (its preset's experiment with the chapter's runs
trained or reused) and, in Colab, what will train and for about how long. What this module prints is what the
chapter shows."""
from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..data.download import GROCERY_DIR, grocery_ready
from ..experiments import Experiment
from ..logs import quiet_libraries, set_level
from ..paper import variant, variant_names
from ..realphotos import FOR_PRESET, KINDS, SEEDS, RealPhotoExperiment
from ..realphotos_sweep import RealPhotoStudy, real_photo_study
from ..report.records import load_real_photo_record


# Seconds each stage took (training + evaluation), measured on this project's 2-core CPU machine: the cpu preset's
# rows from `benchmarks/bench_rows.py` on 2026-12-08 (its arm that trains one row at a time on both cores, as Colab's
# CPU runs them: the colab preset leaves threads to the runtime) and stage 0 from the cold `make bench-book` of that
# day; smoke from a run in session 3. What a chapter announces before it trains in Colab.
RECORDED_SECONDS = {
    "cpu": {"stage0-clip": 320, "bibert": 26, "clip": 1, "4tmm-cat": 1, "4tmm-acat": 3, "4tmm-mlp": 9,
            "4tmm-joint": 17, "4tmm-joint-seenneg": 81, "4tmm-mlp-seenneg": 21, "3tmm-joint": 17,
            "3tmm-joint-seenneg": 51, "3tmm-mlp-seenneg": 50, "oracle-popularity": 1, "category-random": 1,
            "bibert-seenneg": 53, "vs-img2img": 15, "vs-3tower": 22, "vs-4tower": 27},
    "smoke": {"stage0-clip": 7, "bibert": 6, "clip": 1, "4tmm-cat": 1, "4tmm-acat": 1, "4tmm-mlp": 2, "4tmm-joint": 3,
              "4tmm-joint-seenneg": 6, "4tmm-mlp-seenneg": 3, "3tmm-joint": 2, "3tmm-joint-seenneg": 4,
              "3tmm-mlp-seenneg": 3, "vs-img2img": 2, "vs-3tower": 3, "vs-4tower": 2},
}
RECORDED_SECONDS["colab"] = RECORDED_SECONDS["cpu"]  # the same settings; on a GPU it is faster


def in_colab() -> bool:
    """Running in Google Colab, or ``MMPAPER_COLAB`` set to simulate it (a notebook run here takes Colab's path)."""
    return "google.colab" in sys.modules or bool(os.environ.get("MMPAPER_COLAB"))


def training_plan(ex, names: list[str]) -> list[str]:
    """The stages that must train before ``names`` can be read, in order: the stand-in CLIP (stage 0), BiBERT
    (stage 1) when a multimodal row starts from it, then every named variant without a finished run directory."""
    def finished(name: str) -> bool:
        try:
            ex.result(name)
            return True
        except FileNotFoundError:
            return False

    todo = [n for n in names if not finished(n)]
    needs_bibert = any(variant(n).model in ("4tmm", "3tmm") for n in todo) and not finished("bibert")
    stages = ["bibert"] if needs_bibert and "bibert" not in todo else []
    clip_trains = ex.preset.world != "esci" and ex.preset.clip_pretrained is None
    if clip_trains and (todo or stages) and not (ex.clip_dir() / "clip.pt").exists():
        stages.insert(0, "stage0-clip")
    return stages + todo


def _announce(ex, names: list[str], plan: list[str]) -> None:
    import torch  # already loaded by the experiment; asked here only for the device's name

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else \
        "CPU (no GPU attached: Runtime > Change runtime type > T4 GPU makes this faster)"
    print(f"Colab: preset {ex.preset.name!r} on {device}; this chapter reads {len(names)} run(s): {', '.join(names)}")
    if not plan:
        print(f"All of them are finished in {ex.runs_dir}: nothing trains.")
        return
    recorded = RECORDED_SECONDS.get(ex.preset.name, {})
    known = [recorded[s] for s in plan if s in recorded]
    if len(known) == len(plan):
        seconds = sum(known)
        estimate = ("about " + (f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min") +
                    " on a 2-core CPU (measured)") + \
            (", less on this GPU" if torch.cuda.is_available() else "")
    else:
        estimate = f"no recorded timing for preset {ex.preset.name!r}"
    print(f"To train now ({estimate}), then reused from {ex.runs_dir}: {', '.join(plan)}", flush=True)


def open_experiment(preset: str = "cpu", runs_dir: str | Path | None = None, variants: list[str] | None = None):
    """Every chapter's set-up: the preset's :class:`~mmpaper.experiments.Experiment` with the chapter's
    ``variants`` run (all when None, the stages they start from included) — finished run directories are reused,
    so only what is missing trains.

    In the book's own runs library warnings are silenced and nothing shows progress. In Colab (or with
    ``MMPAPER_COLAB=1``, which simulates it) the ``cpu`` preset becomes ``colab`` (the same settings, on the GPU when
    the runtime has one), and before anything trains the chapter says what will train and about how long it takes,
    then shows a progress bar over the stages and Lightning's bar over each one's epochs."""
    names = variant_names(variants)
    if not in_colab():
        warnings.filterwarnings("ignore")
        ex = Experiment(preset, runs_dir=runs_dir, progress=False)
        ex.run_all(names)
        return ex
    from tqdm.auto import tqdm  # a widget bar in Colab; imported here, as it warns at import outside notebooks

    quiet_libraries()  # Lightning's start-up chatter off; real warnings stay visible
    if preset == "cpu":
        preset = "colab"
    ex = Experiment(preset, runs_dir=runs_dir, progress=True)
    plan = training_plan(ex, names)
    _announce(ex, names, plan)
    t0 = time.perf_counter()
    trained = [s for s in plan if s != "stage0-clip"]  # stage 0 trains inside the first stage that needs it
    with tqdm(total=len(trained), desc="chapter runs", unit="run", disable=not trained) as bar:
        for name in trained:
            bar.set_postfix_str(name)
            ex.run(name)
            bar.update()
    ex.run_all(names)  # everything is finished now: this only reads the run directories
    if plan:
        print(f"Trained {len(plan)} stage(s) in {time.perf_counter() - t0:.0f} s.", flush=True)
    return ex




# ---------------------------------------------------------------------------------- real photos (Grocery Store)
@dataclass
class RealPhotoSection:
    """What the visual-search chapter's real-photo section shows: whether the verified data is here, the live
    study (seed 0, and any other seed already finished) when it is, and the recorded study either way."""

    experiment: RealPhotoExperiment
    available: bool
    record: dict | None                  # book/recorded/grocery_visual_search.json
    study: RealPhotoStudy | None = None  # this machine's runs

    @property
    def live_seeds(self) -> list[int]:
        return list(self.study.record["seeds"]) if self.study else []

    @property
    def result(self) -> dict | None:
        """The record the verdict is read from: the live study when it has at least the recorded seeds, else the
        recorded one (the three-seed study outweighs one seed trained by the build)."""
        live = self.study.record if self.study else None
        if live is not None and (self.record is None or len(live["seeds"]) >= len(self.record["seeds"])):
            return live
        return self.record or live


def real_photo_config_for(preset: str) -> str:
    return "colab" if in_colab() and preset == "cpu" else FOR_PRESET.get(preset, "cpu")


def open_real_photos(preset: str = "cpu", runs_dir: str | Path | None = None, data_dir: str | Path | None = None,
                     seeds: list[int] | None = None) -> RealPhotoSection:
    """The real-photo section's set-up. With the verified Grocery Store data in ``data_dir`` (default
    ``data/grocery``): seed 0's two models trained, or reused from their run directories (the book build trains
    them before the chapters run), plus every other seed whose runs are finished — never more training than one
    seed, so a cold build stays in its budget. Without the data nothing trains. The recorded study is read either
    way."""
    if not in_colab():  # the book's own runs: what the section shows is its tables, not the library's notes
        set_level(logging.WARNING)
    ex = RealPhotoExperiment(real_photo_config_for(preset), data_dir=data_dir or GROCERY_DIR, runs_dir=runs_dir)
    available = grocery_ready(ex.data_dir, ex.manifest) is not None
    section = RealPhotoSection(ex, available, load_real_photo_record())
    if available:
        if seeds is None:
            seeds = [0] + [s for s in SEEDS[1:] if all(ex.rundir(k, s).finished() for k in KINDS)]
        section.study = real_photo_study(ex.config, seeds, data_dir=ex.data_dir, runs_dir=runs_dir)
        section.experiment = section.study.experiment  # its catalog is loaded: the figure reuses it
    return section
