"""Calibrating the embedded world on the paper's control arms, and on nothing else (DESIGN.md §4).

A simulation study is calibrated on its control arms. Here they are the two single-modality rows of the paper's
Table 2 — BiBERT and CLIP zero-shot: recall@100 and the Exact / Substitute / Complement / Irrelevant shares of
the top-100 — and Table 1's shape (purchases per distinct query). Each candidate setting of the world is scored
by training *only those two baselines*; the nine multimodal rows, Tables 3 and 4 and every claim are outcomes of
the calibrated world and are never looked at here.

The search is optuna's TPE sampler (seeded, so the same call proposes the same candidates) over a small space of
world settings (``SPACES``), stored in an SQLite study beside the record, so an interrupted calibration resumes
where it stopped. The best candidates are then re-checked on every seed of ``seeds``; the record
(``data_cards/calibration_<preset>.json``) holds targets, tolerance, achieved values per seed, the chosen settings,
every trial and the time. The chosen settings are then written into ``WORLD_PRESETS`` by hand, and a test checks
that code and record agree.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from .data.world import WORLD_PRESETS, WorldConfig
from .experiments import Experiment
from .fsio import atomic_save, config_hash, write_json
from .paper import CONSISTENT, METRICS, PURCHASES_TOLERANCE, TARGETS, TOLERANCE, deviations, distance, within_tolerance
from .paths import calibration_record, default_runs_dir
from .presets import PRESETS
from .provenance import machine_line

logger = logging.getLogger(__name__)

# The world settings a calibration may move (issue 11: the catalog's composition, the query register, how
# purchases are drawn), each with its range. Nothing outside the world and stage 0 is searched.
SPACES: dict[str, dict[str, tuple]] = {
    "cpu": {
        # the ranges are those the probes and a first 40-trial search (data card) left plausible
        "n_products": (3_000, 5_000),        # with the category skew: how often a kind has fewer than 100 products
        "category_skew": (0.5, 1.1),
        "n_train_queries": (4_000, 6_500),   # the size of the train-period log BiBERT learns from
        "p_query_colour": (0.03, 0.3),       # how specific queries are
        "p_query_brand": (0.0, 0.2),
        "p_query_extra": (0.1, 0.95),        # how varied broad queries are, so fewer of them merge into one string
        "p_typo": (0.03, 0.2),               # typos per word: also how many distinct strings a broad query has
        "image_gap": (0.02, 0.4),            # how often titles leave out the colour or pattern images show
        "exposure": (1.5, 3.0),              # popular products shown, considered and bought more
        "popularity_weight": (0.5, 2.0),
        "brand_popularity": (0.0, 0.8),      # some brands sell better: titles name brands, pictures cannot
        "attribute_weight": (3.0, 5.0),      # how much a matching asked attribute sways a purchase
        "p_offtarget": (0.0, 0.03),
        "p_sibling": (0.0, 0.1),             # another kind of the same department bought instead (Irrelevant)
        "purchases_train": (3.5, 5.0),       # per query realisation; identical strings merge, so per distinct
        "purchases_eval": (2.6, 3.8),        # query more (Table 1's shape is the target)
    },
}
SPACES["smoke"] = {**SPACES["cpu"], "n_products": (300, 1_200), "n_train_queries": (300, 600)}
# The search's first candidates. World version 8's eval month is 20 times larger, and identical strings merge, so
# its distinct queries are mostly the rare, specific ones: with version 7's settings 71% of the distinct eval
# queries ask for an attribute, against 52% at the old size, and BiBERT's Exact share fell from 54 to 35 (a first
# search). Probes of the world alone (the share of distinct eval queries that ask for an attribute) and then of the
# two baselines on seed 0 led to fewer colour and brand asks, more of the words no label judges, and the old typo
# rate or a little more: the two candidates below (the data card tells the searches that followed).
START = {"n_products": 3_850, "category_skew": 0.706, "n_train_queries": 6_200, "p_query_colour": 0.08,
         "p_query_brand": 0.03, "p_query_extra": 0.9, "image_gap": 0.076,
         "exposure": 2.685, "popularity_weight": 1.517, "brand_popularity": 0.017,
         "attribute_weight": 4.868, "p_offtarget": 0.001, "purchases_train": 4.168,
         "purchases_eval": 3.0, "p_sibling": 0.0, "p_typo": 0.06}
STARTS = (START, {**START, "p_query_colour": 0.06, "p_query_brand": 0.02, "p_query_extra": 0.95, "p_typo": 0.08})
# A third, added when the search with the captions' everyday words (p_caption_extra 0.3) had ended: its best world,
# the second candidate, missed only Table 1's eval purchases per distinct query (4.28-4.49 against 3.9 ± 10% on
# seeds 0-2; about 1.46 realisations merge into each distinct query). The same world with the eval month's mean
# purchases scaled by 3.9 / 4.37.
STARTS += ({**STARTS[1], "purchases_eval": 2.7},)
SPACES["gpu"] = SPACES["cpu"]


class CalibrationError(ValueError):
    """A calibration that cannot start or cannot finish (unknown preset, no trials, a concurrent run)."""


def stage0_clip(preset: str, seed: int, workdir: Path) -> Path:
    """The seed's stage-0 CLIP, pretrained once and shared by every candidate world: the caption corpus is drawn
    from its own random stream, so it is the same whatever the catalog settings (``WorldConfig.caption_key``),
    and the CLIP the book pretrains on the chosen world is this one."""
    ex = Experiment(preset, runs_dir=Path(workdir) / "stage0", progress=False, seed=seed)
    p = PRESETS[preset]
    budget = json.dumps([p.clip_model, p.clip_epochs, p.clip_batch_size, p.lr_clip, p.accelerator])
    key = ex.world_config().caption_key() + "-" + config_hash(budget, 8)
    path = Path(workdir) / f"clip-seed{seed}-{key}.pt"  # what it depends on: the captions and the CLIP's budget
    if not path.exists():
        atomic_save(path, ex.clip_towers().save)
    return path


def baseline_metrics(preset: str, seed: int, settings: dict, runs_dir: Path, cache_dir: Path | None = None,
                     clip_checkpoint: Path | None = None) -> dict:
    """Train and evaluate the two baselines (BiBERT, CLIP zero-shot) on the world with ``settings``: Table 2's
    numbers in %, and Table 1's purchases per distinct query. ``clip_checkpoint``: the seed's stage-0 CLIP, when
    it was pretrained already (:func:`stage0_clip`)."""
    extra = {"clip_pretrained": str(clip_checkpoint)} if clip_checkpoint else {}
    ex = Experiment(preset, runs_dir=runs_dir, cache_dir=cache_dir, progress=False, seed=seed,
                    world_settings=tuple(sorted(settings.items())), **extra)
    out = {}
    for name in ("bibert", "clip"):
        m = ex.run(name).metrics
        out[name] = {"R@100": 100 * m["recall"], **{x: 100 * m[x] for x in "ESCI"}}
    t1 = ex.catalog.table1()
    out["purchases_per_query"] = {split: float(t1.loc[split, "pairs"] / t1.loc[split, "queries"])
                                  for split in ("train", "eval")}
    return out


def calibrate(preset: str = "cpu", *, trials: int = 20, seeds: tuple[int, ...] = (0, 1, 2), search_seed: int = 0,
              verify_top: int = 3, search_seeds: int = 1, workdir: Path | None = None, out: Path | None = None,
              progress: bool = True, fixed: dict | None = None, starts: tuple[dict, ...] | None = None) -> dict:
    """Search the world settings of ``preset`` for the baselines' targets; write and return the record.

    ``search_seeds``: how many of ``seeds`` each trial is scored on (the objective pools their deviations). One
    is fastest; all of them keep the search from fitting one seed's draw of the world and its BiBERT.
    ``fixed``: world settings held at these values (a corner of the ensemble of worlds, :mod:`mmpaper.robustness`);
    the search moves the others. ``starts``: the search's first candidates (default :data:`STARTS`)."""
    if preset not in PRESETS or PRESETS[preset].world not in WORLD_PRESETS:
        valid = [p for p in PRESETS if PRESETS[p].world in WORLD_PRESETS]
        raise CalibrationError(f"--preset {preset!r} has no embedded world to calibrate; valid: {valid}")
    if trials < 1:
        raise CalibrationError(f"--trials {trials}: a calibration needs at least one trial")
    if not 1 <= search_seeds <= len(seeds):
        raise CalibrationError(f"--search-seeds {search_seeds}: between 1 and the {len(seeds)} seeds given")
    world_preset = PRESETS[preset].world
    fixed = dict(fixed or {})
    known = {f.name for f in fields(WorldConfig)}
    unknown = sorted(set(fixed) - known)
    if unknown:
        raise CalibrationError(f"fixed world setting {unknown[0]!r} is not a WorldConfig setting")
    WorldConfig(**fixed)  # a bad fixed value is refused now, in one line naming it (ValueError)
    space = {k: v for k, v in SPACES[world_preset].items() if k not in fixed}
    assert set(space) <= known, set(space) - known
    workdir = Path(workdir or default_runs_dir() / "calibration" / preset)
    workdir.mkdir(parents=True, exist_ok=True)
    out = Path(out or calibration_record(world_preset))
    lock = FileLock(str(workdir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise CalibrationError(f"another calibration of {preset!r} is running (lock {workdir / '.lock'}); "
                               f"wait for it or remove the lock if it was killed") from None
    try:
        return _calibrate(preset, world_preset, space, trials, seeds, search_seed, verify_top, search_seeds,
                          workdir, out, progress, WORLD_PRESETS[world_preset], fixed,
                          STARTS if starts is None else starts)
    finally:
        lock.release()


def _calibrate(preset, world_preset, space, trials, seeds, search_seed, verify_top, search_seeds, workdir, out,
               progress, defaults, fixed, starts) -> dict:
    import optuna  # heavy: loaded by the calibration only

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    study = optuna.create_study(study_name=f"calibrate-{preset}", direction="minimize",
                                storage=f"sqlite:///{workdir / 'study.db'}", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=search_seed, multivariate=True))
    # a resumed study that asks for more trials draws from a sampler seeded past the trials it has: seeded as the
    # first call was, it would propose those trials' settings again (seen: four of six repeated)
    finished = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    if finished:
        study.sampler = optuna.samplers.TPESampler(seed=search_seed + finished, multivariate=True)
    runs_dir = workdir / "runs"
    first = seeds[0]
    clips = {s: (lambda s=s: stage0_clip(preset, s, workdir)) for s in seeds}  # pretrained when first needed

    def objective(trial):
        # integer settings (the catalog size) are searched as floats and rounded to 50: optuna's TPE mixes
        # integer and float dimensions badly once a trial has been enqueued
        settings = {name: (int(round(trial.suggest_float(name, lo, hi) / 50) * 50) if isinstance(lo, int)
                           else round(trial.suggest_float(name, lo, hi), 3)) for name, (lo, hi) in space.items()}
        settings.update(fixed)
        start = time.perf_counter()
        by_seed = {str(s): baseline_metrics(preset, s, settings, runs_dir, clip_checkpoint=clips[s]())
                   for s in seeds[:search_seeds]}
        achieved = by_seed[str(first)]
        trial.set_user_attr("achieved", achieved)
        trial.set_user_attr("achieved_by_seed", by_seed)  # so the check on every seed does not redo these
        trial.set_user_attr("seconds", time.perf_counter() - start)
        d = math.sqrt(sum(distance(a) ** 2 for a in by_seed.values()) / len(by_seed))
        if progress:
            b, c = achieved["bibert"], achieved["clip"]
            logger.info(f"trial {trial.number:3d}  distance {d:5.2f}  BiBERT " +
                        " ".join(f"{b[m]:5.1f}" for m in METRICS) + "  CLIP " +
                        " ".join(f"{c[m]:5.1f}" for m in METRICS) +
                        f"  purchases/query {achieved['purchases_per_query']['train']:.2f} / "
                        f"{achieved['purchases_per_query']['eval']:.2f}  ({time.perf_counter() - start:.0f} s)")
        return d

    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    for start in starts:  # each first candidate once, also when a study begun before it was added resumes
        first_params = {k: min(max(v, space[k][0]), space[k][1]) for k, v in start.items() if k in space}
        if not any(t.params == first_params for t in study.trials):
            study.enqueue_trial(first_params)
    if done < trials:
        study.optimize(objective, n_trials=trials - done)
    complete = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE),
                      key=lambda t: t.value)
    candidates = []
    for t in complete[:verify_top]:
        settings = {k: (int(round(v / 50) * 50) if isinstance(space[k][0], int) else round(v, 3))
                    for k, v in t.params.items()}
        scored = t.user_attrs.get("achieved_by_seed", {str(first): t.user_attrs["achieved"]})
        per_seed = {str(s): scored.get(str(s)) or baseline_metrics(preset, s, {**settings, **fixed}, runs_dir,
                                                                   clip_checkpoint=clips[s]()) for s in seeds}
        worst = max(max(deviations(a).values()) for a in per_seed.values())
        candidates.append((worst, t.number, settings, per_seed))
        if progress:
            logger.info(f"verify trial {t.number}: worst deviation over seeds {seeds} = {worst:.2f} tolerance")
    worst, number, settings, per_seed = min(candidates, key=lambda c: (c[0], c[1]))
    record = {
        "preset": world_preset,
        "status": ("calibrated" if worst <= 1.0 else "baseline-consistent" if worst <= CONSISTENT
                   else "not within tolerance"),
        "consistent_within": CONSISTENT,  # tolerance units
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_line(),
        "targets": TARGETS,
        "tolerance": {**TOLERANCE, "purchases_per_query_relative": PURCHASES_TOLERANCE},
        "seeds": list(seeds),
        "achieved": {s: _rounded(a) for s, a in per_seed.items()},
        "within_tolerance": {s: within_tolerance(a) for s, a in per_seed.items()},
        "worst_deviation": round(worst, 3),
        "chosen": settings,
        "fixed": fixed,           # held by the caller (a corner of the ensemble), not searched
        "chosen_trial": number,
        "defaults_before": {k: getattr(defaults, k) for k in space},
        "search": {"method": "optuna TPESampler", "search_seed": search_seed, "n_trials": len(complete),
                   "objective": "RMS of tolerance-scaled deviations on seed" + ("s " if search_seeds > 1 else " ") +
                                ", ".join(map(str, seeds[:search_seeds])),
                   "space": {k: list(v) for k, v in space.items()}, "verified_top": verify_top},
        "trials": [{"number": t.number, "params": t.params, "distance": round(t.value, 4),
                    "seconds": round(t.user_attrs.get("seconds", float("nan")), 1),
                    "achieved": _rounded(t.user_attrs["achieved"])} for t in sorted(complete, key=lambda t: t.number)],
        "seconds": round(time.perf_counter() - t0, 1),  # this call's; a resumed search ran over several calls
        "trial_seconds_total": round(sum(t.user_attrs.get("seconds", 0.0) for t in complete), 1),
    }
    write_json(out, record)
    if progress:
        logger.info(f"{record['status']}: worst deviation {worst:.2f} × tolerance over seeds {list(seeds)}; record {out}")
    return record


def _rounded(achieved: dict) -> dict:
    return {row: {k: round(v, 2) for k, v in vals.items()} for row, vals in achieved.items()}
