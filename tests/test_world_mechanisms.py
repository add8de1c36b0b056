"""The world's mechanisms in the open (issue 21): seen negatives as the paper defines them, no eval-period
information in any training table, settings with one-line errors, the control rows and the regime figures."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmpaper.data.matcher import LexicalMatcher
from mmpaper.data.modules import FeatureStore, PairCollate, TokenTable
from mmpaper.data.world import WORLD_PRESETS, generate_world, world_config
from mmpaper.losses import nt_xent
from mmpaper.models import CategoryOrderRetriever
from mmpaper.report.tables import regime


@pytest.fixture(scope="module")
def world():
    return generate_world(world_config("smoke"))


def _train_bought(world) -> dict[int, set]:
    train = world.split_purchases("train")
    return train.groupby("query_id")["product_id"].apply(set).to_dict()


def test_seen_negatives_are_matched_shown_and_not_bought_in_the_train_period(world):
    cfg = world.config
    assert cfg.seen_negative_source == "matcher"
    negs = world.seen_negatives
    queries = world.queries.set_index("query_id")
    assert set(queries.loc[negs["query_id"].unique(), "split"]) <= {"train", "both"}  # train-period queries only
    matched = LexicalMatcher(world.products["title"].tolist())
    bought = _train_bought(world)
    for qid, group in negs.groupby("query_id"):
        shown = set(matched.match([queries.loc[qid, "query"]], cfg.matcher_depth)[0].tolist())
        assert set(group["product_id"]) <= shown - bought.get(qid, set()), qid
        assert len(group) <= cfg.n_seen_negatives


def test_the_consideration_source_takes_the_purchase_decisions_other_candidates(world):
    other = generate_world(world_config("smoke", seen_negative_source="consideration"))
    for name in ("products", "queries", "purchases", "photos"):  # only the seen negatives differ
        pd.testing.assert_frame_equal(getattr(other, name), getattr(world, name))
    negs = other.seen_negatives.merge(other.queries[["query_id", "category"]], on="query_id")
    product_category = other.products["category"].to_numpy()[negs["product_id"].to_numpy()]
    assert (product_category == negs["category"].to_numpy()).all()  # a shopper weighs the searched kind
    bought = _train_bought(other)
    assert not any(p in bought.get(q, set()) for q, p in zip(negs["query_id"], negs["product_id"]))


def test_the_matcher_returns_lexical_matches_best_first_with_ties_by_row():
    m = LexicalMatcher(["red cotton shirt", "blue denim trousers", "red sneakers", "ceramic mug", "red mug"])
    assert m.match(["red mug"], 10)[0].tolist()[0] == 4                    # both words
    assert set(m.match(["red mug"], 10)[0].tolist()) == {0, 2, 3, 4}         # any shared word, nothing else
    assert m.match(["trainers"], 10)[0].tolist() == []                       # a shopper word no title uses
    assert m.match(["red"], 2)[0].tolist() == [2, 4]                         # equal tf-idf: shorter titles first
    with pytest.raises(ValueError, match="matcher depth"):
        m.match(["red"], 0)


def test_no_training_table_depends_on_the_eval_month():
    base = world_config("smoke")
    a = generate_world(base)
    b = generate_world(world_config("smoke", n_eval_queries=base.n_eval_queries * 2, purchases_eval=2.0))
    assert not a.split_purchases("eval").equals(b.split_purchases("eval"))  # the eval month did change
    for name in ("products", "seen_negatives", "captions", "photos"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    for name in ("images", "caption_images", "photo_images"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    pd.testing.assert_frame_equal(a.split_purchases("train"), b.split_purchases("train"))
    # the train-period queries (what the vocabulary and the validation split are built from): same ids, same text
    ta, tb = (w.queries[w.queries["split"] != "eval"][["query_id", "query"]].reset_index(drop=True) for w in (a, b))
    pd.testing.assert_frame_equal(ta, tb)


def test_bad_world_settings_are_refused_in_one_line_naming_the_setting():
    for overrides, words in [({"matcher_depth": 0}, "matcher_depth=0"), ({"image_gap": 1.5}, "image_gap=1.5"),
                             ({"p_sibling": -0.1}, "p_sibling=-0.1"),
                             ({"seen_negative_source": "everything"}, "seen_negative_source='everything'"),
                             ({"n_eval_queries": 0}, "n_eval_queries=0")]:
        with pytest.raises(ValueError, match=words) as err:
            world_config("smoke", **overrides)
        assert "\n" not in str(err.value)


def test_cpu_world_has_at_least_5000_distinct_eval_queries():
    w = generate_world(WORLD_PRESETS["cpu"])
    assert w.split_purchases("eval")["query_id"].nunique() >= 5000


# ---------------------------------------------------------------------------------------- seen-negative slots
def test_empty_seen_negative_slots_are_masked_not_filled():
    titles = [f"product {i}" for i in range(6)]
    table = TokenTable(torch.arange(12).reshape(6, 2), torch.ones(6, 2, dtype=torch.int8))
    store = FeatureStore(table, table)
    negatives = np.array([[3, -1], [-1, -1]])  # one query with one seen negative, one with none
    batch = PairCollate(store, np.array([0, 1]), np.array([1, 2]), negatives)([0, 1])
    assert batch["seen_mask"].tolist() == [True, False, False, False]
    assert batch["neg_input_ids"].shape[0] == 4 and len(titles) == 6


def test_nt_xent_with_a_mask_is_nt_xent_without_the_masked_negatives():
    g = torch.Generator().manual_seed(0)
    q, d, negs = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g), torch.randn(6, 4, generator=g)
    mask = torch.tensor([True, False, True, False, False, True])
    masked = nt_xent(q, d, 0.1, negs, seen_mask=mask)
    kept = nt_xent(q, d, 0.1, negs[mask])
    torch.testing.assert_close(masked, kept)
    # hand-worked: one query, one kept negative
    qs, ds = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    n = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    got = nt_xent(qs, ds, 1.0, n, seen_mask=torch.tensor([True, False])).item()
    assert got == pytest.approx(-math.log(math.e / (math.e + 1.0)))


# ------------------------------------------------------------------------------------------------ controls
def test_category_order_control_ranks_the_true_category_by_its_order_then_the_rest():
    model = CategoryOrderRetriever(3, order="product_order_oracle")
    product = {"product_category": torch.tensor([0, 1, 1, 2, 1, 0]),
               "product_order_oracle": torch.tensor([0.45, 0.10, 0.40, 0.49, 0.25, 0.05])}
    query = {"query_category": torch.tensor([1, 0])}
    scores = model.encode_queries(query) @ model.encode_products(product).T
    order = torch.argsort(scores, dim=1, descending=True).tolist()
    assert order[0] == [2, 4, 1, 3, 0, 5]   # category 1 by order (0.40, 0.25, 0.10), then the rest by order
    assert order[1] == [0, 5, 3, 2, 4, 1]


def test_regime_figures_hand_worked():
    products = pd.DataFrame({"product_id": range(4), "category": [0, 0, 0, 1],
                             "popularity": [5.0, 1.0, 3.0, 2.0],
                             "title_states_colour": [True, False, True, True],
                             "title_states_pattern": [False, False, False, False]})
    queries = pd.DataFrame({"query_id": [0, 1], "colour": [2, -1], "pattern": [-1, -1]})
    purchases = pd.DataFrame({"query_id": [0, 0, 1, 1], "product_id": [0, 1, 1, 3],
                              "split": ["train", "eval", "eval", "eval"]})
    cat = type("Catalog", (), {"products": products, "queries": queries, "purchases": purchases})
    r = regime(cat, k=2)["ours"]
    assert r.iloc[0] == 2.0                       # category sizes 3 and 1: median 2
    assert r.iloc[1] == 50.0                      # one of two categories below k = 2
    assert r.iloc[2] == 0.0                       # eval products 1, 1, 3: none bought in the train period
    assert r.iloc[3] == 100.0                     # every eval purchase is in its category's top 5
    assert r.iloc[4] == 50.0                      # query 0 asks for a colour, query 1 does not
    assert r.iloc[5] == 0.0                       # query 0's eval purchase (product 1) does not state it


def test_the_data_card_names_every_mechanism_with_the_cpu_worlds_value():
    from mmpaper.data.world import MECHANISMS
    from mmpaper.paths import ROOT

    card = (ROOT / "data_cards" / "synthetic_world.md").read_text()
    cpu = WORLD_PRESETS["cpu"]
    rows = {line.split("|")[1].strip().strip("`"): line for line in card.splitlines() if line.startswith("| `")}
    for name in MECHANISMS:
        assert name in rows, f"the data card's mechanism table has no row for {name}"
        value = getattr(cpu, name)
        cells = [c.strip() for c in rows[name].split("|")]
        shown = value if isinstance(value, str) else f"{value:g}"
        assert shown in cells, f"{name}: the card says {cells[3]!r}, the cpu world has {shown}"
