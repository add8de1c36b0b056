"""The claim logic: rules and three-valued verdicts, the paired bootstrap against scipy's own, the per-query
columns against the metrics, and — for every claim — constructed runs that force each of the three verdicts."""
import numpy as np
import pandas as pd
import pytest

from mmpaper.metrics import label_precision, lookup_labels, net_matches, overlap, recall_at_k
from mmpaper.paper import LABELS, MULTIMODAL, TABLE2, VISUAL
from mmpaper.report.claims import claim_definitions
from mmpaper.report.judge import (CALIBRATED, Sums, Units, claim_summary, evaluate_claims, paper_units,
                                  query_units)
from mmpaper.stats import (FAILS, HOLDS, INCONCLUSIVE, above, all_of, any_of, below, between, paired_bootstrap,
                           resample_weights)


# ------------------------------------------------------------------------------------------- rules, verdicts
@pytest.mark.parametrize("rule, low, high, verdict", [
    (above(0), 0.1, 2.0, HOLDS), (above(0), -2.0, -0.1, FAILS), (above(0), -0.1, 0.1, INCONCLUSIVE),
    (above(0), 0.0, 1.0, INCONCLUSIVE),  # touching the margin is not above it
    (below(0.5), 0.1, 0.4, HOLDS), (below(0.5), 0.6, 0.9, FAILS), (below(0.5), 0.4, 0.6, INCONCLUSIVE),
    (between(0, 5), 0.5, 4.5, HOLDS), (between(0, 5), 5.5, 7.0, FAILS), (between(0, 5), -3.0, -1.0, FAILS),
    (between(0, 5), -0.5, 1.0, INCONCLUSIVE), (between(0, 5), 4.0, 6.0, INCONCLUSIVE),
    (above(0), np.nan, 1.0, INCONCLUSIVE),
])
def test_rule_verdicts(rule, low, high, verdict):
    assert rule.verdict(low, high) == verdict


def test_rules_in_words_and_on_point_values():
    assert above(10).words("points") == "above 10 points"
    assert between(0, 5).words("points") == "between 0 and 5 points"
    assert below(0.5).words("share of k") == "below 0.5 share of k"
    assert between(10, 20).met_by(20.9) is False and between(10, 20).met_by(17.7) is True
    assert above(0).met_by(float("nan")) is None
    with pytest.raises(ValueError, match="unknown rule kind 'over'"):
        from mmpaper.stats import Rule
        Rule("over", 0)


def test_three_valued_conjunction_and_disjunction():
    assert all_of([HOLDS, HOLDS]) == HOLDS
    assert all_of([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert all_of([INCONCLUSIVE, FAILS, HOLDS]) == FAILS
    assert any_of([FAILS, HOLDS]) == HOLDS
    assert any_of([FAILS, INCONCLUSIVE]) == INCONCLUSIVE
    assert any_of([FAILS, FAILS]) == FAILS
    with pytest.raises(ValueError, match="at least one part"):
        all_of([])


# ------------------------------------------------------------------------------------------- the bootstrap
def test_resample_weights_count_draws():
    w = resample_weights(np.array([[0, 0, 2], [1, 2, 2]]), 4)
    np.testing.assert_array_equal(w, [[2, 0, 1, 0], [0, 1, 2, 0]])


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_paired_bootstrap_equals_scipy_on_the_raw_statistic(method):
    # the same resamples as scipy.stats.bootstrap(paired=True) of the mean paired difference: identical intervals
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.random(300)
    b = a + 0.03 + 0.1 * rng.standard_normal(300)
    cols = np.stack([np.ones(300), a, b], axis=1)
    ours = paired_bootstrap(cols, lambda s: ((s[:, 2] - s[:, 1]) / s[:, 0])[:, None], n_resamples=999, seed=7,
                            method=method)
    ref = stats.bootstrap((a, b), lambda x, y, axis=-1: (y - x).mean(axis=axis), paired=True, vectorized=True,
                          n_resamples=999, method=method, rng=np.random.default_rng(7))
    assert ours.effect[0] == pytest.approx((b - a).mean())
    assert ours.low[0] == pytest.approx(ref.confidence_interval.low)
    assert ours.high[0] == pytest.approx(ref.confidence_interval.high)
    again = paired_bootstrap(cols, lambda s: ((s[:, 2] - s[:, 1]) / s[:, 0])[:, None], n_resamples=999, seed=7,
                             method=method)
    assert (again.low, again.high) == (ours.low, ours.high)  # same seed, same interval


def test_degenerate_statistic_falls_back_to_a_percentile_interval():
    cols = np.stack([np.ones(50), np.full(50, 0.3), np.full(50, 0.3)], axis=1)  # two identical models
    res = paired_bootstrap(cols, lambda s: ((s[:, 2] - s[:, 1]) / s[:, 0])[:, None], n_resamples=199)
    assert res.low[0] == pytest.approx(0) and res.high[0] == pytest.approx(0)
    assert above(0).verdict(res.low[0], res.high[0]) == INCONCLUSIVE


# ---------------------------------------------------------------------------- per-query columns vs metrics
def test_query_units_agree_with_the_metrics_on_random_runs():
    rng = np.random.default_rng(2)
    nq, n_p, k = 40, 60, 10
    topk = {v: np.stack([rng.choice(n_p, k, replace=False) for _ in range(nq)]) for v in ("bibert", "m")}
    lq, lp = np.divmod(rng.choice(nq * n_p, 1500, replace=False), n_p)
    ll = rng.integers(0, 4, lq.size)
    labels = {v: lookup_labels(t, lq, lp, ll) for v, t in topk.items()}
    pq, pp = rng.integers(0, nq, 150), rng.integers(0, n_p, 150)
    u = query_units(topk, labels, pq, pp)
    mat, index = u.matrix()
    s = Sums(mat.sum(0, keepdims=True), index, k)
    for v in topk:
        assert s.recall(v)[0] == pytest.approx(100 * recall_at_k(topk[v], pq, pp))
        lp_v = label_precision(labels[v])
        for lab in LABELS:
            assert s.share(v, lab)[0] == pytest.approx(100 * getattr(lp_v, lab))
    net = net_matches(topk["m"], topk["bibert"], pq, pp, labels["m"])
    assert s.mean("overlap", "m")[0] == pytest.approx(overlap(topk["m"], topk["bibert"]).mean())
    assert s.mean("net", "m")[0] == pytest.approx(net.count_mean)
    assert s.net_recall_missed("m")[0] == pytest.approx(100 * net.recall_of_missed)
    assert s.share("m", "ES", net=True)[0] == pytest.approx(100 * (net.precision.E + net.precision.S))


def test_the_papers_own_numbers_meet_every_rule():
    # the paper's point values through the same quantities: every rule is the paper's words made quantitative, so
    # the paper's Tables 2-4 pass each one (its 3tMM beating its 4tMM on one pair, and its cat net recall of 20.9
    # against "10% to 20%", are read as the paper's words read them: over the three pairs, at whole tens)
    u = paper_units()
    mat, index = u.matrix()
    s = Sums(mat, index, u.k)
    checked, misses = 0, []
    for c in claim_definitions(visual=False):
        for p in c.parts:
            with np.errstate(all="ignore"):
                value = float(p.fn(s)[0])
            assert np.isfinite(value), (c.id, p.name)  # every Table 2 claim part has the paper's number
            checked += 1
            if p.rule.met_by(value) is False:
                misses.append((c.id, p.name, value))
    assert misses == [] and checked >= 30


# ----------------------------------------------------------------- constructed runs that force each verdict
N = 2000  # eval queries (and photos) of the constructed runs: intervals of about ±0.2 points on a difference


def _noise(rng, scale):
    z = rng.standard_normal(N)
    return scale * (z - z.mean())  # exactly mean zero: every mean below is exactly the value set


BASE = {  # per variant: R, E, S, C, I (fractions), overlap, net count, net E+S, net recall of missed
    "bibert": dict(R=.780, E=.527, S=.303, C=.024, I=.136),
    "clip": dict(R=.460, E=.500, S=.250, C=.020, I=.230, ov=15, net=85, nES=.70, nr=.10),
    "4tmm-cat": dict(R=.786, E=.520, S=.310, C=.024, I=.140, ov=39, net=61, nES=.83, nr=.15),
    "4tmm-acat": dict(R=.785, E=.519, S=.312, C=.024, I=.145, ov=40, net=60, nES=.83, nr=.15),
    "4tmm-mlp": dict(R=.755, E=.513, S=.311, C=.030, I=.148, ov=32, net=68, nES=.82, nr=.17),
    "4tmm-joint": dict(R=.733, E=.560, S=.268, C=.027, I=.100, ov=37, net=63, nES=.86, nr=.56),
    "4tmm-joint-seenneg": dict(R=.778, E=.506, S=.305, C=.023, I=.136, ov=38, net=62, nES=.83, nr=.50),
    "4tmm-mlp-seenneg": dict(R=.764, E=.515, S=.302, C=.023, I=.133, ov=36, net=64, nES=.82, nr=.30),
    "3tmm-joint": dict(R=.720, E=.538, S=.268, C=.027, I=.121, ov=36, net=64, nES=.85, nr=.56),
    "3tmm-joint-seenneg": dict(R=.749, E=.500, S=.304, C=.026, I=.140, ov=35, net=65, nES=.80, nr=.50),
    "3tmm-mlp-seenneg": dict(R=.750, E=.521, S=.295, C=.024, I=.132, ov=34, net=66, nES=.83, nr=.58),
}
BASE_PHOTO = {"vs-img2img": dict(r10=.19, fp=7.15, pref=.21), "vs-3tower": dict(r10=.20, fp=6.0, pref=.18),
              "vs-4tower": dict(r10=.48, fp=2.5, pref=.05)}

# per claim: the changes to BASE (or BASE_PHOTO) that make it fail, and that put it exactly on a margin
FORCE = {
    "clip": {FAILS: {"clip": dict(R=.75)}, INCONCLUSIVE: {"clip": dict(R=.68)}},
    "concat": {FAILS: {"4tmm-cat": dict(R=.77)}, INCONCLUSIVE: {"4tmm-cat": dict(R=.78)}},
    "joint": {FAILS: {"4tmm-joint": dict(E=.50)}, INCONCLUSIVE: {"4tmm-joint": dict(E=.527)}},
    "mlp": {FAILS: {"4tmm-mlp": dict(C=.020)}, INCONCLUSIVE: {"4tmm-mlp": dict(C=.024)}},
    "seenneg": {FAILS: {"4tmm-joint-seenneg": dict(R=.72)}, INCONCLUSIVE: {"4tmm-joint-seenneg": dict(R=.733)}},
    # the mean gap over the three trainings: 3tMM joint far ahead of 4tMM joint (mean −0.8), or exactly even
    "3tmm": {FAILS: {"3tmm-joint": dict(R=.80)}, INCONCLUSIVE: {"3tmm-joint": dict(R=.776)}},
    "overlap": {FAILS: {"clip": dict(ov=40, net=60)}, INCONCLUSIVE: {"clip": dict(ov=32, net=68)}},
    "net": {FAILS: {"4tmm-cat": dict(nr=.30)}, INCONCLUSIVE: {"4tmm-cat": dict(nr=.25)}},
    # an "or" claim over the paper's own best rows: it fails only when both the recall and the relevance row fail
    "headline": {FAILS: {"bibert": dict(R=.80, E=.60, I=.05)},
                 INCONCLUSIVE: {"bibert": dict(R=.786, E=.60, I=.05)}},
    "relevance-over-recall": {FAILS: {"4tmm-joint": dict(E=.527, I=.136), "4tmm-cat": dict(R=.80)},
                              INCONCLUSIVE: {"4tmm-joint": dict(E=.527, I=.136), "4tmm-cat": dict(R=.78)}},
    "vs-align": {FAILS: {"vs-3tower": dict(fp=7.8)}, INCONCLUSIVE: {"vs-3tower": dict(fp=7.15)}},
    "vs-4tower": {FAILS: {"vs-4tower": dict(r10=.15)}, INCONCLUSIVE: {"vs-4tower": dict(r10=.20)}},
}
# the bounds the rules gained from the paper's words: each forces its own verdict
BOUNDS = [
    ("seenneg", FAILS, {"4tmm-joint-seenneg": dict(R=.90)}, "a recall gain of 16.7 points: not of the paper's order"),
    ("seenneg", INCONCLUSIVE, {"4tmm-joint-seenneg": dict(R=.833)}, "a gain of exactly 10 points"),
    ("concat", FAILS, {"4tmm-cat": dict(R=.81)}, "a recall gain of 3 points: more than 'some' (40-50 basis points)"),
    ("vs-align", FAILS, {"vs-3tower": dict(r10=.15)}, "recall@10 4 points lower: not kept"),
    ("vs-align", INCONCLUSIVE, {"vs-3tower": dict(r10=.17)}, "recall@10 exactly 2 points lower: on the margin"),
    ("net", FAILS, {"4tmm-cat": dict(nr=.03)}, "a net recall of 3%: below 10% even at whole tens"),
]


def _constructed_units(changes=None, seed=0) -> dict[str, Units]:
    changes = changes or {}
    rng = np.random.default_rng(seed)
    spec = {v: {**BASE[v], **changes.get(v, {})} for v in TABLE2}
    cols = {"one": np.ones(N), "has_purchase": np.ones(N), "has_missed": np.ones(N)}
    for v, m in spec.items():
        cols[f"recall|{v}"] = m["R"] + _noise(rng, 0.03)
        for lab in LABELS:  # 100 labelled slots per query: the shares are exactly the values set
            cols[f"{lab}|{v}"] = 100 * m[lab] + _noise(rng, 2.0)
        cols[f"labelled|{v}"] = np.full(N, 100.0)
        if v == "bibert":
            continue
        cols[f"overlap|{v}"] = m["ov"] + _noise(rng, 3.0)
        cols[f"net|{v}"] = m["net"] + _noise(rng, 3.0)
        cols[f"net_E|{v}"] = 50 * m["nES"] / 2 + _noise(rng, 2.0)
        cols[f"net_S|{v}"] = 50 * m["nES"] / 2 + _noise(rng, 2.0)
        cols[f"net_C|{v}"] = 50 * (1 - m["nES"]) / 2 + _noise(rng, 1.0)
        cols[f"net_I|{v}"] = 50 * (1 - m["nES"]) / 2 + _noise(rng, 1.0)
        cols[f"net_labelled|{v}"] = np.full(N, 50.0)
        cols[f"net_recall_missed|{v}"] = m["nr"] + _noise(rng, 0.1)
        cols[f"net_recall_all|{v}"] = 0.2 * m["nr"] + _noise(rng, 0.02)
    photo = {"one": np.ones(N), "has_distractor": np.ones(N)}
    for v in VISUAL:
        m = {**BASE_PHOTO[v], **changes.get(v, {})}
        photo[f"recall@10|{v}"] = m["r10"] + _noise(rng, 0.1)
        photo[f"fp|{v}"] = m["fp"] + _noise(rng, 1.0)
        photo[f"preferred|{v}"] = m["pref"] + _noise(rng, 0.1)
    return {"query": Units(cols, 100), "photo": Units(photo, 10, "photo")}


def _verdicts(changes=None) -> pd.DataFrame:
    return evaluate_claims(claim_definitions(10), _constructed_units(changes), n_resamples=999)


@pytest.fixture(scope="module")
def base_claims():
    return _verdicts()


def _claim_verdict(df, claim_id):
    """The verdict a claim's parts give (for the calibrated claim, which the report shows but does not judge, the
    verdict its parts would give)."""
    rows = df[df["claim_id"] == claim_id]
    if rows["calibrated"].iloc[0]:
        assert (rows["claim_verdict"] == CALIBRATED).all()
        return (any_of if rows["combine"].iloc[0] == "any" else all_of)(rows["verdict"].tolist())
    return rows["claim_verdict"].iloc[0]


def test_every_part_of_every_claim_holds_on_the_constructed_base(base_claims):
    assert set(base_claims["claim_id"]) == set(FORCE)
    bad = base_claims[base_claims["verdict"] != HOLDS]
    assert bad.empty, bad[["claim_id", "part", "effect", "ci_low", "ci_high"]].to_string()
    assert all(_claim_verdict(base_claims, c) == HOLDS for c in FORCE)
    assert (base_claims.loc[base_claims["claim_id"] == "clip", "claim_verdict"] == CALIBRATED).all()
    summary = claim_summary(base_claims)
    assert list(summary.index) == list(FORCE) and (summary["hold"] == summary["parts"]).all()


def test_claims_output_states_rules_and_the_paper(base_claims):
    row = base_claims[(base_claims["claim_id"] == "3tmm")].iloc[0]
    assert row["rule"] == "between 0 and 5 points" and row["paper"] == "+0.900" and row["paper_meets_rule"] == "yes"
    assert row["words"].startswith("We show how performance of a fine-tuned 3-tower")
    clip = base_claims[base_claims["claim_id"] == "clip"]
    assert clip["paper"].tolist() == ["+32.1", "+0.866"]  # three significant digits, never +0.9 for 0.866
    assert ((base_claims["resolvable"] - (base_claims["ci_high"] - base_claims["ci_low"]) / 2).abs() < 1e-12).all()
    assert (base_claims["n_units"] == N).all()
    assert (base_claims["ci_low"] <= base_claims["effect"]).all() and \
        (base_claims["effect"] <= base_claims["ci_high"]).all()
    vs = base_claims[base_claims["claim_id"] == "vs-align"]
    assert vs["paper"].str.contains("4.95%").all() and (vs["paper_meets_rule"] == "").all()
    # the recall cost of the 3-tower is a part of the visual-search claim
    assert "recall@10(vs-3tower) − recall@10(vs-img2img)" in set(vs["quantity"])


@pytest.mark.parametrize("claim_id, verdict", [(c, v) for c in FORCE for v in (FAILS, INCONCLUSIVE)])
def test_constructed_runs_force_each_verdict(claim_id, verdict):
    df = _verdicts(FORCE[claim_id][verdict])
    assert _claim_verdict(df, claim_id) == verdict, \
        df.loc[df["claim_id"] == claim_id, ["part", "effect", "ci_low", "ci_high", "verdict"]].to_string()


@pytest.mark.parametrize("claim_id, verdict, changes, why", BOUNDS, ids=[b[3] for b in BOUNDS])
def test_the_bounds_from_the_papers_words_force_their_verdicts(claim_id, verdict, changes, why):
    df = _verdicts(changes)
    assert _claim_verdict(df, claim_id) == verdict, why
    failing = df[(df["claim_id"] == claim_id) & (df["verdict"] == FAILS)]
    if verdict == FAILS:  # a failing part says which way it fails
        assert set(failing["side"]) <= {"below", "above"} and len(failing)


def test_the_multimodal_rows_are_the_4tmm_and_3tmm_rows():
    assert set(MULTIMODAL) == {v for v in TABLE2 if v.startswith(("4tmm", "3tmm"))}


# ------------------------------------------------------------------------------------------------ seeds
def test_pooling_over_seeds_hand_worked():
    from mmpaper.sweep import Z95, pool, pooled_summary

    a = _verdicts()                                           # seed 0: every claim holds
    b = _verdicts(FORCE["concat"][INCONCLUSIVE])              # seed 1: cat's recall gain sits on its margin
    pooled = pool({0: a, 1: b})
    j = int(np.flatnonzero(a["claim_id"] == "concat")[0])     # its first part: "cat: some recall improvement"
    assert pooled.loc[j, "pooled effect"] == pytest.approx((a.loc[j, "effect"] + b.loc[j, "effect"]) / 2)
    se = np.sqrt(a.loc[j, "se"] ** 2 + b.loc[j, "se"] ** 2) / 2
    assert pooled.loc[j, "pooled ci_low"] == pytest.approx(pooled.loc[j, "pooled effect"] - Z95 * se)
    assert pooled.loc[j, "spread"] == pytest.approx(abs(a.loc[j, "effect"] - b.loc[j, "effect"]))
    assert (pooled.loc[j, "verdict seed 0"], pooled.loc[j, "verdict seed 1"]) == (HOLDS, INCONCLUSIVE)
    assert pooled.loc[j, "seeds agree"] == "no"
    summary = pooled_summary(pooled, {0: a, 1: b})
    assert summary.loc["concat", "seeds agree"] == "no" and \
        summary.loc["concat", "parts whose verdict differs"] == "cat: some recall improvement"
    assert (summary.drop(index="concat")["seeds agree"] == "yes").all()
    assert summary.loc["concat", "pooled"] == HOLDS  # gains of 0.6 and 0: the pooled 0.3 is inside (0, 2)
    assert summary.loc["clip", "pooled"] == CALIBRATED  # shown, never judged
    with pytest.raises(ValueError, match="other claim parts"):
        pool({0: a, 1: a.iloc[:-1]})


@pytest.mark.slow
def test_seed_sweep_on_smoke_writes_verdicts_per_seed_and_a_record(tmp_path, monkeypatch, capsys):
    # the whole smoke study on two seeds through the CLI (~2 min on 2 cores: marked slow)
    import json

    from mmpaper.cli import main

    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    assert main(["tables", "--preset", "smoke", "--seeds", "0,1", "--runs-dir", str(tmp_path / "runs"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Verdicts that differ between seeds:" in out
    seeds_dir = tmp_path / "runs" / "smoke" / "tables" / "seeds"
    record = json.loads((seeds_dir / "sweep.json").read_text())
    assert record["seeds"] == [0, 1] and record["machine"]["cores"] and record["date"]
    ids = [c.id for c in claim_definitions()]
    assert list(record["verdicts"]) == ids
    for cid in ids:
        assert set(record["verdicts"][cid]) == {"0", "1", "pooled"}
        assert all(v in (HOLDS, FAILS, INCONCLUSIVE) for v in record["verdicts"][cid].values())
    pooled = pd.read_csv(seeds_dir / "claims_by_seed.csv")
    assert {"verdict seed 0", "verdict seed 1", "pooled effect", "pooled verdict"} <= set(pooled.columns)
    for seed in (0, 1):
        parts = pd.read_csv(seeds_dir / f"seed{seed}" / "claims.csv")
        assert parts["ci_low"].le(parts["effect"]).all() and parts["effect"].le(parts["ci_high"]).all()
        t4 = pd.read_csv(seeds_dir / f"seed{seed}" / "table4.csv", index_col=0)
        assert {"net R@100 (of missed)", "paper net R@100 (of missed)", "net R@100 (of all)"} <= set(t4.columns)
        assert (t4["net R@100 (of all)"] <= t4["net R@100 (of missed)"] + 1e-9).all()
    # the two seeds are two worlds: their eval sets differ
    assert record["n_eval_queries"]["0"] > 0 and record["n_eval_queries"]["1"] > 0
