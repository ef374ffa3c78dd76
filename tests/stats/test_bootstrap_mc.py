"""Monte-Carlo error of BCa endpoints: the one-bootstrap estimate against the spread over many generators."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seedbench.core import seeds
from seedbench.stats.bootstrap import _mean_statistic, bca_interval
from seedbench.stats.bootstrap_mc import EDGE_RESAMPLES, bca_monte_carlo_error
from seedbench.stats.summaries import describe_over_seeds

CELL = np.sort(np.array([15.2137, 16.0571, 14.7893, 17.3302, 15.8814]))
"""A typical 5-seed RMSE cell (cycles): continuous values, mildly right-skewed."""


def _bca(b: int, k: int, sample: np.ndarray = CELL):
    rng = seeds.generator(7, "test-bootstrap-mc", k)
    res = bca_interval(sample, _mean_statistic, confidence=0.95, n_resamples=b, rng=rng)
    return res, bca_monte_carlo_error(sample, _mean_statistic, res, confidence=0.95)


def test_estimate_matches_the_spread_of_endpoints_over_independent_generators():
    """200 bootstraps of 2,000 resamples: the median one-bootstrap SE is within a factor 2 of the endpoints' real SD."""
    runs = [_bca(2000, k) for k in range(200)]
    lows = np.array([r.low for r, _ in runs])
    highs = np.array([r.high for r, _ in runs])
    for observed, key in ((lows.std(ddof=1), "mc_se_low"), (highs.std(ddof=1), "mc_se_high")):
        estimated = float(np.median([mc[key] for _, mc in runs]))
        assert 0.5 * observed < estimated < 2.0 * observed, (key, estimated, observed)


def test_few_resamples_beyond_the_upper_level_and_a_large_error_are_both_said():
    _, mc = _bca(600, 0)
    assert mc["resamples_above_high"] < EDGE_RESAMPLES
    assert "adjusted upper level lies" in mc["warning"] and "600 resamples" in mc["warning"]
    assert mc["mc_error_of_width"] > 0.01 and "Monte-Carlo error" in mc["warning"]


def test_ten_thousand_resamples_keep_both_levels_off_the_ends():
    _, mc = _bca(10_000, 0)
    assert min(mc["resamples_below_low"], mc["resamples_above_high"]) > 5 * EDGE_RESAMPLES
    assert mc["warning"] is None or "level lies" not in mc["warning"]


@pytest.mark.filterwarnings("ignore::seedbench.stats.bootstrap.DegenerateDataWarning")
def test_identical_values_have_no_bca_and_no_error_estimate():
    res, mc = _bca(500, 0, np.full(5, 12.5))
    assert set(mc.values()) == {None}


def test_every_cell_reports_its_monte_carlo_error_json_ready():
    cell = describe_over_seeds(CELL, n_resamples=2000, rng=seeds.generator(1, "cell"))
    assert set(cell["ci_mc"]) >= {"mc_se_low", "mc_se_high", "mc_error_of_width", "warning"}
    assert cell["ci_mc"]["mc_se_low"] > 0
    json.dumps(cell, allow_nan=False)
    assert describe_over_seeds([3.0], rng=seeds.generator(1, "one"))["ci_mc"] is None
