"""Evaluation metrics of §4.2 and §4.4, pure NumPy functions over id arrays.

Conventions: ``topk`` is ``[n_queries, k]`` int64 product ids (row ``i`` is query ``i``'s ranked list, ``-1``
pads a short list); purchases and labels are given as parallel arrays of pairs ``(query_id, product_id[, label])``.
Membership tests use one int64 code per pair (``query_id * n_products + product_id``) and ``np.isin``, so every
metric is a few sorts over ``n_queries × k`` values, with no Python loop over queries.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .paper import LABELS, PADDING, UNLABELLED  # noqa: F401  (the label coding, re-exported for the metrics' readers)


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

    @property
    def coverage(self) -> float:
        """Share of the predictions that carry a label (ESCI judges only ~40 products per query, so on real data
        many top-100 slots carry none; the world labels every pair)."""
        total = self.n_labelled + self.n_unlabelled
        return self.n_labelled / total if total else float("nan")

    def as_dict(self) -> dict:
        return {"E": self.E, "S": self.S, "C": self.C, "I": self.I,
                "n_labelled": self.n_labelled, "n_unlabelled": self.n_unlabelled, "label_coverage": self.coverage}


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


def first_occurrence(topk: np.ndarray) -> np.ndarray:
    """``[n_queries, k]`` bool: True at the first slot of each distinct product id of a row (padding is never
    True), so a row that repeats an id counts it once wherever the metrics promise sets (overlap, net matches).
    A FAISS top-k never repeats an id; a run merged from shards, or written by hand, can."""
    topk = _as_topk(topk)
    order = np.argsort(topk, axis=1, kind="stable")
    ranked = np.take_along_axis(topk, order, axis=1)
    first_sorted = np.ones(topk.shape, dtype=bool)
    first_sorted[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    out = np.empty(topk.shape, dtype=bool)
    np.put_along_axis(out, order, first_sorted, axis=1)  # stable sort: the earliest slot of a run comes first
    return out & (topk >= 0)


def overlap(topk: np.ndarray, baseline_topk: np.ndarray) -> np.ndarray:
    """Table 3: per query, ``|top-k(model) ∩ top-k(baseline)|`` as sets (int array, one per query): an id a row
    repeats counts once."""
    topk = _as_topk(topk)
    in_baseline = first_occurrence(topk) & ~net_mask(topk, baseline_topk)
    return in_baseline.sum(axis=1)


def net_mask(topk: np.ndarray, baseline_topk: np.ndarray) -> np.ndarray:
    """``[n_queries, k]`` bool: the model's predictions that are not in the baseline's top-k (its net
    predictions, §4.4), as a set: padding slots and repeats of an id already seen in the row are never net."""
    topk, baseline_topk = _as_topk(topk), _as_topk(baseline_topk)
    if topk.shape[0] != baseline_topk.shape[0]:
        raise ValueError(f"model has {topk.shape[0]} queries, baseline {baseline_topk.shape[0]}")
    rows = np.broadcast_to(np.arange(topk.shape[0])[:, None], topk.shape)
    return ~in_topk(baseline_topk, rows.ravel(), topk.ravel()).reshape(topk.shape) & first_occurrence(topk)


@dataclass(frozen=True)
class NetPurchases:
    """Per query (one entry per row of top-k): distinct purchases, those the baseline's top-k missed, and those
    found among the model's net predictions (never more than the missed ones: a net prediction is outside the
    baseline's list by definition)."""

    purchases: np.ndarray
    missed_by_baseline: np.ndarray
    found_in_net: np.ndarray


def net_purchases(topk: np.ndarray, baseline_topk: np.ndarray, query_ids, product_ids) -> NetPurchases:
    """Count, per query, the purchases behind both readings of net recall (duplicate purchase pairs count once)."""
    topk, baseline_topk = _as_topk(topk), _as_topk(baseline_topk)
    n_queries = topk.shape[0]
    n = _n_products(topk, baseline_topk, product_ids)
    codes = np.unique(_pair_codes(query_ids, product_ids, n))
    q, p = codes // n, codes % n
    if q.size and q[-1] >= n_queries:
        raise ValueError(f"purchase for query id {q[-1]} but topk has only {n_queries} rows")
    missed = ~in_topk(baseline_topk, q, p)
    found = missed & in_topk(topk, q, p)
    count = lambda mask: np.bincount(q[mask], minlength=n_queries)  # noqa: E731
    return NetPurchases(count(np.ones(q.size, bool)), count(missed), count(found))


def net_recall_of_missed(topk: np.ndarray, baseline_topk: np.ndarray, query_ids, product_ids, *,
                         per_query: bool = False):
    """Net recall, the reading the paper's Table 4 fits (56–58 for the joint rows while BiBERT alone finds 78%):
    per query, purchases found among the net predictions / purchases the baseline's top-k missed; the mean over
    queries where the baseline missed at least one purchase. ``per_query=True`` returns ``(rows, values)``."""
    c = net_purchases(topk, baseline_topk, query_ids, product_ids)
    rows = np.flatnonzero(c.missed_by_baseline > 0)
    values = c.found_in_net[rows] / c.missed_by_baseline[rows]
    if per_query:
        return rows, values
    return float(values.mean()) if values.size else float("nan")


def net_recall_of_all(topk: np.ndarray, baseline_topk: np.ndarray, query_ids, product_ids, *,
                      per_query: bool = False):
    """Net recall, the literal reading: per query, purchases found among the net predictions / all its purchases;
    the mean over queries with purchases. Capped by ``1 - recall@k(baseline)``, so it cannot reach the paper's
    56–58. ``per_query=True`` returns ``(rows, values)``."""
    c = net_purchases(topk, baseline_topk, query_ids, product_ids)
    rows = np.flatnonzero(c.purchases > 0)
    values = c.found_in_net[rows] / c.purchases[rows]
    if per_query:
        return rows, values
    return float(values.mean()) if values.size else float("nan")


@dataclass(frozen=True)
class NetMatches:
    """Table 4: net predictions per query (mean, std), net recall in both readings and net label precision."""

    count_mean: float
    count_std: float
    recall_of_missed: float
    recall_of_all: float
    precision: LabelPrecision

    def as_dict(self) -> dict:
        return {"net_count_mean": self.count_mean, "net_count_std": self.count_std,
                "net_recall_of_missed": self.recall_of_missed, "net_recall_of_all": self.recall_of_all,
                **{f"net_{k}": v for k, v in self.precision.as_dict().items()}}


def net_matches(topk: np.ndarray, baseline_topk: np.ndarray, query_ids, product_ids,
                prediction_labels: np.ndarray | None = None) -> NetMatches:
    """Net matches of a model against a baseline (§4.4): net predictions = top-k(model) minus top-k(baseline), as
    sets; their count per query; net recall in both readings (:func:`net_recall_of_missed`, the paper's, and
    :func:`net_recall_of_all`); net precision = label precision over the net predictions only."""
    topk = _as_topk(topk)
    mask = net_mask(topk, baseline_topk)
    counts = mask.sum(axis=1)
    c = net_purchases(topk, baseline_topk, query_ids, product_ids)
    of_missed = c.found_in_net[c.missed_by_baseline > 0] / c.missed_by_baseline[c.missed_by_baseline > 0]
    of_all = c.found_in_net[c.purchases > 0] / c.purchases[c.purchases > 0]
    mean = lambda x: float(x.mean()) if x.size else float("nan")  # noqa: E731
    precision = label_precision(prediction_labels, mask) if prediction_labels is not None else \
        LabelPrecision(*(float("nan"),) * 4, n_labelled=0, n_unlabelled=int(mask.sum()))
    return NetMatches(float(counts.mean()), float(counts.std()), mean(of_missed), mean(of_all), precision)


def label_counts(prediction_labels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per query, how many (masked) predictions carry each label: ``[n_queries, 4]`` int (E, S, C, I columns).
    Summed over queries and divided by the row sums it is :func:`label_precision` (a micro average)."""
    labels = np.asarray(prediction_labels)
    keep = labels >= 0
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    return np.stack([((labels == code) & keep).sum(axis=1) for code in range(len(LABELS))], axis=1)


# ------------------------------------------------------------------------------------ visual search (KDD 2024)
def visual_search_per_photo(topk: np.ndarray, target: np.ndarray, attributes: np.ndarray,
                            ks: tuple[int, ...] = (1, 10, 100), k_precision: int = 10) -> dict[str, np.ndarray]:
    """Per photo: ``recall@k`` (0/1, the photographed product is in the top k), and how many of the top
    ``k_precision`` are visual matches (``matches@k``) and false positives (``false_positives@k``), as defined in
    :func:`visual_search_metrics`. The paired statistics of the claims resample these."""
    topk = _as_topk(topk)
    target = np.asarray(target, dtype=np.int64)
    if len(target) != len(topk):
        raise ValueError(f"{len(topk)} ranked lists but {len(target)} targets")
    out = {f"recall@{k}": (topk[:, :k] == target[:, None]).any(1).astype(float) for k in ks if k <= topk.shape[1]}
    top = topk[:, :k_precision]
    valid = top >= 0
    a, t = attributes[np.where(valid, top, 0)], attributes[target][:, None, :]
    same_look = (a[..., 1] == t[..., 1]) & (a[..., 2] == t[..., 2]) & valid
    same_category = (a[..., 0] == t[..., 0]) & valid
    out[f"matches@{k_precision}"] = (same_look & same_category).sum(1).astype(float)
    out[f"false_positives@{k_precision}"] = (same_look & ~same_category).sum(1).astype(float)
    return out


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
    per_photo = visual_search_per_photo(topk, target, attributes, ks, k_precision)
    out = {key: float(v.mean()) for key, v in per_photo.items() if key.startswith("recall@")}
    slots = min(k_precision, _as_topk(topk).shape[1])
    out[f"precision@{k_precision}"] = float(per_photo[f"matches@{k_precision}"].mean() / slots)
    out[f"false_positive@{k_precision}"] = float(per_photo[f"false_positives@{k_precision}"].mean() / slots)
    return out


def distractor_preferred(queries: np.ndarray, products: np.ndarray, target: np.ndarray,
                         distractor: np.ndarray, *, per_photo: bool = False):
    """Share of photos (with a distractor, ``distractor >= 0``) whose distractor — same colour and pattern,
    another category — scores above the photographed product itself. ``per_photo=True`` returns an int8 array,
    one per photo: 1 preferred, 0 not, -1 no distractor."""
    distractor = np.asarray(distractor)
    keep = distractor >= 0
    q = queries[keep]
    s_target = np.einsum("ij,ij->i", q, products[np.asarray(target)[keep]])
    s_distractor = np.einsum("ij,ij->i", q, products[distractor[keep]])
    if per_photo:
        out = np.full(len(distractor), -1, dtype=np.int8)
        out[keep] = s_distractor > s_target
        return out
    return float((s_distractor > s_target).mean()) if keep.any() else float("nan")


# ------------------------------------------------------------------ real photos (the Grocery Store dataset)
def false_positive_kinds(topk: np.ndarray, target: np.ndarray, coarse: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per photo, what its top ``k`` holds: ``hit`` (1 when the photographed product is among them, else 0),
    ``fine`` (how many are other products of the photographed product's coarse class: another apple for a Granny
    Smith) and ``gross`` (how many are of another coarse class: a yoghurt for an apple); ``hit + fine + gross`` is
    the number of filled slots. ``coarse`` is the coarse class of every product row; ``-1`` pads a short list."""
    topk = _as_topk(topk)
    target = np.asarray(target, dtype=np.int64)
    coarse = np.asarray(coarse)
    if len(target) != len(topk):
        raise ValueError(f"{len(topk)} ranked lists but {len(target)} targets")
    if not 1 <= k <= topk.shape[1]:
        raise ValueError(f"k={k} must lie in 1..{topk.shape[1]} (the width of topk)")
    top = topk[:, :k]
    valid = top >= 0
    same = (top == target[:, None]) & valid
    same_coarse = (coarse[np.where(valid, top, 0)] == coarse[target][:, None]) & valid
    return {"hit": same.any(1).astype(float), "fine": (same_coarse & ~same).sum(1).astype(float),
            "gross": (valid & ~same_coarse).sum(1).astype(float)}


def real_photo_per_photo(topk: np.ndarray, target: np.ndarray, coarse: np.ndarray,
                         ks: tuple[int, ...] = (1, 5)) -> dict[str, np.ndarray]:
    """Per photo, for each ``k``: ``recall@k`` (0/1), ``fine@k`` and ``gross@k`` (false positives of each kind among
    the top ``k``, :func:`false_positive_kinds`). The paired bootstrap of the real-photo claim resamples these."""
    out = {}
    for k in ks:
        kinds = false_positive_kinds(topk, target, coarse, k)
        out[f"recall@{k}"], out[f"fine@{k}"], out[f"gross@{k}"] = kinds["hit"], kinds["fine"], kinds["gross"]
    return out


def real_photo_metrics(topk: np.ndarray, target: np.ndarray, coarse: np.ndarray,
                       ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@k of the photographed product and the fine and gross false-positive *rates* at k (false positives of
    that kind per top-``k`` slot), means over photos."""
    per_photo = real_photo_per_photo(topk, target, coarse, ks)
    out = {}
    for k in ks:
        out[f"recall@{k}"] = float(per_photo[f"recall@{k}"].mean())
        out[f"fine_fp@{k}"] = float(per_photo[f"fine@{k}"].mean() / k)
        out[f"gross_fp@{k}"] = float(per_photo[f"gross@{k}"].mean() / k)
    return out
