"""Bootstrap confidence intervals (BCa, percentile fallback) in numpy alone, without scipy.

Every (dataset, method, replicate) run gets one interval over its test units
(:func:`bootstrap_interval_over_units`; the aggregate stage draws them all,
:mod:`seedbench.results.intervals`). It was written when a stage per run drew
each in its own process, where importing :mod:`scipy.stats` cost about a second,
60 times the work itself. This module reproduces
``scipy.stats.bootstrap(data=(sample,), statistic, method="BCa",
vectorized=True, rng=rng)`` (scipy 1.17) for a 1-D sample with numpy and the
stdlib :class:`statistics.NormalDist` (Φ and Φ⁻¹ in place of
``scipy.special.ndtr``/``ndtri``):

* the same draws from the same :class:`numpy.random.Generator`: one call
  ``rng.integers(0, n, size=(n_resamples, n), dtype=int64)`` (scipy's single
  batch when ``batch=None``);
* the same bias correction ``z0 = Φ⁻¹(p)`` with scipy's "mean" percentile of
  score ``p = (#{θ*_b < θ̂} + #{θ*_b ≤ θ̂}) / (2B)``;
* the same jackknife acceleration ``a = Σ U³ / (6 (Σ U²)^{3/2})`` with
  ``U_i = (n − 1)(θ̄_(·) − θ̂_(i))``;
* the same adjusted levels ``α₁,₂ = Φ(z0 + (z0 ± z_α)/(1 − a (z0 ± z_α)))``
  and :func:`scipy.stats.quantile`'s ``method="linear"`` arithmetic
  (Hyndman & Fan type 7) on the bootstrap distribution;
* NaN endpoints (with :class:`DegenerateDataWarning`) exactly when scipy gives
  them, e.g. identical values (acceleration 0/0).

Endpoints agree with scipy to about 1e-13 relative: Φ and Φ⁻¹ differ from
scipy's in the last bits, the resampling and the arithmetic are the same.

References
----------
Efron, B. (1987). Better bootstrap confidence intervals. JASA 82, 171–185.
Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap, §14.3, eq. 15.36.
Hyndman, R. J. & Fan, Y. (1996). Sample quantiles in statistical packages. Am. Stat. 50, 361–365.

Why one module of ~410 lines: it is a step-by-step port of one scipy function (plus the
per-run interval that calls it); kept whole, it can be read side by side with scipy's
``_resampling.py`` when scipy changes, which is how ``tests/stats/test_bootstrap.py``'s
cross-checks are meant to be maintained.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from seedbench.stats.metrics import per_unit_errors

DEFAULT_N_RESAMPLES = 10_000
"""Bootstrap resamples when the caller does not say (the stages pass ``stats.n_resamples``)."""

BCA_UNDEFINED_MESSAGE = (
    "The BCa confidence interval cannot be calculated. "
    "This problem is known to occur when the distribution "
    "is degenerate or the statistic is np.min."
)
"""The message of :class:`DegenerateDataWarning` (scipy's, word for word)."""

Statistic = Callable[..., np.ndarray]
"""A vectorised statistic ``statistic(x, axis=-1)``: reduces the last axis of ``x``, shape ``(..., n) → (...)``."""

_STANDARD_NORMAL = NormalDist()


class DegenerateDataWarning(RuntimeWarning):
    """BCa endpoints are undefined (NaN) for this sample and statistic (as scipy's warning of that name)."""


# --------------------------------------------------------------------------- small helpers


def finite_or_none(x: float | np.floating | None) -> float | None:
    """A JSON-ready float: ``None`` for None, NaN or ±inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a float64 array of shape ``(n,)``; ``ValueError`` naming ``name`` otherwise."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {x.shape}")
    return x


def _check_confidence(confidence: float) -> None:
    """``ValueError`` unless ``0 < confidence < 1``."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence!r}")


def _mean_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over ``axis``: shape ``(..., n) → (...)``, in the units of ``x``."""
    return np.mean(x, axis=axis)


def _rmse_statistic(e: np.ndarray, axis: int = -1) -> np.ndarray:
    """Root mean square over ``axis`` of errors ``e`` (cycles): shape ``(..., n) → (...)``, in cycles."""
    return np.sqrt(np.mean(e * e, axis=axis))


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal Φ elementwise (``scipy.special.ndtr``): Φ(−inf) = 0, Φ(inf) = 1, Φ(NaN) = NaN."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for idx, v in np.ndenumerate(x):
        out[idx] = _STANDARD_NORMAL.cdf(float(v))
    return out


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    """Standard normal Φ⁻¹ elementwise (``scipy.special.ndtri``): 0 → −inf, 1 → inf, outside [0, 1] or NaN → NaN."""
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    for idx, v in np.ndenumerate(p):
        v = float(v)
        if v == 0.0:
            out[idx] = -math.inf
        elif v == 1.0:
            out[idx] = math.inf
        elif 0.0 < v < 1.0:
            out[idx] = _STANDARD_NORMAL.inv_cdf(v)
        else:
            out[idx] = math.nan
    return out


def _quantile_linear(values: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``scipy.stats.quantile(values, p, method="linear")`` of a 1-D ``values``, same arithmetic.

    ``values`` has shape ``(B,)``; ``p`` (probabilities) any shape; the result has
    the shape of ``p``. A ``p`` outside [0, 1] or NaN, or any NaN in ``values``,
    gives NaN.
    """
    y = np.sort(values)  # scipy: xp.sort(..., stable=False), i.e. numpy's default kind
    p = np.asarray(p, dtype=np.float64)
    n = float(y.shape[-1])
    p_mask = (p > 1) | (p < 0) | np.isnan(p)
    p = np.where(p_mask, 0.5, p)
    jg = p * n + (1 - p)
    jp1 = jg // 1
    j = jp1 - 1
    g = jg % 1
    g = np.where(j < 0, 0.0, g)
    j = np.clip(j, 0.0, n - 1)
    jp1 = np.clip(jp1, 0.0, n - 1)
    res = (1 - g) * y[j.astype(np.int64)] + g * y[jp1.astype(np.int64)]
    if np.isnan(y).any():
        res = np.full_like(res, np.nan)
    return np.where(p_mask, np.nan, res)


# --------------------------------------------------------------------------- BCa


@dataclass(frozen=True)
class BootstrapResult:
    """One bootstrap: the interval and the distribution it came from.

    ``low``/``high`` are in the units of the statistic (NaN when undefined), at the
    quantiles ``levels`` of the bootstrap distribution;
    ``bootstrap_distribution`` has shape ``(n_resamples,)``, the statistic of
    each resample in draw order (as scipy's attribute of that name).
    """

    low: float
    high: float
    bootstrap_distribution: np.ndarray
    levels: tuple[float, float] = (math.nan, math.nan)
    """BCa's adjusted probability levels ``(α₁, α₂)`` of ``low``/``high`` in the bootstrap distribution."""


def bootstrap_distribution(
    sample: np.ndarray, statistic: Statistic, *, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The statistic of ``n_resamples`` resamples (with replacement) of ``sample``, shape ``(n_resamples,)``.

    Draws ``rng.integers(0, n, size=(n_resamples, n))`` once: the draws of
    ``scipy.stats.bootstrap`` with ``batch=None``. Advances ``rng``.
    """
    n = sample.shape[-1]
    i = rng.integers(0, n, size=(n_resamples, n), dtype=np.int64, endpoint=False)
    return statistic(sample[..., i], axis=-1)


def _jackknife_indices(n: int) -> np.ndarray:
    """Row ``k`` = ``0 … n−1`` without ``k``: shape ``(n, n − 1)``, int."""
    keep = ~np.eye(n, dtype=bool)
    return np.broadcast_to(np.arange(n), (n, n))[keep].reshape(n, n - 1)


def bca_bias_and_acceleration(
    sample: np.ndarray, statistic: Statistic, theta_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BCa's ``(p, ẑ0, â)``: percentile of θ̂ in the bootstrap distribution, bias correction Φ⁻¹(p), acceleration.

    ``sample`` has shape ``(n,)``, ``theta_b`` ``(B,)``; each result has shape ``(1,)``
    (``p`` in [0, 1]; scipy's "mean" percentile of score). As in
    ``scipy.stats._resampling._bca_interval``; ``â`` is NaN (0/0) for identical values.
    """
    theta_hat = np.expand_dims(statistic(sample, axis=-1), axis=-1)
    b = theta_b.shape[-1]
    count = np.count_nonzero(theta_b < theta_hat, axis=-1) + np.count_nonzero(theta_b <= theta_hat, axis=-1)
    percentile = np.asarray(count).astype(theta_hat.dtype) / (2 * b)
    z0_hat = _norm_ppf(percentile)

    n = sample.shape[-1]
    theta_hat_i = statistic(sample[..., _jackknife_indices(n)], axis=-1)  # (n,)
    n_j = float(theta_hat_i.shape[-1])
    theta_hat_dot = np.mean(theta_hat_i, axis=-1, keepdims=True)
    u = (n_j - 1) * (theta_hat_dot - theta_hat_i)
    num = np.sum(u**3, axis=-1) / n_j**3
    den = np.sum(u**2, axis=-1) / n_j**2
    a_hat = 1 / 6 * num / den ** (3 / 2)
    return percentile, z0_hat, a_hat


def _bca_levels(
    sample: np.ndarray, statistic: Statistic, theta_b: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """BCa-adjusted lower and upper probability levels ``(α₁, α₂)`` (each shape ``(1,)``, may be NaN).

    Mirrors ``scipy.stats._resampling._bca_interval`` operation by operation
    (Efron & Tibshirani 1993, §14.3 and eq. 15.36).
    """
    _, z0_hat, a_hat = bca_bias_and_acceleration(sample, statistic, theta_b)
    z_alpha = float(_norm_ppf(np.float64(alpha)))
    num1 = z0_hat + z_alpha
    alpha_1 = _norm_cdf(z0_hat + num1 / (1 - a_hat * num1))
    num2 = z0_hat - z_alpha
    alpha_2 = _norm_cdf(z0_hat + num2 / (1 - a_hat * num2))
    return alpha_1, alpha_2


def bca_interval(
    sample: ArrayLike,
    statistic: Statistic,
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> BootstrapResult:
    """Two-sided BCa interval of ``statistic`` over a 1-D ``sample``; scipy's, without scipy.

    Parameters
    ----------
    sample : array_like, shape (n,)
        Observations (n >= 2), in any unit; the interval is in the unit of the statistic.
    statistic : callable
        Vectorised ``statistic(x, axis=-1)`` reducing the last axis (see :data:`Statistic`).
    confidence : float
        Level in (0, 1).
    n_resamples : int
        Number of bootstrap resamples B (>= 1).
    rng : numpy.random.Generator
        Advanced by exactly the draws ``scipy.stats.bootstrap(..., rng=rng)`` makes.

    Returns
    -------
    BootstrapResult
        Equal (to ~1e-13 relative) to ``scipy.stats.bootstrap((sample,), statistic,
        n_resamples=n_resamples, confidence_level=confidence, method="BCa",
        vectorized=True, rng=rng)``. NaN endpoints, with a
        :class:`DegenerateDataWarning`, where scipy's are NaN (identical values, or
        a statistic whose jackknife values are all equal).
    """
    _check_confidence(confidence)
    x = _as_1d(sample, "sample")
    if x.size < 2:
        raise ValueError(f"sample: expected >= 2 observations, got {x.size}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    theta_b = np.asarray(bootstrap_distribution(x, statistic, n_resamples=int(n_resamples), rng=rng))
    alpha = (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 → NaN, reported below
        alpha_1, alpha_2 = _bca_levels(x, statistic, theta_b, alpha)
        ci = _quantile_linear(theta_b, np.stack((alpha_1, alpha_2), axis=-1))
    if np.any(np.isnan(ci)):
        warnings.warn(DegenerateDataWarning(BCA_UNDEFINED_MESSAGE), stacklevel=2)
    ci = ci.reshape(-1)
    levels = (float(np.reshape(alpha_1, -1)[0]), float(np.reshape(alpha_2, -1)[0]))
    return BootstrapResult(low=float(ci[0]), high=float(ci[1]), bootstrap_distribution=theta_b, levels=levels)


def percentile_interval(distribution: np.ndarray, *, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval of a bootstrap ``distribution`` (shape ``(B,)``), in its units.

    As ``scipy.stats.bootstrap(..., method="percentile", n_resamples=0,
    bootstrap_result=…)``: quantiles ``(1 − c)/2`` and ``1 − (1 − c)/2`` with
    ``method="linear"``; no new draws.
    """
    _check_confidence(confidence)
    alpha = np.asarray((1 - confidence) / 2, dtype=np.float64)
    low, high = _quantile_linear(np.asarray(distribution, dtype=np.float64), np.stack((alpha, 1 - alpha)))
    return float(low), float(high)


def _bootstrap_interval_and_result(
    sample: np.ndarray,
    statistic: Statistic,
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float, str, BootstrapResult]:
    """BCa interval of ``statistic`` over a finite 1-D ``sample`` (shape ``(n,)``, n >= 2), with an explicit fallback.

    Returns ``(low, high, method, bca)`` in the units of the statistic (``bca``: the
    BCa result, for diagnostics). When BCa is
    undefined — identical values make the jackknife acceleration 0/0 — the
    percentile interval of the *same* bootstrap distribution is returned (no
    new draws), and ``method`` says why: ``"percentile (BCa degenerate: all
    values identical)"`` or ``"percentile (BCa degenerate: The BCa confidence
    interval cannot be calculated)"``; otherwise ``method`` is ``"BCa"``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)  # the method string says it
        res = bca_interval(sample, statistic, confidence=confidence, n_resamples=n_resamples, rng=rng)
    if math.isfinite(res.low) and math.isfinite(res.high):
        return res.low, res.high, "BCa", res
    if np.ptp(sample) == 0:
        reason = "all values identical"
    elif math.isnan(res.low) or math.isnan(res.high):
        reason = BCA_UNDEFINED_MESSAGE.split(". ")[0]
    else:
        reason = "BCa endpoints undefined"
    low, high = percentile_interval(res.bootstrap_distribution, confidence=confidence)
    return low, high, f"percentile (BCa degenerate: {reason})", res


def _bootstrap_interval(
    sample: np.ndarray,
    statistic: Statistic,
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float, str]:
    """``(low, high, method)`` of :func:`_bootstrap_interval_and_result` (the interval without its diagnostics)."""
    low, high, method, _ = _bootstrap_interval_and_result(
        sample, statistic, confidence=confidence, n_resamples=n_resamples, rng=rng
    )
    return low, high, method


# --------------------------------------------------------------------------- per-run interval


def bootstrap_interval_over_units(
    y_true_or_errors: ArrayLike,
    y_pred: ArrayLike | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Per-run BCa interval of test RMSE, resampling test units (``reports/run_intervals.json: runs[].rmse_ci``).

    Parameters
    ----------
    y_true_or_errors : array_like, shape (n_units,)
        True RUL (cycles) when ``y_pred`` is given; otherwise the signed errors
        ``d = pred - true`` themselves (cycles; see :func:`seedbench.stats.metrics.per_unit_errors`).
    y_pred : array_like, shape (n_units,), optional
        Predicted RUL in cycles.
    confidence : float
        Level of the interval, in (0, 1).
    n_resamples : int
        Bootstrap resamples B.
    rng : numpy.random.Generator
        The run's stream: ``seeding.generator(experiment_seed, "bootstrap-run", dataset, method, r)``.

    Returns
    -------
    dict
        ``statistic`` ("rmse"), ``estimate`` (RMSE over all units, cycles),
        ``low``, ``high`` (cycles), ``confidence``, ``method`` ("BCa" or the
        percentile fallback with its reason), ``n_resamples``, ``n_units``,
        ``note``. Undefined numbers are ``None``: a diverged run (non-finite
        errors) or a single test unit gives no interval, not an exception.

    Notes
    -----
    This interval describes uncertainty from the *finite test set* of one run;
    it says nothing about seed-to-seed variation (that is
    :func:`seedbench.stats.summaries.describe_over_seeds`).
    """
    _check_confidence(confidence)
    if y_pred is None:
        errors = _as_1d(y_true_or_errors, "errors")
    else:
        errors = per_unit_errors(y_true_or_errors, y_pred)
    out: dict[str, Any] = {
        "statistic": "rmse", "estimate": None, "low": None, "high": None,
        "confidence": float(confidence), "method": None, "n_resamples": int(n_resamples),
        "n_units": int(errors.size), "note": None,
    }
    if errors.size == 0:
        out["note"] = "no test unit"
        return out
    if not np.all(np.isfinite(errors)):
        bad = int(np.sum(~np.isfinite(errors)))
        out["note"] = f"{bad} of {errors.size} errors non-finite (diverged run): no RMSE, no interval"
        return out
    e = np.sort(np.abs(errors))  # RMSE depends on |d| only; sorting makes the result order-free
    out["estimate"] = finite_or_none(_rmse_statistic(e))
    if e.size < 2:
        out["note"] = "1 test unit: no interval (needs >= 2 units)"
        return out
    low, high, method = _bootstrap_interval(
        e, _rmse_statistic, confidence=confidence, n_resamples=n_resamples, rng=rng
    )
    out.update(low=finite_or_none(low), high=finite_or_none(high), method=method)
    return out
