"""Evaluation metrics of §4.2 and §4.4, pure NumPy functions over id arrays.

Conventions: ``topk`` is ``[n_queries, k]`` int64 product ids (row ``i`` is query ``i``'s ranked list, ``-1``
pads a short list); purchases and labels are given as parallel arrays of pairs ``(query_id, product_id[, label])``.
Membership tests use one int64 code per pair (``query_id * n_products + product_id``) and ``np.isin``, so every
metric is a few sorts over ``n_queries × k`` values, with no Python loop over queries.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LABELS = ("E", "S", "C", "I")  # Exact, Substitute, Complement, Irrelevant: label codes 0..3
UNLABELLED = -1  # a prediction whose (query, product) pair carries no label
PADDING = -2     # a slot of a short top-k list: no prediction at all


def _as_topk(topk: np.ndarray) -> np.ndarray:
    topk = np.asarray(topk)
    if topk.ndim != 2:
        raise ValueError(f"topk must be [n_queries, k], got shape {topk.shape}")
    return topk.astype(np.int64, copy=False)


def _codes(topk: np.ndarray, n_products: int) -> np.ndarray:
    rows = np.arange(topk.shape[0], dtype=np.int64)[:, None]
    return np.where(topk >= 0, rows * n_products + topk, -1)


def _pair_codes(query_ids, product_ids, n_products: int) -> np.ndarray:
    query_ids = np.asarray(query_ids, dtype=np.int64)
    product_ids = np.asarray(product_ids, dtype=np.int64)
    if query_ids.shape != product_ids.shape:
        raise ValueError(f"query_ids {query_ids.shape} and product_ids {product_ids.shape} differ in shape")
    return query_ids * n_products + product_ids


def _n_products(topk: np.ndarray, *product_ids) -> int:
    return int(max([topk.max(initial=-1)] + [np.max(p, initial=-1) for p in product_ids])) + 1


def hits_at_k(topk: np.ndarray, query_ids, product_ids) -> np.ndarray:
    """For every purchase pair, whether its product is in its query's top-k (bool array, one per pair)."""
    topk = _as_topk(topk)
    n = _n_products(topk, product_ids)
    return np.isin(_pair_codes(query_ids, product_ids, n), _codes(topk, n))


def recall_at_k(topk: np.ndarray, query_ids, product_ids, *, per_query: bool = False):
    """Purchase recall@k: per query, purchased products found in its top-k / its purchased products; the mean
    over queries that have at least one purchase (queries without purchases are left out).

    Duplicate purchase pairs count once. Returns the mean, or ``(query_ids, recalls)`` with ``per_query=True``.
    """
    topk = _as_topk(topk)
    n = _n_products(topk, product_ids)
    codes = np.unique(_pair_codes(query_ids, product_ids, n))
    q = codes // n
    found = np.isin(codes, _codes(topk, n))
    queries, inverse = np.unique(q, return_inverse=True)
    if queries.size and queries[-1] >= topk.shape[0]:
        raise ValueError(f"purchase for query id {queries[-1]} but topk has only {topk.shape[0]} rows")
    recalls = np.bincount(inverse, weights=found) / np.bincount(inverse)
    if per_query:
        return queries, recalls
    return float(recalls.mean()) if recalls.size else float("nan")


def lookup_labels(topk: np.ndarray, query_ids, product_ids, labels) -> np.ndarray:
    """Labels of the predictions: ``[n_queries, k]`` int8, the label of each (query, product) pair that has one,
    ``UNLABELLED`` (-1) where the pair carries none and ``PADDING`` (-2) in padding slots."""
    topk = _as_topk(topk)
    n = _n_products(topk, product_ids)
    codes = _pair_codes(query_ids, product_ids, n)
    labels = np.asarray(labels, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    codes, labels = codes[order], labels[order]
    flat = _codes(topk, n).ravel()
    pos = np.searchsorted(codes, flat)
    pos_clipped = np.minimum(pos, max(codes.size - 1, 0))
    found = (flat >= 0) & (codes.size > 0) & (codes[pos_clipped] == flat) if codes.size else np.zeros_like(flat, bool)
    out = np.full(flat.shape, UNLABELLED, dtype=np.int8)
    out[found] = labels[pos_clipped[found]]
    out[flat < 0] = PADDING
    return out.reshape(topk.shape)


@dataclass(frozen=True)
class LabelPrecision:
    """Share of labelled predictions per label (E, S, C, I; they sum to 1) and how many predictions were left
    out because their pair carries no label."""

    E: float
    S: float
    C: float
    I: float
    n_labelled: int
    n_unlabelled: int

    def as_dict(self) -> dict:
        return {"E": self.E, "S": self.S, "C": self.C, "I": self.I,
                "n_labelled": self.n_labelled, "n_unlabelled": self.n_unlabelled}


def label_precision(prediction_labels: np.ndarray, mask: np.ndarray | None = None) -> LabelPrecision:
    """Label precision over all (query, prediction) slots: share of predictions labelled E / S / C / I, among
    predictions that carry a label (micro average over every query's top-k, as the paper reports one number
    per label). ``mask`` restricts the slots (the net predictions of Table 4)."""
    labels = np.asarray(prediction_labels)
    if mask is not None:
        labels = labels[np.asarray(mask, dtype=bool)]
    labels = labels.ravel()
    labels = labels[labels != PADDING]
    labelled = labels[labels >= 0]
    counts = np.bincount(labelled.astype(np.int64), minlength=len(LABELS))[: len(LABELS)]
    total = int(counts.sum())
    shares = counts / total if total else np.full(len(LABELS), np.nan)
    return LabelPrecision(*map(float, shares), n_labelled=total, n_unlabelled=int(labels.size - labelled.size))


def overlap(topk: np.ndarray, baseline_topk: np.ndarray) -> np.ndarray:
    """Table 3: per query, ``|top-k(model) ∩ top-k(baseline)|`` (int array, one per query)."""
    return (~net_mask(topk, baseline_topk) & (_as_topk(topk) >= 0)).sum(axis=1)


def net_mask(topk: np.ndarray, baseline_topk: np.ndarray) -> np.ndarray:
    """``[n_queries, k]`` bool: the model's predictions that are not in the baseline's top-k (its net
    predictions, §4.4). Padding slots are never net."""
    topk, baseline_topk = _as_topk(topk), _as_topk(baseline_topk)
    if topk.shape[0] != baseline_topk.shape[0]:
        raise ValueError(f"model has {topk.shape[0]} queries, baseline {baseline_topk.shape[0]}")
    n = _n_products(topk, baseline_topk)
    return ~np.isin(_codes(topk, n), _codes(baseline_topk, n)) & (topk >= 0)


@dataclass(frozen=True)
class NetMatches:
    """Table 4: net predictions per query (mean, std), net purchase recall and net label precision."""

    count_mean: float
    count_std: float
    recall: float
    precision: LabelPrecision

    def as_dict(self) -> dict:
        return {"net_count_mean": self.count_mean, "net_count_std": self.count_std, "net_recall": self.recall,
                **{f"net_{k}": v for k, v in self.precision.as_dict().items()}}


def net_matches(topk: np.ndarray, baseline_topk: np.ndarray, query_ids, product_ids,
                prediction_labels: np.ndarray | None = None) -> NetMatches:
    """Net matches of a model against a baseline (§4.4): net predictions = top-k(model) minus top-k(baseline);
    net recall = a query's purchases found among its net predictions / its purchases, averaged over queries with
    purchases (as recall@k); net precision = label precision over the net predictions only."""
    topk = _as_topk(topk)
    mask = net_mask(topk, baseline_topk)
    counts = mask.sum(axis=1)
    net_topk = np.where(mask, topk, -1)
    recall = recall_at_k(net_topk, query_ids, product_ids)
    precision = label_precision(prediction_labels, mask) if prediction_labels is not None else \
        LabelPrecision(*(float("nan"),) * 4, n_labelled=0, n_unlabelled=int(mask.sum()))
    return NetMatches(float(counts.mean()), float(counts.std()), recall, precision)
