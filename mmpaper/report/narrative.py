""""What this shows": the paragraph every chapter ends on, written from the run's numbers.

Each ``*_text`` function takes the tables it needs (the chapter computes them with :mod:`mmpaper.report.tables`;
tests hand it tables whose answer is worked out by hand) and returns Markdown: pure text, nothing is read here. No
number is typed into a sentence: ours come from the runs, the paper's from :mod:`mmpaper.paper`.

Every comparative sentence has a truth condition, stated in the code next to it, and is written only when the
condition holds on the numbers: "as in the paper" needs the same direction beyond a tie (:data:`TIE`); "close to the
paper's" needs every row within :data:`CLOSE`; "the best" needs a lead beyond :data:`TIE` (else the sentence says
it is a tie); "improves" on a claim the reproduction report judges needs that claim's verdict to hold. A reason is
given only when a computed check backs it (a control row, a calibration record); otherwise the paragraph says the
book does not test why. ``tests/test_narrative_truth.py`` feeds tables where each statement is false.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..paper import CONSISTENT, FOUR_TOWER_ROWS, PAPER_TABLE1, SEEN_NEGATIVE_PAIRS, deviations, variant_label
from .claims import A_LITTLE, FAR_LOWER_RECALL, HIGH_ES_RATIO, HIGH_QUALITY_NET, LOW_OVERLAP
from . import views
from .judge import signed

TIE = 0.5    # points: two recalls or label shares closer than this are a tie (about two bootstrap standard errors
             # of a difference on this book's eval queries); "the best", "higher", "as in the paper" need more
CLOSE = 2.0  # points: a row's change against BiBERT is "close to the paper's" when within this of the paper's change


def _join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(i) for i in items]
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def _f(x: float) -> str:
    return f"{x:.1f}"


def _d(x: float) -> str:
    return f"{x:+.1f}"


def _same_sign(a: float, b: float, tie: float = 0.5) -> bool:
    """Both changes point the same way; changes smaller than ``tie`` points count as "no change" and agree."""
    if abs(a) < tie and abs(b) < tie:
        return True
    return np.sign(a) == np.sign(b) and abs(a) >= tie and abs(b) >= tie


def _delta(t2: pd.DataFrame, name: str, col: str, base: str = "bibert", paper: bool = False) -> float:
    p = "paper " if paper else ""
    return float(t2.loc[name, f"{p}{col}"] - t2.loc[base, f"{p}{col}"])


# ------------------------------------------------------------------------------------------ preliminaries
def preliminaries_text(table1: pd.DataFrame, record: dict | None, preset: str) -> str:
    """Table 1's shape (purchases per distinct query) against the paper's, and the calibration status."""
    ours = {s: table1.loc[s, "pairs"] / table1.loc[s, "queries"] for s in ("train", "eval")}
    paper = {s: PAPER_TABLE1[s]["pairs"] / PAPER_TABLE1[s]["queries"] for s in ("train", "eval")}
    scale = PAPER_TABLE1["eval"]["products"] / table1.loc["eval", "products"]
    close = all(abs(ours[s] - paper[s]) <= 0.25 * paper[s] for s in ours)
    text = (f"Our world (preset `{preset}`) has {_f(ours['train'])} purchases per distinct query in the training "
            f"period and {_f(ours['eval'])} in the eval period, against the paper's {_f(paper['train'])} and "
            f"{_f(paper['eval'])}; its eval catalog is {scale:,.0f} times smaller than the paper's. ")
    text += ("The shape of Table 1 is therefore close to the paper's, while its size is not: every comparison in this "
             "book is in kind, not in value." if close else
             "The shape of Table 1 differs from the paper's, so recall@100 here is computed over a different number of "
             "purchases per query than the paper's; compare directions, not values.")
    status = (record or {}).get("status")
    if status == "not within tolerance":
        within = record.get("within_tolerance", {})
        text += (" The world was calibrated on the BiBERT and zero-shot CLIP rows only, but no setting the search "
                 f"found lands within tolerance on every target ({sum(bool(v) for v in within.values())} of "
                 f"{len(within)} seeds do); the calibration section above marks the misses. Nothing else was tuned, "
                 "so every other row is an outcome.")
    elif status == views.CONSISTENT_STATUS:
        text += (" The world was calibrated on the BiBERT and zero-shot CLIP rows only; it reproduces both within "
                 f"{_f(record['worst_deviation'])} tolerance units on every target and seed (the book counts a world "
                 f"within {record.get('consistent_within', CONSISTENT):g} as baseline-consistent), though not within "
                 "one on every target; the calibration section above marks the misses. Nothing else was tuned, so "
                 "every other row is an outcome.")
    elif record is None or status != views.CALIBRATED:
        text += (" The world of this preset is **not yet calibrated** on the two baselines, so its baseline rows "
                 "may sit outside the paper's regime (see the calibration section above).")
    else:
        within = record.get("within_tolerance", {})
        ok = sum(bool(v) for v in within.values())
        text += (f" The world is calibrated on the BiBERT and zero-shot CLIP rows only: {ok} of {len(within)} seeds "
                 f"land within tolerance on every target. Nothing else was tuned, so every other row is an outcome.")
    return text


def calibration_text(record: dict | None, world: str) -> str:
    """The calibration status of a world preset, from its record (``views.load_calibration``)."""
    where = f"`data_cards/calibration_{world}.json`"
    if record is None:
        return (f"**Not yet calibrated.** There is no calibration record for the `{world}` world ({where}): its "
                f"settings are the designed defaults, not the result of a search. "
                f"`python -m mmpaper calibrate --preset {world}` makes one.")
    within = record.get("within_tolerance", {})
    ok = sum(bool(v) for v in within.values())
    search = record.get("search", {})
    how = (f"{search.get('method', 'a search')} over {search.get('n_trials', len(record.get('trials', [])))} "
           f"candidate settings")
    when = f"{record.get('created', 'an unrecorded date')} on {record.get('machine', 'an unrecorded machine')}"
    if record.get("status") == "not within tolerance":
        met = []
        for achieved in record.get("achieved", {}).values():
            dev = deviations(achieved)
            met.append(f"{sum(d <= 1.0 for d in dev.values())} of {len(dev)}")
        seeds = _join(list(record.get("achieved", {})))
        per_seed = ("" if not met else f"; on each of seeds {seeds} it meets {met[0]} targets" if len(set(met)) == 1
                    else f"; on seeds {seeds} it meets {_join(met)} targets")
        return (f"**Calibrated, but not within tolerance.** The search for the `{world}` world ({where}, {when}: "
                f"{how}) found no setting that lands within tolerance on every target for every seed; the world uses "
                f"the closest one it found ({ok} of {len(within)} seeds within tolerance on every target{per_seed}). "
                f"A value outside its tolerance is marked ✗ below, and the chapters read their baselines with that "
                f"in mind.")
    minutes = float(record.get("trial_seconds_total", record.get("seconds", float("nan")))) / 60
    if record.get("status") == views.CONSISTENT_STATUS:
        return (f"**Calibrated, baseline-consistent.** The `{world}` world was calibrated {when}: {how}, "
                f"{minutes:.0f} minutes in all. Its worst deviation over seeds {_join(list(within))} is "
                f"{_f(record['worst_deviation'])} tolerance units: within {record.get('consistent_within', CONSISTENT):g}, "
                f"the bar every world of the ensemble must meet, but not within one on every target ({ok} of "
                f"{len(within)} seeds are). A value outside its tolerance is marked ✗ below.")
    if record.get("status") != views.CALIBRATED:
        text = (f"**Not yet calibrated.** The record for the `{world}` world ({where}, {when}) has status "
                f"“{record.get('status', 'missing')}”")
        return text + (f"; {ok} of {len(within)} seeds are within tolerance so far." if within else ".")
    return (f"The `{world}` world was calibrated {when}: {how}, {minutes:.0f} minutes in all. "
            f"{ok} of {len(within)} seeds land within tolerance on every target; a value outside its tolerance "
            f"is marked ✗ below.")


# -------------------------------------------------------------------------------------------- baselines
def baselines_text(t2: pd.DataFrame) -> str:
    """BiBERT against zero-shot CLIP: recall, and the Exact + Substitute share of the top-100."""
    r = {n: float(t2.loc[n, "R@100"]) for n in ("bibert", "clip")}
    pr = {n: float(t2.loc[n, "paper R@100"]) for n in ("bibert", "clip")}
    es = {n: float(t2.loc[n, "E"] + t2.loc[n, "S"]) for n in ("bibert", "clip")}
    pes = {n: float(t2.loc[n, "paper E"] + t2.loc[n, "paper S"]) for n in ("bibert", "clip")}
    text = (f"BiBERT finds {_f(r['bibert'])}% of the eval purchases in its top-100 and zero-shot CLIP "
            f"{_f(r['clip'])}% (paper: {_f(pr['bibert'])}% and {_f(pr['clip'])}%). Exact + Substitute make up "
            f"{_f(es['bibert'])}% of BiBERT's top-100 and {_f(es['clip'])}% of CLIP's (paper: {_f(pes['bibert'])}% "
            f"and {_f(pes['clip'])}%). ")
    lower_recall = r["bibert"] - r["clip"] >= FAR_LOWER_RECALL        # the claim's own margin: "far lower"
    relevant = es["clip"] >= HIGH_ES_RATIO * es["bibert"]            # and "high Exact+Substitute"
    if lower_recall and relevant:
        text += ("As in the paper, CLIP finds the right kind of product from the picture far more often than the one "
                 "shoppers bought: it never saw the shop's purchases, brands or materials, and knows some kinds only "
                 "by an everyday word (a charger as a cable, a yoga mat as a mat), all of which BiBERT learns from "
                 "the purchase log.")
    elif lower_recall:
        text += ("As in the paper, CLIP's recall is far below BiBERT's; unlike the paper, its top-100 is not mostly "
                 "the right kind of product. The likely reason is the stand-in CLIP: pretrained on a small caption "
                 "corpus, it does not yet map the shoppers' words for a category onto the right pictures as a public "
                 "CLIP does (the calibration section in the preliminaries says whether the world was tuned for it).")
    elif r["clip"] < r["bibert"]:
        text += (f"CLIP's recall is below BiBERT's, but by less than the {FAR_LOWER_RECALL:g} points the book reads "
                 f"as the paper's \"far lower\" (the paper's gap is {_f(pr['bibert'] - pr['clip'])}).")
    else:
        text += "Unlike the paper, CLIP alone matches or beats BiBERT on recall; the book does not test why."
    return text


def record_vs_build_text(record: dict | None, t2: pd.DataFrame, seed: int, machine: str) -> str:
    """The same two baseline rows, twice: in the calibration record (for this seed) and in this build. Both are
    labelled with where they were computed; a difference is stated and explained, never left for the reader."""
    if record is None or str(seed) not in record.get("achieved", {}):
        return (f"No calibration record holds seed {seed}, so the rows above stand alone (computed by this build on "
                f"{machine}).")
    achieved = record["achieved"][str(seed)]
    diffs = {(row, m): float(t2.loc[row, m]) - float(achieved[row][m]) for row in ("bibert", "clip")
             for m in ("R@100", "E", "S", "C", "I") if row in t2.index}
    (row, m), worst = max(diffs.items(), key=lambda kv: abs(kv[1]))
    where = f"{record.get('machine', 'an unrecorded machine')}, {str(record.get('created', ''))[:10]}"
    if abs(worst) < 0.05:                                            # equal at the precision the book prints
        return (f"These rows equal the calibration record's seed-{seed} rows (recorded on {where}) to the tenth of a "
                f"point; this build ran on {machine}.")
    return (f"These rows are this build's (on {machine}); the calibration record's seed-{seed} rows were computed "
            f"on {where}, and differ by up to {_f(abs(worst))} points ({variant_label(row)} {m}: "
            f"{_f(float(t2.loc[row, m]))} here, {_f(float(achieved[row][m]))} there). The world and the code are the "
            f"same; another CPU, thread count or torch build rounds its sums differently, and training amplifies "
            f"those last digits, so the same seed can end a few tenths apart. The chapters read this build's runs.")


# ------------------------------------------------------------------------------------------- four-tower

def four_tower_text(t2: pd.DataFrame) -> str:
    """Each 4tMM fusion against BiBERT, recall and Exact, ours and the paper's."""
    parts, agree = [], 0
    for name in FOUR_TOWER_ROWS:
        d, pd_ = _delta(t2, name, "R@100"), _delta(t2, name, "R@100", paper=True)
        agree += _same_sign(d, pd_)                                  # same direction beyond a tie
        parts.append(f"{variant_label(name)} {_d(d)} (paper {_d(pd_)})")
    text = ("Against BiBERT, recall@100 changes by " + "; ".join(parts) + " points. "
            f"The direction agrees with the paper for {agree} of {len(FOUR_TOWER_ROWS)} fusions. ")
    gaps = {n: _delta(t2, n, "R@100") - _delta(t2, n, "R@100", paper=True) for n in FOUR_TOWER_ROWS}
    far = {n: g for n, g in gaps.items() if abs(g) > CLOSE}          # "close" needs every row within CLOSE
    if not far:
        text += f"Every fusion's change lies within {CLOSE:g} points of the paper's. "
    else:
        worst = max(far, key=lambda n: abs(far[n]))
        text += (f"{_join([variant_label(n) for n in far])} {'differs' if len(far) == 1 else 'differ'} from the "
                 f"paper's change by more than {CLOSE:g} points ({variant_label(worst)} most, by {_d(far[worst])}); "
                 f"the book does not test why. ")
    e = t2.loc[list(FOUR_TOWER_ROWS) + ["bibert"], "E"].astype(float)
    joint_e = float(e["4tmm-joint"])
    others = e.drop(index="4tmm-joint")
    runner = others.idxmax()
    if joint_e - float(others.max()) > TIE:                        # "the best" needs a lead beyond a tie
        text += f"Joint BiBERT + MLP tuning reaches Exact {_f(joint_e)}%, the best of these rows, as in the paper."
    elif abs(joint_e - float(others.max())) <= TIE:
        text += (f"Joint BiBERT + MLP tuning reaches Exact {_f(joint_e)}%, a tie with {variant_label(runner)} "
                 f"({_f(float(others.max()))}%); in the paper the joint row has the best Exact.")
    else:
        text += (f"Joint BiBERT + MLP tuning reaches Exact {_f(joint_e)}% where {variant_label(runner)} reaches "
                 f"{_f(float(others.max()))}%; in the paper the joint row has the best Exact.")
    return text


# ------------------------------------------------------------------------------------------ three-tower
def three_tower_text(cmp: pd.DataFrame) -> str:
    """4tMM minus 3tMM recall per training setting (``views.three_vs_four_tower``), ours against the paper's."""
    gaps = cmp["4tMM R@100"] - cmp["3tMM R@100"]
    paper = cmp["paper 4tMM R@100"] - cmp["paper 3tMM R@100"]
    parts = "; ".join(f"{t} {_d(g)} (paper {_d(p)})" for t, g, p in zip(cmp.index, gaps, paper))
    text = f"4tMM minus 3tMM recall@100, per training setting: {parts} points (mean {_d(gaps.mean())}, paper " \
           f"{_d(paper.mean())}). "
    # the claim's reading: "alike, with some degradation" is a mean gap between 0 and A_LITTLE points
    if -TIE <= gaps.mean() <= A_LITTLE:
        text += ("As in the paper, dropping CLIP's text tower costs a little or nothing on average: the product-side "
                 "MLP can bring CLIP's image space to BiBERT's text space.")
    elif gaps.mean() < -TIE:
        text += "Unlike the paper, 3tMM beats 4tMM here on average; the book does not test why."
    else:
        text += (f"Unlike the paper, 3tMM trails 4tMM by more than the {A_LITTLE:g} points the book reads as \"some "
                 f"degradation\"; the book does not test why.")
    return text


# ------------------------------------------------------------------------------------------- experiments
def _best(values: pd.Series) -> str:
    """The row with the highest value, or "a tie between A and B" when the runner-up is within :data:`TIE`."""
    top = values.sort_values(ascending=False)
    if len(top) > 1 and float(top.iloc[0] - top.iloc[1]) <= TIE:
        tied = [n for n in top.index if float(top.iloc[0] - top[n]) <= TIE]
        if len(tied) > 3:
            return f"a tie among {len(tied)} rows within {TIE:g} points of {_f(float(top.iloc[0]))}%"
        return f"a tie between {_join([variant_label(n) for n in tied])} ({_f(float(top.iloc[0]))}%)"
    return f"{variant_label(top.index[0])} ({_f(float(top.iloc[0]))}%)"


def experiments_text(t2: pd.DataFrame, controls: pd.DataFrame | None = None) -> str:
    """All of Table 2: how many rows move recall the paper's way, the best rows (ties named), seen negatives and,
    given the control rows, whether their gain is the seen negatives' or the image's."""
    rows = [n for n in t2.index if n not in ("bibert", "clip")]
    agree = [n for n in rows if _same_sign(_delta(t2, n, "R@100"), _delta(t2, n, "R@100", paper=True))]
    paper_r = t2.loc[rows, "paper R@100"].astype(float).rename(lambda n: n)
    text = (f"Of the {len(rows)} multimodal rows, {len(agree)} move recall@100 away from BiBERT in the same direction "
            f"as the paper's (a change under {TIE:g} points counts as none). Our best recall comes from "
            f"{_best(t2.loc[rows, 'R@100'].astype(float))}, the paper's from {_best(paper_r)}; our best Exact from "
            f"{_best(t2.loc[rows, 'E'].astype(float))}, the paper's from "
            f"{_best(t2.loc[rows, 'paper E'].astype(float))}. ")
    pairs = [(a, b) for a, b in SEEN_NEGATIVE_PAIRS if a in t2.index and b in t2.index]
    if pairs:
        dr = np.mean([t2.loc[a, "R@100"] - t2.loc[b, "R@100"] for a, b in pairs])
        pdr = np.mean([t2.loc[a, "paper R@100"] - t2.loc[b, "paper R@100"] for a, b in pairs])
        text += f"Seen negatives change recall by {_d(dr)} points on average (paper {_d(pdr)}). "
        if controls is not None and "bibert-seenneg" in controls.index:
            with_seen = float(np.mean([t2.loc[a, "R@100"] for a, _ in pairs]))
            text_only = float(controls.loc["bibert-seenneg", "R@100"])
            text += (f"With them the multimodal rows reach {_f(with_seen)}% on average; BiBERT with the same seen "
                     f"negatives and no image reaches {_f(text_only)}%: ")
            # who gets the credit: the image only when the multimodal rows reach beyond the text-only control
            if with_seen <= text_only + SAME_RECALL:
                text += "the seen-negative rows' recall is what seen negatives give a text model, not the image's. "
            else:
                text += (f"the multimodal rows reach {_f(with_seen - text_only)} points more than seen negatives give "
                         f"a text model. ")
    gaps = np.array([_delta(t2, n, "R@100") - _delta(t2, n, "R@100", paper=True) for n in rows])
    far = [n for n, g in zip(rows, gaps) if abs(g) > CLOSE]
    text += (f"Every row's change against BiBERT lies within {CLOSE:g} points of the paper's." if not far else
             f"{len(far)} of {len(rows)} rows' changes against BiBERT differ from the paper's by more than {CLOSE:g} "
             f"points.")
    return text


# ------------------------------------------------------------------------------------------------ controls
SAME_RECALL = 1.0  # points: two recalls this close are "as high as" each other (about one bootstrap s.e. here)


def controls_text(t2: pd.DataFrame, controls: pd.DataFrame) -> str:
    """What the control rows say about the world: where the two baselines sit between the category oracle and
    a random order within the category, and whether seen negatives without any image give the multimodal
    seen-negative rows' recall. Each comparison is stated only when its test on the numbers passes."""
    r = {n: float(t2.loc[n, "R@100"]) for n in t2.index}
    c = {n: float(controls.loc[n, "R@100"]) for n in controls.index}
    text = ""
    if {"oracle-popularity", "category-random"} <= set(c):
        oracle, random = c["oracle-popularity"], c["category-random"]
        text += (f"Ranking each eval query's true category by the products' true popularity finds {_f(oracle)}% of "
                 f"the eval purchases in the top-100; the same category in a random order finds {_f(random)}%. ")
        inside = [n for n in ("bibert", "clip") if n in r and random <= r[n] <= oracle]
        below = [n for n in ("bibert", "clip") if n in r and r[n] < random]
        if inside:
            text += (f"{_join([variant_label(n) + f' ({_f(r[n])}%)' for n in inside])} sit between the two: in "
                     "this world, recall@100 rewards knowing the kind of product and how popular each one is. ")
        if below:
            text += (f"{_join([variant_label(n) + f' ({_f(r[n])}%)' for n in below])} find fewer purchases than "
                     "the random order within the right category: they often rank the wrong kind first. ")
    if "bibert-seenneg" in c and "bibert" in r:
        seen = [a for a, _ in SEEN_NEGATIVE_PAIRS if a in r]
        text += (f"Trained with the same seen negatives and no image at all, BiBERT reaches {_f(c['bibert-seenneg'])}% "
                 f"(without them {_f(r['bibert'])}%)")
        if seen:
            best = max(r[a] for a in seen)
            text += f"; the best multimodal row with seen negatives reaches {_f(best)}%. "
            if best <= c["bibert-seenneg"] + SAME_RECALL:
                text += ("The seen-negative rows' recall is therefore what the seen negatives give a text model, "
                         "not something the image adds.")
            else:
                text += (f"The image adds {_f(best - c['bibert-seenneg'])} points of recall beyond what the seen "
                         "negatives give a text model.")
        else:
            text += ". "
    return text.strip()


# ------------------------------------------------------------------------------------------- net matches
def net_matches_text(t3: pd.DataFrame, t4: pd.DataFrame, t2: pd.DataFrame, k: int) -> str:
    """Overlap with BiBERT (Table 3) and the net predictions' count and quality (Table 4)."""
    lowest = t3["mean"].idxmin()
    text = (f"Overlap with BiBERT's top-{k} ranges from {_f(t3['mean'].min())} ({variant_label(lowest)}) to "
            f"{_f(t3['mean'].max())} ({variant_label(t3['mean'].idxmax())}). ")
    others = t3["mean"].drop(index="clip", errors="ignore")
    if "clip" in t3.index and float(others.min() - t3.loc["clip", "mean"]) > TIE:   # lowest, beyond a tie
        text += "As in the paper, CLIP overlaps least: it ranks by the picture, BiBERT by the words. "
    else:
        text += "Unlike the paper, CLIP is not clearly the least overlapping model. "
    low = t3["mean"].max() < LOW_OVERLAP * k                          # the claim's own margin
    text += ("Every model's overlap is low, as in the paper: a multimodal model's list is mostly not BiBERT's. " if low
             else "Some models keep most of BiBERT's list, where the paper's keep less than half. ")
    recall = next((c for c in t4.columns if c.startswith("net R") and not c.startswith("paper")), None)
    four = [n for n in ("4tmm-cat", "4tmm-mlp", "4tmm-joint") if n in t4.index]
    if recall and four:
        es = {n: t4.loc[n, "net E"] + t4.loc[n, "net S"] for n in four}
        base_es = t2.loc["bibert", "E"] + t2.loc["bibert", "S"]
        good = all(v >= HIGH_QUALITY_NET * base_es for v in es.values())  # the claim's "high quality"
        text += ("Net predictions per query for the 4tMM rows: " +
                 ", ".join(f"{variant_label(n)} {_f(t4.loc[n, 'net mean'])}" for n in four) +
                 "; their Exact + Substitute share " + ", ".join(f"{_f(v)}%" for v in es.values()) +
                 f" against {_f(base_es)}% for BiBERT's own list. ")
        text += ("As in the paper, the net predictions are of a quality close to BiBERT's own list." if good else
                 f"Unlike the paper, the net predictions' Exact + Substitute share is below {HIGH_QUALITY_NET:.0%} of "
                 f"BiBERT's own list's.")
    return text


# ------------------------------------------------------------------------------------------ visual search
def visual_search_text(vs: pd.DataFrame, verdicts: dict[str, str] | None = None) -> str:
    """False positives and recall of the three visual-search models; "as in the paper" only where the reproduction
    report's verdict on the claim (``verdicts``: claim id → verdict) holds."""
    verdicts = verdicts or {}
    fp = next(c for c in vs.columns if c.startswith("false_positive@"))
    rec = next((c for c in vs.columns if c == "recall@10"), next(c for c in vs.columns if c.startswith("recall@")))
    a, b, c = (vs.loc[n] for n in ("vs-img2img", "vs-3tower", "vs-4tower"))
    text = (f"The share of false positives ({fp.replace('_', ' ')}) goes from {_f(a[fp])}% for image-to-image "
            f"matching to {_f(b[fp])}% with the alignment losses (3-tower) and {_f(c[fp])}% with the short text query "
            f"(4-tower); {rec} goes {_f(a[rec])}% → {_f(b[rec])}% → {_f(c[rec])}%. ")
    others = [m for m in vs.columns if m.startswith(("recall@", "precision@")) and m != rec]
    falls = [m for m in others if float(c[m] - b[m]) < -TIE]       # what the 4-tower loses, named
    verdict_words = {"holds": "holds, as the paper reports",
                     "does not hold": "does not hold here, unlike the paper's report",
                     "inconclusive": "is inconclusive here: the difference is too small for the eval photos to decide"}
    align = verdicts.get("vs-align")
    if align in verdict_words:
        text += ("On the reproduction report's test, the alignment losses' claim (fewer false positives, the "
                 f"distractor preferred less often, recall kept) {verdict_words[align]}. ")
    four = verdicts.get("vs-4tower")
    if four in verdict_words:
        text += f"The 4-tower's claim (fewer false positives and higher recall than the 3-tower) {verdict_words[four]}. "
    if falls:
        text += (f"The 4-tower loses on {_join([m.replace('_', ' ') for m in falls])} against the 3-tower. ")
    text += ("The shopper's text names the kind of product in only a quarter of the photos (a colour, a pattern or "
             "nothing in the rest), by design.")
    return text


# ------------------------------------------------------------------------------------- reproduction report
SIDE_WORDS = {"below": "the whole interval lies below the rule", "above": "the whole interval lies above the rule",
              "across": "the interval crosses the rule's bound", "inside": "the whole interval lies inside the rule"}


def method_text(claims: pd.DataFrame, n_resamples: int) -> str:
    """How the report judges, with this build's numbers: the units and how many, the paired bootstrap, the BCa
    interval, how parts combine, what each verdict means and the smallest effect the eval set resolves."""
    n_q = claims.loc[claims["unit"] != "", "n_units"]
    queries = int(claims.loc[~claims["claim_id"].str.startswith("vs-"), "n_units"].iloc[0]) if len(n_q) else 0
    photos = claims.loc[claims["claim_id"].str.startswith("vs-"), "n_units"]
    recall = claims[(claims["unit"] == "points") & claims["quantity"].str.startswith("R@100(")
                    & ~claims["claim_id"].str.startswith("vs-")]
    resolvable = float(recall["resolvable"].median()) if len(recall) else float("nan")
    text = (f"**How each verdict is reached.** Every claim is split into the parts it asserts, and each part is one "
            f"quantity computed from the runs: a difference of recall@100 between two models, of a label share, "
            f"of an overlap or net-match figure. The unit of evidence is the eval query: all {queries:,} of them"
            + (f" (and, for the visual-search claims, each of the {int(photos.iloc[0]):,} eval query photos)"
               if len(photos) else "") +
            f". A **paired bootstrap** draws the eval queries with replacement {n_resamples:,} times; every model "
            "is scored on the same draw, so a difference between two models keeps their pairing, and every "
            "quantity of every claim is recomputed on each draw (the best of several rows is chosen again on each "
            "one). The 95% interval is scipy's **BCa** (bias-corrected and accelerated) interval of those draws, "
            "or the percentile interval where BCa cannot be computed. Each part has a **rule**, the paper's words "
            "made quantitative (a margin, or a band), and a three-valued verdict: it **holds** when the whole "
            "interval lies on the claimed side, **does not hold** when the whole interval lies on the other side "
            "(and says which: below or above), and is **inconclusive** when the interval crosses the bound. A "
            "claim holds when all its parts hold (the headline claim, an *or*, when any holds). The paper's own "
            "numbers are run through the same rules; every rule passes on them. ")
    if np.isfinite(resolvable):
        paper = recall["paper_value"].abs() if "paper_value" in recall else pd.Series(dtype=float)
        smaller = int((paper < resolvable).sum())
        text += (f"Half an interval's width is the smallest effect this eval set can tell from zero: for a "
                 f"difference of recall@100 it is typically {_f(resolvable)} points here; {smaller} of the paper's "
                 f"own {len(paper)} recall differences are smaller than that, and such an effect can only come out "
                 f"inconclusive. ")
    text += ("The CLIP claim compares the two rows the world was calibrated on, so it is shown but not judged: "
             "its verdict is set by the calibration, not found by the world.")
    return text


def reproduction_text(claims: pd.DataFrame, preset: str, across: pd.DataFrame | None = None) -> str:
    """How many claims hold, do not hold or are inconclusive on this world, and across the ensemble of worlds."""
    records = [r for r in views.claim_records(claims) if not r["calibrated"]]
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("holds", "does not hold", "inconclusive")}
    text = (f"On preset `{preset}`, {counts['holds']} of {len(records)} judged claims hold, {counts['does not hold']} "
            f"do not hold and {counts['inconclusive']} are inconclusive. ")
    held = [r["claim"] for r in records if r["verdict"] == "holds"]
    if held:
        text += "Holding: " + "; ".join(f"*{c}*" for c in held) + ". "
    if across is not None and len(across):
        judged = across[across["holds in"].str.contains(" of ")]
        every = [i for i, r in judged.iterrows() if r["holds in"].split(" of ")[0] == r["holds in"].split(" of ")[1]]
        never = [i for i, r in judged.iterrows() if r["holds in"].startswith("0 of")]
        flips = [i for i in judged.index if i not in every and i not in never]
        text += (f"Across the baseline-consistent worlds, {len(every)} claim(s) hold in every world"
                 + (f" ({', '.join(every)})" if every else "") + f", {len(never)} in none"
                 + (f" ({', '.join(never)})" if never else "") + f", and {len(flips)} hold in some and not others"
                 + (f" ({', '.join(flips)}): those are decided by data the paper's numbers do not pin down" if flips
                    else "") + ". ")
    text += ("A claim that does not hold is a finding about our world, calibrated only on the two single-modality "
             "baselines, not a correction of the paper.")
    return text


def claim_sections(claims: pd.DataFrame, across: pd.DataFrame | None = None) -> str:
    """Per claim, a short section: the paper's words and where, how the rule reads them, each part's rule, our
    effect with its interval and resolution, the paper's value, the verdict (and, failing, which way), why; and,
    given the ensemble's summary, in how many worlds it holds and what it turns on."""
    out = []
    for i, r in enumerate(views.claim_records(claims), 1):
        head = f"**{i}. {r['claim']}** — verdict: **{r['verdict']}** on this world"
        if across is not None and r["id"] in across.index and not r["calibrated"]:
            a = across.loc[r["id"]]
            head += f"; across worlds: holds in {a['holds in']}" + \
                (f", turning on {a['turns on']}" if a["turns on"] not in ("—", "") else "")
        where = f" ({r['where']})" if r["where"] else ""
        lines = [head, "", f"- *The paper:* “{r['words']}”{where}"]
        if r["note"]:
            lines.append(f"- *How the rule reads it:* {r['note']}")
        for part in r["parts"]:
            quantity = f" ({part['quantity']})" if part.get("quantity") else ""
            paper = ""
            if part.get("paper") not in (None, "") and not pd.isna(part.get("paper")):
                meets = {"yes": ", which meets the rule", "no": ", which does not meet it"}.get(
                    part.get("paper_meets_rule") or "", "")
                paper = f"; the paper: {part['paper']}{meets}"
            resolution = ""
            if part.get("resolvable") is not None and np.isfinite(float(part["resolvable"])):
                resolution = f", resolves ±{signed(float(part['resolvable']))[1:]}"
            side = f" ({SIDE_WORDS[part['side']]})" if part.get("side") in ("below", "above") else ""
            lines.append(f"- *{part['part']}*{quantity}. Rule: {part['rule']}. Ours: {views.effect_text(part)}"
                         f"{resolution}{paper} — {part['verdict']}{side}.")
        lines.append(f"- *Why:* {_why(r)}")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _why(r: dict) -> str:
    parts = r["parts"]
    if r["calibrated"]:
        return ("both rows are calibration targets of the world, so the world was made to agree with the paper "
                "here; it is shown to say how closely, not judged.")
    deciding = [p for p in parts if p["verdict"] == r["verdict"]] or parts
    p = deciding[0]
    where = {"holds": "lies wholly inside", "does not hold": "lies wholly outside",
             "inconclusive": "straddles the bound of"}.get(r["verdict"], "is compared with")
    return (f"the 95% interval of “{p['part']}” ({views.effect_text(p)}) {where} its rule ({p['rule']})"
            + ("." if len(parts) == 1 else f"; {sum(q['verdict'] == 'holds' for q in parts)} of {len(parts)} "
               f"parts hold."))


def ensemble_unfinished_text(record: dict | None) -> str:
    """For an ensemble still running or stopped (no ``finished`` time): how many of its corners are recorded and
    that every count covers those alone; empty for a finished one."""
    if not record or record.get("finished"):
        return ""
    worlds = record.get("worlds", [])
    planned = int(np.prod([len(levels) for levels in record.get("factors", {}).values()])) or len(worlds)
    return (f"**This ensemble is unfinished**: {len(worlds)} of its {planned} corners are recorded so far (the "
            f"same command resumes it), so every count of worlds is over those alone and says nothing yet about "
            f"the corners not run. ")


def ensemble_text(record: dict | None, preset: str) -> str:
    """Where the ensemble of worlds comes from, how it was built, and how to regenerate it."""
    if record is None:
        return (f"No ensemble of worlds is recorded for preset `{preset}`: `python -m mmpaper robustness --preset "
                f"{preset}` builds one (each corner calibrated on the two baselines, then the whole study; hours on "
                f"two cores) and writes `book/recorded/robustness_{preset}.json`, which this section then shows.")
    worlds = record.get("worlds", [])
    consistent = [w for w in worlds if w.get("consistent") and w.get("claims")]
    # a resumed ensemble spans calls, each with its own date, machine and commit
    calls = record.get("calls") or [{k: record.get(k) for k in ("started", "git_commit", "machine")}]
    dates = sorted({str(c["started"])[:10] for c in calls if c.get("started")}) or ["an unrecorded date"]
    machines = list(dict.fromkeys(
        f"{(c.get('machine') or {}).get('cpu', 'an unrecorded CPU')}, {(c.get('machine') or {}).get('cores', '?')} "
        f"cores{', ' + c['machine']['gpu'] if (c.get('machine') or {}).get('gpu') else ', no GPU'}" for c in calls))
    commits = list(dict.fromkeys(
        str(c.get("git_commit") or "?")[:7] + (" with uncommitted changes" if str(c.get("git_commit")).endswith(
            "-dirty") else "") for c in calls))
    hours = float(record.get("seconds", 0.0)) / 3600
    factors = record.get("factor_values", {})
    levels = "; ".join(f"{FACTOR_NAMES.get(f, f)} {' / '.join(f'{k} ({v})' for k, v in vals.items())}"
                       for f, vals in factors.items())
    when = (f"on {dates[0]}" if len(dates) == 1 else
            f"from {dates[0]} to {dates[-1]}, in {len(calls)} calls that resumed it")
    text = (f"Recorded {when} ({'; '.join(machines)}; commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}; "
            f"{hours:.1f} hours of calibration and training): {len(worlds)} corners, each holding {levels}, with every "
            f"other setting found by the calibration's own search ({record.get('trials', '?')} trials per corner, "
            f"on the corner's own seed, scored on the two baselines only). ")
    more = {w["calibration"]: w["calibration_trials"] for w in worlds
            if int(w.get("calibration_trials") or 0) > int(record.get("trials") or 0)}
    if more:
        text += (f"Where a corner was still outside the tolerance after them, the same search went on and took the "
                 f"best of its five nearest trials by the tolerance rule: "
                 f"{', '.join(f'{k} ({n} trials)' for k, n in more.items())}. ")
    text += ensemble_unfinished_text(record)
    text += (f"{len(consistent)} of them reproduce both baselines within {record.get('consistent_within', 1.5):g} "
             "tolerance units on every target and count below; ")
    out = [w["id"] for w in worlds if not w.get("consistent")]
    text += (f"{len(out)} did not ({', '.join(out)}) and are left out. " if out else "none was left out. ")
    text += ("Each counted world ran the whole study on its seed. A claim that holds in every world follows from "
             "the paper's baselines and the models; one that holds in some and not others is decided by a property "
             "of the data the paper's numbers do not pin down, named in the last column. This section is read "
             "from `book/recorded/`, not re-run by the build.")
    return text


def at_a_glance_text(t2: pd.DataFrame, claims: pd.DataFrame, preset: str, across: pd.DataFrame | None = None,
                     controls: pd.DataFrame | None = None) -> str:
    """The intro's box: the two baselines against the paper's, the best multimodal rows, how many claims hold on
    this world and across the ensemble of worlds: every number from this build's runs or the recorded ensemble."""
    r = lambda n, c="R@100": float(t2.loc[n, c])  # noqa: E731
    rows = [n for n in t2.index if n not in ("bibert", "clip")]
    lines = [f"- **Baselines** (preset `{preset}`): BiBERT finds {_f(r('bibert'))}% of the eval purchases in its "
             f"top-100 (paper {_f(r('bibert', 'paper R@100'))}%), zero-shot CLIP {_f(r('clip'))}% (paper "
             f"{_f(r('clip', 'paper R@100'))}%); the world was calibrated on these two rows only.",
             f"- **Multimodal rows:** the best recall@100 comes from {_best(t2.loc[rows, 'R@100'].astype(float))}, "
             f"the best Exact share from {_best(t2.loc[rows, 'E'].astype(float))}."]
    if controls is not None and "bibert-seenneg" in controls.index:
        lines.append(f"- **Controls:** BiBERT with seen negatives and no image reaches "
                     f"{_f(float(controls.loc['bibert-seenneg', 'R@100']))}%" +
                     (f"; ranking each query's true category by popularity, "
                      f"{_f(float(controls.loc['oracle-popularity', 'R@100']))}%."
                      if "oracle-popularity" in controls.index else "."))
    judged = [c for c in views.claim_records(claims) if not c["calibrated"]]
    counts = {v: sum(c["verdict"] == v for c in judged) for v in ("holds", "does not hold", "inconclusive")}
    lines.append(f"- **Claims on this world:** {counts['holds']} of {len(judged)} hold, {counts['does not hold']} do "
                 f"not, {counts['inconclusive']} are inconclusive (the reproduction report).")
    if across is not None and len(across):
        judged_across = across[across["holds in"].str.contains(" of ")]
        n_worlds = judged_across["holds in"].iloc[0].split(" of ")[1] if len(judged_across) else "0"
        every = sum(h.split(" of ")[0] == h.split(" of ")[1] for h in judged_across["holds in"])
        never = sum(h.startswith("0 of") for h in judged_across["holds in"])
        lines.append(f"- **Across {n_worlds} baseline-consistent worlds:** {every} claim(s) hold in every one, "
                     f"{never} in none, {len(judged_across) - every - never} depend on the world.")
    return "```{admonition} Results at a glance\n:class: tip\n\n" + "\n".join(lines) + \
        "\n\nGenerated by this build from its runs; the chapters give each number with its context.\n```\n"


FACTOR_NAMES = {"image_gap": "image gap", "popularity_weight": "popularity strength",
                "seen_negative_source": "seen negatives from"}


# ------------------------------------------------------------------------------------------- benchmarks
def benchmarks_text(live: pd.DataFrame, reference: str, n_queries: int, n_products: int,
                    recorded: dict[str, float] | None = None, recorded_where: str = "") -> str:
    """The live three-way search measurement: each method's time as a ratio to the raw FAISS reference (under one:
    faster than it), and, given the recorded run's ratios (``recorded``: method → ratio), both side by side with
    where each comes from, so the two numbers are never read as one."""
    ratio = live["× reference"]
    others = [m for m in live.index if m != reference]
    text = (f"On the machine that built this book, exact top-100 search of {n_queries:,} queries over "
            f"{n_products:,} products took " +
            "; ".join(f"{_f(float(live.loc[m, 'seconds (best of 3)']) * 1000)} ms with {m} "
                      f"({float(ratio[m]):.2f}× the reference, {'faster' if ratio[m] < 1 else 'slower'})"
                      for m in others) +
            f", against {_f(float(live.loc[reference, 'seconds (best of 3)']) * 1000)} ms for {reference}. ")
    agree = [m for m in others if float(live.loc[m, "same top-100 as reference %"]) >= 99.9]
    text += f"{' and '.join(agree) if agree else 'No method'} returned the same top-100 as the reference. "
    for m, r in (recorded or {}).items():
        if m in ratio.index and np.isfinite(r):
            text += (f"The recorded benchmark ({recorded_where}) measured {m} at {r:.2f}× its reference: the two runs "
                     f"differ in machine, thread count and size, and the ratio belongs to the run, not to the method. ")
    text += ("The paper does not report search speed; these numbers only show that exact evaluation at its scale "
             f"is a matrix product, which the recorded results above extrapolate to the paper's "
             f"{PAPER_TABLE1['eval']['queries']:,} × {PAPER_TABLE1['eval']['products']:,}.")
    return text


# -------------------------------------------------------------------------------------------- seed sweep
def seed_sweep_text(record: dict | None, preset: str) -> str:
    """Where the recorded seed sweep comes from, and which verdicts turn on the seed."""
    if record is None:
        return (f"No seed sweep is recorded for preset `{preset}`: `python -m mmpaper tables --preset {preset} "
                f"--seeds` with a comma list of seeds runs one (the whole study once per seed); copy its record into "
                f"`book/recorded/` to show it here.")
    m = record.get("machine", {})
    where = f"{m.get('cpu', 'an unrecorded CPU')}, {m.get('cores', '?')} cores" + \
        (f", {m['gpu']}" if m.get("gpu") else ", no GPU")
    seeds = ", ".join(str(s) for s in record.get("seeds", []))
    differ = record.get("claims_whose_verdict_differs", [])
    commit = str(record.get("git_commit", "?"))
    commit = commit[:7] + (" with uncommitted changes" if commit.endswith("-dirty") else "")
    text = (f"Recorded on {record.get('date', 'an unrecorded date')[:10]} ({where}; commit "
            f"{commit}): the whole study, world and training, on seeds {seeds}, each "
            f"with its own 95% intervals; the pooled verdict uses the mean effect over the seeds. This table is read "
            f"from `book/recorded/`, not re-run by the build. ")
    if differ:
        text += (f"The verdicts of {', '.join(differ)} differ between seeds: their effects sit near "
                 f"the rule's boundary, so one seed's interval crosses it and another's does not. Read those verdicts "
                 f"as fragile.")
    else:
        text += "Every claim gets the same verdict on every seed."
    return text


# ---------------------------------------------------------------------------------- real photos (Grocery Store)
def _provenance(record: dict) -> str:
    m = record.get("machine", {})
    where = f"{m.get('cpu', 'an unrecorded CPU')}, {m.get('cores', '?')} cores" + \
        (f", {m['gpu']}" if m.get("gpu") else ", no GPU")
    commit = str(record.get("git_commit") or "?")
    commit = commit[:7] + (" with uncommitted changes" if commit.endswith("-dirty") else "")
    return f"{str(record.get('date', 'an unrecorded date'))[:10]} on {where} (commit {commit})"


def _part(record: dict, claim: str, start: str, where: str = "pooled") -> dict | None:
    parts = record["pooled"] if where == "pooled" else record["per_seed"][where]
    return next((p for p in parts if p["claim_id"] == claim and p["part"].startswith(start)), None)


def _effect(p: dict | None) -> str:
    if p is None:
        return "—"
    return f"{p['effect']:+.1f} points (95% interval {p['ci_low']:+.1f} to {p['ci_high']:+.1f})"


def real_photo_status(*, available: bool, data_dir: str, record: dict | None, live_seeds: list[int] | None,
                      config: str) -> str:
    """What the real-photo section rests on: the data on this machine (or how to fetch it) and the record."""
    if available:
        seeds = ", ".join(str(s) for s in live_seeds or [])
        text = (f"The Grocery Store photos are on this machine (`{data_dir}`, verified file by file against the "
                f"manifest shipped with the package). The live table below comes from runs of the `{config}` "
                f"configuration on seed{'s' if len(live_seeds or []) > 1 else ''} {seeds}, trained here or reused "
                f"from their run directories. ")
    else:
        text = (f"**The Grocery Store photos are not on this machine** (`{data_dir}` holds no verified copy), so "
                f"nothing is trained here and no photo can be shown. Fetch them with "
                f"`python -m mmpaper data grocery --dir {data_dir}` (the archive of the pinned commit from GitHub, "
                f"or `--mirror DIR` / `MMPAPER_DATA_MIRROR` for a local copy; every file is checked against the "
                f"shipped manifest) and build the book again. ")
    if record is None:
        text += ("No real-photo result is recorded yet: `python -m mmpaper real-photos --seeds` with a comma list "
                 "of seeds runs the study and `--record` writes it to `book/recorded/`.")
    else:
        seeds = ", ".join(str(s) for s in record["seeds"])
        text += (f"The recorded result (`book/recorded/grocery_visual_search.json`, configuration "
                 f"`{record['config']}`, seeds {seeds}) was made {_provenance(record)}; it is read, not re-run, "
                 f"by the build.")
        totals = [m["all models"] for m in record.get("seconds", {}).values() if isinstance(m.get("all models"), dict)]
        if totals:
            threads = sorted({v["threads"] for m in record["seconds"].values() for k, v in m.items()
                              if k != "all models"})
            text += (f" Both models of one seed took {min(t['cpu'] for t in totals):.0f}–"
                     f"{max(t['cpu'] for t in totals):.0f} s of CPU time on {'/'.join(map(str, threads))} thread"
                     f"{'s' if threads != [1] else ''} ({min(t['wall'] for t in totals):.0f}–"
                     f"{max(t['wall'] for t in totals):.0f} s of wall-clock time on a machine shared with other "
                     f"jobs).")
    return text


def _seed_spread(record: dict, gross: dict | None) -> str:
    """Why the seeds disagree, from the record: the spread of the gross effect and of each model's recall@1."""
    seeds = [str(s) for s in record["seeds"]]
    effects = {s: next(p["effect"] for p in record["per_seed"][s] if gross and p["part"] == gross["part"])
               for s in seeds}
    hi, lo = max(effects, key=effects.get), min(effects, key=effects.get)
    r1 = {v: {s: 100 * record["metrics"][s][v]["recall@1"] for s in seeds} for v in ("vs-img2img", "vs-3tower")}
    spread = {v: max(x.values()) - min(x.values()) for v, x in r1.items()}
    text = (f"The seeds disagree: the gross effect runs from {effects[lo]:+.1f} points (seed {lo}) to "
            f"{effects[hi]:+.1f} (seed {hi}), and the pooled interval counts the test photos' noise, not the "
            f"seeds' (three seeds cannot estimate it), so read the pooled verdict as fragile. ")
    if spread["vs-img2img"] > 2 * spread["vs-3tower"]:
        worst = min(r1["vs-img2img"], key=r1["vs-img2img"].get)
        others = [r1["vs-img2img"][s] for s in seeds if s != worst]
        text += (f"Much of it is image-to-image training itself: on seed {worst} it reached a recall@1 of "
                 f"{r1['vs-img2img'][worst]:.1f}% against {min(others):.1f}–{max(others):.1f}% on the other seeds, "
                 f"while the 3-tower's recall@1 stayed within {spread['vs-3tower']:.1f} points across seeds: from "
                 f"scratch, the image-to-image loss alone can stall, and the alignment losses give the image "
                 f"encoder a second signal that steadies it. ")
    return text


def real_photo_text(record: dict | None) -> str:
    """The verdict on real photos, from a study's record (recorded or live), and the likely reason."""
    if record is None:
        return "There is no real-photo result to read: neither the data nor a recorded study is here."
    verdicts = record["verdicts"]
    seeds = [str(s) for s in record["seeds"]]
    main = verdicts.get("real-align", {})
    pooled = main.get("pooled", "inconclusive")
    agree = len({main.get(s) for s in seeds}) == 1
    gross, fine = _part(record, "real-align", "fewer gross"), _part(record, "real-align-fine", "fewer fine")
    r1, r5 = _part(record, "real-align", "recall@1"), _part(record, "real-align", f"recall@{record['k']}")
    pooled_words = "pooled over the seeds" if len(seeds) > 1 else "on this seed"
    text = (f"On real photos, the paper's claim — image-text alignment losses cut the gross false positives of "
            f"image-to-image matching, recall kept — **{pooled}** {pooled_words}"
            + ("" if len(seeds) == 1 else (", and every seed gives that verdict" if agree else
                                           f" (per seed: {', '.join(f'{main.get(s)}' for s in seeds)})"))
            + f". Against image-to-image, the 3-tower has fewer gross false positives in the top {record['k']} by "
              f"{_effect(gross)}, fewer fine ones by {_effect(fine)} (a negative number is more), a recall@1 higher "
              f"by {_effect(r1)} and a recall@{record['k']} higher by {_effect(r5)}. ")
    if not agree:
        text += _seed_spread(record, gross)
    if gross is not None and fine is not None:
        if gross["effect"] > 0 and fine["effect"] < 0:
            text += ("Where the 3-tower does cut gross false positives, the mistakes move within the kind: the "
                     "description names what the product is (an apple, a milk), so the losses pull photos of one "
                     "kind together and a wrong answer is more often another product of the same kind. ")
        elif gross["effect"] > 0:
            text += "The losses cut both kinds of false positive: the description's words sharpen the whole ranking. "
        elif gross["effect"] < 0:
            text += ("Unlike the paper, the alignment losses add gross false positives here: with every encoder "
                     "learnt from scratch on a couple of thousand photos and a few dozen descriptions, the text "
                     "tower has too little to teach the image tower. ")
    text += ("Caveat: the paper starts every tower from a CLIP pretrained on web-scale image-text pairs; here no "
             "weights can be downloaded, so both models learn from these photos alone, and the size of any effect is "
             "bounded by how little a from-scratch encoder learns in the budget. A second caveat: the training "
             "settings both models share (the temperature, the learning rate, GroupNorm in the image encoder) were "
             "chosen on image-to-image trial runs that also printed their test-photo numbers, so the test photos "
             "are not wholly untouched by that choice (made on image-to-image runs alone).")
    return text


def gpu_run_text(r: dict, limit_seconds: float = 600) -> str:
    """What one recorded `make bench-gpu` run measured (``benchmarks/results/gpu-<device>.json``): the whole study's
    time against ``limit_seconds`` only when every stage ran; otherwise the stages it left unmeasured, by name."""
    rows = r.get("rows", [])
    if r.get("partial"):  # stopped from outside (a machine's time limit) before the study ended
        done = sum(x.get("seconds") or 0 for x in rows if "not part" not in (x.get("note") or ""))
        note = f"; {r['note']}" if r.get("note") else ""
        return (f"the run was stopped from outside after {len(rows)} stages ({done:.0f} s of study){note}. "
                f"The stages it finished:")
    skipped = [x["stage"] for x in rows if (x.get("note") or "").startswith("skipped")]
    if skipped:
        return (f"{r.get('precision', '?')}; the stages it ran took {r['total_seconds']:.0f} s, and its budget of "
                f"{r['budget_seconds']:.0f} s left {len(skipped)} unmeasured ({', '.join(skipped)}), so the whole "
                f"study's time against {limit_seconds / 60:.0f} minutes is **not measured**.")
    met = "met" if r["total_seconds"] <= limit_seconds else "**not met**"
    return (f"{r.get('precision', '?')}; the study took {r['total_seconds']:.0f} s ({met} against "
            f"{limit_seconds / 60:.0f} minutes).")
