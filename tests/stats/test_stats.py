"""Statistics over seeds, checked against scipy / scikit-posthocs on the same arrays and Demšar (2006)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scikit_posthocs
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hst

from seedbench.core import seeds
from seedbench.core.errors import DataFormatError
from seedbench.reporting.markdown import summary_markdown
from seedbench.stats.aggregate import aggregate
from seedbench.stats.bootstrap import bootstrap_interval_over_units
from seedbench.stats.claims import (
    attainable_min_p,
    correct_claims,
    pairwise_claims,
    probability_of_improvement,
    seeds_needed,
)
from seedbench.stats.ranking import (
    critical_difference,
    friedman_nemenyi,
    nemenyi_critical_value,
)
from seedbench.stats.summaries import describe_over_seeds
from seedbench.verify.compare import compare_results, comparison_table

# --------------------------------------------------------------------------- Demšar (2006)
# J. Demšar, "Statistical Comparisons of Classifiers over Multiple Data Sets", JMLR 7 (2006) 1–30,
# Table 6: AUC of C4.5 (m = 0, cf = 0.25), C4.5+m, C4.5+cf, C4.5+m+cf (parameters tuned by
# internal 5-fold CV) on 14 UCI data sets, with the per-data-set ranks the paper prints in
# parentheses (1 = best AUC). Published: average ranks 3.143, 2.000, 2.893, 1.964;
# chi2_F = 9.28 (without tie correction); CD = 2.569 * sqrt(4*5/(6*14)) = 1.25 at alpha = 0.05,
# 1.12 at alpha = 0.10 (then C4.5 is worse than C4.5+m and C4.5+m+cf).
DEMSAR_METHODS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
DEMSAR_AUC = np.array([
    [0.763, 0.768, 0.771, 0.798],  # adult (sample)
    [0.599, 0.591, 0.590, 0.569],  # breast cancer
    [0.954, 0.971, 0.968, 0.967],  # breast cancer wisconsin
    [0.628, 0.661, 0.654, 0.657],  # cmc
    [0.882, 0.888, 0.886, 0.898],  # ionosphere
    [0.936, 0.931, 0.916, 0.931],  # iris
    [0.661, 0.668, 0.609, 0.685],  # liver disorders
    [0.583, 0.583, 0.563, 0.625],  # lung cancer
    [0.775, 0.838, 0.866, 0.875],  # lymphography
    [1.000, 1.000, 1.000, 1.000],  # mushroom
    [0.940, 0.962, 0.965, 0.962],  # primary tumor
    [0.619, 0.666, 0.614, 0.669],  # rheum
    [0.972, 0.981, 0.975, 0.975],  # voting
    [0.957, 0.978, 0.946, 0.970],  # wine
])
DEMSAR_RANKS = np.array([
    [4, 3, 2, 1], [1, 2, 3, 4], [4, 1, 2, 3], [4, 1, 3, 2], [4, 2, 3, 1], [1, 2.5, 4, 2.5],
    [3, 2, 4, 1], [2.5, 2.5, 4, 1], [4, 3, 2, 1], [2.5, 2.5, 2.5, 2.5], [4, 2.5, 1, 2.5],
    [3, 2, 4, 1], [4, 1, 2, 3], [3, 1, 4, 2],
])
DEMSAR_MEAN_RANKS = [3.143, 2.000, 2.893, 1.964]


def _rng(*names):
    return seeds.generator(12345, "test", *names)


def test_demsar_table_6_mean_ranks_and_critical_difference():
    # The paper's own ranks as scores (lower = better): exactly its Table 6.
    out = friedman_nemenyi(DEMSAR_RANKS, DEMSAR_METHODS, alpha=0.05)
    assert [out["mean_ranks"][m] for m in DEMSAR_METHODS] == pytest.approx(DEMSAR_MEAN_RANKS, abs=5e-4)
    assert out["k"] == 4 and out["N"] == 14
    assert out["q_alpha"] == pytest.approx(2.569, abs=5e-4)
    assert out["cd"] == pytest.approx(1.25, abs=5e-3)
    assert out["significant_pairs"] == []  # "the post-hoc test is not powerful enough" at 0.05
    ranks = np.array([out["mean_ranks"][m] for m in DEMSAR_METHODS])
    chi2_demsar = 12 * 14 / (4 * 5) * (np.sum(ranks**2) - 4 * 5**2 / 4)  # no tie correction
    assert chi2_demsar == pytest.approx(9.28, abs=0.01)
    assert out["statistic"] == pytest.approx(st.friedmanchisquare(*DEMSAR_RANKS.T).statistic, rel=1e-12)


def test_demsar_at_alpha_010_separates_c45_from_the_m_variants():
    out = friedman_nemenyi(DEMSAR_RANKS, DEMSAR_METHODS, alpha=0.10)
    assert out["cd"] == pytest.approx(1.12, abs=5e-3)
    assert sorted(map(tuple, out["significant_pairs"])) == [("C4.5", "C4.5+m"), ("C4.5", "C4.5+m+cf")]


def test_demsar_raw_auc_gives_the_published_ranks_except_the_voting_tie():
    # From the printed 3-decimal AUCs, voting's C4.5+cf and C4.5+m+cf tie (0.975): average rank 2.5 each,
    # where the paper (unrounded AUCs) has 2 and 3. Everything else matches.
    out = friedman_nemenyi(-DEMSAR_AUC, DEMSAR_METHODS)  # higher AUC = better, so negate
    got = [out["mean_ranks"][m] for m in DEMSAR_METHODS]
    assert got == pytest.approx([3.143, 2.000, 2.893 + 0.5 / 14, 1.964 - 0.5 / 14], abs=5e-4)


def test_nemenyi_p_values_are_scikit_posthocs_on_the_same_array():
    out = friedman_nemenyi(DEMSAR_RANKS, DEMSAR_METHODS)
    ref = scikit_posthocs.posthoc_nemenyi_friedman(DEMSAR_RANKS).to_numpy()
    got = np.array([[out["nemenyi_p"][a][b] for b in DEMSAR_METHODS] for a in DEMSAR_METHODS])
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize(
    "k, q", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850), (7, 2.949), (8, 3.031), (9, 3.102), (10, 3.164)]
)
def test_nemenyi_critical_values_match_demsar_table_5a(k, q):
    assert nemenyi_critical_value(k, 0.05) == pytest.approx(q, abs=1e-3)


def test_critical_difference_formula():
    assert critical_difference(4, 14) == pytest.approx(2.569 * math.sqrt(20 / 84), abs=1e-3)


def test_friedman_with_two_methods_says_why_instead_of_failing():
    out = friedman_nemenyi([[1.0, 2.0], [2.0, 3.0], [1.0, 0.5]], ["a", "b"])
    assert out["statistic"] is None and out["cd"] is None
    assert "Friedman needs ≥ 3 methods" in out["note"]
    assert out["mean_ranks"] == {"a": pytest.approx(4 / 3), "b": pytest.approx(5 / 3)}


def test_friedman_drops_blocks_with_nan_and_counts_them():
    scores = np.array([[1.0, 2.0, 3.0], [np.nan, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])
    out = friedman_nemenyi(scores, ["a", "b", "c"])
    assert out["N"] == 3 and out["n_blocks_dropped"] == 1
    assert "1 of 4 blocks dropped" in out["note"]
    assert out["statistic"] == pytest.approx(st.friedmanchisquare(*scores[[0, 2, 3]].T).statistic)


def test_friedman_of_all_ties_is_undefined_not_a_crash():
    out = friedman_nemenyi(np.ones((4, 3)), ["a", "b", "c"])
    assert out["statistic"] is None and "ties all methods" in out["note"]
    assert out["mean_ranks"] == {"a": 2.0, "b": 2.0, "c": 2.0}


@settings(max_examples=30, deadline=None)
@given(
    hst.integers(3, 5).flatmap(
        lambda k: hst.tuples(
            hst.lists(hst.lists(hst.integers(0, 20), min_size=k, max_size=k), min_size=2, max_size=6),
            hst.lists(hst.integers(-1000, 1000), min_size=6, max_size=6),
        )
    )
)
def test_shifting_every_method_of_a_block_by_a_constant_changes_no_rank(data):
    scores, shifts = data
    s = np.array(scores, dtype=float)
    shifted = s + np.array(shifts[: s.shape[0]], dtype=float)[:, None]  # exact in float64 (integers)
    names = [f"m{i}" for i in range(s.shape[1])]
    a, b = friedman_nemenyi(s, names), friedman_nemenyi(shifted, names)
    assert a["mean_ranks"] == b["mean_ranks"]
    assert a["statistic"] == b["statistic"] and a["nemenyi_p"] == b["nemenyi_p"]


# --------------------------------------------------------------------------- describe_over_seeds


def test_describe_matches_numpy_and_scipy():
    x = np.array([14.2, 15.1, 13.8, 16.0, 14.9, 15.5])
    out = describe_over_seeds(x, confidence=0.95, n_resamples=2000, rng=_rng("d"))
    assert out["n"] == 6 and out["n_nan"] == 0
    assert out["mean"] == pytest.approx(np.mean(x)) and out["std"] == pytest.approx(np.std(x, ddof=1))
    assert out["sem"] == pytest.approx(st.sem(x))
    t_low, t_high = st.t.interval(0.95, df=5, loc=np.mean(x), scale=st.sem(x))
    assert (out["t_low"], out["t_high"]) == (pytest.approx(t_low), pytest.approx(t_high))
    ref = st.bootstrap((np.sort(x),), np.mean, n_resamples=2000, method="BCa", rng=_rng("d"))
    assert out["ci_method"] == "BCa"
    assert (out["ci_low"], out["ci_high"]) == (pytest.approx(ref.confidence_interval.low, rel=1e-12),
                                               pytest.approx(ref.confidence_interval.high, rel=1e-12))


def test_identical_values_fall_back_to_percentile_and_say_so():
    out = describe_over_seeds([12.5] * 5, n_resamples=500, rng=_rng("i"))
    assert out["ci_method"] == "percentile (BCa degenerate: all values identical)"
    assert out["ci_low"] == out["ci_high"] == 12.5
    assert out["std"] == 0.0 and out["t_low"] == out["t_high"] == 12.5


def test_one_seed_has_no_sem_or_interval_and_says_why():
    out = describe_over_seeds([13.0], n_resamples=100, rng=_rng("1"))
    assert out["n"] == 1 and out["mean"] == 13.0
    assert out["std"] is None and out["sem"] is None and out["ci_low"] is None and out["t_low"] is None
    assert "1 finite seed" in out["note"]


def test_nan_runs_are_counted_and_reported_not_silently_dropped():
    out = describe_over_seeds([14.0, np.nan, 15.0, 16.0, np.inf], n_resamples=200, rng=_rng("n"))
    assert out["n"] == 3 and out["n_nan"] == 2 and out["mean"] == pytest.approx(15.0)
    assert "2 of 5 runs non-finite" in out["note"]
    json.dumps(out, allow_nan=False)


def test_all_nan_gives_no_statistics():
    out = describe_over_seeds([np.nan, np.nan], n_resamples=100, rng=_rng("a"))
    assert out["n"] == 0 and out["mean"] is None and "no finite value" in out["note"]


@settings(max_examples=25, deadline=None)
@given(hst.lists(hst.floats(5, 50), min_size=2, max_size=8), hst.randoms(use_true_random=False))
def test_permuting_seeds_changes_nothing(values, random):
    permuted = list(values)
    random.shuffle(permuted)
    a = describe_over_seeds(values, n_resamples=200, rng=_rng("p"))
    b = describe_over_seeds(permuted, n_resamples=200, rng=_rng("p"))
    assert a == b


# --------------------------------------------------------------------------- per-run interval


def test_bootstrap_interval_over_units_matches_scipy_and_rmse():
    t = np.linspace(10, 120, 40)
    p = t + np.sin(np.arange(40)) * 12
    out = bootstrap_interval_over_units(t, p, n_resamples=1000, rng=_rng("u"))
    assert out["estimate"] == pytest.approx(math.sqrt(np.mean((p - t) ** 2)))
    e = np.sort(np.abs(p - t))
    ref = st.bootstrap((e,), lambda x, axis: np.sqrt(np.mean(x**2, axis=axis)), n_resamples=1000, rng=_rng("u"))
    assert out["method"] == "BCa" and out["n_units"] == 40
    assert out["low"] == pytest.approx(ref.confidence_interval.low) and out["high"] == pytest.approx(ref.confidence_interval.high)
    assert bootstrap_interval_over_units(p - t, n_resamples=1000, rng=_rng("u")) == out


def test_bootstrap_interval_of_a_diverged_run_is_null_not_a_crash():
    out = bootstrap_interval_over_units([1.0, 2.0, 3.0], [1.0, np.nan, 2.0], n_resamples=100, rng=_rng("x"))
    assert out["estimate"] is None and out["low"] is None and "non-finite" in out["note"]
    json.dumps(out, allow_nan=False)


def test_perfect_predictions_fall_back_to_percentile():
    out = bootstrap_interval_over_units([5.0, 6.0, 7.0], [5.0, 6.0, 7.0], n_resamples=100, rng=_rng("z"))
    assert out["estimate"] == 0.0 and out["low"] == out["high"] == 0.0
    assert out["method"].startswith("percentile (BCa degenerate")


# --------------------------------------------------------------------------- claims


def test_clear_difference_is_claimed_with_the_winner_named():
    a = np.array([10.0, 10.5, 9.8, 10.2, 10.1])
    b = np.array([12.0, 12.4, 11.9, 12.3, 12.2])
    (c,) = pairwise_claims({"bilstm": a, "mlp": b}, dataset="FD002")
    assert c["verdict"] == "A better" and c["better"] == "bilstm"
    assert c["difference"] == pytest.approx(a.mean() - b.mean())
    assert c["threshold"] == pytest.approx(2 * math.sqrt(st.sem(a) ** 2 + st.sem(b) ** 2))
    assert c["statement"].startswith("bilstm has lower RMSE than mlp on FD002 (Δ = ")
    assert "(± = SE of the difference), 5 seeds; paired t p = " in c["statement"] and "Holm p" in c["statement"]
    assert c["supported"] and c["seed_rule_verdict"] == "A better"
    assert c["paired_t_p"] == pytest.approx(st.ttest_rel(a, b).pvalue)
    assert c["wilcoxon_p"] == pytest.approx(st.wilcoxon(a, b).pvalue)
    assert "smallest attainable two-sided p is 0.0625" in c["wilcoxon_note"]
    assert c["prob_improvement"] == 1.0


def test_overlapping_methods_are_not_distinguishable_and_get_a_seed_estimate():
    a = np.array([10.0, 11.0, 12.0, 10.5, 11.5])
    b = np.array([11.0, 10.6, 12.3, 11.2, 11.0])
    (c,) = pairwise_claims({"linear": a, "mlp": b}, dataset="FD001")
    assert c["verdict"] == "not distinguishable" and c["better"] is None
    assert c["statement"].startswith("linear and mlp are not distinguishable with 5 seeds on FD001")
    s2 = np.var(a, ddof=1) + np.var(b, ddof=1)
    assert c["seeds_needed"] == math.ceil((2 + st.norm.ppf(0.8)) ** 2 * s2 / (a.mean() - b.mean()) ** 2)
    assert 0 < c["power_at_n"] < 0.5
    floor, ceiling = c["seeds_needed_range"]  # the interval of Δ holds 0: a floor, no ceiling
    assert ceiling is None and floor >= 2 and f"≥ {floor} seeds per method" in c["statement"]


def test_probability_of_improvement_is_mann_whitney_with_half_ties():
    a = np.array([1.0, 2.0, 3.0, 3.0])
    b = np.array([2.0, 3.0, 4.0])
    expected = st.mannwhitneyu(b, a).statistic / (a.size * b.size)
    assert probability_of_improvement(a, b) == pytest.approx(expected)
    assert probability_of_improvement(a, a) == 0.5


def test_a_claim_is_refused_with_fewer_than_two_seeds():
    (c,) = pairwise_claims({"a": [10.0], "b": [11.0]})
    assert c["verdict"] == "no claim" and "needs ≥ 2 finite seeds" in c["statement"]


def test_wilcoxon_is_skipped_with_a_reason_when_not_paired_or_all_equal():
    (c,) = pairwise_claims({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0]})
    assert c["wilcoxon_p"] is None and "not paired" in c["wilcoxon_note"]
    (c,) = pairwise_claims({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]})
    assert c["wilcoxon_p"] is None and "all paired differences are zero" in c["wilcoxon_note"]
    assert c["seeds_needed"] is None


def test_a_claim_the_2_sem_rule_makes_is_not_supported_when_holm_over_the_family_rejects_it():
    a = np.array([10.0, 11.0, 12.0, 10.5, 11.5])
    b = a + np.array([1.9, 0.3, 1.5, 2.2, 0.4])  # paired t p ≈ 0.03: below α alone, not over 6 pairs
    (alone,) = pairwise_claims({"x": a, "y": b}, dataset="FD001")
    assert alone["supported"] and alone["p_holm"] == pytest.approx(st.ttest_rel(a, b).pvalue)
    flat = np.array([10.6, 11.1, 11.3, 10.9, 11.2])
    claims = pairwise_claims({"x": a, "y": b, "z": flat, "w": flat + 0.01}, dataset="FD001")
    xy = next(c for c in claims if (c["method_a"], c["method_b"]) == ("x", "y"))
    assert xy["family_size"] == 6 and xy["p_holm"] > 0.05
    assert xy["seed_rule_verdict"] == "A better" and xy["verdict"] == "not distinguishable" and not xy["supported"]
    assert "the seed's 2·SEM rule would claim x better" in xy["statement"]


def test_a_supported_pair_is_flagged_when_friedman_does_not_reject():
    a = np.array([10.0, 10.5, 9.8, 10.2, 10.1])
    (c,) = pairwise_claims({"bilstm": a, "mlp": a + 2.0 + 0.1 * np.arange(5)}, dataset="FD002")
    correct_claims([c], omnibus_p={("FD002", "rmse"): 0.3})
    assert c["supported"] and c["omnibus_rejects"] is False
    assert "Friedman does not reject on FD002: read this pair as exploratory" in c["statement"]


def test_five_seeds_cannot_make_wilcoxon_significant_and_the_report_says_so():
    low = attainable_min_p(5, 4)
    assert low["wilcoxon"] == 0.0625 and low["friedman"] == pytest.approx(st.chi2.sf(15, 3))
    # the exact Wilcoxon p of 5 pairs all on one side is that bound
    assert st.wilcoxon([1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5).pvalue == pytest.approx(low["wilcoxon"])
    md = summary_markdown(aggregate(_results(), n_resamples=100, bootstrap_seed=1))
    assert "Wilcoxon signed-rank and sign test: 0.0625 — cannot be significant" in md
    assert "in claims it is the standard error of the difference of means" in md


def test_seeds_needed_formula():
    assert seeds_needed(1.0, 1.0, 1.0, power=0.5) == 8  # (2 + 0)^2 * 2 / 1
    assert seeds_needed(1.0, 1.0, 0.0) is None


# --------------------------------------------------------------------------- aggregate


def _results(datasets=("FD001", "FD002"), methods=("linear", "mlp", "cnn1d"), reps=(0, 1, 2, 3, 4), seed=7):
    rng = seeds.generator(seed, "test-results")
    out = []
    for d in datasets:
        for i, m in enumerate(methods):
            for r in reps:
                v = 15.0 + 1.5 * i + float(rng.normal())
                out.append({"dataset": d, "method": m, "replicate": r, "seed": 1000 + r, "experiment_seed": seed,
                            "n_test_units": 20, "metrics": {"rmse": v, "mae": 0.8 * v, "nasa_score": 30.0 * v}})
    return out


def test_aggregate_summary_keys_cells_and_bootstrap_streams():
    res = _results()
    agg = aggregate(res, confidence=0.9, n_resamples=300, bootstrap_seed=99)
    flat = agg.summary_flat()
    for s in ("mean", "std", "sem", "n", "n_nan"):
        assert f"FD001.mlp.rmse.{s}" in flat and f"FD002.cnn1d.nasa_score.{s}" in flat
    assert "FD001.mlp.rmse.ci_low" not in flat  # intervals live in the detail, not in the DVC metrics
    detail = agg.detail()["cells"]["FD001"]["mlp"]["rmse"]
    assert detail["ci_low"] is not None and detail["ci_low"] < detail["mean"] < detail["ci_high"]
    assert flat["FD001.mlp.rmse.n"] == 5
    v = [r["metrics"]["mae"] for r in res if r["dataset"] == "FD002" and r["method"] == "linear"]
    ref = describe_over_seeds(v, confidence=0.9, n_resamples=300,
                              rng=seeds.generator(99, "bootstrap", "FD002", "linear", "mae"))
    assert agg.cells[("FD002", "linear", "mae")] == ref
    assert agg.friedman["N"] == 10 and agg.friedman["k"] == 3
    assert len(agg.claims()) == 2 * 3 * 3  # datasets × metrics × pairs
    json.dumps(flat, allow_nan=False)
    json.dumps(agg.claims(), allow_nan=False)


def test_aggregate_reports_nan_as_null_and_counts_it():
    res = _results()
    res[0]["metrics"] = {"rmse": None, "mae": None, "nasa_score": None}  # diverged (results.json writes null)
    agg = aggregate(res, n_resamples=200, bootstrap_seed=1)
    flat = agg.summary_flat()
    assert flat["FD001.linear.rmse.n_nan"] == 1 and flat["FD001.linear.rmse.n"] == 4
    assert agg.friedman["n_blocks_dropped"] == 1
    assert "1 of 5 runs non-finite" in summary_markdown(agg)
    json.dumps(flat, allow_nan=False)


@settings(max_examples=10, deadline=None)
@given(hst.randoms(use_true_random=False))
def test_permuting_results_and_relabelling_seeds_changes_nothing_in_the_summary(random):
    res = _results(datasets=("FD001",), reps=(0, 1, 2, 3))
    base = aggregate(res, n_resamples=200, bootstrap_seed=5).summary_flat()
    shuffled = [dict(r) for r in res]
    labels = [0, 1, 2, 3]
    random.shuffle(labels)
    for r in shuffled:
        r["replicate"] = labels[r["replicate"]]  # same permutation for every method: blocks stay paired
    random.shuffle(shuffled)
    assert aggregate(shuffled, n_resamples=200, bootstrap_seed=5).summary_flat() == base


def test_aggregate_with_one_seed_and_two_methods_reports_instead_of_failing():
    agg = aggregate(_results(methods=("linear", "mlp"), reps=(0,)), n_resamples=100, bootstrap_seed=3)
    flat = agg.summary_flat()
    assert flat["FD001.linear.rmse.sem"] is None and flat["FD001.linear.rmse.n"] == 1
    assert all(c["verdict"] == "no claim" for c in agg.claims())
    md = summary_markdown(agg)
    assert "Friedman needs ≥ 3 methods" in md and "1 finite seed" in md


def test_aggregate_markdown_has_tables_friedman_and_plain_claims():
    agg = aggregate(_results(), n_resamples=200, bootstrap_seed=2)
    md = summary_markdown(agg)
    assert "## FD001" in md and "## FD002" in md and "| method | n seeds | RMSE mean ± std |" in md
    assert "Friedman (RMSE, blocks = dataset × seed, 10 blocks, k = 3)" in md
    rmse_claims = [c for c in agg.claims() if c["metric"] == "rmse"]
    assert all(c["statement"] in md for c in rmse_claims)


def test_incomplete_grid_names_the_missing_run():
    res = [r for r in _results() if not (r["method"] == "mlp" and r["replicate"] == 3 and r["dataset"] == "FD002")]
    with pytest.raises(DataFormatError, match="FD002/mlp/rep_3"):
        aggregate(res, n_resamples=100, bootstrap_seed=1)


def test_duplicate_run_is_rejected():
    res = _results()
    with pytest.raises(DataFormatError, match="appears twice"):
        aggregate(res + [res[0]], n_resamples=100, bootstrap_seed=1)


def test_aggregate_2x10x50_with_10000_resamples_reports_every_cell_and_pair():
    """The benchmark's shape (its time is measured by bench/bench_aggregate.py, not asserted here)."""
    res = _results(methods=tuple(f"m{i}" for i in range(10)), reps=tuple(range(50)))
    agg = aggregate(res, n_resamples=10_000, bootstrap_seed=4)
    assert len(agg.cells) == 2 * 10 * 3 and all(c["n"] == 50 and c["ci_method"] == "BCa" for c in agg.cells.values())
    assert len(agg.claims()) == 2 * 45 * 3
    assert len(agg.summary_flat()) == 2 * 10 * 3 * 5 + 5 + 10
    assert all(f"| m{i} |" in summary_markdown(agg) for i in range(10))


# --------------------------------------------------------------------------- reproducibility levels


def test_bit_level_passes_on_identical_results_and_fails_on_any_change():
    a = _results()
    assert compare_results(a, [dict(r) for r in a], "bit").passed
    b = [dict(r) for r in a]
    b[3] = {**b[3], "metrics": {**b[3]["metrics"], "rmse": b[3]["metrics"]["rmse"] + 1e-12}}
    cmp = compare_results(a, b, "bit")
    assert not cmp.passed and sum(not r["passed"] for r in cmp.rows) == 1
    assert "metrics" in [r for r in cmp.rows if not r["passed"]][0]["detail"]
    assert cmp.verdict.startswith("bit-exact: FAIL")


def test_bit_level_compares_prediction_hashes_when_given():
    a = _results(datasets=("FD001",), methods=("linear",), reps=(0,))
    key = ("FD001", "linear", 0)
    assert compare_results(a, a, "bit", prediction_hashes_a={key: "ab"}, prediction_hashes_b={key: "ab"}).passed
    assert not compare_results(a, a, "bit", prediction_hashes_a={key: "ab"}, prediction_hashes_b={key: "cd"}).passed


def test_bit_level_compares_the_per_run_intervals_wherever_each_side_keeps_them():
    a = _results(datasets=("FD001",), methods=("linear",), reps=(0,))
    key = ("FD001", "linear", 0)
    ci = {"statistic": "rmse", "estimate": 20.0, "low": 18.5, "high": 21.75, "confidence": 0.95, "n_resamples": 2000}
    assert compare_results(a, a, "bit", intervals_a={key: ci}, intervals_b={key: dict(ci)}).passed
    other = compare_results(a, a, "bit", intervals_a={key: ci}, intervals_b={key: {**ci, "n_resamples": 1000}})
    assert not other.passed and other.rows[0]["detail"] == "differ: rmse_ci"
    # a side without reports/run_intervals.json (intervals None) falls back to its records: an older results.json
    # carried the interval itself, a current one has none
    old = [{**r, "rmse_ci": ci} for r in a]
    assert compare_results(old, a, "bit", intervals_b={key: ci}).passed
    assert compare_results(a, a, "bit").passed
    assert compare_results(a, a, "bit", intervals_b={key: ci}).rows[0]["detail"] == "differ: rmse_ci"


def test_seed_level_uses_the_tolerance_per_run():
    a = _results()
    b = [{**r, "metrics": {**r["metrics"], "rmse": r["metrics"]["rmse"] + 0.005}} for r in a]
    assert compare_results(a, b, "seed", tolerance=0.01).passed
    assert not compare_results(a, b, "seed", tolerance=0.001).passed


def test_distribution_level_reports_the_grace_rule_beside_a_calibrated_verdict():
    a = _results(seed=1)
    shifted = [{**r, "metrics": {**r["metrics"], "rmse": r["metrics"]["rmse"] + 0.01}} for r in a]
    assert compare_results(a, shifted, "distribution").passed
    scaled = []
    for r in a:
        mean = np.mean([q["metrics"]["rmse"] for q in a if q["dataset"] == r["dataset"] and q["method"] == r["method"]])
        scaled.append({**r, "metrics": {**r["metrics"], "rmse": mean + 1.5 * (r["metrics"]["rmse"] - mean)}})
    cmp = compare_results(a, scaled, "distribution")
    # std ×1.5 is outside the seed's ±20% window, but a variance ratio of 2.25 is common between 5-seed sets
    assert cmp.passed and all(r["grace_within"] is False for r in cmp.rows)
    assert "GRACE rule: 0 of 6 cells within" in comparison_table(cmp)


def test_runs_present_on_one_side_only_are_reported():
    a = _results()
    cmp = compare_results(a, a[1:], "seed")
    assert cmp.only_in_a == ("FD001/linear/rep_0",) and not cmp.passed
    assert "1 only in A" in cmp.verdict
    cmp = compare_results(a, [r for r in a if r["method"] != "mlp"], "distribution")
    assert cmp.only_in_a == ("FD001/mlp", "FD002/mlp")
    json.dumps(cmp.to_dict(), allow_nan=False)


def test_aggregation_modules_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, seedbench.stats.aggregate, seedbench.reporting.markdown, seedbench.reporting.plots, seedbench.stats.metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
