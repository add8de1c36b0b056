"""The seed sweep: the whole study (world and training) on several seeds, each claim's verdict per seed and the
pooled effect, written as a record the book can show.

``python -m mmpaper tables --preset cpu --seeds 0,1,2`` runs every variant of the preset once per seed (the
preset's ``seed`` drives the world, the stage-0 CLIP and every training run; each seed has its own run
directories, reused when finished), tests every claim on each seed's eval queries (``report.claims``) and writes,
under ``runs/<preset>/tables/seeds/``:

* ``seed<N>/``: that seed's Tables 2–4, visual table and claims (CSV + Markdown);
* ``claims_by_seed.csv``: one row per claim part, its effect, interval and verdict on every seed, and the pooled
  effect, interval and verdict; ``claims_by_seed_summary.csv``: one row per claim;
* ``sweep.json``: the record — machine, date, package version, git commit, seconds per seed, every verdict, and
  which claims' verdicts differ between seeds.

Pooling: the pooled effect is the mean of the seeds' effects; its 95% interval is ``mean ± 1.96 · se`` with
``se = sqrt(Σ se_s²) / n_seeds`` from the seeds' own bootstrap standard errors (a fixed-effect pool: seeds are
independent worlds with independent eval queries). It counts the eval-query noise of every seed, not a between-seed
variance component beyond what the seeds' spread shows, so the ``spread`` column (largest minus smallest effect)
and the per-seed verdicts stand beside it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .experiments import Experiment
from .fsio import atomic_write_text, write_json
from .presets import Preset, preset
from .provenance import git_commit, machine
from .report.claims import claim_definitions
from .report.judge import CALIBRATED, N_RESAMPLES
from .report.tables import write_tables
from .stats import all_of, any_of

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


def pool(per_seed: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Claims of several seeds (``report.claims`` frames, same parts in the same order) → one row per part: each
    seed's effect, interval and verdict, the pooled effect, interval and verdict, the spread of the effects and
    whether every seed gave the same verdict."""
    seeds = list(per_seed)
    first = per_seed[seeds[0]]
    keys = ["claim_id", "part"]
    for s in seeds[1:]:
        if per_seed[s][keys].values.tolist() != first[keys].values.tolist():
            raise ValueError(f"seed {s} tested other claim parts than seed {seeds[0]}; cannot pool them")
    rules = {(c.id, p.name): p.rule for c in claim_definitions(visual=True) for p in c.parts}
    out = first[["claim_id", "claim", "part", "quantity", "unit", "rule", "combine", "paper",
                 "paper_meets_rule", "calibrated"]].copy()
    effects = np.stack([per_seed[s]["effect"].to_numpy() for s in seeds], axis=1)
    ses = np.stack([per_seed[s]["se"].to_numpy() for s in seeds], axis=1)
    for j, s in enumerate(seeds):
        d = per_seed[s]
        out[f"effect seed {s}"] = d["effect"].to_numpy()
        out[f"interval seed {s}"] = [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(d["ci_low"], d["ci_high"])]
        out[f"verdict seed {s}"] = d["verdict"].to_numpy()
    out["pooled effect"] = effects.mean(axis=1)
    se = np.sqrt((ses ** 2).sum(axis=1)) / len(seeds)
    out["pooled ci_low"], out["pooled ci_high"] = out["pooled effect"] - Z95 * se, out["pooled effect"] + Z95 * se
    out["spread"] = effects.max(axis=1) - effects.min(axis=1)
    out["pooled verdict"] = [rules[(c, p)].verdict(lo, hi) for c, p, lo, hi in
                             zip(out["claim_id"], out["part"], out["pooled ci_low"], out["pooled ci_high"])]
    verdicts = np.stack([per_seed[s]["verdict"].to_numpy() for s in seeds], axis=1)
    out["seeds agree"] = ["yes" if len(set(v)) == 1 else "no" for v in verdicts]
    return out.reset_index(drop=True)


def pooled_summary(pooled: pd.DataFrame, per_seed: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim: its verdict on every seed and pooled, and whether the seeds agree."""
    rows = []
    for cid, g in pooled.groupby("claim_id", sort=False):
        combine = any_of if g["combine"].iloc[0] == "any" else all_of
        row = {"claim_id": cid, "claim": g["claim"].iloc[0]}
        for s, d in per_seed.items():
            row[f"seed {s}"] = d.loc[d["claim_id"] == cid, "claim_verdict"].iloc[0]
        calibrated = bool(g["calibrated"].iloc[0]) if "calibrated" in g else False
        row["pooled"] = CALIBRATED if calibrated else combine(g["pooled verdict"].tolist())
        row["seeds agree"] = "yes" if len({row[f"seed {s}"] for s in per_seed}) == 1 else "no"
        differing = g[g["seeds agree"] == "no"]["part"].tolist()
        row["parts whose verdict differs"] = "; ".join(differing)
        rows.append(row)
    return pd.DataFrame(rows).set_index("claim_id")


@dataclass
class Sweep:
    per_seed: dict[int, pd.DataFrame]   # report.claims of each seed
    pooled: pd.DataFrame                # one row per claim part (pool)
    summary: pd.DataFrame               # one row per claim (pooled_summary)
    record: dict                        # what sweep.json holds
    directory: Path


def seed_sweep(preset_name, seeds: list[int], *, runs_dir=None, cache_dir=None, progress: bool = True,
               **overrides) -> Sweep:
    """Run the whole study on every seed (reusing finished runs), test the claims on each and pool them.
    ``preset_name`` is a preset's name (with keyword ``overrides``) or a ``Preset``; only its seed changes."""
    if not seeds:
        raise ValueError("a seed sweep needs at least one seed")
    base = replace(preset_name, **overrides) if isinstance(preset_name, Preset) else preset(preset_name, **overrides)
    preset_name = base.name
    per_seed, seconds, experiments = {}, {}, {}
    for seed in seeds:
        t0 = time.perf_counter()
        ex = Experiment(replace(base, seed=seed), runs_dir=runs_dir, cache_dir=cache_dir, progress=progress)
        ex.run_all()
        tables = write_tables(ex, ex.runs_dir / "tables" / "seeds" / f"seed{seed}")
        per_seed[seed] = tables["claims"]
        seconds[seed] = time.perf_counter() - t0
        experiments[seed] = ex
    directory = experiments[seeds[0]].runs_dir / "tables" / "seeds"
    pooled = pool(per_seed)
    summary = pooled_summary(pooled, per_seed)
    record = {
        "preset": preset_name, "seeds": seeds, "overrides": {k: str(v) for k, v in overrides.items()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
        "version": __version__, "git_commit": git_commit(),
        "seconds_per_seed": {str(s): round(t, 1) for s, t in seconds.items()},
        "n_resamples": N_RESAMPLES,
        "n_eval_queries": {str(s): int(per_seed[s].loc[per_seed[s]["claim_id"] == "clip", "n_units"].iloc[0])
                           for s in seeds},
        "verdicts": {cid: {**{str(s): summary.loc[cid, f"seed {s}"] for s in seeds},
                           "pooled": summary.loc[cid, "pooled"]} for cid in summary.index},
        "claims_whose_verdict_differs": [cid for cid in summary.index if summary.loc[cid, "seeds agree"] == "no"],
    }
    directory.mkdir(parents=True, exist_ok=True)
    pooled.to_csv(directory / "claims_by_seed.csv", index=False)
    atomic_write_text(directory / "claims_by_seed.md", pooled.to_markdown(index=False))
    summary.to_csv(directory / "claims_by_seed_summary.csv")
    atomic_write_text(directory / "claims_by_seed_summary.md", summary.to_markdown())
    write_json(directory / "sweep.json", record)
    return Sweep(per_seed, pooled, summary, record, directory)
