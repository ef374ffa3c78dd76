"""The numpy-only BCa bootstrap (seedbench.stats.bootstrap) against scipy.stats.bootstrap on the same draws.

scipy is imported here as the reference only; seedbench.stats.bootstrap must not need it
(a numpy port: every run's interval over its test units, drawn by the aggregate stage, needs nothing else).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hst

from seedbench.core import seeds
from seedbench.stats.bootstrap import (
    BCA_UNDEFINED_MESSAGE,
    DegenerateDataWarning,
    _bootstrap_interval,
    _mean_statistic,
    _quantile_linear,
    _rmse_statistic,
    bca_interval,
    bootstrap_interval_over_units,
    percentile_interval,
)

RTOL = 1e-11
"""Endpoints may differ from scipy's in the last bits only (Φ, Φ⁻¹ from NormalDist vs scipy.special)."""

REPO_ROOT = Path(__file__).resolve().parents[2]


def _rng(*names: object) -> np.random.Generator:
    return seeds.generator(12345, "test-bootstrap", *names)


def _max_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.max(x, axis=axis)


def _samples() -> dict[str, np.ndarray]:
    """Named 1-D samples (cycles): shapes (n,) from n = 2 to 100."""
    g = np.random.default_rng(2024)
    return {
        "normal50": g.normal(30.0, 8.0, size=50),
        "skewed50": g.lognormal(2.0, 1.0, size=50),
        "skewed100": g.exponential(15.0, size=100),
        "n2": np.array([3.0, 7.5]),
        "n3": np.array([1.0, 2.0, 9.0]),
        "ties": np.array([4.0, 4.0, 4.0, 5.0, 5.0, 9.0, 9.0, 12.0]),
        "integers40": g.integers(0, 6, size=40).astype(np.float64),
    }


STATISTICS: dict[str, Callable[..., np.ndarray]] = {"mean": _mean_statistic, "rmse": _rmse_statistic}


def _scipy_bca(sample: np.ndarray, statistic: Callable[..., np.ndarray], confidence: float, n_resamples: int,
               rng: np.random.Generator) -> st._resampling.BootstrapResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return st.bootstrap((sample,), statistic, n_resamples=n_resamples, confidence_level=confidence,
                            method="BCa", vectorized=True, rng=rng)


def _scipy_bootstrap_interval(sample: np.ndarray, statistic: Callable[..., np.ndarray], *, confidence: float,
                              n_resamples: int, rng: np.random.Generator) -> tuple[float, float, str]:
    """The previous implementation of ``_bootstrap_interval`` (two scipy.stats.bootstrap calls), verbatim."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = st.bootstrap((sample,), statistic, n_resamples=n_resamples, confidence_level=confidence,
                           method="BCa", vectorized=True, rng=rng)
    low, high = res.confidence_interval
    if math.isfinite(low) and math.isfinite(high):
        return float(low), float(high), "BCa"
    if np.ptp(sample) == 0:
        reason = "all values identical"
    else:
        degenerate = [w for w in caught if issubclass(w.category, st.DegenerateDataWarning)]
        reason = str(degenerate[0].message).split(". ")[0] if degenerate else "BCa endpoints undefined"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = st.bootstrap((sample,), statistic, n_resamples=0, confidence_level=confidence,
                           method="percentile", vectorized=True, bootstrap_result=res, rng=rng)
    low, high = res.confidence_interval
    return float(low), float(high), f"percentile (BCa degenerate: {reason})"


# --------------------------------------------------------------------------- BCa = scipy's BCa


@pytest.mark.parametrize("n_resamples", [999, 10_000])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("stat_name", sorted(STATISTICS))
@pytest.mark.parametrize("sample_name", sorted(_samples()))
def test_bca_matches_scipy_on_the_same_generator(sample_name: str, stat_name: str, confidence: float,
                                                 n_resamples: int) -> None:
    sample, statistic = _samples()[sample_name], STATISTICS[stat_name]
    ours_rng, ref_rng = _rng(sample_name, stat_name), _rng(sample_name, stat_name)
    ours = bca_interval(sample, statistic, confidence=confidence, n_resamples=n_resamples, rng=ours_rng)
    ref = _scipy_bca(sample, statistic, confidence, n_resamples, ref_rng)
    # same draws, bit for bit, and the generators are left in the same state
    np.testing.assert_array_equal(ours.bootstrap_distribution, ref.bootstrap_distribution)
    assert ours_rng.bit_generator.state == ref_rng.bit_generator.state
    low, high = ref.confidence_interval
    assert math.isfinite(low) and math.isfinite(high)
    assert ours.low == pytest.approx(float(low), rel=RTOL, abs=0.0)
    assert ours.high == pytest.approx(float(high), rel=RTOL, abs=0.0)


@settings(max_examples=40, deadline=None)
@given(
    hst.lists(hst.floats(0.0, 1000.0, allow_subnormal=False), min_size=2, max_size=30),
    hst.sampled_from(sorted(STATISTICS)),
    hst.sampled_from([0.8, 0.9, 0.95, 0.99]),
    hst.integers(1, 400),
)
def test_interval_with_fallback_matches_the_scipy_implementation(values: list[float], stat_name: str,
                                                                  confidence: float, n_resamples: int) -> None:
    """Any sample, ties and identical values included: same method string, same endpoints as before."""
    sample = np.sort(np.asarray(values))
    ours = _bootstrap_interval(sample, STATISTICS[stat_name], confidence=confidence, n_resamples=n_resamples,
                               rng=_rng("h"))
    ref = _scipy_bootstrap_interval(sample, STATISTICS[stat_name], confidence=confidence, n_resamples=n_resamples,
                                    rng=_rng("h"))
    assert ours[2] == ref[2]
    assert ours[:2] == pytest.approx(ref[:2], rel=RTOL, abs=1e-300)


def test_generator_state_after_matches_scipy_so_later_draws_agree() -> None:
    sample = _samples()["normal50"]
    a, b = _rng("state"), _rng("state")
    bca_interval(sample, _mean_statistic, confidence=0.95, n_resamples=1234, rng=a)
    _scipy_bca(sample, _mean_statistic, 0.95, 1234, b)
    np.testing.assert_array_equal(a.integers(0, 1 << 62, size=8), b.integers(0, 1 << 62, size=8))


# --------------------------------------------------------------------------- degenerate cases


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # scipy's 0/0
@pytest.mark.parametrize("value", [12.5, 0.0])
def test_identical_values_give_nan_and_a_warning_like_scipy(value: float) -> None:
    sample = np.full(6, value)
    with pytest.warns(DegenerateDataWarning, match="cannot be calculated"):
        ours = bca_interval(sample, _mean_statistic, confidence=0.95, n_resamples=200, rng=_rng("i"))
    with pytest.warns(st.DegenerateDataWarning):
        ref = st.bootstrap((sample,), _mean_statistic, n_resamples=200, method="BCa", vectorized=True, rng=_rng("i"))
    assert math.isnan(ours.low) and math.isnan(ours.high)
    assert all(math.isnan(v) for v in ref.confidence_interval)


def test_identical_values_fall_back_to_percentile_of_the_same_distribution() -> None:
    sample = np.full(5, 12.5)
    ours = _bootstrap_interval(sample, _mean_statistic, confidence=0.95, n_resamples=500, rng=_rng("f"))
    ref = _scipy_bootstrap_interval(sample, _mean_statistic, confidence=0.95, n_resamples=500, rng=_rng("f"))
    assert ours == ref == (12.5, 12.5, "percentile (BCa degenerate: all values identical)")


def test_equal_jackknife_values_fall_back_with_scipys_reason() -> None:
    """Not all values identical, yet BCa is 0/0: the maximum of [0, 1, 1] is 1 with any one value left out."""
    sample = np.array([0.0, 1.0, 1.0])
    with pytest.warns(DegenerateDataWarning):
        bca_interval(sample, _max_statistic, confidence=0.95, n_resamples=300, rng=_rng("m"))
    ours = _bootstrap_interval(sample, _max_statistic, confidence=0.9, n_resamples=300, rng=_rng("m"))
    ref = _scipy_bootstrap_interval(sample, _max_statistic, confidence=0.9, n_resamples=300, rng=_rng("m"))
    assert ours[2] == ref[2] == f"percentile (BCa degenerate: {BCA_UNDEFINED_MESSAGE.split('. ')[0]})"
    assert ours[:2] == pytest.approx(ref[:2], rel=RTOL)


def test_perfect_predictions_fall_back_as_before() -> None:
    out = bootstrap_interval_over_units([5.0, 6.0, 7.0], [5.0, 6.0, 7.0], n_resamples=100, rng=_rng("z"))
    assert out["estimate"] == 0.0 and out["low"] == out["high"] == 0.0
    assert out["method"] == "percentile (BCa degenerate: all values identical)"
    json.dumps(out, allow_nan=False)


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="2 observations"):
        bca_interval([1.0], _mean_statistic, confidence=0.95, n_resamples=10, rng=_rng("v"))
    with pytest.raises(ValueError, match="n_resamples"):
        bca_interval([1.0, 2.0], _mean_statistic, confidence=0.95, n_resamples=0, rng=_rng("v"))
    with pytest.raises(ValueError, match="confidence"):
        bca_interval([1.0, 2.0], _mean_statistic, confidence=1.0, n_resamples=10, rng=_rng("v"))
    with pytest.raises(ValueError, match="1-D"):
        bca_interval([[1.0, 2.0]], _mean_statistic, confidence=0.95, n_resamples=10, rng=_rng("v"))


# --------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_percentile_interval_matches_scipy_percentile_method(confidence: float) -> None:
    sample = _samples()["skewed50"]
    res = _scipy_bca(sample, _rmse_statistic, 0.95, 2000, _rng("p"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = st.bootstrap((sample,), _rmse_statistic, n_resamples=0, confidence_level=confidence,
                           method="percentile", vectorized=True, bootstrap_result=res, rng=_rng("p"))
    ours = percentile_interval(res.bootstrap_distribution, confidence=confidence)
    assert ours == (float(ref.confidence_interval.low), float(ref.confidence_interval.high))


def test_linear_quantile_is_scipys_bit_for_bit() -> None:
    g = np.random.default_rng(7)
    for size in (1, 2, 3, 10, 999, 10_000):
        values = g.normal(size=size)
        p = np.concatenate([g.uniform(size=50), [0.0, 1.0, 0.5, 0.025, 0.975, 1e-12, 1 - 1e-12, -0.1, 1.1, np.nan]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = st.quantile(values, p, method="linear")
        np.testing.assert_array_equal(_quantile_linear(values, p), ref)


def test_per_run_interval_is_scipys_interval_of_rmse() -> None:
    t = np.linspace(10, 120, 40)
    p = t + np.sin(np.arange(40)) * 12
    out = bootstrap_interval_over_units(t, p, confidence=0.9, n_resamples=1000, rng=_rng("u"))
    ref = _scipy_bca(np.sort(np.abs(p - t)), _rmse_statistic, 0.9, 1000, _rng("u"))
    assert out["method"] == "BCa" and out["n_units"] == 40 and out["confidence"] == 0.9
    assert out["low"] == pytest.approx(float(ref.confidence_interval.low), rel=RTOL)
    assert out["high"] == pytest.approx(float(ref.confidence_interval.high), rel=RTOL)


# --------------------------------------------------------------------------- no heavy imports


HEAVY = ("scipy", "torch", "matplotlib")


def test_bootstrap_and_the_run_intervals_load_no_scipy_torch_or_matplotlib() -> None:
    """The per-run intervals (``seedbench.results.intervals``) and the bootstrap stay numpy-only (a fresh interpreter)."""
    code = (
        "import json, sys\n"
        "import seedbench.stats.bootstrap, seedbench.results.intervals\n"
        f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & set({list(HEAVY)!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert json.loads(out.stdout) == []
