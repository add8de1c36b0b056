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


def in_topk(topk: np.ndarray, query_ids, product_ids) -> np.ndarray:
    """For every pair ``(query_ids[i], product_ids[i])``, whether the product is in that query's top-k row.

    Each row is sorted on its own (padding as a sentinel that sorts last), so the row-major pair codes of the
    whole matrix are already globally sorted and one ``searchsorted`` answers every pair: no global sort of the
    ``n_queries × k`` codes (at the paper's 38K × 100 that is the difference between seconds and a tenth)."""
    topk = _as_topk(topk)
    query_ids = np.asarray(query_ids, dtype=np.int64)
    product_ids = np.asarray(product_ids, dtype=np.int64)
    if query_ids.shape != product_ids.shape:
        raise ValueError(f"query_ids {query_ids.shape} and product_ids {product_ids.shape} differ in shape")
    n = _n_products(topk, product_ids) + 1  # product id n-1+1 is the padding sentinel
    rows = np.sort(np.where(topk >= 0, topk, n - 1), axis=1)
    flat = (np.arange(topk.shape[0], dtype=np.int64)[:, None] * n + rows).ravel()
    codes = query_ids * n + product_ids
    if flat.size == 0:
        return np.zeros(codes.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(flat, codes), flat.size - 1)
    return (flat[pos] == codes) & (product_ids >= 0) & (query_ids >= 0) & (query_ids < topk.shape[0])


def hits_at_k(topk: np.ndarray, query_ids, product_ids) -> np.ndarray:
    """For every purchase pair, whether its product is in its query's top-k (bool array, one per pair)."""
    return in_topk(topk, query_ids, product_ids)


def recall_at_k(topk: np.ndarray, query_ids, product_ids, *, per_query: bool = False):
    """Purchase recall@k: per query, purchased products found in its top-k / its purchased products; the mean
    over queries that have at least one purchase (queries without purchases are left out).

    Duplicate purchase pairs count once. Returns the mean, or ``(query_ids, recalls)`` with ``per_query=True``.
    """
    topk = _as_topk(topk)
    n = _n_products(topk, product_ids)
    codes = np.unique(_pair_codes(query_ids, product_ids, n))
    q = codes // n
    found = in_topk(topk, q, codes % n)
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
    rows = np.broadcast_to(np.arange(topk.shape[0])[:, None], topk.shape)
    return ~in_topk(baseline_topk, rows.ravel(), topk.ravel()).reshape(topk.shape) & (topk >= 0)


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


# ------------------------------------------------------------------------------------ visual search (KDD 2024)
def visual_search_metrics(topk: np.ndarray, target: np.ndarray, attributes: np.ndarray,
                          ks: tuple[int, ...] = (1, 10, 100), k_precision: int = 10) -> dict[str, float]:
    """Image-to-image matching quality for query photos.

    ``topk`` ``[n_photos, k]`` product rows, ``target`` the photographed product of each photo, ``attributes``
    ``[n_products, 3]`` (category, colour, pattern). Returns

    * ``recall@k``: the photographed product is in the top k;
    * ``precision@k_precision``: share of the top k that are *visual matches* (same category, colour and pattern
      as the photographed product — the product itself or an identical-looking one);
    * ``false_positive@k_precision``: share of the top k that share the local visual pattern (colour and
      pattern) but not the category — the false positives the paper's alignment losses target.
    """
    topk = _as_topk(topk)
    target = np.asarray(target, dtype=np.int64)
    if len(target) != len(topk):
        raise ValueError(f"{len(topk)} ranked lists but {len(target)} targets")
    out = {f"recall@{k}": float((topk[:, :k] == target[:, None]).any(1).mean()) for k in ks if k <= topk.shape[1]}
    top = topk[:, :k_precision]
    valid = top >= 0
    a, t = attributes[np.where(valid, top, 0)], attributes[target][:, None, :]
    same_look = (a[..., 1] == t[..., 1]) & (a[..., 2] == t[..., 2]) & valid
    same_category = (a[..., 0] == t[..., 0]) & valid
    out[f"precision@{k_precision}"] = float((same_look & same_category).mean())
    out[f"false_positive@{k_precision}"] = float((same_look & ~same_category).mean())
    return out


def distractor_preferred(queries: np.ndarray, products: np.ndarray, target: np.ndarray,
                         distractor: np.ndarray) -> float:
    """Share of photos (with a distractor, ``distractor >= 0``) whose distractor — same colour and pattern,
    another category — scores above the photographed product itself."""
    keep = np.asarray(distractor) >= 0
    q = queries[keep]
    s_target = np.einsum("ij,ij->i", q, products[np.asarray(target)[keep]])
    s_distractor = np.einsum("ij,ij->i", q, products[np.asarray(distractor)[keep]])
    return float((s_distractor > s_target).mean()) if keep.any() else float("nan")
