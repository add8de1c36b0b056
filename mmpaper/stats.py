"""Paired statistics for the reproduction's verdicts: a bootstrap over evaluation units (queries, or query
photos) with ``scipy.stats.bootstrap``, three-valued verdicts from its 95% intervals, and their conjunction and
disjunction.

Every quantity a claim is about is a function of *sums over units* of per-unit columns — recall@100 is the sum of
per-query recalls over the number of queries, a label share is the labelled slots carrying that label over all
labelled slots (the micro average the paper reports), a net recall is a sum of per-query ratios over the number of
queries where it is defined. So one bootstrap resample is one vector of multinomial weights over units, and every
quantity of every claim is computed from ``weights @ columns``: a single matrix product per batch of resamples, with
all claims resampled *together* (the same queries drawn for every part, as a paired comparison needs). The
resampling, the percentile / BCa intervals and the jackknife behind BCa are scipy's; only the statistic is ours.

Verdict of one part, from its interval ``[low, high]`` and its rule:

* ``above m``: **holds** if ``low > m``; **does not hold** if ``high < m``; else **inconclusive**;
* ``below m``: mirror image;
* ``between a and b``: **holds** if ``a < low`` and ``high < b``; **does not hold** if the interval lies wholly
  outside ``(a, b)``; else **inconclusive**.

A claim with several parts is their conjunction (holds if all hold, does not hold if any does not hold, else
inconclusive); a disjunction ("in recall *or* in relevance") holds if any part holds and does not hold if all do
not hold.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE)

VERDICT_RULE = ("A part holds when its whole 95% paired-bootstrap interval lies on the claimed side of its margin, "
                "does not hold when the whole interval lies on the other side, and is inconclusive when the interval "
                "crosses the margin. A claim holds when all its parts hold (for 'or' claims: when any holds).")


# ---------------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Rule:
    """What a claim says about a quantity: ``above`` / ``below`` a margin, or ``between`` two bounds."""

    kind: str
    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self):
        if self.kind not in ("above", "below", "between"):
            raise ValueError(f"unknown rule kind {self.kind!r}; valid: ['above', 'below', 'between']")
        if not self.low <= self.high:
            raise ValueError(f"rule bounds out of order: {self.low} > {self.high}")

    def verdict(self, ci_low: float, ci_high: float) -> str:
        if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
            return INCONCLUSIVE
        if self.kind == "above":
            return HOLDS if ci_low > self.low else FAILS if ci_high < self.low else INCONCLUSIVE
        if self.kind == "below":
            return HOLDS if ci_high < self.high else FAILS if ci_low > self.high else INCONCLUSIVE
        if self.low < ci_low and ci_high < self.high:
            return HOLDS
        return FAILS if ci_high < self.low or ci_low > self.high else INCONCLUSIVE

    def side(self, ci_low: float, ci_high: float) -> str:
        """Where the interval lies against the rule: ``inside`` (it holds), ``below`` or ``above`` (wholly on one
        side of the margin or band: it does not hold, and this says which way), or ``across`` (inconclusive)."""
        lo, hi = self.low, self.high
        if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
            return "across"
        if lo < ci_low and ci_high < hi:
            return "inside"
        if ci_high < lo:
            return "below"
        if ci_low > hi:
            return "above"
        return "across"

    def met_by(self, value: float) -> bool | None:
        """Whether a point value (the paper's, which has no interval) satisfies the rule; None when unknown."""
        if value is None or not np.isfinite(value):
            return None
        return bool(self.low < value < self.high)

    def words(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        if self.kind == "above":
            return f"above {self.low:g}{u}"
        if self.kind == "below":
            return f"below {self.high:g}{u}"
        return f"between {self.low:g} and {self.high:g}{u}"


def above(margin: float) -> Rule:
    return Rule("above", low=margin)


def below(margin: float) -> Rule:
    return Rule("below", high=margin)


def between(low: float, high: float) -> Rule:
    return Rule("between", low=low, high=high)


def all_of(verdicts: Sequence[str]) -> str:
    """Three-valued conjunction."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("a claim needs at least one part")
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def any_of(verdicts: Sequence[str]) -> str:
    """Three-valued disjunction."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("a claim needs at least one part")
    if HOLDS in verdicts:
        return HOLDS
    return FAILS if all(v == FAILS for v in verdicts) else INCONCLUSIVE


# ------------------------------------------------------------------------------------------- the bootstrap
@dataclass(frozen=True)
class PairedIntervals:
    """Effects on the full sample, their intervals and bootstrap standard errors (one entry per statistic)."""

    effect: np.ndarray
    low: np.ndarray
    high: np.ndarray
    standard_error: np.ndarray
    method: str
    n_units: int
    n_resamples: int


def resample_weights(indices: np.ndarray, n_units: int) -> np.ndarray:
    """``[..., m]`` unit indices of resamples (scipy's) → ``[r, n_units]`` multinomial weights, one row per
    resample (``r`` = the product of the leading dimensions): how often each unit was drawn."""
    indices = np.asarray(indices)
    rows = indices.reshape(-1, indices.shape[-1]) if indices.ndim > 1 else indices[None, :]
    offsets = (np.arange(rows.shape[0])[:, None] * n_units + rows).ravel()
    return np.bincount(offsets, minlength=rows.shape[0] * n_units).reshape(rows.shape[0], n_units).astype(float)


def paired_bootstrap(columns: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
                     n_resamples: int = 2000, confidence_level: float = 0.95, seed: int = 0,
                     method: str = "BCa", batch: int = 500) -> PairedIntervals:
    """Paired bootstrap of statistics of column sums.

    Args:
        columns: ``[n_units, n_columns]`` per-unit values (a query's recall, its count of Exact slots, ...).
        statistic: maps column sums ``[r, n_columns]`` to statistics ``[r, n_statistics]``; it must be a function
            of sums only (divide by a column of ones for a mean), so that a resample is a weighted sum.
        n_resamples, confidence_level, method: as ``scipy.stats.bootstrap`` (``"BCa"``, ``"percentile"``,
            ``"basic"``); a BCa interval that scipy cannot compute (a degenerate statistic, e.g. two identical
            models) falls back to the percentile interval of the same resamples.
        seed: the resampling's random seed, so the same runs give the same intervals.
    """
    from scipy import stats

    columns = np.asarray(columns, dtype=float)
    if columns.ndim != 2:
        raise ValueError(f"columns must be [n_units, n_columns], got shape {columns.shape}")
    n = columns.shape[0]
    if n < 2:
        raise ValueError(f"a paired bootstrap needs at least 2 units, got {n}")

    def vectorised(indices, axis=-1):
        indices = np.asarray(indices)
        lead = indices.shape[:-1]
        values = np.asarray(statistic(resample_weights(indices, n) @ columns), dtype=float)  # [r, s]
        return np.moveaxis(values.reshape(*lead, values.shape[-1]), -1, 0)  # [s, *lead]: resamples last

    effect = np.asarray(statistic(columns.sum(axis=0, keepdims=True)), dtype=float)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate parts are handled below, per statistic
        res = stats.bootstrap((np.arange(n),), vectorised, paired=True, vectorized=True, n_resamples=n_resamples,
                              confidence_level=confidence_level, method=method, batch=batch,
                              rng=np.random.default_rng(seed))
    low = np.atleast_1d(np.asarray(res.confidence_interval.low, dtype=float))
    high = np.atleast_1d(np.asarray(res.confidence_interval.high, dtype=float))
    dist = np.atleast_2d(res.bootstrap_distribution)
    bad = ~(np.isfinite(low) & np.isfinite(high))
    if bad.any():
        alpha = (1 - confidence_level) / 2
        q = np.nanquantile(dist[bad], [alpha, 1 - alpha], axis=-1)
        low[bad], high[bad] = q[0], q[1]
    se = np.atleast_1d(np.asarray(res.standard_error, dtype=float))
    return PairedIntervals(effect, low, high, se, method, n, n_resamples)
