"""The papers' claims as statistical tests on our runs: the catalogue (each claim in the paper's words, its parts,
their quantities and rules). How a part is judged is :mod:`mmpaper.report.judge`.

Each part is read at 95% with no correction for multiplicity: of some 40 parts, one or two may land on the wrong
side of a margin by chance, which is what the seed sweep (``mmpaper.sweep``) is for. Quantities built on a max or
min over rows ("best Exact", "lowest for CLIP") are recomputed in every resample, so the choice of the best row is
resampled too.

Margins are judgements, stated here once and printed in every rule:
"""
from __future__ import annotations

from ..paper import MULTIMODAL, NET_FOUR_TOWER, SEEN_NEGATIVE_PAIRS, TABLE2, TABLE3_ROWS, THREE_VS_FOUR_TOWER
from ..stats import above, below, between
from .judge import Claim, Part, _max, _min

FAR_LOWER_RECALL = 10.0   # points: "far lower recall" (the paper's gap is 32)
HIGH_ES_RATIO = 0.8       # CLIP's E+S share at least 80% of BiBERT's: "high Exact+Substitute" (paper: 0.87)
A_LITTLE = 5.0            # points: "lifts recall a little" and "like 4tMM, with some degradation"
LOW_OVERLAP = 0.5         # overlap below half of the top-k is "low" (paper: at most 39 of 100)
MANY_NET = 0.5            # net predictions above half of the top-k are "many" (paper: 55-62 of 100)
HIGH_QUALITY_NET = 0.9    # net E+S at least 90% of BiBERT's own E+S is "high quality" (paper: 0.98-1.04)
NET_RECALL_LOW = (10.0, 20.0)  # points: "10% to 20%" net recall for cat and MLP
NET_RECALL_JOINT = 50.0   # points: "over 50%" for the joint-training rows


def _table2_claims() -> list[Claim]:
    pts = "points"
    seen_pairs = SEEN_NEGATIVE_PAIRS
    three_pairs = [(a, b) for _, a, b in THREE_VS_FOUR_TOWER]
    joint_others = [v for v in TABLE2 if v not in ("4tmm-joint", "3tmm-joint")]
    table3 = TABLE3_ROWS
    four = NET_FOUR_TOWER
    concat_parts = []
    for v, label in [("4tmm-cat", "cat"), ("4tmm-acat", "α-cat (α chosen on validation recall)")]:
        concat_parts += [
            Part(f"{label} lifts recall a little", f"R@100({v}) − R@100(bibert)", pts,
                 lambda s, v=v: s.recall(v) - s.recall("bibert"), between(0, A_LITTLE)),
            Part(f"{label}: Substitute share up", f"S({v}) − S(bibert)", pts,
                 lambda s, v=v: s.share(v, "S") - s.share("bibert", "S"), above(0)),
            Part(f"{label}: Exact share down", f"E({v}) − E(bibert)", pts,
                 lambda s, v=v: s.share(v, "E") - s.share("bibert", "E"), below(0)),
        ]
    return [
        Claim("clip", "CLIP alone has high Exact+Substitute precision but far lower recall than BiBERT", (
            Part("far lower recall", "R@100(bibert) − R@100(clip)", pts,
                 lambda s: s.recall("bibert") - s.recall("clip"), above(FAR_LOWER_RECALL)),
            Part("high Exact+Substitute", "(E+S)(clip) / (E+S)(bibert)", "ratio",
                 lambda s: s.share("clip", "ES") / s.share("bibert", "ES"), above(HIGH_ES_RATIO)),
        )),
        Claim("concat", "Concat fusion (cat and α-cat) lifts recall a little over BiBERT, with mixed precision "
              "(gains in Substitute, loss in Exact)", tuple(concat_parts)),
        Claim("joint", "Jointly tuning BiBERT and the MLP (4tMM) gives the best Exact and the lowest Irrelevant "
              "share, but lower recall than BiBERT", (
                  Part("best Exact", "E(4tmm-joint) − max E(every other row but 3tmm-joint)", pts,
                       lambda s: s.share("4tmm-joint", "E") - _max(s.share(v, "E") for v in joint_others),
                       above(0)),
                  Part("lowest Irrelevant", "min I(every other row but 3tmm-joint) − I(4tmm-joint)", pts,
                       lambda s: _min(s.share(v, "I") for v in joint_others) - s.share("4tmm-joint", "I"),
                       above(0)),
                  Part("lower recall", "R@100(bibert) − R@100(4tmm-joint)", pts,
                       lambda s: s.recall("bibert") - s.recall("4tmm-joint"), above(0)),
              )),
        Claim("mlp", "Training the MLP alone (4tMM) underperforms BiBERT except on Complement", (
            Part("lower recall", "R@100(bibert) − R@100(4tmm-mlp)", pts,
                 lambda s: s.recall("bibert") - s.recall("4tmm-mlp"), above(0)),
            Part("lower Exact", "E(bibert) − E(4tmm-mlp)", pts,
                 lambda s: s.share("bibert", "E") - s.share("4tmm-mlp", "E"), above(0)),
            Part("higher Irrelevant", "I(4tmm-mlp) − I(bibert)", pts,
                 lambda s: s.share("4tmm-mlp", "I") - s.share("bibert", "I"), above(0)),
            Part("higher Complement", "C(4tmm-mlp) − C(bibert)", pts,
                 lambda s: s.share("4tmm-mlp", "C") - s.share("bibert", "C"), above(0)),
        )),
        Claim("seenneg", "Seen negatives help recall more than precision (Exact share)", tuple(
            p for a, b in seen_pairs for p in (
                Part(f"{b}: recall gain", f"R@100({a}) − R@100({b})", pts,
                     lambda s, a=a, b=b: s.recall(a) - s.recall(b), above(0)),
                Part(f"{b}: recall gain exceeds Exact gain",
                     f"[R@100({a}) − R@100({b})] − [E({a}) − E({b})]", pts,
                     lambda s, a=a, b=b: (s.recall(a) - s.recall(b)) - (s.share(a, "E") - s.share(b, "E")),
                     above(0)),
            ))),
        Claim("3tmm", "3tMM behaves like 4tMM with some degradation (recall)", tuple(
            Part(f"{b}: alike, slightly behind {a}", f"R@100({a}) − R@100({b})", pts,
                 lambda s, a=a, b=b: s.recall(a) - s.recall(b), between(0, A_LITTLE))
            for a, b in three_pairs)),
        Claim("overlap", "Overlap with BiBERT's top-k is low, and lowest for CLIP", (
            Part("low", "max over clip, 4tmm-cat, 4tmm-mlp, 4tmm-joint of mean overlap / k", "share of k",
                 lambda s: _max(s.mean("overlap", v) for v in table3) / s.k, below(LOW_OVERLAP)),
            Part("lowest for CLIP", "min over 4tmm-cat, 4tmm-mlp, 4tmm-joint of mean overlap − mean overlap(clip)",
                 "products per query", lambda s: _min(s.mean("overlap", v) for v in four) - s.mean("overlap", "clip"),
                 above(0)),
        )),
        Claim("net", "The 4tMM variants' net predictions are many and of high quality; they recover 10-20% of the "
              "purchases BiBERT missed for cat and MLP, over 50% for joint training", (
                  Part("many", "min over 4tmm-cat, 4tmm-mlp, 4tmm-joint of mean net predictions / k", "share of k",
                       lambda s: _min(s.mean("net", v) for v in four) / s.k, above(MANY_NET)),
                  Part("high quality", "min over 4tmm-cat, 4tmm-mlp, 4tmm-joint of net (E+S) / (E+S)(bibert)",
                       "ratio", lambda s: _min(s.share(v, "ES", net=True) for v in four) / s.share("bibert", "ES"),
                       above(HIGH_QUALITY_NET)),
                  *[Part(f"{v}: net recall 10-20%", f"net recall of missed purchases({v})", pts,
                         lambda s, v=v: s.net_recall_missed(v), between(*NET_RECALL_LOW))
                    for v in ("4tmm-cat", "4tmm-mlp")],
                  *[Part(f"{v}: net recall over 50%", f"net recall of missed purchases({v})", pts,
                         lambda s, v=v: s.net_recall_missed(v), above(NET_RECALL_JOINT))
                    for v in ("4tmm-joint", "3tmm-joint", "3tmm-mlp-seenneg")],
              )),
        Claim("headline", "A multimodal model improves on text-only BiBERT in recall or in relevance, depending on "
              "how language and vision are aligned", (
                  Part("in recall", "max over the 4tMM/3tMM rows of R@100(row) − R@100(bibert)", pts,
                       lambda s: _max(s.recall(v) for v in MULTIMODAL) - s.recall("bibert"), above(0)),
                  Part("in relevance", "max over the 4tMM/3tMM rows of (E − I)(row) − (E − I)(bibert)", pts,
                       lambda s: _max(s.share(v, "E") - s.share(v, "I") for v in MULTIMODAL)
                       - (s.share("bibert", "E") - s.share("bibert", "I")), above(0)),
              ), combine="any"),
    ]


def _visual_claims(k_precision: int) -> list[Claim]:
    pts, fp, r = "points", f"false positives@{k_precision}", "recall@10"
    return [
        Claim("vs-align", "Visual search: image-text alignment losses cut image-to-image false positives, with "
              "recall kept (3-tower vs image-to-image)", (
                  Part("fewer false positives", f"{fp}(vs-img2img) − {fp}(vs-3tower)", pts,
                       lambda s: s.photo_rate("fp", "vs-img2img") - s.photo_rate("fp", "vs-3tower"), above(0)),
                  Part("distractor wins less often", "distractor preferred(vs-img2img) − (vs-3tower)", pts,
                       lambda s: s.photo_rate("preferred", "vs-img2img") - s.photo_rate("preferred", "vs-3tower"),
                       above(0)),
                  Part("no recall cost (the paper reports offline recall gains)",
                       f"{r}(vs-3tower) − {r}(vs-img2img)", pts,
                       lambda s: s.recall("vs-3tower", r) - s.recall("vs-img2img", r), above(0)),
              ), units="photo",
              paper="fewer false positives, better offline recall; +4.95% image-matching click-through online"),
        Claim("vs-4tower", "Visual search: the 4-tower model (photo + what the shopper typed) improves on the "
              "3-tower", (
                  Part("fewer false positives", f"{fp}(vs-3tower) − {fp}(vs-4tower)", pts,
                       lambda s: s.photo_rate("fp", "vs-3tower") - s.photo_rate("fp", "vs-4tower"), above(0)),
                  Part("higher recall", f"{r}(vs-4tower) − {r}(vs-3tower)", pts,
                       lambda s: s.recall("vs-4tower", r) - s.recall("vs-3tower", r), above(0)),
              ), units="photo", paper="4-tower better offline; +1.13% click-through online over the 3-tower"),
    ]


def claim_definitions(k_precision: int = 10, visual: bool = True) -> list[Claim]:
    """Every claim of the reproduction report, in the order the report prints them."""
    return _table2_claims() + (_visual_claims(k_precision) if visual else [])


