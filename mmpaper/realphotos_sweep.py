"""The visual-search claim on real photos over seeds: both models trained per seed on the Grocery Store dataset
(:mod:`mmpaper.realphotos`), the claim judged on each seed's test photos and pooled, written as the record the
book shows (``book/recorded/grocery_visual_search.json``).

``python -m mmpaper real-photos --seeds 0,1,2`` runs it. Every part of the claim (``report.claims.
real_photo_claims``) is a paired effect over test photos — both models answer the same photos — with the book's
95% BCa interval (``stats.paired_bootstrap`` through ``report.judge.evaluate_claims``) and three-valued verdict.

Pooling: the seeds share the test photos, so the pooled units are the photos themselves, each carrying its
per-seed values averaged (``report.judge.real_photo_units``); the pooled effect is the mean of the seeds' effects
and its interval resamples photos. That interval counts the photos' noise, not the seeds' (three seeds cannot
estimate a between-seed variance), so each seed's effect and verdict stand beside it, with the spread.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .fsio import write_json
from .paths import recorded_dir
from .provenance import git_commit, machine
from .realphotos import KINDS, SEEDS, RealPhotoExperiment, RealPhotoRun
from .report.claims import real_photo_claims
from .report.judge import N_RESAMPLES, evaluate_claims, real_photo_units
from .report.records import REAL_PHOTO_RECORD

logger = logging.getLogger(__name__)

METRICS = ("recall@1", "recall@5", "fine_fp@1", "gross_fp@1", "fine_fp@5", "gross_fp@5")


def variant_name(kind: str) -> str:
    """A real-photo model under the visual-search chapter's variant name (``vs-img2img``, ``vs-3tower``)."""
    return f"vs-{kind}"


@dataclass
class RealPhotoStudy:
    experiment: RealPhotoExperiment
    runs: dict[int, dict[str, RealPhotoRun]]   # seed -> model -> run
    per_seed: dict[int, pd.DataFrame]          # evaluate_claims of each seed
    pooled: pd.DataFrame                       # evaluate_claims on the photos' seed means
    record: dict


def _parts(df: pd.DataFrame) -> list[dict]:
    return [{"claim_id": r.claim_id, "part": r.part, "quantity": r.quantity, "rule": r.rule,
             "effect": float(r.effect), "ci_low": float(r.ci_low), "ci_high": float(r.ci_high),
             "verdict": r.verdict, "claim_verdict": r.claim_verdict} for r in df.itertuples()]


def judge(runs: dict[int, dict[str, RealPhotoRun]], k: int, n_resamples: int = N_RESAMPLES
          ) -> tuple[dict[int, pd.DataFrame], pd.DataFrame]:
    """The claim on each seed's test photos, and pooled over the seeds (photo by photo means)."""
    claims = real_photo_claims(k)
    per_photo = {s: {variant_name(kind): run.per_photo() for kind, run in models.items()}
                 for s, models in runs.items()}
    per_seed = {s: evaluate_claims(claims, {"photo": real_photo_units(pp, k)}, n_resamples=n_resamples)
                for s, pp in per_photo.items()}
    seeds = list(runs)
    stacked = {v: {key: np.stack([per_photo[s][v][key] for s in seeds]) for key in per_photo[seeds[0]][v]}
               for v in per_photo[seeds[0]]}
    pooled = evaluate_claims(claims, {"photo": real_photo_units(stacked, k)}, n_resamples=n_resamples)
    return per_seed, pooled


def real_photo_study(config="cpu", seeds=SEEDS, *, data_dir=None, runs_dir=None, progress: bool = False,
                     train: bool = True, force: bool = False, n_resamples: int = N_RESAMPLES) -> RealPhotoStudy:
    """Train (or reuse) both models on every seed, judge the claim per seed and pooled, and build the record.
    ``train=False`` reads finished runs only (a missing one is a ``FileNotFoundError`` naming the command);
    ``force`` retrains finished runs."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("the real-photo study needs at least one seed")
    ex = RealPhotoExperiment(config, data_dir=data_dir, runs_dir=runs_dir, progress=progress)
    t0 = time.perf_counter()
    runs = {s: {kind: (ex.run(kind, s, force=force) if train else ex.result(kind, s)) for kind in KINDS}
            for s in seeds}
    wall = time.perf_counter() - t0
    k = max(ex.config.ks)
    per_seed, pooled = judge(runs, k, n_resamples)
    record = {
        "what": "the visual-search claim (KDD 2024) on the Grocery Store dataset's real photos",
        "config": ex.config.name, "settings": {key: (list(v) if isinstance(v, tuple) else v)
                                               for key, v in ex.config.key().items()},
        "seeds": seeds, "k": k, "data_commit": ex.manifest.commit, "data_manifest": ex.manifest.digest,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
        "version": __version__, "git_commit": git_commit(), "n_resamples": n_resamples,
        "n_test_photos": int(len(runs[seeds[0]][KINDS[0]].per_photo()["recall@1"])),
        "n_train_photos": int(runs[seeds[0]][KINDS[0]].metrics["n_train_photos"]),
        "wall_seconds": round(wall, 1),
        "reused": {str(s): [kind for kind, r in m.items() if r.reused] for s, m in runs.items()},
        "trained": {str(s): {kind: {"at": r.metrics.get("trained_at"), "git_commit": r.metrics.get("git_commit")}
                             for kind, r in m.items()} for s, m in runs.items()},
        "seconds": {str(s): {kind: {"train": round(r.metrics["train_seconds"], 1),
                                    "train_cpu": round(r.metrics.get("train_cpu_seconds", float("nan")), 1),
                                    "eval": round(r.metrics["eval_seconds"], 1), "threads": r.metrics["threads"]}
                             for kind, r in m.items()} for s, m in runs.items()},
        "metrics": {str(s): {variant_name(kind): {key: r.metrics[key] for key in METRICS if key in r.metrics}
                             | {"best_epoch": r.metrics.get("best_epoch")} for kind, r in m.items()}
                    for s, m in runs.items()},
        "per_seed": {str(s): _parts(df) for s, df in per_seed.items()},
        "pooled": _parts(pooled),
        "verdicts": {cid: {**{str(s): per_seed[s].loc[per_seed[s]["claim_id"] == cid, "claim_verdict"].iloc[0]
                              for s in seeds},
                           "pooled": g["claim_verdict"].iloc[0]}
                     for cid, g in pooled.groupby("claim_id", sort=False)},
    }
    for s, m in record["seconds"].items():  # wall (what the shared machine took) and CPU (what idle cores would)
        m["all models"] = {"wall": round(sum(v["train"] + v["eval"] for v in m.values()), 1),
                           "cpu": round(sum(v["train_cpu"] + v["eval"] for v in m.values()), 1)}
    return RealPhotoStudy(ex, runs, per_seed, pooled, record)


def write_record(record: dict, path: str | Path | None = None) -> Path:
    """Write the study's record (default ``book/recorded/grocery_visual_search.json``)."""
    return write_json(Path(path) if path else recorded_dir() / REAL_PHOTO_RECORD, record)
