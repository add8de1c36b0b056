""""What this shows": the paragraph every chapter ends on, written from the run's numbers.

Each ``*_text`` function takes the tables it needs (the chapter computes them with :mod:`mmpaper.report.tables`;
tests hand it tables whose answer is worked out by hand) and returns Markdown: pure text, nothing is read here. No
number is typed into a sentence: ours come from the runs, the paper's from :mod:`mmpaper.paper`. Each paragraph says what the chapter found, where the
world agrees with the paper and where it does not, and the likely reason, chosen by the numbers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..paper import FOUR_TOWER_ROWS, PAPER_TABLE1, SEEN_NEGATIVE_PAIRS, deviations, variant_label
from . import views

# The world's designed difference from Amazon's catalog (data card): titles state colour and pattern only
# sometimes, images always show them. It is the first place to look when images add more here than in the paper.
IMAGE_REASON = ("in our world images always show colour, pattern and shape while titles state the colour and the "
                "pattern only in a calibrated share of products, so how much an image can add depends on that share")
SCALE_REASON = ("our world and towers are far smaller than the paper's (Table 1 in the preliminaries), so a difference "
                "of a point or two is within what another seed could give")


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
    if record.get("status") != views.CALIBRATED:
        text = (f"**Not yet calibrated.** The record for the `{world}` world ({where}, {when}) has status "
                f"“{record.get('status', 'missing')}”")
        return text + (f"; {ok} of {len(within)} seeds are within tolerance so far." if within else ".")
    minutes = float(record.get("trial_seconds_total", record.get("seconds", float("nan")))) / 60
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
    lower_recall = r["clip"] < r["bibert"]
    relevant = es["clip"] >= 0.8 * es["bibert"]
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
    else:
        text += ("Unlike the paper, CLIP alone matches or beats BiBERT on recall. The likely reason: " + IMAGE_REASON +
                 ", and a small text tower trained on few purchases has not learned the catalog's vocabulary.")
    return text


# ------------------------------------------------------------------------------------------- four-tower

def four_tower_text(t2: pd.DataFrame) -> str:
    """Each 4tMM fusion against BiBERT, recall and Exact, ours and the paper's."""
    parts, agree = [], 0
    for name in FOUR_TOWER_ROWS:
        d, pd_ = _delta(t2, name, "R@100"), _delta(t2, name, "R@100", paper=True)
        agree += _same_sign(d, pd_)
        parts.append(f"{variant_label(name)} {_d(d)} (paper {_d(pd_)})")
    text = ("Against BiBERT, recall@100 changes by " + "; ".join(parts) + " points. "
            f"The direction agrees with the paper for {agree} of {len(FOUR_TOWER_ROWS)} fusions. ")
    gains = [_delta(t2, n, "R@100") - _delta(t2, n, "R@100", paper=True) for n in FOUR_TOWER_ROWS]
    if np.mean(gains) > 3:
        text += ("Our fusions gain more recall than the paper's. The likely reason: " + IMAGE_REASON + ". ")
    elif np.mean(gains) < -3:
        text += ("Our fusions lose more recall than the paper's. The likely reason: the frozen CLIP features are weaker "
                 "here than a public CLIP on Amazon's images, so fusing them pulls the ranking away from BiBERT's. ")
    else:
        text += "The size of the changes is close to the paper's. "
    joint_e = float(t2.loc["4tmm-joint", "E"])
    best_e = float(t2.loc[list(FOUR_TOWER_ROWS) + ["bibert"], "E"].max())
    text += (f"Joint BiBERT + MLP tuning reaches Exact {_f(joint_e)}% "
             + ("— the best of these rows, as in the paper." if joint_e >= best_e else
                f"where the best of these rows reaches {_f(best_e)}%; in the paper the joint row has the best Exact."))
    return text


# ------------------------------------------------------------------------------------------ three-tower
def three_tower_text(cmp: pd.DataFrame) -> str:
    """4tMM minus 3tMM recall per training setting (``views.three_vs_four_tower``), ours against the paper's."""
    gaps = cmp["4tMM R@100"] - cmp["3tMM R@100"]
    paper = cmp["paper 4tMM R@100"] - cmp["paper 3tMM R@100"]
    parts = "; ".join(f"{t} {_d(g)} (paper {_d(p)})" for t, g, p in zip(cmp.index, gaps, paper))
    text = f"4tMM minus 3tMM recall@100, per training setting: {parts} points. "
    if gaps.mean() >= -0.5 and paper.mean() >= -0.5:
        text += ("As in the paper, dropping CLIP's text tower costs a little or nothing: the product-side MLP learns "
                 "to bring CLIP's image space to BiBERT's text space.")
    elif gaps.mean() < -0.5:
        text += ("Unlike the paper, 3tMM beats 4tMM here. The likely reason: our stand-in CLIP's text tower, "
                 "pretrained on everyday captions, places shoppers' queries less well than BiBERT does, so feeding it to "
                 "the query side adds noise the 3-tower model avoids.")
    else:
        text += "The paper's 3tMM trails its 4tMM; ours does too."
    return text


# ------------------------------------------------------------------------------------------- experiments
def experiments_text(t2: pd.DataFrame) -> str:
    """All of Table 2: how many rows move recall the paper's way, the best rows, and seen negatives."""
    rows = [n for n in t2.index if n != "bibert" and n != "clip"]
    agree = [n for n in rows if _same_sign(_delta(t2, n, "R@100"), _delta(t2, n, "R@100", paper=True))]
    best = t2.loc[rows, "R@100"].idxmax()
    pbest = t2.loc[rows, "paper R@100"].idxmax()
    best_e, pbest_e = t2.loc[rows, "E"].idxmax(), t2.loc[rows, "paper E"].idxmax()
    text = (f"Of the {len(rows)} multimodal rows, {len(agree)} move recall@100 away from BiBERT in the same direction "
            f"as the paper's. Our best recall comes from {variant_label(best)} ({_f(t2.loc[best, 'R@100'])}%), the "
            f"paper's from {variant_label(pbest)} ({_f(t2.loc[pbest, 'paper R@100'])}%); our best Exact from "
            f"{variant_label(best_e)}, the paper's from {variant_label(pbest_e)}. ")
    pairs = [(a, b) for a, b in SEEN_NEGATIVE_PAIRS if a in t2.index and b in t2.index]
    if pairs:
        dr = np.mean([t2.loc[a, "R@100"] - t2.loc[b, "R@100"] for a, b in pairs])
        pdr = np.mean([t2.loc[a, "paper R@100"] - t2.loc[b, "paper R@100"] for a, b in pairs])
        text += (f"Seen negatives change recall by {_d(dr)} points on average (paper {_d(pdr)}). ")
    gaps = np.array([_delta(t2, n, "R@100") - _delta(t2, n, "R@100", paper=True) for n in rows])
    if np.abs(gaps).max() <= 2:
        text += "Where we disagree, " + SCALE_REASON + "."
    elif gaps.mean() > 0:
        text += (f"Our rows gain on BiBERT by up to {_f(gaps.max())} points more than the paper's; the likely reason "
                 "is the world: " + IMAGE_REASON + ".")
    else:
        text += (f"Our rows fall behind BiBERT by up to {_f(-gaps.min())} points more than the paper's; the likely "
                 "reason is the tiny towers and few training epochs of this preset, which fine-tuning on top of a "
                 "BiBERT trained to convergence cannot improve and can disturb.")
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
    text += ("As in the paper, CLIP overlaps least: it ranks by the picture, BiBERT by the words. " if lowest == "clip"
             else "Unlike the paper, CLIP is not the least overlapping model. ")
    low = t3["mean"].max() < 0.6 * k
    text += ("Every model's overlap is low, as in the paper: a multimodal model's list is mostly not BiBERT's. " if low
             else "Some models keep most of BiBERT's list, where the paper's keep less than half. ")
    recall = next((c for c in t4.columns if c.startswith("net R") and not c.startswith("paper")), None)
    four = [n for n in ("4tmm-cat", "4tmm-mlp", "4tmm-joint") if n in t4.index]
    if recall and four:
        es = {n: t4.loc[n, "net E"] + t4.loc[n, "net S"] for n in four}
        base_es = t2.loc["bibert", "E"] + t2.loc["bibert", "S"]
        good = all(v >= 0.8 * base_es for v in es.values())
        text += ("Net predictions per query for the 4tMM rows: " +
                 ", ".join(f"{variant_label(n)} {_f(t4.loc[n, 'net mean'])}" for n in four) +
                 "; their Exact + Substitute share " + ", ".join(f"{_f(v)}%" for v in es.values()) +
                 f" against {_f(base_es)}% for BiBERT's own list. ")
        text += ("As in the paper, the net predictions are many and of a quality close to BiBERT's: the images find "
                 "relevant products the words miss." if good else
                 "Unlike the paper, the net predictions are of lower quality than BiBERT's own list: "
                 "fusion here also pulls in products that only look like the query.")
    return text


# ------------------------------------------------------------------------------------------ visual search
def visual_search_text(vs: pd.DataFrame) -> str:
    """False positives and recall of the three visual-search models."""
    fp = next(c for c in vs.columns if c.startswith("false_positive@"))
    rec = next((c for c in vs.columns if c == "recall@10"), next(c for c in vs.columns if c.startswith("recall@")))
    a, b, c = (vs.loc[n] for n in ("vs-img2img", "vs-3tower", "vs-4tower"))
    text = (f"The share of false positives ({fp.replace('_', ' ')}) goes from {_f(a[fp])}% for image-to-image "
            f"matching to {_f(b[fp])}% with the alignment losses (3-tower) and {_f(c[fp])}% with the short text query "
            f"(4-tower); {rec} goes {_f(a[rec])}% → {_f(b[rec])}% → {_f(c[rec])}%. ")
    if b[fp] < a[fp]:
        text += ("As the paper reports, aligning images with titles cuts the false positives that come from matching "
                 "local visual patterns: the title names the category the photo's colours and stripes do not. ")
    else:
        text += ("Unlike the paper, the alignment losses do not cut false positives here; the likely reason is the "
                 "few epochs this preset trains the towers for, too few for the titles' categories to reshape the "
                 "image space. ")
    text += ("The 4-tower model improves again, as in the paper; its text names the kind of product in only a quarter "
             "of the photos (and a colour or a pattern, or nothing, in the rest), so the gain comes from partial text."
             if c[fp] < b[fp] else
             "The 4-tower model does not improve on the 3-tower here, where the paper reports it does; the shopper's "
             "text names the kind of product in only a quarter of the photos, which may be too little to help.")
    return text


# ------------------------------------------------------------------------------------- reproduction report
def reproduction_text(claims: pd.DataFrame, preset: str) -> str:
    """How many claims hold, do not hold or are inconclusive, and what that says."""
    records = views.claim_records(claims)
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("holds", "does not hold", "inconclusive")}
    text = (f"On preset `{preset}`, {counts['holds']} of {len(records)} claims hold, {counts['does not hold']} do not "
            f"hold and {counts['inconclusive']} are inconclusive. ")
    held = [r["claim"] for r in records if r["verdict"] == "holds"]
    if held:
        text += "Holding: " + "; ".join(f"*{c}*" for c in held) + ". "
    text += ("A claim that does not hold is a finding about our world, calibrated only on the two single-modality "
             "baselines, not a correction of the paper; an inconclusive one needs more eval queries or seeds to "
             "decide.")
    return text


def claim_sections(claims: pd.DataFrame) -> str:
    """Per claim, a short section: the paper's words, each part's rule, our effect with its interval and its
    verdict, the claim's verdict and why."""
    out = []
    for i, r in enumerate(views.claim_records(claims), 1):
        lines = [f"**{i}. {r['claim']}** — verdict: **{r['verdict']}**", "", f"- *The paper:* {r['words']}"]
        for part in r["parts"]:
            quantity = f" ({part['quantity']})" if part.get("quantity") else ""
            paper = f"; the paper: {part['paper']}" if part.get("paper") not in (None, "") and \
                not pd.isna(part.get("paper")) else ""
            lines.append(f"- *{part['part']}*{quantity}. Rule: {part['rule']}. Ours: {views.effect_text(part)}"
                         f"{paper} — {part['verdict']}.")
        lines.append(f"- *Why:* {_why(r)}")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _why(r: dict) -> str:
    parts = r["parts"]
    deciding = [p for p in parts if p["verdict"] == r["verdict"]] or parts
    p = deciding[0]
    where = {"holds": "lies wholly inside", "does not hold": "lies wholly outside",
             "inconclusive": "straddles the bound of"}.get(r["verdict"], "is compared with")
    return (f"the 95% interval of “{p['part']}” ({views.effect_text(p)}) {where} its rule ({p['rule']})"
            + ("." if len(parts) == 1 else f"; {sum(q['verdict'] == 'holds' for q in parts)} of {len(parts)} "
               f"parts hold."))


# ------------------------------------------------------------------------------------------- benchmarks
def benchmarks_text(live: pd.DataFrame, floor: str, n_queries: int, n_products: int) -> str:
    """The live three-way search measurement: each method's time against the raw FAISS floor."""
    ratio = live["× floor"]
    others = [m for m in live.index if m != floor]
    text = (f"On the machine that built this book, exact top-100 search of {n_queries:,} queries over "
            f"{n_products:,} products took " +
            "; ".join(f"{_f(float(live.loc[m, 'seconds (best of 3)']) * 1000)} ms with {m} "
                      f"({float(ratio[m]):.2f}× the floor)" for m in others) +
            f", against {_f(float(live.loc[floor, 'seconds (best of 3)']) * 1000)} ms for {floor}. ")
    agree = [m for m in others if float(live.loc[m, "same top-100 as floor %"]) >= 99.9]
    text += (f"{' and '.join(agree) if agree else 'No method'} returned the same top-100 as the floor. "
             "The paper does not report search speed; these numbers only show that exact evaluation at its scale "
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
             "bounded by how little a from-scratch encoder learns in the budget.")
    return text
