import os

import numpy as np
import pandas as pd
import pytest

from mmpaper.data.vocabulary import COLOURS
from mmpaper.data.cache import load_world, save_world
from mmpaper.data.world import (COLOUR_NAMES, E, I, NONE, S, C, generate_world, intent_labels, world_config,
                                CATEGORY_NAMES)


@pytest.fixture(scope="module")
def world():
    return generate_world(world_config("smoke"))


def test_same_seed_same_world_files(tmp_path, world):
    again = generate_world(world_config("smoke"))
    save_world(world, tmp_path / "a")
    save_world(again, tmp_path / "b")
    for name in sorted(os.listdir(tmp_path / "a")):
        if name in ("world.json", "manifest.json"):  # the generation time, and the manifest's hash of it
            continue
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = generate_world(world_config("smoke", seed=1))
    assert not other.products["title"].equals(world.products["title"])


def test_titles_omit_visual_attributes_that_images_show(world):
    cfg = world.config
    titles = world.products["title"]
    colours = world.products["colour"].map(lambda c: COLOUR_NAMES[c])
    states_colour = np.array([c in t.split() for t, c in zip(titles, colours)])
    assert abs(states_colour.mean() - (1 - cfg.image_gap)) < 0.08
    np.testing.assert_array_equal(states_colour, world.products["title_states_colour"])
    # the image shows the colour: the commonest object pixel is nearest to the product's palette colour
    palette = np.array([COLOURS[c][0] for c in COLOUR_NAMES], dtype=float)
    imgs = np.asarray(world.images, dtype=float)
    centre = imgs[:, 12:20, 12:20].reshape(len(imgs), -1, 3)
    dist = ((centre[:, :, None, :] - palette[None, None]) ** 2).sum(-1)
    votes = np.apply_along_axis(np.bincount, 1, dist.argmin(-1), minlength=len(palette))
    plain = world.products["pattern"].to_numpy() == 0
    accuracy = (votes.argmax(1) == world.products["colour"].to_numpy())[plain].mean()
    assert accuracy > 0.85


def test_queries_overlap_purchased_titles_only_in_part(world):
    q = world.queries.set_index("query_id")["query"]
    t = world.products["title"]
    p = world.purchases
    all_in = np.mean([set(q[a].split()) <= set(t[b].split()) for a, b in zip(p["query_id"], p["product_id"])])
    some_in = np.mean([bool(set(q[a].split()) & set(t[b].split())) for a, b in zip(p["query_id"], p["product_id"])])
    assert all_in < 0.3 and some_in > 0.3


def test_purchases_are_mostly_exact_or_substitute_and_seen_negatives_not_bought(world):
    p = world.split_purchases("eval")
    labels = world.labels(p["query_id"].to_numpy(), p["product_id"].to_numpy())
    on_target = np.isin(labels, [E, S]).mean()
    # the only other purchases are the noisy log's complements, about p_offtarget of them
    assert set(np.unique(labels[~np.isin(labels, [E, S])])) <= {C}
    assert abs((1 - on_target) - world.config.p_offtarget) < 0.05
    assert (labels == E).mean() > 0.3 and (labels == S).mean() > 0.05
    train = world.split_purchases("train")  # no eval-period purchase is known to the training tables
    bought = set(zip(train["query_id"], train["product_id"]))
    negs = world.seen_negatives
    assert not any((a, b) in bought for a, b in zip(negs["query_id"], negs["product_id"]))
    assert negs.groupby("query_id").size().median() == world.config.n_seen_negatives


def test_intent_labels_hand_worked():
    mug, teapot, rug = (CATEGORY_NAMES.index(c) for c in ("mug", "teapot", "rug"))
    intent = np.array([[mug, 0, NONE, NONE, NONE]] * 4)
    product = np.array([[mug, 0, 1, 2, 3], [mug, 1, 1, 2, 3], [teapot, 0, 0, 0, 0], [rug, 0, 0, 0, 0]])
    np.testing.assert_array_equal(intent_labels(intent, product), [E, S, C, I])


def test_distractors_share_the_look_but_not_the_category(world):
    ph = world.photos[world.photos["distractor_id"] >= 0]
    a = world.products.iloc[ph["product_id"]].reset_index(drop=True)
    b = world.products.iloc[ph["distractor_id"]].reset_index(drop=True)
    assert len(ph) > 0.8 * len(world.photos)
    assert (a["colour"] == b["colour"]).all() and (a["pattern"] == b["pattern"]).all()
    assert (a["category"] != b["category"]).all()


def test_distractor_sampling_matches_brute_force_candidates():
    from mmpaper.data.world import _distractors

    rng = np.random.default_rng(3)
    n = 120
    attrs = np.stack([rng.integers(0, 4, n), rng.integers(0, 5, n), rng.integers(0, 2, n)], 1)
    attrs[0] = [9, 7, 1]  # a look shared with nobody else: no distractor exists
    pid = np.arange(n)
    cands = [set(np.flatnonzero((attrs[:, 1] == attrs[p, 1]) & (attrs[:, 2] == attrs[p, 2])
                                & (attrs[:, 0] != attrs[p, 0])).tolist()) for p in pid]
    seen = [set() for _ in pid]
    for trial in range(60):
        d = _distractors(np.random.default_rng(trial), attrs, pid)
        for j in pid:
            if not cands[j]:
                assert d[j] == -1
            else:
                assert d[j] in cands[j]
                seen[j].add(int(d[j]))
    # uniform over the candidates: 60 draws from at most 8 candidates miss one with probability < 1e-3
    small = [j for j in pid if 0 < len(cands[j]) <= 8]
    assert small and all(seen[j] == cands[j] for j in small)


def test_photo_splits_show_disjoint_products_and_carry_a_text_query(world):
    ph = world.photos
    assert set(ph["split"]) == {"train", "eval"}
    assert (ph["split"] == "eval").sum() == world.config.n_query_photos
    train, ev = (set(ph.loc[ph["split"] == s, "product_id"]) for s in ("train", "eval"))
    assert not train & ev
    assert len(world.photo_images) == len(ph)


def test_photo_text_is_partial_noisy_and_blind_to_the_distractor():
    """The 4-tower's text is what a shopper types beside a photo: nothing, a colour, a pattern or the kind, drawn
    without looking at the product's distractor, so it cannot be designed to separate the two."""
    from mmpaper.data.vocabulary import CATEGORIES, PATTERNS
    from mmpaper.data.world import PATTERN_NAMES, PHOTO_TEXT_SHARES

    # three seeds' photos (1,800): the shares are a draw, and one seed's 600 photos can sit 4 standard errors out
    worlds = [generate_world(world_config("smoke", seed=s, n_query_photos=300, n_train_photos=300, p_typo=0.0))
              for s in (0, 1, 2)]
    ph = pd.concat([w.photos for w in worlds], ignore_index=True)
    prod = pd.concat([w.products.iloc[w.photos["product_id"]] for w in worlds], ignore_index=True)
    empty = ph["query"].eq("")
    colour = np.array([q in COLOURS[COLOUR_NAMES[c]][1] for q, c in zip(ph["query"], prod["colour"])])
    pattern = np.array([q in PATTERNS[PATTERN_NAMES[p]][1] for q, p in zip(ph["query"], prod["pattern"])]) & ~colour
    kind = np.array([q in CATEGORIES[CATEGORY_NAMES[c]][2] + CATEGORIES[CATEGORY_NAMES[c]][3]
                     for q, c in zip(ph["query"], prod["category"])]) & ~colour & ~pattern
    assert (empty | colour | pattern | kind).all()  # every text describes the photographed product, or nothing
    shares = np.array([empty.mean(), colour.mean(), pattern.mean(), kind.mean()])
    assert np.abs(shares - np.array(PHOTO_TEXT_SHARES)).max() < 0.07
    # blind to the distractor: the text says the kind as often when a distractor exists as when none does
    has = (ph["distractor_id"] >= 0).to_numpy()
    if (~has).sum() >= 30:
        assert abs(kind[has].mean() - kind[~has].mean()) < 0.2


def test_a_query_that_recurs_keeps_its_purchases_in_both_periods():
    w = generate_world(world_config("smoke"))
    both = w.queries.loc[w.queries["split"] == "both", "query_id"]
    assert len(both) > 0
    p = w.purchases[w.purchases["query_id"].isin(both)]
    assert set(p["split"]) == {"train", "eval"}
    twice = p.groupby(["query_id", "product_id"])["split"].nunique()
    # the same pair in both periods stays in both (de-duplication is per period)
    assert not p.duplicated(["query_id", "product_id", "split"]).any()
    assert (twice >= 1).all()


def test_catalog_has_a_long_tail_of_categories_and_plausible_materials(world):
    from mmpaper.data.vocabulary import DEPARTMENT_MATERIALS
    from mmpaper.data.world import MATERIAL_NAMES

    sizes = world.products["category"].value_counts()
    assert sizes.max() > 3 * sizes.median()
    for dept, mat in zip(world.products["department"], world.products["material"]):
        assert MATERIAL_NAMES[mat] in DEPARTMENT_MATERIALS[dept]


def test_brand_popularity_is_the_brands_share_of_log_popularity():
    def brand_share(world):
        p = world.products.assign(log_pop=np.log(world.products["popularity"].astype(float)))
        between = p.groupby("brand")["log_pop"].transform("mean").var()
        return between / p["log_pop"].var()

    cfg = world_config("smoke", n_products=6_000)
    base = generate_world(cfg)
    shared = generate_world(world_config("smoke", n_products=6_000, brand_popularity=0.6))
    assert brand_share(base) < 0.05  # independent of the brand: only the sampling noise of 20 brand means
    assert 0.4 < brand_share(shared) < 0.8
    # nothing else about the products changes: the brand effects are drawn from their own stream
    assert shared.products.drop(columns="popularity").equals(base.products.drop(columns="popularity"))


def test_sibling_purchases_are_another_kind_of_the_same_department_and_irrelevant():
    from mmpaper.data.world import COMPLEMENT, DEPARTMENTS
    from mmpaper.data.vocabulary import CATEGORIES

    def bought(world):
        p = world.purchases.merge(world.queries[["query_id", "category"]], on="query_id")
        return p.assign(kind=world.products["category"].to_numpy()[p["product_id"]])

    cfg = world_config("smoke", n_products=2_000, n_train_queries=1_500, p_offtarget=0.0)
    base, kin = generate_world(cfg), generate_world(world_config("smoke", n_products=2_000, n_train_queries=1_500,
                                                                   p_offtarget=0.0, p_sibling=0.2))
    department = np.array([DEPARTMENTS.index(CATEGORIES[c][0]) for c in CATEGORY_NAMES])
    b, k = bought(base), bought(kin)
    assert (b["kind"] == b["category"]).all()  # without them (and no complements), every purchase is on target
    other = k[k["kind"] != k["category"]]
    share = len(other) / len(k)
    assert 0.12 < share < 0.25, share          # about p_sibling of the purchases (a few merge as duplicates)
    assert (department[other["kind"]] == department[other["category"]]).all()
    assert not COMPLEMENT[other["category"], other["kind"]].any()
    labels = kin.labels(other["query_id"].to_numpy(), other["product_id"].to_numpy())
    assert (labels == I).all()
    # drawn from their own stream: the catalog and the train-period queries are those of the world without them
    assert kin.products.equals(base.products)
    train = [w.queries.loc[w.queries["query_id"] < 1_500, ["query_id", "query"]] for w in (base, kin)]
    assert train[0].equals(train[1])


def test_captions_name_every_kind_in_everyday_words_and_never_a_brand_or_material(world):
    from mmpaper.data.vocabulary import CATEGORIES, MATERIALS

    words = set(" ".join(world.captions["caption"]).split())
    for name, spec in CATEGORIES.items():
        assert spec[4] and set(spec[4].split()) <= words, name  # the everyday noun of every kind occurs
    assert not words & {w for ws in MATERIALS.values() for w in ws}
    assert not words & {b.lower() for b in world.brands}


def test_every_category_has_its_own_silhouette():
    from mmpaper.data.render import render

    n = len(CATEGORY_NAMES)
    imgs = render(np.arange(n), np.zeros(n, int), np.zeros(n, int), np.random.default_rng(0), 32, scale=(1, 1),
                  shift=0.0, noise=0.0, background=np.full((n, 3), 240.0))
    masks = (np.asarray(imgs, float).mean(-1) < 200).reshape(n, -1)
    iou = (masks[:, None] & masks[None]).sum(-1) / (masks[:, None] | masks[None]).sum(-1)
    np.fill_diagonal(iou, 0)
    assert iou.max() < 0.95  # no two kinds of product are drawn with the same outline


def test_table1_counts(world):
    t1 = world.table1()
    assert t1.loc["train", "pairs"] == (world.purchases["split"] == "train").sum()
    assert t1.loc["eval", "products"] == len(world.products)
    assert t1.loc["eval", "queries"] == world.split_purchases("eval")["query_id"].nunique()


def test_load_world_caches_and_reuses(tmp_path):
    cfg = world_config("smoke", n_products=200, n_captions=50, n_query_photos=20)
    first = load_world(cfg, tmp_path)
    stamp = (first.path / "world.json").stat().st_mtime_ns
    second = load_world(cfg, tmp_path)
    assert second.path == first.path and (second.path / "world.json").stat().st_mtime_ns == stamp
    assert load_world(world_config("smoke", n_products=201, n_captions=50, n_query_photos=20), tmp_path).path != first.path


def test_failed_save_keeps_the_previous_world(tmp_path, world, monkeypatch):
    directory = tmp_path / "w"
    save_world(world, directory)
    before = (directory / "products.parquet").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_world(world, directory)
    assert (directory / "products.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w"]  # no temporary left behind


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: \\['cpu', 'gpu', 'smoke'\\]"):
        world_config("huge")
