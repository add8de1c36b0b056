"""The machinery that judges a claim: per-unit columns, the quantities built from their sums, the paired bootstrap
of every part and the three-valued verdicts (the claims themselves, in the paper's words, are
:mod:`mmpaper.report.claims`).

Each claim is split into the parts it asserts; each part names one quantity — a paired difference over eval
queries (of recall@100, of label shares, of overlap or net-match quantities) or over query photos — and a rule
(above / below a margin, or between two bounds). ``mmpaper.stats.paired_bootstrap`` gives every quantity's 95%
interval from the same resamples of eval queries, and the verdict of a part is three-valued (``mmpaper.stats``);
a claim is the conjunction of its parts (an "or" claim, their disjunction).

The quantities are built from per-unit *columns* (``Units``): per eval query, its recall, how many of its top-k
slots carry each label, its overlap with BiBERT, its net predictions and what they recover; per query photo, its
recall@k, false positives in the top 10 and whether its distractor won. Every quantity is a function of column
sums, so the paper's own numbers, written as a one-unit ``Units``, go through the very same functions: the
``paper`` column is the paper's value of each quantity, and ``paper_meets_rule`` says whether even the paper's point
value satisfies the rule.

Quantities built on a max or min over rows ("best Exact", "lowest for CLIP") are recomputed in every resample, so
the choice of the best row is resampled too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..metrics import label_counts, net_mask, net_purchases, overlap, recall_at_k
from ..paper import LABELS, TABLE2, VARIANTS
from ..stats import Rule, all_of, any_of, paired_bootstrap

N_RESAMPLES = 9999        # bootstrap resamples (scipy's default); all claims together take about a second


def column(metric: str, variant: str | None = None) -> str:
    return metric if variant is None else f"{metric}|{variant}"


# ------------------------------------------------------------------------------------------------ columns
@dataclass
class Units:
    """Per-unit columns, one row per eval query (or query photo): ``columns[column(metric, variant)]``.

    Query columns: ``one``, ``has_purchase``, ``has_missed`` (BiBERT's top-k missed a purchase) and per variant
    ``recall``, ``E``/``S``/``C``/``I`` (slots carrying the label), ``labelled``, ``overlap``, ``net`` (net
    predictions), ``net_E`` ... ``net_labelled``, ``net_recall_missed`` / ``net_recall_all`` (the query's ratio; 0
    where undefined). Photo columns: ``one``, ``has_distractor`` and per variant ``recall@k``, ``fp`` (false
    positives in the top ``k``), ``preferred`` (1 when the distractor outscored the product)."""

    columns: dict[str, np.ndarray]
    k: int
    kind: str = "query"   # or "photo"

    def __post_init__(self):
        lengths = {len(np.asarray(v)) for v in self.columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"every column needs one value per unit; got lengths {sorted(lengths)}")

    @property
    def n(self) -> int:
        return len(self.columns["one"])

    def matrix(self) -> tuple[np.ndarray, dict[str, int]]:
        names = list(self.columns)
        return np.stack([np.asarray(self.columns[c], dtype=float) for c in names], axis=1), \
            {c: i for i, c in enumerate(names)}


def query_units(topk: dict[str, np.ndarray], labels: dict[str, np.ndarray], purchase_rows, purchase_products,
                baseline: str = "bibert") -> Units:
    """Columns of every eval query from the runs' arrays: ``topk[v]`` ``[n_queries, k]`` product ids,
    ``labels[v]`` the labels of those slots (``metrics.lookup_labels``), purchases as ``(row, product_id)``."""
    base = topk[baseline]
    nq, k = base.shape
    cols: dict[str, np.ndarray] = {"one": np.ones(nq)}
    rows, _ = recall_at_k(base, purchase_rows, purchase_products, per_query=True)
    cols["has_purchase"] = np.isin(np.arange(nq), rows).astype(float)
    missed = None
    for v, t in topk.items():
        rows, r = recall_at_k(t, purchase_rows, purchase_products, per_query=True)
        cols[column("recall", v)] = np.bincount(rows, weights=r, minlength=nq)
        counts = label_counts(labels[v])
        for j, lab in enumerate(LABELS):
            cols[column(lab, v)] = counts[:, j]
        cols[column("labelled", v)] = counts.sum(1)
        if v == baseline:
            continue
        mask = net_mask(t, base)
        cols[column("overlap", v)] = overlap(t, base)
        cols[column("net", v)] = mask.sum(1)
        net_counts = label_counts(labels[v], mask)
        for j, lab in enumerate(LABELS):
            cols[column(f"net_{lab}", v)] = net_counts[:, j]
        cols[column("net_labelled", v)] = net_counts.sum(1)
        c = net_purchases(t, base, purchase_rows, purchase_products)
        missed = c.missed_by_baseline
        cols[column("net_recall_missed", v)] = np.divide(c.found_in_net, missed, out=np.zeros(nq), where=missed > 0)
        cols[column("net_recall_all", v)] = np.divide(c.found_in_net, c.purchases, out=np.zeros(nq),
                                                      where=c.purchases > 0)
    if missed is not None:
        cols["has_missed"] = (missed > 0).astype(float)
    return Units(cols, k, "query")


def photo_units(per_photo: dict[str, dict[str, np.ndarray]], preferred: dict[str, np.ndarray],
                k_precision: int) -> Units:
    """Columns of every eval photo: ``per_photo[v]`` from ``metrics.visual_search_per_photo``, ``preferred[v]``
    from ``metrics.distractor_preferred(per_photo=True)`` (1 / 0 / -1 without distractor)."""
    first = next(iter(preferred.values()))
    cols: dict[str, np.ndarray] = {"one": np.ones(len(first)), "has_distractor": (first >= 0).astype(float)}
    for v, m in per_photo.items():
        for key, values in m.items():
            if key.startswith("recall@"):
                cols[column(key, v)] = values
        cols[column("fp", v)] = m[f"false_positives@{k_precision}"]
        cols[column("preferred", v)] = (preferred[v] == 1).astype(float)
    return Units(cols, k_precision, "photo")


def real_photo_units(per_photo: dict[str, dict[str, np.ndarray]], k: int) -> Units:
    """Columns of every test photo of the Grocery Store dataset: ``one`` and per model ``recall@k``, ``fine@k``
    and ``gross@k`` (``metrics.real_photo_per_photo``). A column given as ``[n_seeds, n_photos]`` is averaged over
    the seeds, photo by photo: the pooled units, in which the same test photos are resampled for every seed's
    model (the seeds share the photos; they differ in initial weights and training draws)."""
    cols: dict[str, np.ndarray] = {}
    for v, m in per_photo.items():
        for key, values in m.items():
            values = np.asarray(values, dtype=float)
            cols[column(key, v)] = values.mean(axis=0) if values.ndim == 2 else values
    n = len(next(iter(cols.values())))
    return Units({"one": np.ones(n), **cols}, k, "photo")


def paper_units() -> Units:
    """The paper's Tables 2-4 as a one-unit ``Units``, so that every quantity has its paper value."""
    cols: dict[str, np.ndarray] = {"one": np.ones(1), "has_purchase": np.ones(1), "has_missed": np.ones(1)}
    nan = np.full(1, np.nan)
    for name in TABLE2:
        v = VARIANTS[name]
        r, *shares = v.paper
        cols[column("recall", name)] = np.full(1, r / 100)
        for lab, s in zip(LABELS, shares):
            cols[column(lab, name)] = np.full(1, s / 100)
        cols[column("labelled", name)] = np.ones(1)
        if name == "bibert":
            continue
        cols[column("overlap", name)] = np.full(1, v.paper_overlap[0]) if v.paper_overlap else nan
        net = v.paper_net or (np.nan,) * 7
        cols[column("net", name)] = np.full(1, net[0])
        cols[column("net_recall_missed", name)] = np.full(1, net[2] / 100)
        cols[column("net_recall_all", name)] = nan
        for lab, s in zip(LABELS, net[3:]):
            cols[column(f"net_{lab}", name)] = np.full(1, s / 100)
        cols[column("net_labelled", name)] = np.ones(1)
    return Units(cols, 100, "query")


# ---------------------------------------------------------------------------------------------- quantities
class Sums:
    """Column sums of one or many resamples (``[r, n_columns]``), read by name; what every quantity is made of."""

    def __init__(self, sums: np.ndarray, index: dict[str, int], k: int):
        self.sums, self.index, self.k = sums, index, k

    def __call__(self, metric: str, variant: str | None = None) -> np.ndarray:
        name = column(metric, variant)
        if name not in self.index:
            raise KeyError(f"no column {name!r} (is variant {variant!r} among the runs?)")
        return self.sums[:, self.index[name]]

    def recall(self, v: str, at: str = "recall") -> np.ndarray:
        """Mean recall in points (queries with purchases; every photo)."""
        denominator = self("has_purchase") if "has_purchase" in self.index else self("one")
        return 100 * self(at, v) / denominator

    def share(self, v: str, labels: str, net: bool = False) -> np.ndarray:
        """Share of the (net) labelled slots carrying any of ``labels`` (e.g. ``"ES"``), in points: the micro
        average of Table 2 / Table 4."""
        prefix = "net_" if net else ""
        return 100 * sum(self(prefix + lab, v) for lab in labels) / self(prefix + "labelled", v)

    def mean(self, metric: str, v: str) -> np.ndarray:
        return self(metric, v) / self("one")

    def net_recall_missed(self, v: str) -> np.ndarray:
        return 100 * self("net_recall_missed", v) / self("has_missed")

    def photo_rate(self, metric: str, v: str) -> np.ndarray:
        """Visual search in points: false positives per top-``k`` slot, or distractor wins per photo that has one."""
        if metric == "fp":
            return 100 * self("fp", v) / (self.k * self("one"))
        return 100 * self("preferred", v) / self("has_distractor")


@dataclass(frozen=True)
class Part:
    name: str                          # what the part asserts, in the paper's words
    quantity: str                      # the quantity, in words
    unit: str
    fn: Callable[[Sums], np.ndarray]
    rule: Rule


CALIBRATED = "set by the calibration"  # the verdict of a claim that compares only the calibrated baselines


@dataclass(frozen=True)
class Claim:
    id: str
    text: str                          # the claim, in short
    parts: tuple[Part, ...]
    combine: str = "all"               # all: conjunction of the parts; any: disjunction
    units: str = "query"               # what is resampled: eval queries or query photos
    paper: str = ""                    # what the paper says, where it gives no number
    words: str = ""                    # the paper's own words, quoted
    where: str = ""                    # where the paper says it (section)
    calibrated: bool = False           # compares only rows the world was calibrated on: not an outcome
    note: str = ""                     # how the rule reads the words, where that needs saying


def _max(arrays):
    return np.max(np.stack(list(arrays)), axis=0)


def _min(arrays):
    return np.min(np.stack(list(arrays)), axis=0)


# ---------------------------------------------------------------------------------------------- evaluation
COLUMNS = ("claim_id", "claim", "words", "where", "part", "quantity", "unit", "rule", "effect", "ci_low", "ci_high",
           "se", "resolvable", "verdict", "side", "claim_verdict", "combine", "paper", "paper_value",
           "paper_meets_rule", "calibrated", "note", "n_units")


def signed(x: float) -> str:
    """Three significant digits, signed: +0.805, +4.50, +32.1."""
    if not np.isfinite(x):
        return ""
    return f"{x:+.3f}" if abs(x) < 1 else f"{x:+.2f}" if abs(x) < 10 else f"{x:+.1f}"


def evaluate_claims(claims: list[Claim], units: dict[str, Units], *, n_resamples: int = N_RESAMPLES, seed: int = 0,
                    method: str = "BCa") -> pd.DataFrame:
    """Every part of every claim: effect, 95% interval, verdict, and its claim's verdict.

    ``units`` maps ``"query"`` / ``"photo"`` to the columns the claims resample; all parts over the same units are
    resampled together. Columns of the result (one row per part):

    * ``claim_id``, ``claim``: the claim and its words; ``part``: what the part asserts;
    * ``quantity`` (in words), ``unit`` (points = percentage points, ratio, share of k, products per query);
    * ``rule``: the part's rule in words (``above 0 points``, ``between 0 and 5 points`` ...);
    * ``effect``: the quantity on our eval set; ``ci_low``, ``ci_high``: its 95% paired-bootstrap interval;
      ``se``: the bootstrap standard error (what the seed sweep pools); ``resolvable``: half the interval's width,
      the smallest effect this eval set can tell from zero;
    * ``verdict``: ``holds`` / ``does not hold`` / ``inconclusive`` (``mmpaper.stats``); ``side``: where the
      interval lies against the rule (``inside``, ``below``, ``above``, ``across``), so a failing part says which way;
    * ``claim_verdict``: the claim's verdict, the same on every row of the claim (:data:`CALIBRATED` for a claim
      about the calibrated baselines only); ``combine``: ``all`` / ``any``;
    * ``words``, ``where``: the paper's words and where it says them; ``note``: how the rule reads them;
    * ``paper``: the paper's value of the quantity, formatted (or its words where it gives no number);
      ``paper_value``: the number; ``paper_meets_rule``: whether it satisfies the rule (``yes`` / ``no`` / empty);
    * ``n_units``: how many eval queries (or photos) were resampled.
    """
    rows = []
    paper = paper_units()
    pmat, pindex = paper.matrix()
    for kind in ("query", "photo"):
        todo = [c for c in claims if c.units == kind]
        if not todo:
            continue
        if kind not in units:
            raise ValueError(f"claims {[c.id for c in todo]} need {kind} columns; got only {list(units)}")
        u = units[kind]
        mat, index = u.matrix()
        parts = [(c, p) for c in todo for p in c.parts]

        def statistic(sums, index=index, k=u.k, parts=parts):
            s = Sums(sums, index, k)
            return np.stack([np.asarray(p.fn(s), dtype=float) for _, p in parts], axis=1)

        res = paired_bootstrap(mat, statistic, n_resamples=n_resamples, seed=seed, method=method)
        with np.errstate(all="ignore"):
            paper_values = statistic(pmat, pindex, paper.k)[0] if kind == "query" else \
                np.full(len(parts), np.nan)
        for j, (c, p) in enumerate(parts):
            pv = float(paper_values[j])
            met = p.rule.met_by(pv)
            rows.append({"claim_id": c.id, "claim": c.text, "words": c.words, "where": c.where, "part": p.name,
                         "quantity": p.quantity, "unit": p.unit, "rule": p.rule.words(p.unit),
                         "effect": float(res.effect[j]), "ci_low": float(res.low[j]), "ci_high": float(res.high[j]),
                         "se": float(res.standard_error[j]),
                         "resolvable": float(res.high[j] - res.low[j]) / 2,
                         "verdict": p.rule.verdict(res.low[j], res.high[j]),
                         "side": p.rule.side(res.low[j], res.high[j]), "combine": c.combine,
                         "paper": signed(pv) if np.isfinite(pv) else c.paper, "paper_value": pv,
                         "paper_meets_rule": "" if met is None else "yes" if met else "no",
                         "calibrated": c.calibrated, "note": c.note, "n_units": u.n})
    df = pd.DataFrame(rows)
    combine = {c.id: (any_of if c.combine == "any" else all_of) for c in claims}
    calibrated = {c.id for c in claims if c.calibrated}
    verdicts = {cid: CALIBRATED if cid in calibrated else combine[cid](g["verdict"].tolist())
                for cid, g in df.groupby("claim_id", sort=False)}
    df["claim_verdict"] = df["claim_id"].map(verdicts)
    return df[list(COLUMNS)]


def claim_summary(parts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: its words, verdict and how many of its parts hold / do not hold / are inconclusive."""
    g = parts.groupby("claim_id", sort=False)
    return pd.DataFrame({
        "claim": g["claim"].first(), "verdict": g["claim_verdict"].first(), "combine": g["combine"].first(),
        "parts": g.size(), "hold": g["verdict"].apply(lambda v: int((v == "holds").sum())),
        "do not hold": g["verdict"].apply(lambda v: int((v == "does not hold").sum())),
        "inconclusive": g["verdict"].apply(lambda v: int((v == "inconclusive").sum())),
    })
