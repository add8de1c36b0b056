"""Relevance labels from attributes: Exact, Substitute, Complement or Irrelevant for any (intent, product) pair,
and which kinds of product complement or neighbour each other (the label coding itself is :mod:`mmpaper.paper`'s)."""
from __future__ import annotations

import numpy as np

from ..paper import C, E, I, S
from .vocabulary import CATEGORIES, CATEGORY_NAMES, DEPARTMENTS

NONE = -1  # an attribute the intent does not ask for


def intent_labels(intent: np.ndarray, product: np.ndarray) -> np.ndarray:
    """Label codes for intents ``[n, 5]`` against products ``[n, 5]`` (category, colour, pattern, material,
    brand; ``-1`` in an intent means "not asked for")."""
    same_category = intent[:, 0] == product[:, 0]
    asked = intent[:, 1:] != NONE
    mismatch = (asked & (intent[:, 1:] != product[:, 1:])).any(axis=1)
    complement = COMPLEMENT[intent[:, 0], product[:, 0]]
    return np.select([same_category & ~mismatch, same_category, complement], [E, S, C], default=I).astype(np.int8)


COMPLEMENT = np.zeros((len(CATEGORY_NAMES), len(CATEGORY_NAMES)), dtype=bool)
for _a, _spec in CATEGORIES.items():
    for _b in _spec[5]:
        COMPLEMENT[CATEGORY_NAMES.index(_a), CATEGORY_NAMES.index(_b)] = True
        COMPLEMENT[CATEGORY_NAMES.index(_b), CATEGORY_NAMES.index(_a)] = True
# kin kinds: another kind of the same department that is no complement (boots and sneakers), bought instead
_DEPARTMENT = np.array([DEPARTMENTS.index(CATEGORIES[c][0]) for c in CATEGORY_NAMES])
KIN = (_DEPARTMENT[:, None] == _DEPARTMENT[None, :]) & ~COMPLEMENT & ~np.eye(len(CATEGORY_NAMES), dtype=bool)
