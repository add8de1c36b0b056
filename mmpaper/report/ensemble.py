"""Reading the ensemble of baseline-consistent worlds (:mod:`mmpaper.robustness`): per claim, how many worlds it
holds in, and, where it holds in some and not others, which world setting decides it. Pure functions of the record
(a dict, as ``book/recorded/robustness_<preset>.json`` holds it)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import FAILS, HOLDS, INCONCLUSIVE
from .judge import CALIBRATED

FACTOR_WORDS = {"image_gap": "the image gap", "popularity_weight": "popularity strength",
                "seen_negative_source": "where seen negatives come from"}


def consistent_worlds(record: dict) -> list[dict]:
    """The worlds that count: calibrated within tolerance on the baselines, with a whole study."""
    return [w for w in record.get("worlds", []) if w.get("consistent") and w.get("claims")]


def claim_verdicts(record: dict) -> pd.DataFrame:
    """Claims × consistent worlds: each claim's verdict in each world (columns are the worlds' ids)."""
    cols = {}
    for w in consistent_worlds(record):
        seen = {}
        for part in w["claims"]:
            seen.setdefault(part["claim_id"], part["claim_verdict"])
        cols[w["id"]] = seen
    return pd.DataFrame(cols)


def deciding_setting(verdicts: pd.Series, levels: dict[str, dict[str, str]], factors: dict[str, list[str]]) -> str:
    """Which factor a claim's verdict turns on across the worlds: the one whose two levels differ most in the
    share of worlds where the claim holds. Empty when the claim holds in every world or in none."""
    holds = {w: v == HOLDS for w, v in verdicts.items()}
    if not holds or all(holds.values()) or not any(holds.values()):
        return ""
    scored = []
    for factor, (a, b) in ((f, tuple(lv)) for f, lv in factors.items()):
        at_a = [holds[w] for w in holds if levels[w][factor] == a]
        at_b = [holds[w] for w in holds if levels[w][factor] == b]
        if not at_a or not at_b:
            continue
        scored.append((abs(np.mean(at_a) - np.mean(at_b)), factor, a, b, np.mean(at_a), np.mean(at_b)))
    if not scored:
        return ""
    scored.sort(key=lambda s: -s[0])
    gap, factor, a, b, ra, rb = scored[0]
    ties = [s[1] for s in scored if s[0] == gap]
    words = " and ".join(FACTOR_WORDS.get(f, f) for f in ties)
    if gap == 1.0 and len(ties) == 1:
        return f"{words}: holds exactly when it is {a if ra > rb else b}"
    if len(ties) > 1:
        return f"{words} alike (no single setting decides it)"
    return f"mostly {words}: holds in {ra:.0%} of the worlds where it is {a}, {rb:.0%} where it is {b}"


def summary(record: dict, book: dict[str, str] | None = None, texts: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per claim: its verdict on the book's own world (``book``: claim id → verdict), holds / does not hold
    / inconclusive in how many of the N consistent worlds, and the setting it turns on."""
    grid = claim_verdicts(record)
    worlds = consistent_worlds(record)
    levels = {w["id"]: w["levels"] for w in worlds}
    factors = record.get("factors", {})
    n = len(worlds)
    rows = []
    for claim_id, verdicts in grid.iterrows():
        calibrated = (verdicts == CALIBRATED).all()
        row = {"claim": (texts or {}).get(claim_id, claim_id),
               "book's world": (book or {}).get(claim_id, "—")}
        if calibrated:
            row.update({"holds in": "set by the calibration", "does not hold in": "—", "inconclusive in": "—",
                        "turns on": "—"})
        else:
            row.update({"holds in": f"{int((verdicts == HOLDS).sum())} of {n}",
                        "does not hold in": f"{int((verdicts == FAILS).sum())} of {n}",
                        "inconclusive in": f"{int((verdicts == INCONCLUSIVE).sum())} of {n}",
                        "turns on": deciding_setting(verdicts, levels, factors) or "—"})
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(grid.index, name="claim id"))


def pooled_effects(record: dict) -> pd.DataFrame:
    """Per claim part: the mean effect over the consistent worlds, its range, and the paper's value."""
    rows = {}
    for w in consistent_worlds(record):
        for part in w["claims"]:
            rows.setdefault((part["claim_id"], part["part"]), {"paper": part.get("paper_value"), "effects": []})
            rows[(part["claim_id"], part["part"])]["effects"].append(part["effect"])
    out = [{"claim_id": c, "part": p, "mean effect": float(np.mean(v["effects"])),
            "lowest": float(np.min(v["effects"])), "highest": float(np.max(v["effects"])),
            "paper": v["paper"]} for (c, p), v in rows.items()]
    return pd.DataFrame(out)


SHORT = {"image_gap": "gap", "popularity_weight": "pop", "seen_negative_source": "seen"}


def world_labels(record: dict) -> dict[str, str]:
    """A short label per world for tables and figures, one factor a line (``gap low`` / ``pop high`` / ``seen
    matcher``), so that eight columns side by side stay apart."""
    def line(factor: str, level: str) -> str:
        text = f"{SHORT.get(factor, factor)} {level}"
        return text if len(text) <= 12 else text.replace(" ", "\n", 1)  # "seen\nconsideration"

    return {w["id"]: "\n".join(line(f, level) for f, level in w["levels"].items()) for w in record.get("worlds", [])}
