import numpy as np
import pytest

from mmpaper.metrics import (PADDING, UNLABELLED, first_occurrence, label_counts, label_precision, lookup_labels,
                             net_matches, net_mask, net_purchases, net_recall_of_all, net_recall_of_missed, overlap,
                             recall_at_k)

# A fixture worked out by hand: 3 queries, top-3 lists (query 2's list is short), 10 products.
TOPK = np.array([[1, 2, 3], [4, 5, 6], [7, 8, -1]])
BASE = np.array([[1, 9, 3], [4, 5, 6], [0, 2, -1]])
PURCHASE_Q = np.array([0, 0, 1, 2, 2])
PURCHASE_P = np.array([1, 9, 6, 0, 8])
E, S, C, I = 0, 1, 2, 3
LABEL_Q = np.array([0, 0, 0, 1, 1, 2, 2])
LABEL_P = np.array([1, 2, 3, 4, 5, 7, 8])
LABEL_L = np.array([E, S, I, E, C, E, I])   # (1, 6) carries no label


def test_recall_hand_worked():
    # q0 finds 1 of {1, 9}; q1 finds 6; q2 finds 8 of {0, 8}
    assert recall_at_k(TOPK, PURCHASE_Q, PURCHASE_P) == pytest.approx((0.5 + 1 + 0.5) / 3)
    qs, r = recall_at_k(TOPK, PURCHASE_Q, PURCHASE_P, per_query=True)
    np.testing.assert_array_equal(qs, [0, 1, 2])
    np.testing.assert_allclose(r, [0.5, 1.0, 0.5])


def test_recall_counts_duplicate_purchases_once_and_skips_queries_without_purchases():
    assert recall_at_k(TOPK, [0, 0, 0], [1, 1, 9]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="query id 5"):
        recall_at_k(TOPK, [5], [1])


def test_label_lookup_and_precision_hand_worked():
    labels = lookup_labels(TOPK, LABEL_Q, LABEL_P, LABEL_L)
    np.testing.assert_array_equal(labels, [[E, S, I], [E, C, UNLABELLED], [E, I, PADDING]])
    lp = label_precision(labels)
    assert (lp.E, lp.S, lp.C, lp.I) == pytest.approx((3 / 7, 1 / 7, 1 / 7, 2 / 7))
    assert (lp.n_labelled, lp.n_unlabelled) == (7, 1)
    assert lp.coverage == pytest.approx(7 / 8)  # padding is no prediction: 8 slots carry one
    np.testing.assert_array_equal(label_counts(labels), [[1, 1, 0, 1], [1, 0, 1, 0], [1, 0, 0, 1]])
    np.testing.assert_array_equal(label_counts(labels, [[1, 1, 1], [0, 0, 0], [0, 1, 1]]),
                                  [[1, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1]])


def test_overlap_hand_worked():
    np.testing.assert_array_equal(overlap(TOPK, BASE), [2, 3, 0])
    np.testing.assert_array_equal(net_mask(TOPK, BASE), [[0, 1, 0], [0, 0, 0], [1, 1, 0]])


def test_net_matches_hand_worked():
    labels = lookup_labels(TOPK, LABEL_Q, LABEL_P, LABEL_L)
    net = net_matches(TOPK, BASE, PURCHASE_Q, PURCHASE_P, labels)
    assert net.count_mean == pytest.approx(1.0)
    assert net.count_std == pytest.approx(np.sqrt(2 / 3))
    assert net.recall_of_all == pytest.approx((0 + 0 + 0.5) / 3)  # only q2's purchase 8 is a net prediction
    assert net.recall_of_missed == pytest.approx(1.0)  # the baseline missed one purchase (q2's 8); the net finds it
    p = net.precision
    assert (p.E, p.S, p.C, p.I) == pytest.approx((1 / 3, 1 / 3, 0, 1 / 3))  # net slots: (0,2) S, (2,7) E, (2,8) I


def test_model_against_itself_has_full_overlap_and_no_net():
    np.testing.assert_array_equal(overlap(TOPK, TOPK), [3, 3, 2])
    assert net_matches(TOPK, TOPK, PURCHASE_Q, PURCHASE_P).count_mean == 0


def test_recall_agrees_with_trec_eval_on_random_runs():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(0)
    n_q, n_p, k = 50, 200, 10
    topk = np.stack([rng.choice(n_p, k, replace=False) for _ in range(n_q)])
    pq = np.repeat(np.arange(n_q), rng.integers(1, 6, n_q))
    pp = np.array([rng.integers(0, n_p) if rng.random() < 0.5 else topk[q, rng.integers(k)] for q in pq])
    qrels = {}
    for q, p in zip(pq, pp):
        qrels.setdefault(f"q{q}", {})[f"p{p}"] = 1
    run = {f"q{q}": {f"p{p}": float(k - r) for r, p in enumerate(topk[q])} for q in range(n_q)}
    trec = pytrec_eval.RelevanceEvaluator(qrels, {f"recall.{k}"}).evaluate(run)
    expected = np.mean([trec[f"q{q}"][f"recall_{k}"] for q in range(n_q)])
    assert recall_at_k(topk, pq, pp) == pytest.approx(expected, rel=1e-12)


def test_metrics_equal_brute_force_loops_on_random_runs():
    rng = np.random.default_rng(1)
    n_q, n_p, k = 30, 60, 8
    topk = np.stack([rng.choice(n_p, k, replace=False) for _ in range(n_q)])
    base = np.stack([rng.choice(n_p, k, replace=False) for _ in range(n_q)])
    lq, lp = np.divmod(rng.choice(n_q * n_p, 800, replace=False), n_p)
    ll = rng.integers(0, 4, lq.size)
    table = {(q, p): l for q, p, l in zip(lq, lp, ll)}
    labels = lookup_labels(topk, lq, lp, ll)
    for q in range(n_q):
        for j in range(k):
            assert labels[q, j] == table.get((q, topk[q, j]), UNLABELLED)
        assert overlap(topk, base)[q] == len(set(topk[q]) & set(base[q]))
    counts = np.bincount(labels[labels >= 0], minlength=4) / (labels >= 0).sum()
    np.testing.assert_allclose([getattr(label_precision(labels), x) for x in "ESCI"], counts)


# Net recall, both readings, worked out by hand.
#   q0: model {1,2,3}, baseline {1,7,8}, purchases {1,2,5}: baseline misses {2,5}; net {2,3} finds 2
#   q1: model {4,5,6}, baseline {9,4,0}, purchases {4,6,0,3}: baseline misses {6,3}; net {5,6} finds 6
#   q2: model {10,11,12}, baseline {10,13,14}, purchases {10}: the baseline misses nothing
NET_M = np.array([[1, 2, 3], [4, 5, 6], [10, 11, 12]])
NET_B = np.array([[1, 7, 8], [9, 4, 0], [10, 13, 14]])
NET_Q = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2])
NET_P = np.array([1, 2, 5, 4, 6, 0, 3, 10, 10])  # q2's purchase appears twice: it counts once


def test_net_recall_both_readings_hand_worked():
    c = net_purchases(NET_M, NET_B, NET_Q, NET_P)
    np.testing.assert_array_equal(c.purchases, [3, 4, 1])
    np.testing.assert_array_equal(c.missed_by_baseline, [2, 2, 0])
    np.testing.assert_array_equal(c.found_in_net, [1, 1, 0])
    assert net_recall_of_missed(NET_M, NET_B, NET_Q, NET_P) == pytest.approx((1 / 2 + 1 / 2) / 2)  # q2 left out
    assert net_recall_of_all(NET_M, NET_B, NET_Q, NET_P) == pytest.approx((1 / 3 + 1 / 4 + 0) / 3)
    rows, values = net_recall_of_missed(NET_M, NET_B, NET_Q, NET_P, per_query=True)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_allclose(values, [0.5, 0.5])
    net = net_matches(NET_M, NET_B, NET_Q, NET_P)
    assert (net.recall_of_missed, net.recall_of_all) == pytest.approx((0.5, 7 / 36))


def test_literal_net_recall_is_capped_by_what_the_baseline_missed():
    # the literal reading can never exceed 1 - recall@k(baseline), query by query (hence ≈ 22 on the paper's
    # numbers); the reading of the missed ones reaches 1 when the model finds every missed purchase
    rng = np.random.default_rng(3)
    n_q, n_p, k = 40, 50, 10
    base = np.stack([rng.choice(n_p, k, replace=False) for _ in range(n_q)])
    pq = np.repeat(np.arange(n_q), 4)
    pp = rng.integers(0, n_p, pq.size)
    oracle = np.full((n_q, k), -1)
    for q in range(n_q):  # a model whose list is exactly the purchases the baseline missed
        missed = sorted(set(pp[pq == q]) - set(base[q]))
        oracle[q, :len(missed)] = missed
    _, r_base = recall_at_k(base, pq, pp, per_query=True)
    rows, of_all = net_recall_of_all(oracle, base, pq, pp, per_query=True)
    np.testing.assert_allclose(of_all, 1 - r_base[rows])
    assert net_recall_of_missed(oracle, base, pq, pp) == pytest.approx(1.0)


def test_net_recall_equals_brute_force_on_random_runs():
    rng = np.random.default_rng(4)
    n_q, n_p, k = 30, 40, 8
    topk = np.stack([rng.choice(n_p, k, replace=False) for _ in range(n_q)])
    base = np.stack([rng.choice(n_p, k, replace=False) for _ in range(n_q)])
    pq = rng.integers(0, n_q, 120)
    pp = rng.integers(0, n_p, 120)
    of_missed, of_all = [], []
    for q in range(n_q):
        bought = set(pp[pq == q])
        if not bought:
            continue
        missed = bought - set(base[q])
        found = missed & (set(topk[q]) - set(base[q]))
        of_all.append(len(found) / len(bought))
        if missed:
            of_missed.append(len(found) / len(missed))
    assert net_recall_of_all(topk, base, pq, pp) == pytest.approx(np.mean(of_all))
    assert net_recall_of_missed(topk, base, pq, pp) == pytest.approx(np.mean(of_missed))


def test_repeated_ids_in_a_row_count_once():
    # a row that repeats an id: overlap and net counts are sets, as the docstrings promise
    topk = np.array([[3, 3, 5, 5, -1], [7, 8, 7, 9, 9]])
    base = np.array([[3, 9, 9, -1, -1], [9, 1, 2, 3, 4]])
    np.testing.assert_array_equal(first_occurrence(topk), [[1, 0, 1, 0, 0], [1, 1, 0, 1, 0]])
    np.testing.assert_array_equal(overlap(topk, base), [1, 1])                      # {3}; {9}
    np.testing.assert_array_equal(net_mask(topk, base), [[0, 0, 1, 0, 0], [1, 1, 0, 0, 0]])  # {5}; {7, 8}
    net = net_matches(topk, base, [0, 1], [5, 7])
    assert net.count_mean == pytest.approx(1.5)
    assert net.recall_of_missed == pytest.approx(1.0)
    for q in range(2):  # overlap + net = the number of distinct ids of the row
        assert overlap(topk, base)[q] + net_mask(topk, base)[q].sum() == len(set(topk[q]) - {-1})
