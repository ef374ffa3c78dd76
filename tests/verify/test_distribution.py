"""The distribution-stable verdict, by simulation: calibrated, powered as stated, symmetric, divergence-aware.

Figures quoted in README "How many seeds?" come from these simulations (seeded, so they are exact
for this code): 5 seeds a side, 8 cells (the default profile), α = 0.05 familywise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st

from seedbench.core import seeds
from seedbench.stats.twosample import (
    divergence_min_p,
    holm_adjust,
    variance_ratio_p,
    welch_p,
)
from seedbench.verify.compare import compare_results, comparison_table
from seedbench.verify.distribution import distribution_rows

ALPHA = 0.05
CELLS = [(d, m) for d in ("FD001", "FD002") for m in ("linear", "mlp", "cnn1d", "bilstm")]
# a cell's seed-to-seed distribution: RMSE mean and std (cycles), spreads as different as the real pipeline's
MEANS = np.array([31.0, 16.5, 15.2, 17.8, 33.5, 27.0, 26.1, 28.4])
STDS = np.array([0.05, 0.9, 0.6, 1.4, 0.08, 1.2, 0.8, 2.0])
N_PAIRS = 2000
STATED_FALSE_FAIL = 0.044   # README: "fails a reproducible pipeline 4.4% of the time (α = 5%)"
STATED_POWER_3SEM = 0.10    # README: "a shift of 3·σ/√5 in one cell: detected 10% of the time"
STATED_NAMED_3SEM = 0.06    # README: "… and names that cell 6% of the time"
STATED_POWER_8SEM = 0.80    # README: "8·σ/√5 (3.6 σ): 80%"


def _slack(p: float, n: int) -> float:
    """Three Monte-Carlo standard errors of a rate p estimated from n draws."""
    return 3.0 * math.sqrt(p * (1.0 - p) / n)


def _seed_sets(rng: np.random.Generator, n_seeds: int, shift_cell0: float = 0.0) -> tuple[dict, dict]:
    """Two independent seed sets of every cell (B's first cell shifted by ``shift_cell0`` of its σ)."""
    a = rng.normal(MEANS[:, None], STDS[:, None], size=(len(CELLS), n_seeds))
    b = rng.normal(MEANS[:, None], STDS[:, None], size=(len(CELLS), n_seeds))
    b[0] += shift_cell0 * STDS[0]
    return dict(zip(CELLS, a)), dict(zip(CELLS, b))


def _failure_rate(stream: str, shift_cell0: float, n_pairs: int = N_PAIRS) -> tuple[float, float]:
    """Fraction of pairs whose verdict fails, and fraction whose failure names cell 0."""
    rng = seeds.generator(2026, "test-distribution", stream)
    fails, cell0 = 0, 0
    for _ in range(n_pairs):
        rows = distribution_rows(*_seed_sets(rng, 5, shift_cell0), alpha=ALPHA)
        failed = [(r["dataset"], r["method"]) for r in rows if not r["passed"]]
        fails += bool(failed)
        cell0 += CELLS[0] in failed
    return fails / n_pairs, cell0 / n_pairs


def _records(values: dict, seed_offset: int = 0) -> list[dict]:
    return [
        {"dataset": d, "method": m, "replicate": r, "seed": seed_offset + r, "experiment_seed": seed_offset,
         "n_test_units": 100, "metrics": {"rmse": float(v) if math.isfinite(v) else None, "mae": 1.0, "nasa_score": 1.0}}
        for (d, m), vs in values.items() for r, v in enumerate(vs)
    ]


def test_same_distribution_fails_at_most_alpha_over_2000_pairs_of_5_seed_sets_in_8_cells():
    rate, _ = _failure_rate("null", 0.0)
    assert rate <= ALPHA + _slack(ALPHA, N_PAIRS)
    assert abs(rate - STATED_FALSE_FAIL) <= _slack(STATED_FALSE_FAIL, N_PAIRS)


def test_the_seed_rule_would_fail_nearly_every_same_distribution_pair():
    rng = seeds.generator(2026, "test-distribution", "grace")
    within = [all(r["grace_within"] for r in distribution_rows(*_seed_sets(rng, 5))) for _ in range(200)]
    assert sum(within) <= 2  # all 8 cells within the ±2·SEM_A / ±20% window: about 1 in 100,000


def test_a_mean_shift_of_3_sem_in_one_cell_is_detected_with_the_stated_power():
    rate, cell0 = _failure_rate("shift-3", 3.0 / math.sqrt(5))
    assert abs(rate - STATED_POWER_3SEM) <= _slack(STATED_POWER_3SEM, N_PAIRS)
    assert abs(cell0 - STATED_NAMED_3SEM) <= _slack(STATED_NAMED_3SEM, N_PAIRS)  # the shifted cell, by name


def test_a_mean_shift_of_8_sem_in_one_cell_is_detected_with_80_percent_power():
    rate, cell0 = _failure_rate("shift-8", 8.0 / math.sqrt(5), n_pairs=1000)
    assert abs(rate - STATED_POWER_8SEM) <= _slack(STATED_POWER_8SEM, 1000)
    assert cell0 >= 0.95 * rate


def test_verdict_and_p_values_are_symmetric_in_a_and_b():
    rng = seeds.generator(2026, "test-distribution", "symmetry")
    for i in range(100):
        va, vb = _seed_sets(rng, 5, shift_cell0=float(rng.uniform(0, 6)))
        for values in (va, vb):  # a few diverged runs on either side
            for cell in CELLS[: i % 4]:
                values[cell][: int(rng.integers(0, 4))] = np.nan
        ab = compare_results(_records(va), _records(vb, 100), "distribution")
        ba = compare_results(_records(vb, 100), _records(va), "distribution")
        assert ab.passed == ba.passed
        for x, y in zip(ab.rows, ba.rows):
            assert x["passed"] == y["passed"] and x["failed_tests"] == y["failed_tests"]
            assert x["p_holm"].keys() == y["p_holm"].keys()
            for t, p in x["p_holm"].items():
                assert p == pytest.approx(y["p_holm"][t], rel=1e-9, abs=1e-12)


def test_more_diverged_runs_in_b_fails_naming_the_cell():
    rng = seeds.generator(2026, "test-distribution", "diverged")
    va, vb = _seed_sets(rng, 10)
    vb[("FD002", "mlp")][:8] = np.nan  # 8 of 10 diverged in B, none in A
    cmp = compare_results(_records(va), _records(vb, 100), "distribution")
    bad = [r for r in cmp.rows if not r["passed"]]
    assert not cmp.passed and [(r["dataset"], r["method"]) for r in bad] == [("FD002", "mlp")]
    assert bad[0]["failed_tests"] == ["divergence"]
    assert "FAIL  FD002/mlp" in comparison_table(cmp) and "diverged 0/10 vs 8/10" in comparison_table(cmp)


def test_with_5_seeds_a_cell_left_with_one_finite_run_in_b_fails():
    rng = seeds.generator(2026, "test-distribution", "diverged-5")
    va, vb = _seed_sets(rng, 5)
    vb[("FD001", "cnn1d")][:4] = np.nan
    cmp = compare_results(_records(va), _records(vb, 100), "distribution")
    bad = [r for r in cmp.rows if not r["passed"]]
    assert [(r["dataset"], r["method"]) for r in bad] == [("FD001", "cnn1d")]
    assert "B has 1 finite run(s)" in bad[0]["detail"]


def test_two_of_five_diverged_is_reported_but_cannot_be_significant():
    rng = seeds.generator(2026, "test-distribution", "diverged-2")
    va, vb = _seed_sets(rng, 5)
    vb[("FD001", "mlp")][:2] = np.nan
    row = next(r for r in compare_results(_records(va), _records(vb, 100), "distribution").rows if r["method"] == "mlp"
               and r["dataset"] == "FD001")
    assert "diverged 0/5 vs 2/5" in row["detail"] and "not tested" in row["detail"]
    assert divergence_min_p(2, 5, 5) > ALPHA  # 0/5 vs 2/5 is Fisher p = 0.44, whatever the code does


def test_two_sample_tests_match_scipy_and_are_symmetric():
    rng = seeds.generator(2026, "test-distribution", "scipy")
    a, b = rng.normal(10, 1, 5), rng.normal(11, 2, 7)
    assert welch_p(a, b) == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    f = np.var(b, ddof=1) / np.var(a, ddof=1)
    expected = 2 * min(st.f.cdf(f, 6, 4), st.f.sf(f, 6, 4))
    assert variance_ratio_p(a, b) == pytest.approx(expected, rel=1e-9)
    assert variance_ratio_p(a, b) == pytest.approx(variance_ratio_p(b, a), rel=1e-9)
    assert welch_p(a, b) == pytest.approx(welch_p(b, a), rel=1e-12)


def test_holm_adjusted_p_values_match_the_textbook_example():
    # Holm (1979) step-down on 4 p-values: sorted 0.01, 0.02, 0.03, 0.04 → 0.04, 0.06, 0.06, 0.06
    assert holm_adjust([0.03, 0.01, 0.04, 0.02]).tolist() == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm_adjust([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
