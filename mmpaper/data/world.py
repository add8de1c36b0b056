"""The embedded world: a synthetic multimodal catalog generated deterministically from a seed, at any size.

What is designed in (the data card ``data_cards/synthetic_world.md`` restates it for readers, with the values the
``cpu`` world's calibration chose):

* **Products** carry attributes (department, category, colour, pattern, material, brand, popularity). The
  *title* names the category always, the brand and material usually, and the colour and the pattern each with
  probability ``1 − image_gap``; the *image* (a small RGB rendering) always shows the category's silhouette, the
  colour and the pattern, with jitter and noise, and never the brand or the material. The image gap is what an
  image can add for a shopper who asks for a colour or a pattern; in the calibrated ``cpu`` world it is small
  (most titles state both), so the image has little to add there — the ensemble of worlds varies it.
* **Queries** come from shopper intents (a category plus some of colour, pattern, material, brand) written in the
  shopper register (synonyms, shuffled word order, typos), so their words overlap the purchased title only in part.
* **Purchases**: a shopper considers products of the searched kind as the shop shows them (∝ popularity^
  ``exposure``) and buys the best by utility — each matching asked attribute adds ``attribute_weight``,
  ``popularity_weight`` · log-popularity, Gumbel noise — so substitutes get bought too; a few are of a
  complementary kind, or of another kind from the same department (Irrelevant by the labels), as in a noisy log.
  Train-period and eval-period queries are drawn separately (the eval month from its own random stream), as the
  paper's 12 training months and later evaluation month.
* **Labels** for any (query, product) pair follow from attributes: Exact (right category, every asked attribute
  matches), Substitute (right category, some asked attribute differs), Complement (a complementary category),
  Irrelevant (anything else).
* **Seen negatives**, as the paper defines them: products the shop's lexical matcher (BM25 over titles,
  :mod:`mmpaper.data.matcher`) returned for a train-period query, in its top ``matcher_depth``, that the query did not
  buy in the train period; at most ``n_seen_negatives`` per query, never filled in, from their own random stream.
  ``seen_negative_source="consideration"`` takes them from the shopper's own consideration set instead.
* A **caption corpus** of generic images described in everyday words (colours, patterns, shapes, a few common
  nouns; no brands, no materials, no titles) pretrains the tiny CLIP that stands in for "public pretrained CLIP".
* **Query photos** (visual-search chapter): new renderings of a product (other crop, background, clutter,
  occlusion), and for each a **distractor** product that shares its colour and pattern (its local visual pattern)
  but belongs to another category.

No training table (train purchases, seen negatives, train-period queries, photos, captions) depends on the eval
month: change it and they stay the same, byte for byte.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..fsio import config_hash
from ..provenance import cores
from ..paper import C, E, I, S  # noqa: F401  (the label codes, re-exported for the world's readers)
from .labels import COMPLEMENT, KIN, NONE, intent_labels
from .matcher import LexicalMatcher
from .render import render, render_blocks
from .vocabulary import (CATEGORIES, CATEGORY_NAMES, COLOUR_NAMES, COLOUR_SHARE, COLOURS, DEPARTMENT_MATERIALS,
                         DEPARTMENTS, MATERIAL_NAMES, MATERIALS, PATTERN_NAMES, PATTERNS, SILHOUETTE_WORDS, SYLLABLES,
                         TITLE_EXTRAS)

WORLD_VERSION = 8  # bump when generation changes, so cached worlds are never reused across versions
CAPTION_VERSION = 6  # bump when the caption corpus changes: the stage-0 CLIPs pretrained on it are cached by it
__all__ = ["COMPLEMENT", "DEPARTMENTS", "KIN", "NONE", "World", "WorldConfig", "WORLD_PRESETS", "generate_world",
           "intent_labels", "world_config", "CATEGORY_NAMES", "COLOUR_NAMES", "MATERIAL_NAMES", "PATTERN_NAMES"]


SEEN_NEGATIVE_SOURCES = ("matcher", "consideration")
IMAGE_STREAMS = ("one", "blocks")


@dataclass(frozen=True)
class WorldConfig:
    """Every setting of the world. The settings a claim can turn on are the mechanisms named in the data card's
    table (``data_cards/synthetic_world.md``): the image gap, popularity strength and exposure, where seen negatives
    come from and the matcher's depth; each has a one-line comment here."""

    seed: int = 0
    n_products: int = 12_000
    n_train_queries: int = 6_000        # train-period query realisations (identical strings merge into one query)
    n_eval_queries: int = 1_000         # eval-period query realisations, drawn from their own random stream
    purchases_train: float = 5.5        # purchases per train-period query: 1 + Poisson(mean - 1) (Table 1: 5.5)
    purchases_eval: float = 3.9         # per eval-period query, a shorter window (Table 1: 3.9)
    n_brands: int = 60
    category_skew: float = 1.0          # category sizes ~ 1 / rank^skew: a few big categories, a long tail
    n_captions: int = 12_000            # generic image-caption pairs for CLIP pretraining
    p_caption_colour: float = 0.5       # share of captions that name the colour (the object is always named)
    p_caption_pattern: float = 0.3      # share that name the pattern (when it is not plain)
    p_caption_extra: float = 0.0        # share that also carry an everyday word web captions use beside an object
                                        # ("new", "large", "for men", "gift"): words a public CLIP has seen
    n_query_photos: int = 1_000         # visual-search eval query photos (each with a distractor)
    n_train_photos: int = 6_000         # visual-search training photos (of other products)
    n_seen_negatives: int = 3           # per query, as in the paper
    image_size: int = 32
    image_gap: float = 0.6              # IMAGE GAP: share of titles that leave out the colour (and, apart, the
                                        # pattern) the image shows; what an image can add for a shopper who asks
    p_title_material: float = 0.7
    p_title_brand: float = 0.8
    p_query_colour: float = 0.6         # share of intents that ask for a colour
    p_query_pattern: float = 0.05
    p_query_material: float = 0.05
    p_query_brand: float = 0.2
    p_typo: float = 0.06                # per word of a query
    p_query_extra: float = 0.0          # share of queries that add a word no label judges ("for men", "gift", "xl")
    attribute_weight: float = 2.0       # utility of each matching asked attribute (a mismatch costs as much)
    popularity_weight: float = 0.5      # POPULARITY STRENGTH: utility of log-popularity (shoppers favour what sells)
    brand_popularity: float = 0.0       # share of log-popularity's variance that is the brand's (some brands sell more)
    n_candidates: int = 64              # products a shopper considers per purchase decision (same category)
    exposure: float = 0.0               # EXPOSURE: how much the shop shows popular products (considered ~ pop^e)
    p_offtarget: float = 0.05           # purchases of a complement instead of the searched kind (noisy logs)
    p_sibling: float = 0.0              # purchases of another kind of the same department (searched boots, bought
                                        # sneakers): in the log, and Irrelevant by the labels
    seen_negative_source: str = "matcher"  # SEEN NEGATIVES: "matcher" (the shop's lexical matches the query did not
                                        # buy, as the paper defines them) or "consideration" (the other candidates of
                                        # the shopper's own purchase decision)
    matcher_depth: int = 100            # MATCHER DEPTH: products the shop's matcher shows per query (its results)
    image_streams: str = "one"          # "one": every pixel from the world's random streams, image after image;
                                        # "blocks": each block of 1,024 images from a stream of its own, so a
                                        # paper-scale world renders on every core (same pixels with any number)

    def __post_init__(self):
        shares = ("p_caption_colour", "p_caption_pattern", "p_caption_extra", "image_gap", "p_title_material", "p_title_brand",
                  "p_query_colour", "p_query_pattern", "p_query_material", "p_query_brand", "p_typo",
                  "p_query_extra", "brand_popularity", "p_offtarget", "p_sibling")
        for name in shares:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"world setting {name}={value!r}: a share must lie in [0, 1]")
        counts = ("n_products", "n_train_queries", "n_eval_queries", "n_brands", "n_captions", "n_candidates",
                  "matcher_depth", "image_size")
        for name in counts:
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"world setting {name}={value!r}: must be a positive integer")
        for name in ("n_seen_negatives", "n_query_photos", "n_train_photos"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 0):
                raise ValueError(f"world setting {name}={value!r}: must be a non-negative integer")
        for name in ("purchases_train", "purchases_eval"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"world setting {name}={getattr(self, name)!r}: at least one purchase per query")
        for name in ("attribute_weight", "popularity_weight", "exposure", "category_skew"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"world setting {name}={getattr(self, name)!r}: must not be negative")
        if self.image_streams not in IMAGE_STREAMS:
            raise ValueError(f"world setting image_streams={self.image_streams!r}: valid: {list(IMAGE_STREAMS)}")
        if self.seen_negative_source not in SEEN_NEGATIVE_SOURCES:
            raise ValueError(f"world setting seen_negative_source={self.seen_negative_source!r}: valid: "
                             f"{list(SEEN_NEGATIVE_SOURCES)}")

    def _added(self) -> dict:
        """Settings added after worlds were cached, while at what every earlier world did: left out of the keys,
        so those worlds (and the runs keyed by them) stay valid."""
        return {} if self.image_streams == "one" else {"image_streams": self.image_streams}

    def key(self) -> str:
        settings = {k: v for k, v in asdict(self).items() if k != "image_streams"}
        return config_hash({"version": WORLD_VERSION, **settings, **self._added()})

    def caption_key(self) -> str:
        """What the caption corpus depends on (it is drawn from its own random stream, apart from the catalog),
        so the stage-0 CLIP pretrained on it is reused by every world that differs only in its catalog."""
        blob = {"version": CAPTION_VERSION, "seed": self.seed, "n_captions": self.n_captions,
                "image_size": self.image_size, "p_caption_colour": self.p_caption_colour,
                "p_caption_pattern": self.p_caption_pattern}
        if self.p_caption_extra:  # named only when used, so the corpora (and CLIPs) cached before it stay valid
            blob["p_caption_extra"] = self.p_caption_extra
        return config_hash({**blob, **self._added()})


# The mechanisms a claim can turn on, in one line each: the book's chapter on the world and the data card show
# them with their values (tests/test_world_mechanisms.py checks the card names every one).
MECHANISMS = {
    "image_gap": "share of titles that leave out the colour (and, apart, the pattern) the image shows: what an "
                 "image can add for a shopper who asks for one",
    "popularity_weight": "popularity strength: how much a product's popularity sways a purchase, beside its fit",
    "exposure": "how much the shop shows popular products: a shopper considers products ~ popularity^exposure",
    "seen_negative_source": "where seen negatives come from: the shop's lexical matches the query did not buy "
                            "(matcher), or the purchase decision's other candidates (consideration)",
    "matcher_depth": "how many products the shop's matcher shows per query (its results page)",
    "p_sibling": "share of purchases of another kind from the searched kind's department (Irrelevant by the labels)",
    "brand_popularity": "share of popularity that is the brand's (a title names the brand, a picture cannot)",
}


WORLD_PRESETS = {
    "smoke": WorldConfig(n_products=600, n_train_queries=400, n_eval_queries=120, n_captions=800,
                         n_query_photos=100, n_train_photos=400, n_brands=20),
    # the cpu world: the settings chosen by its calibration on the two baselines (data_cards/calibration_cpu.json;
    # a test checks that record and code agree), and the caption corpus sized for the stage-0 CLIP
    "cpu": WorldConfig(n_captions=24_000, p_caption_extra=0.3, n_products=3_850, category_skew=0.706,
                       n_train_queries=6_200, n_eval_queries=20_000,
                       p_query_colour=0.06, p_query_brand=0.02, p_query_extra=0.95, p_typo=0.08, image_gap=0.076,
                       exposure=2.685, popularity_weight=1.517, brand_popularity=0.017, attribute_weight=4.868,
                       p_offtarget=0.001, p_sibling=0.0, purchases_train=4.168, purchases_eval=2.7),
}
# not yet calibrated (no GPU was lent to run its calibration): the cpu world's settings at the largest sizes whose
# whole study an arithmetic estimate fitted into ten minutes on one H200-class GPU (BENCHMARKS.md, "The gpu preset";
# on one H200 its first ten stages took 439 s, and the rest projected from them make about 13). 400,000 products did not:
# 100,000 keep the paper's regime of many more products of a kind than a top-100 holds (the smallest of the 27
# categories has about 1,600, the largest about 16,000; the cpu world's smallest have fewer than 100)
WORLD_PRESETS["gpu"] = replace(WORLD_PRESETS["cpu"], n_products=100_000, n_train_queries=50_000,
                               n_eval_queries=20_000, n_captions=50_000, n_query_photos=5_000,
                               n_train_photos=20_000, n_brands=400, image_size=64, image_streams="blocks")


def world_config(preset: str, **overrides) -> WorldConfig:
    if preset not in WORLD_PRESETS:
        raise ValueError(f"unknown world preset {preset!r}; valid: {sorted(WORLD_PRESETS)}")
    return replace(WORLD_PRESETS[preset], **overrides)


# --------------------------------------------------------------------------------------------------- text
def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.integers(3)
    if kind == 0:
        return word[:i] + word[i + 1:]                      # drop a letter
    if kind == 1:
        return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]  # swap two letters
    return word[:i] + word[i] + word[i:]                    # double a letter


def _brand_names(n: int, rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
        if name not in names:
            names.append(name)
    return names


def _pick(options: list[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """A generated (or loaded) world. Tables are pandas DataFrames; images are uint8 arrays ``[N, S, S, 3]``."""

    config: WorldConfig
    brands: list[str]
    products: pd.DataFrame
    queries: pd.DataFrame
    purchases: pd.DataFrame
    seen_negatives: pd.DataFrame
    captions: pd.DataFrame
    photos: pd.DataFrame
    images: np.ndarray
    caption_images: np.ndarray
    photo_images: np.ndarray
    path: Path | None = None
    generation_seconds: float | None = None

    # -- labels
    def labels(self, query_ids, product_ids) -> np.ndarray:
        """E/S/C/I label codes (0..3) for any (query, product) pairs, from attributes (vectorised)."""
        q = self.queries.set_index("query_id").loc[np.asarray(query_ids).ravel()]
        p = self.products.iloc[np.asarray(product_ids).ravel()]
        return intent_labels(q[["category", "colour", "pattern", "material", "brand"]].to_numpy(),
                             p[["category", "colour", "pattern", "material", "brand"]].to_numpy()
                             ).reshape(np.shape(query_ids))

    def split_queries(self, split: str) -> pd.DataFrame:
        return self.queries[self.queries["split"] == split].reset_index(drop=True)

    def split_purchases(self, split: str) -> pd.DataFrame:
        return self.purchases[self.purchases["split"] == split].reset_index(drop=True)

    def table1(self) -> pd.DataFrame:
        """The paper's Table 1 for this world: pairs, distinct queries, distinct products per split."""
        rows = []
        for split in ("train", "eval"):
            pairs = self.split_purchases(split)
            products = pairs["product_id"].nunique() if split == "train" else len(self.products)
            rows.append({"split": split, "pairs": len(pairs), "queries": pairs["query_id"].nunique(),
                         "products": products})
        return pd.DataFrame(rows).set_index("split")


def _generate_products(cfg: WorldConfig, rng: np.random.Generator, brands: list[str]) -> pd.DataFrame:
    n = cfg.n_products
    # category sizes follow a power law over a seeded order: a few big categories and a long tail, so some
    # product kinds have fewer products than a top-100 holds (as the long tail of a real catalog does)
    size = 1.0 / np.arange(1, len(CATEGORY_NAMES) + 1) ** cfg.category_skew
    category = rng.choice(len(CATEGORY_NAMES), n, p=rng.permutation(size / size.sum()))
    colour = rng.choice(len(COLOUR_NAMES), n, p=np.array([COLOUR_SHARE[c] for c in COLOUR_NAMES]) /
                        sum(COLOUR_SHARE.values()))
    pattern = rng.choice(len(PATTERN_NAMES), n, p=[0.4, 0.2, 0.15, 0.15, 0.1])
    department_materials = [[MATERIAL_NAMES.index(m) for m in DEPARTMENT_MATERIALS[CATEGORIES[c][0]]]
                            for c in CATEGORY_NAMES]
    material = np.array([options[int(u * len(options))] for options, u in
                         zip((department_materials[c] for c in category), rng.random(n))])
    brand_share = 1.0 / (np.arange(cfg.n_brands) + 3.0)  # a long tail of brands, a few big ones
    brand = rng.choice(cfg.n_brands, n, p=brand_share / brand_share.sum())
    popularity = rng.lognormal(0.0, 1.0, n)
    if cfg.brand_popularity > 0:
        # some brands sell better than others: a share of log-popularity is the brand's, which a title that
        # names the brand tells and a picture does not (the brand effects come from their own stream, so a world
        # without them is the same world as before)
        effect = np.random.default_rng([cfg.seed, 2]).standard_normal(cfg.n_brands)
        popularity = np.exp(np.sqrt(cfg.brand_popularity) * effect[brand] +
                            np.sqrt(1.0 - cfg.brand_popularity) * np.log(popularity))
    stated = 1.0 - cfg.image_gap
    show = rng.random((4, n)) < np.array([stated, stated, cfg.p_title_material, cfg.p_title_brand])[:, None]
    titles = []
    for i in range(n):
        words = []
        if show[3, i]:
            words.append(brands[brand[i]])
        if show[0, i]:
            words.append(COLOUR_NAMES[colour[i]])
        if show[1, i] and PATTERN_NAMES[pattern[i]] != "plain":
            words.append(PATTERNS[PATTERN_NAMES[pattern[i]]][0])
        if show[2, i]:
            words.append(MATERIAL_NAMES[material[i]])
        words.append(_pick(CATEGORIES[CATEGORY_NAMES[category[i]]][2], rng))
        if rng.random() < 0.5:
            words.append(_pick(TITLE_EXTRAS, rng))
        if rng.random() < 0.3:
            words.append(f"{_pick(SYLLABLES, rng)}{int(rng.integers(10, 999))}")  # a model number
        titles.append(" ".join(words))
    return pd.DataFrame({
        "product_id": np.arange(n, dtype=np.int64), "title": titles,
        "department": [CATEGORIES[CATEGORY_NAMES[c]][0] for c in category],
        "category": category.astype(np.int16), "colour": colour.astype(np.int16),
        "pattern": pattern.astype(np.int16), "material": material.astype(np.int16),
        "brand": brand.astype(np.int16), "popularity": popularity.astype(np.float32),
        # what the title says of what the image shows (the image gap, measured)
        "title_states_colour": show[0], "title_states_pattern": show[1] & (pattern != PATTERN_NAMES.index("plain"))})


def _intents(cfg: WorldConfig, rng: np.random.Generator, n: int, products: pd.DataFrame) -> np.ndarray:
    """Shopper intents ``[n, 5]``, anchored on real products so every intent can be satisfied."""
    anchor = products.iloc[rng.choice(len(products), n, p=_popularity_p(products))]
    intent = anchor[["category", "colour", "pattern", "material", "brand"]].to_numpy().astype(np.int64)
    ask = rng.random((n, 4)) < np.array([cfg.p_query_colour, cfg.p_query_pattern, cfg.p_query_material,
                                         cfg.p_query_brand])
    intent[:, 1:][~ask] = NONE
    return intent


def _popularity_p(products: pd.DataFrame) -> np.ndarray:
    w = products["popularity"].to_numpy(np.float64) ** 0.5
    return w / w.sum()


def _query_text(intent: np.ndarray, rng: np.random.Generator, cfg: WorldConfig, brands: list[str]) -> str:
    cat, colour, pattern, material, brand = (int(v) for v in intent)
    spec = CATEGORIES[CATEGORY_NAMES[cat]]
    noun = _pick(spec[3], rng) if rng.random() < 0.7 else _pick(spec[2], rng)
    words = [noun]
    modifiers = []
    if colour != NONE:
        modifiers.append(_pick(COLOURS[COLOUR_NAMES[colour]][1], rng))
    if pattern != NONE:
        modifiers.append(_pick(PATTERNS[PATTERN_NAMES[pattern]][1], rng))
    if material != NONE:
        modifiers.append(_pick(MATERIALS[MATERIAL_NAMES[material]], rng))
    if brand != NONE:
        modifiers.append(brands[brand])
    rng.shuffle(modifiers)
    words = modifiers + words if rng.random() < 0.75 else words + modifiers  # shoppers also type noun-first
    if rng.random() < cfg.p_query_extra:  # words that narrow nothing the labels judge ("for men", "gift", "xl")
        words.append(_pick(TITLE_EXTRAS, rng))
    text = " ".join(words).split()
    text = [_typo(w, rng) if rng.random() < cfg.p_typo else w for w in text]
    return " ".join(text)


def _purchases(cfg: WorldConfig, rng: np.random.Generator, intents: np.ndarray, products: pd.DataFrame,
               mean_purchases: float, sibling_rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per query: its purchased product ids, and the candidates the shopper considered and did not buy.

    A shopper considers ``n_candidates`` products of the searched kind and buys the best by utility: each asked
    attribute that matches adds ``attribute_weight`` (a mismatch subtracts it), plus ``popularity_weight`` ·
    log-popularity and Gumbel noise, so substitutes get bought too. A share ``p_offtarget`` of purchases is of a
    complementary kind instead (a case bought after searching for a phone): purchase logs are noisy. A share
    ``p_sibling`` of the rest is of another kind from the same department that is no complement (sneakers bought
    after searching for boots), drawn as the shop shows them (popularity^exposure): the log counts it, the labels
    call it Irrelevant. Those are drawn from ``sibling_rng``, its own stream, so a world without them is the same
    world as before."""
    attrs = products[["category", "colour", "pattern", "material", "brand"]].to_numpy().astype(np.int64)
    popularity = products["popularity"].to_numpy(np.float64)
    log_pop = np.log(popularity)
    by_category = [np.flatnonzero(attrs[:, 0] == c) for c in range(len(CATEGORY_NAMES))]
    n_q = len(intents)
    n_buy = 1 + rng.poisson(max(mean_purchases - 1, 0), n_q)
    n_off = rng.binomial(n_buy, cfg.p_offtarget)
    n_sib = sibling_rng.binomial(n_buy - n_off, cfg.p_sibling) if cfg.p_sibling > 0 else np.zeros_like(n_buy)
    bought: list[np.ndarray] = [np.empty(0, np.int64)] * n_q
    considered: list[np.ndarray] = [np.empty(0, np.int64)] * n_q
    weights = cfg.attribute_weight * np.array([1.0, 0.75, 0.5, 1.0])  # colour, pattern, material, brand
    for c, pool in enumerate(by_category):
        rows = np.flatnonzero(intents[:, 0] == c)
        if rows.size == 0 or pool.size == 0:
            continue
        # what a shopper considers is what the shop shows: popular products more often (exposure ~ popularity^e)
        shown = popularity[pool] ** cfg.exposure
        cand = pool[rng.choice(pool.size, (rows.size, min(cfg.n_candidates, 4 * pool.size)), p=shown / shown.sum())]
        asked = intents[rows, 1:, None] != NONE
        match = attrs[cand][:, :, 1:].transpose(0, 2, 1) == intents[rows, 1:, None]
        utility = (weights[None, :, None] * np.where(asked, np.where(match, 1.0, -1.0), 0.0)).sum(1)
        utility = utility + cfg.popularity_weight * log_pop[cand] + rng.gumbel(size=cand.shape)
        order = np.argsort(-utility, axis=1, kind="stable")
        ranked = np.take_along_axis(cand, order, axis=1)
        complements = np.concatenate([by_category[o] for o in np.flatnonzero(COMPLEMENT[c])] or [pool])
        p_comp = popularity[complements] / popularity[complements].sum()
        siblings = np.concatenate([by_category[o] for o in np.flatnonzero(KIN[c])] or [np.empty(0, np.int64)])
        p_sib = None
        if cfg.p_sibling > 0 and siblings.size:
            # the shop shows the other kinds as it shows the searched one (popularity^exposure), so the same few
            # popular products of a kin kind are the ones bought instead
            p_sib = popularity[siblings] ** cfg.exposure
            p_sib /= p_sib.sum()
        for j, r in enumerate(rows):
            uniq = pd.unique(ranked[j])
            n_kin = n_sib[r] if siblings.size else 0  # a kind without kin buys on target instead
            n_on = n_buy[r] - n_off[r] - n_kin
            on_target = uniq[:n_on]
            off_target = rng.choice(complements, n_off[r], p=p_comp) if n_off[r] else np.empty(0, np.int64)
            sibling = sibling_rng.choice(siblings, n_kin, p=p_sib) if n_kin else np.empty(0, np.int64)
            bought[r] = pd.unique(np.concatenate([on_target, off_target, sibling]))
            considered[r] = uniq[n_on:]
    return bought, considered


def _seen_negatives(cfg: WorldConfig, queries: pd.DataFrame, train_bought: pd.DataFrame,
                    considered: pd.DataFrame, products: pd.DataFrame, rng: np.random.Generator,
                    workers: int = 1) -> pd.DataFrame:
    """Up to ``n_seen_negatives`` seen negatives per train-period query: products the query was shown and did not
    buy in the train period (``seen_negative_source``): the shop's lexical matches (its top ``matcher_depth`` by
    BM25 over titles, :class:`~mmpaper.data.matcher.LexicalMatcher`) or the other candidates the shopper weighed in
    the purchase decision. A query with fewer shown-and-not-bought products has fewer; nothing fills the rest, and
    nothing of the eval period is read."""
    ids = queries["query_id"].to_numpy()
    if cfg.n_seen_negatives == 0 or len(ids) == 0:
        return pd.DataFrame({"query_id": np.empty(0, np.int64), "product_id": np.empty(0, np.int64)})
    if cfg.seen_negative_source == "matcher":
        shown = LexicalMatcher(products["title"].tolist()).match(queries["query"].tolist(), cfg.matcher_depth,
                                                                  workers=workers)
    else:
        by_query = considered.groupby("query_id")["product_id"].apply(lambda p: pd.unique(p.to_numpy()))
        shown = [by_query.get(q, np.empty(0, np.int64)) for q in ids]
    bought = train_bought.groupby("query_id")["product_id"].apply(set)
    rows, negatives = [], []
    for q, candidates in zip(ids, shown):
        was_bought = bought.get(q, ())
        not_bought = np.array([p for p in candidates if p not in was_bought], dtype=np.int64)
        take = not_bought[rng.permutation(not_bought.size)[: cfg.n_seen_negatives]]
        rows.append(np.full(take.size, q, dtype=np.int64))
        negatives.append(take)
    return pd.DataFrame({"query_id": np.concatenate(rows), "product_id": np.concatenate(negatives)})


def _images(cfg: WorldConfig, rng: np.random.Generator, key: list[int], category, colour, pattern, *,
            out: np.ndarray | None = None, workers: int = 1, **kwargs) -> np.ndarray:
    """Render pictures as the world's ``image_streams`` says: from ``rng`` image after image, or block by block
    from streams keyed by ``[seed, 8, *key]`` on ``workers`` threads (:func:`~mmpaper.data.render.render_blocks`)."""
    if cfg.image_streams == "one":
        return render(category, colour, pattern, rng, cfg.image_size, out=out, **kwargs)
    return render_blocks(category, colour, pattern, [cfg.seed, 8, *key], cfg.image_size, out=out, workers=workers,
                         **kwargs)


def _captions(cfg: WorldConfig, rng: np.random.Generator, workers: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    n = cfg.n_captions
    category = rng.integers(0, len(CATEGORY_NAMES), n)
    colour = rng.integers(0, len(COLOUR_NAMES), n)
    pattern = rng.integers(0, len(PATTERN_NAMES), n)
    texts = []
    says = rng.random((n, 3)) < np.array([[cfg.p_caption_colour, cfg.p_caption_pattern, 0.5]])
    for (c, col, pat), (say_colour, say_pattern, form) in zip(zip(category, colour, pattern), says):
        # a caption names the object always, its colour and pattern sometimes, as people describe pictures. The
        # noun is a plain word for it (the everyday noun, the catalog's noun, or a word shoppers use), or a
        # description of the shape. Never a brand, a material or a title.
        spec = CATEGORIES[CATEGORY_NAMES[c]]
        u = rng.random()
        if u < 0.15:
            noun = SILHOUETTE_WORDS[spec[1][0]]
        elif u < 0.5:
            noun = spec[4]
        elif u < 0.75:
            noun = _pick(spec[2], rng)
        else:
            noun = _pick(spec[3], rng)
        words = [_pick(COLOURS[COLOUR_NAMES[col]][2], rng)] if say_colour else []
        if say_pattern and PATTERN_NAMES[pat] != "plain":
            words.append(_pick(PATTERNS[PATTERN_NAMES[pat]][2], rng))
        described = " ".join(words + [noun])
        texts.append(f"a photo of a {described}" if form else described)
    if cfg.p_caption_extra > 0:
        # everyday words beside the object, from their own stream (a corpus without them is the same corpus)
        extra_rng = np.random.default_rng([cfg.seed, 8])
        has = extra_rng.random(n) < cfg.p_caption_extra
        which = extra_rng.integers(0, len(TITLE_EXTRAS), n)
        before = extra_rng.random(n) < 0.5
        prefix = "a photo of a "
        texts = [t if not h else
                 f"{t} {TITLE_EXTRAS[w]}" if not b else
                 f"{prefix}{TITLE_EXTRAS[w]} {t[len(prefix):]}" if t.startswith(prefix) else f"{TITLE_EXTRAS[w]} {t}"
                 for t, h, w, b in zip(texts, has, which, before)]
    # pictures from elsewhere, framed unlike catalog photos: smaller or cropped objects, off centre, on coloured
    # backgrounds among other things, grainier
    images = np.empty((n, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    clutter = rng.integers(0, 3, n)
    for k in range(3):
        rows = np.flatnonzero(clutter == k)
        images[rows] = _images(cfg, rng, [1, k], category[rows], colour[rows], pattern[rows],
                               background=rng.uniform(60, 255, (rows.size, 3)), scale=(0.55, 1.15), shift=0.25,
                               noise=12.0, clutter=k, workers=workers)
    return pd.DataFrame({"caption_id": np.arange(n, dtype=np.int64), "caption": texts}), images


def _distractors(rng: np.random.Generator, attrs: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """For each photographed product, a random product with the same colour and pattern (the local visual
    pattern) but another category; ``-1`` where none exists. Vectorised over a (look, category) sort."""
    n_cat = len(CATEGORY_NAMES)
    look = attrs[:, 1] * len(PATTERN_NAMES) + attrs[:, 2]
    code = look * n_cat + attrs[:, 0]
    order = np.argsort(code, kind="stable")
    sorted_look, sorted_code = look[order], code[order]
    g0, g1 = np.searchsorted(sorted_look, look[pid], "left"), np.searchsorted(sorted_look, look[pid], "right")
    s0, s1 = np.searchsorted(sorted_code, code[pid], "left"), np.searchsorted(sorted_code, code[pid], "right")
    n_cand = (g1 - g0) - (s1 - s0)
    pos = g0 + np.floor(rng.random(len(pid)) * np.maximum(n_cand, 1)).astype(np.int64)
    pos = np.where(pos >= s0, pos + (s1 - s0), pos)  # skip the photographed product's own category
    return np.where(n_cand > 0, order[np.minimum(pos, len(order) - 1)], -1).astype(np.int64)


PHOTO_TEXT_KINDS = ("nothing", "colour", "pattern", "kind")
PHOTO_TEXT_SHARES = (0.35, 0.25, 0.15, 0.25)  # set by hand as a plausible shopper, never tuned on any outcome


def _photo_query(attrs: np.ndarray, rng: np.random.Generator, cfg: WorldConfig) -> str:
    """The 4-tower model's text typed beside the photo, as a shopper types it: partial and noisy. Nothing at
    all, a colour word, a pattern word, or the kind of product in shopper words, each with typos; which one is
    drawn independently of the product and of its distractor (the false-positive definition)."""
    category, colour, pattern = (int(v) for v in attrs)
    kind = PHOTO_TEXT_KINDS[int(rng.choice(len(PHOTO_TEXT_KINDS), p=PHOTO_TEXT_SHARES))]
    if kind == "nothing":
        return ""
    if kind == "colour":
        words = _pick(COLOURS[COLOUR_NAMES[colour]][1], rng)
    elif kind == "pattern":
        words = _pick(PATTERNS[PATTERN_NAMES[pattern]][1], rng)
    else:
        spec = CATEGORIES[CATEGORY_NAMES[category]]
        words = _pick(spec[3], rng) if rng.random() < 0.7 else _pick(spec[2], rng)
    return " ".join(_typo(w, rng) if rng.random() < cfg.p_typo else w for w in words.split())


def _photos(cfg: WorldConfig, rng: np.random.Generator, products: pd.DataFrame,
            workers: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Eval photos, then training photos of *other* products, each re-rendered as a shopper would shoot it."""
    n_eval = min(cfg.n_query_photos, len(products))
    n_train = min(cfg.n_train_photos, len(products) - n_eval)
    pid = rng.permutation(len(products))[:n_eval + n_train]
    attrs = products[["category", "colour", "pattern"]].to_numpy().astype(np.int64)
    distractor = _distractors(rng, attrs, pid)
    queries = [_photo_query(a, rng, cfg) for a in attrs[pid]]
    n = len(pid)
    background = rng.uniform(120, 255, (n, 3))
    images = np.empty((n, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    # in pieces of 20,000 from one stream (as the first worlds were drawn; render composes a chunk at a time)
    step = 20_000 if cfg.image_streams == "one" else max(n, 1)
    for a in range(0, n, step):
        sl, rows = slice(a, a + step), pid[a:a + step]
        _images(cfg, rng, [2], attrs[rows, 0], attrs[rows, 1], attrs[rows, 2], out=images[sl],
                background=background[sl], scale=(0.9, 1.25), shift=0.2, noise=14.0, clutter=3, occlusion=0.12,
                workers=workers)
    split = np.where(np.arange(n) < n_eval, "eval", "train")
    return pd.DataFrame({"photo_id": np.arange(n, dtype=np.int64), "product_id": pid.astype(np.int64),
                         "distractor_id": distractor, "split": split, "query": queries}), images


def generate_world(cfg: WorldConfig, progress: bool = False, workers: int | None = None) -> World:
    """Generate a world from its config; same config, same world, bit for bit. ``workers`` threads (default:
    every core) share the shop's matching and, in a world with ``image_streams="blocks"``, the rendering; the
    world is the same with any number."""
    # tqdm.auto picks a notebook's widget bar and warns at import when there is none: imported when a bar is made,
    # after a chapter has set its warning filters
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    workers = workers or cores()
    rng = np.random.default_rng(cfg.seed)
    steps = tqdm(total=6, desc="world", disable=not progress, leave=False)
    brands = _brand_names(cfg.n_brands, rng)
    products = _generate_products(cfg, rng, brands)
    steps.update()
    shape = (cfg.n_products, cfg.image_size, cfg.image_size, 3)
    if np.prod(shape) > 256 * 2**20:  # paper-scale worlds: render into a disk-backed array, not into RAM
        spool = Path(tempfile.mkdtemp(prefix="mmpaper-images-")) / "images.npy"
        images = np.lib.format.open_memmap(spool, mode="w+", dtype=np.uint8, shape=shape)
    else:
        images = np.empty(shape, dtype=np.uint8)
    step = 50_000 if cfg.image_streams == "one" else cfg.n_products  # pieces from one stream, as first drawn
    for start in range(0, cfg.n_products, step):
        sl = slice(start, min(start + step, cfg.n_products))
        _images(cfg, rng, [0], products["category"].to_numpy()[sl], products["colour"].to_numpy()[sl],
                products["pattern"].to_numpy()[sl], out=images[sl], workers=workers)
    steps.update()
    # the train period continues the catalog's stream; the eval month, the photos and the seen-negative draws have
    # their own, so no training table depends on the eval month (change it, and they stay the same)
    streams = {"train": rng, "eval": np.random.default_rng([cfg.seed, 4])}
    tables, considered = [], []
    next_id = 0
    for stream, (split, n, mean_purchases) in enumerate((("train", cfg.n_train_queries, cfg.purchases_train),
                                                         ("eval", cfg.n_eval_queries, cfg.purchases_eval))):
        r = streams[split]
        intents = _intents(cfg, r, n, products)
        texts = [_query_text(it, r, cfg, brands) for it in intents]
        bought, seen_not_bought = _purchases(cfg, r, intents, products, mean_purchases,
                                             np.random.default_rng([cfg.seed, 3, stream]))
        ids = np.arange(next_id, next_id + n, dtype=np.int64)
        next_id += n
        q = pd.DataFrame({"query_id": ids, "query": texts, "split": split})
        for j, col in enumerate(["category", "colour", "pattern", "material", "brand"]):
            q[col] = intents[:, j].astype(np.int16)
        counts = np.array([b.size for b in bought])
        tables.append((q, pd.DataFrame({"query_id": np.repeat(ids, counts),
                                        "product_id": np.concatenate(bought).astype(np.int64), "split": split})))
        if split == "train":
            sizes = np.array([c.size for c in seen_not_bought])
            considered.append(pd.DataFrame({"query_id": np.repeat(ids, sizes),
                                            "product_id": np.concatenate(seen_not_bought).astype(np.int64)}))
        steps.update()
    queries = pd.concat([t[0] for t in tables], ignore_index=True)
    # identical query strings are one query, as in a search log: merge them onto their first id (a train-period
    # query's, when the string was searched then)
    first = queries.groupby("query")["query_id"].transform("first")
    remap = dict(zip(queries["query_id"], first))
    purchases = pd.concat([t[1] for t in tables], ignore_index=True)
    purchases["query_id"] = purchases["query_id"].map(remap).astype(np.int64)
    # de-duplicated within each period only: a pair bought in the train months and again in the eval month is
    # an eval purchase too (the paper's eval month is a log of its own)
    purchases = purchases.drop_duplicates(["query_id", "product_id", "split"]).reset_index(drop=True)
    purchases["split"] = purchases["split"].astype(str)
    queries = queries[queries["query_id"] == first].reset_index(drop=True)
    considered = pd.concat(considered, ignore_index=True)
    considered["query_id"] = considered["query_id"].map(remap).astype(np.int64)
    train_queries = queries[queries["split"] == "train"]  # before any is marked "both": train-period strings only
    seen = _seen_negatives(cfg, train_queries, purchases[purchases["split"] == "train"], considered, products,
                           np.random.default_rng([cfg.seed, 6]), workers)
    # a query string that recurs in the eval month keeps its train-period id; its eval purchases still count
    eval_ids = set(purchases.loc[purchases["split"] == "eval", "query_id"])
    queries.loc[queries["query_id"].isin(eval_ids) & (queries["split"] == "train"), "split"] = "both"
    captions, caption_images = _captions(cfg, np.random.default_rng([cfg.seed, 1]), workers)  # its own stream
    steps.update()
    photos, photo_images = _photos(cfg, np.random.default_rng([cfg.seed, 5]), products, workers)
    steps.update()
    steps.close()
    return World(cfg, brands, products, queries, purchases, seen, captions, photos, images, caption_images,
                 photo_images, generation_seconds=time.perf_counter() - t0)


