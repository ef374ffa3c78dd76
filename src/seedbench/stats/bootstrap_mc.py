"""Monte-Carlo error of BCa endpoints, estimated from the one bootstrap already drawn (no new draws).

A BCa endpoint is the quantile ``Q_B(α_e)`` of the B-resample bootstrap distribution at the
level ``α_e = g(p_B)``, where ``p_B`` is the share of resamples below θ̂ (BCa's bias
correction ``ẑ0 = Φ⁻¹(p_B)``; the jackknife acceleration â has no Monte-Carlo noise). Both
``p_B`` and the empirical CDF at the endpoint are binomial proportions of the same draws, so
to first order (Bahadur) the endpoint moves by ``(g'(p)·(p_B − p) − (F_B(q) − F(q))) / f(q)``
with level-scale variance::

    V = [g'² p(1 − p) + α_e(1 − α_e) − 2 g' (min(p, α_e) − p α_e)] / B,
    g'(p) = φ(w) (1 + 1/(1 − â c)²) / φ(ẑ0),   c = ẑ0 ± z_α,   w = ẑ0 + c/(1 − â c).

The density f is not estimated: the standard error in the statistic's units is read off the
bootstrap distribution itself, ``(Q_B(α_e + 2s) − Q_B(α_e − 2s)) / 4`` with ``s = √V``, so
that the atoms of a small-n bootstrap distribution (5 seeds: at most 126 distinct means) are
seen rather than smoothed over. Checked against the spread of endpoints over independent
generators in ``tests/stats/test_bootstrap_mc.py`` (README, "How many seeds?").
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from seedbench.stats.bootstrap import (
    BootstrapResult,
    Statistic,
    _quantile_linear,
    bca_bias_and_acceleration,
)

EDGE_RESAMPLES = 20
"""BCa endpoints resting on fewer resamples beyond them than this are flagged (the tail is a handful of draws)."""
MC_ERROR_LIMIT = 0.01
"""Monte-Carlo standard error of an endpoint, as a share of the interval width, above which a cell is flagged."""

_N = NormalDist()


def _level_derivative(z0: float, a: float, z_alpha: float) -> float:
    """``dα_e/dp`` of BCa's adjusted level with respect to the percentile p of θ̂ (``c = ẑ0 + z_alpha``)."""
    c = z0 + z_alpha
    w = z0 + c / (1 - a * c)
    return _N.pdf(w) * (1 + 1 / (1 - a * c) ** 2) / _N.pdf(z0)


def _endpoint_se(theta_b: np.ndarray, level: float, p: float, slope: float) -> float:
    """Monte-Carlo SE (units of the statistic) of the quantile of ``theta_b`` (shape ``(B,)``) at BCa level ``level``."""
    b = theta_b.shape[-1]
    var = (slope**2 * p * (1 - p) + level * (1 - level) - 2 * slope * (min(p, level) - p * level)) / b
    s = math.sqrt(max(var, 0.0))
    lo, hi = _quantile_linear(theta_b, np.array([max(level - 2 * s, 0.0), min(level + 2 * s, 1.0)]))
    return float(hi - lo) / 4


def bca_monte_carlo_error(
    sample: np.ndarray, statistic: Statistic, result: BootstrapResult, *, confidence: float
) -> dict[str, Any]:
    """Monte-Carlo error of a BCa interval and how close its levels are to the ends of the distribution.

    Parameters
    ----------
    sample : ndarray, shape (n,)
        The finite sample the interval was computed on.
    statistic : callable
        The vectorised statistic of :func:`seedbench.stats.bootstrap.bca_interval`.
    result : BootstrapResult
        That call's result (its ``bootstrap_distribution`` of shape ``(B,)`` and ``levels``).
    confidence : float
        Its level.

    Returns
    -------
    dict
        ``mc_se_low``, ``mc_se_high`` (units of the statistic), ``mc_error_of_width``
        (the larger SE ÷ interval width, a fraction), ``resamples_below_low`` /
        ``resamples_above_high`` (α₁·B and (1 − α₂)·B: how many resamples lie beyond
        each endpoint), ``warning`` (``None`` or one sentence). All ``None`` (no warning)
        when the interval is not a finite BCa one.
    """
    out: dict[str, Any] = {"mc_se_low": None, "mc_se_high": None, "mc_error_of_width": None,
                           "resamples_below_low": None, "resamples_above_high": None, "warning": None}
    theta_b = np.asarray(result.bootstrap_distribution, dtype=np.float64)
    b = theta_b.shape[-1]
    level_low, level_high = result.levels
    if not all(math.isfinite(v) for v in (result.low, result.high, level_low, level_high)):
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        p, z0, a = (float(np.reshape(v, -1)[0]) for v in bca_bias_and_acceleration(sample, statistic, theta_b))
    z_alpha = _N.inv_cdf((1 - confidence) / 2)
    se_low = _endpoint_se(theta_b, level_low, p, _level_derivative(z0, a, z_alpha))
    se_high = _endpoint_se(theta_b, level_high, p, _level_derivative(z0, a, -z_alpha))
    width = result.high - result.low
    share = max(se_low, se_high) / width if width > 0 else None
    below, above = level_low * b, (1 - level_high) * b
    out.update(mc_se_low=se_low, mc_se_high=se_high, mc_error_of_width=share,
               resamples_below_low=below, resamples_above_high=above)
    problems = []
    if min(below, above) < EDGE_RESAMPLES:
        side = "lower" if below <= above else "upper"
        problems.append(f"BCa's adjusted {side} level lies {min(below, above):.0f} resamples from the end of the "
                        f"bootstrap distribution (< {EDGE_RESAMPLES})")
    if share is not None and share > MC_ERROR_LIMIT:
        problems.append(f"Monte-Carlo error of the endpoints ≈ {share:.1%} of the interval width (> {MC_ERROR_LIMIT:.0%})")
    if problems:
        out["warning"] = "; ".join(problems) + f" with {b} resamples: more resamples (stats.n_resamples) or seeds"
    return out
