"""The two papers in data, torch-free: Table 2's rows by name (the variant registry) and their labels, the papers'
Tables 1-4, the calibration targets and their deviations, the E/S/C/I label coding and the pairs of rows the
claims compare. Every module that needs one of these imports it from here; nothing here imports the package.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# ------------------------------------------------------------------------------------------ the label coding
E, S, C, I = 0, 1, 2, 3           # Exact, Substitute, Complement, Irrelevant: the label codes
LABELS = ("E", "S", "C", "I")      # their letters, in code order
LABEL_NAMES = {E: "Exact", S: "Substitute", C: "Complement", I: "Irrelevant", -1: "unlabelled"}
UNLABELLED = -1                    # a prediction whose (query, product) pair carries no label
PADDING = -2                       # a slot of a short top-k list: no prediction at all

PAPER_COLUMNS = ("R@100", "E", "S", "C", "I")


# ------------------------------------------------------------------------------------------------ variants
@dataclass(frozen=True)
class Variant:
    name: str
    label: str                       # the Table 2 row as the paper prints it
    model: str                       # bibert | clip | 4tmm | 3tmm | vs-* | oracle | category-random
    fusion: str | None = None        # cat | acat | mlp
    tune_bibert: bool = False
    train_mlp: bool = False
    seen_negatives: bool = False
    paper: tuple[float, ...] = ()    # Table 2: R@100, E, S, C, I (%)
    paper_net: tuple[float, ...] = ()  # Table 4: net count mean, std, net R, E, S, C, I
    paper_overlap: tuple[float, float] | None = None  # Table 3: mean, std
    control: bool = False            # a control row: shows what recall measures in the world, never in a claim
    needs_intents: bool = False      # reads the world's true shopper intents (no public data set has them)

    @property
    def trains(self) -> bool:
        return self.model == "bibert" or self.tune_bibert or self.train_mlp or self.visual

    @property
    def visual(self) -> bool:
        return self.model.startswith("vs-")


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("bibert", "BiBERT", "bibert", paper=(78.1, 52.7, 30.3, 2.4, 13.6)),
    Variant("clip", "CLIP (zero-shot)", "clip", paper=(46.0, 45.4, 26.5, 2.7, 25.4),
            paper_net=(84, 15, 10.1, 39.1, 31.5, 3.0, 31.5), paper_overlap=(15, 15)),
    Variant("4tmm-cat", "4tMM cat", "4tmm", "cat", paper=(78.6, 52.5, 31.1, 2.4, 14.0),
            paper_net=(60, 21, 20.9, 52.4, 30.8, 2.2, 14.5), paper_overlap=(39, 21)),
    Variant("4tmm-acat", "4tMM α-cat", "4tmm", "acat", paper=(78.5, 51.9, 31.2, 2.4, 14.5)),
    Variant("4tmm-mlp", "4tMM MLP", "4tmm", "mlp", train_mlp=True, paper=(75.5, 51.3, 31.1, 2.8, 14.8),
            paper_net=(62, 20, 17.7, 50.1, 31.1, 3.1, 15.8), paper_overlap=(32, 20)),
    Variant("4tmm-joint", "4tMM MLP", "4tmm", "mlp", tune_bibert=True, train_mlp=True,
            paper=(73.3, 54.0, 26.8, 2.7, 11.9), paper_net=(60, 23, 56.2, 57.6, 28.7, 2.2, 11.4),
            paper_overlap=(37, 20)),
    Variant("4tmm-joint-seenneg", "4tMM MLP", "4tmm", "mlp", tune_bibert=True, train_mlp=True, seen_negatives=True,
            paper=(77.8, 50.6, 30.5, 2.3, 13.6)),
    Variant("4tmm-mlp-seenneg", "4tMM MLP", "4tmm", "mlp", train_mlp=True, seen_negatives=True,
            paper=(76.4, 51.5, 30.2, 2.3, 13.3)),
    Variant("3tmm-joint", "3tMM MLP", "3tmm", "mlp", tune_bibert=True, train_mlp=True,
            paper=(73.1, 53.8, 26.8, 2.7, 12.1), paper_net=(59, 23, 56.2, 57.6, 28.7, 2.2, 11.5)),
    Variant("3tmm-joint-seenneg", "3tMM MLP", "3tmm", "mlp", tune_bibert=True, train_mlp=True, seen_negatives=True,
            paper=(74.9, 50.0, 30.4, 2.6, 14.0)),
    Variant("3tmm-mlp-seenneg", "3tMM MLP", "3tmm", "mlp", train_mlp=True, seen_negatives=True,
            paper=(76.8, 52.1, 29.5, 2.4, 13.2), paper_net=(55, 24, 57.9, 53.7, 31.2, 2.2, 13.1)),
]}
TABLE2 = tuple(VARIANTS)
MULTIMODAL = TABLE2[2:]

# Control rows beside Table 2 (not the paper's; computed by the same evaluation, never part of a claim): what
# recall@100 measures in the world. The oracle ranks each query's true category by true popularity; the random
# order ranks it at random; BiBERT with seen negatives separates what seen negatives do from what the image does.
CONTROLS: dict[str, Variant] = {v.name: v for v in [
    Variant("oracle-popularity", "oracle: category by popularity", "oracle", control=True, needs_intents=True),
    Variant("category-random", "oracle: category, random order", "category-random", control=True,
            needs_intents=True),
    Variant("bibert-seenneg", "BiBERT + seen neg", "bibert", seen_negatives=True, control=True),
]}

# The visual-search paper (Zhu et al., KDD 2024): query photo → product image, with and without the image-text
# alignment losses. Same CLI and run directories as Table 2; their own table (no paper numbers: the paper reports
# its offline gains only relative to its production baseline).
VISUAL_VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("vs-img2img", "image-to-image", "vs-img2img"),
    Variant("vs-3tower", "3-tower (+ alignment)", "vs-3tower"),
    Variant("vs-4tower", "4-tower (+ text query)", "vs-4tower"),
]}
VISUAL = tuple(VISUAL_VARIANTS)
ALL_VARIANTS: dict[str, Variant] = {**VARIANTS, **CONTROLS, **VISUAL_VARIANTS}
VARIANT_GROUPS = {"all": list(ALL_VARIANTS), "table2": list(VARIANTS), "controls": list(CONTROLS),
                  "visual": list(VISUAL_VARIANTS)}


def variant(name: str) -> Variant:
    if name not in ALL_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; valid: {list(ALL_VARIANTS)} or one of {list(VARIANT_GROUPS)}")
    return ALL_VARIANTS[name]


def variant_names(spec: str | list[str] | None) -> list[str]:
    """``'all'``, ``'table2'``, ``'controls'``, ``'visual'``, a comma list or a list of names → validated variant
    names."""
    if spec is None:
        return VARIANT_GROUPS["all"]
    items = [v.strip() for v in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for item in items for n in VARIANT_GROUPS.get(item, [item])]
    for name in names:
        variant(name)
    return names


def variant_label(name: str) -> str:
    """A row as the paper prints it, with its training switches: ``4tMM MLP (joint, seen neg)``; a visual-search
    model by its label; anything else by its name."""
    v = ALL_VARIANTS.get(name)
    if v is None:
        return name
    if v.visual or v.control:
        return v.label
    switches = (["joint"] if v.tune_bibert and v.train_mlp else ["train MLP"] if v.train_mlp else [])
    switches += ["seen neg"] if v.seen_negatives else []
    return f"{v.label} ({', '.join(switches)})" if switches else v.label


# --------------------------------------------------------------------------- the rows the claims compare
SEEN_NEGATIVE_PAIRS = (("4tmm-joint-seenneg", "4tmm-joint"), ("4tmm-mlp-seenneg", "4tmm-mlp"),
                       ("3tmm-joint-seenneg", "3tmm-joint"))          # (with, without) seen negatives
THREE_VS_FOUR_TOWER = (("joint", "4tmm-joint", "3tmm-joint"),       # (training, 4tMM row, 3tMM row)
                       ("joint + seen neg", "4tmm-joint-seenneg", "3tmm-joint-seenneg"),
                       ("MLP + seen neg", "4tmm-mlp-seenneg", "3tmm-mlp-seenneg"))
FOUR_TOWER_ROWS = ("4tmm-cat", "4tmm-acat", "4tmm-mlp", "4tmm-joint")  # the fusions of chapter 3
TABLE3_ROWS = ("clip", "4tmm-cat", "4tmm-mlp", "4tmm-joint")           # Table 3's rows (labels inferred)
NET_FOUR_TOWER = ("4tmm-cat", "4tmm-mlp", "4tmm-joint")                # the 4tMM rows of Table 4

# ------------------------------------------------------------------------------------------ Table 1
# Table 1 of the paper (pairs, distinct queries, distinct products per period).
PAPER_TABLE1 = {"train": {"pairs": 5_400_836, "queries": 988_090, "products": 581_158},
                "eval": {"pairs": 150_179, "queries": 38_268, "products": 3_384_067}}

# ------------------------------------------------------------------------------------- calibration targets
# Table 2's two single-modality rows (%), and Table 1's purchases per distinct query (5,400,836 / 988,090 and
# 150,179 / 38,268): the only numbers the embedded world is calibrated on (data card, DESIGN.md §4).
TARGETS = {
    "bibert": dict(zip(PAPER_COLUMNS, VARIANTS["bibert"].paper)),
    "clip": dict(zip(PAPER_COLUMNS, VARIANTS["clip"].paper)),
    "purchases_per_query": {"train": 5.5, "eval": 3.9},
}
TOLERANCE = {"R@100": 5.0, "E": 6.0, "S": 6.0, "C": 3.0, "I": 5.0}
PURCHASES_TOLERANCE = 0.10  # relative, on Table 1's shape
CONSISTENT = 1.5  # tolerance units: the worst baseline deviation a world may have and count as baseline-consistent
METRICS = PAPER_COLUMNS


def deviations(achieved: dict) -> dict[str, float]:
    """Each target's deviation in units of its tolerance (|achieved − target| / tolerance; ≤ 1 is within)."""
    dev = {}
    for row in ("bibert", "clip"):
        for m in METRICS:
            dev[f"{row} {m}"] = abs(achieved[row][m] - TARGETS[row][m]) / TOLERANCE[m]
    for split, target in TARGETS["purchases_per_query"].items():
        dev[f"purchases/query {split}"] = abs(achieved["purchases_per_query"][split] - target) / \
            (PURCHASES_TOLERANCE * target)
    return dev


def distance(achieved: dict) -> float:
    """The calibration's objective: root mean square of the tolerance-scaled deviations (smooth, unlike the
    maximum, which decides whether a setting is within tolerance)."""
    dev = list(deviations(achieved).values())
    return math.sqrt(sum(d * d for d in dev) / len(dev))


def within_tolerance(achieved: dict) -> bool:
    return max(deviations(achieved).values()) <= 1.0
