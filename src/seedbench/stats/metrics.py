"""Test-set metrics of remaining-useful-life (RUL) regression: RMSE, MAE, NASA score.

Every function takes the true and predicted RUL of the test units as 1-D arrays
of shape ``(n_units,)`` in cycles, computes in float64 and returns a Python
``float`` in cycles (RMSE, MAE) or in score units (NASA score, dimensionless).
NaN propagates: a diverged run (NaN or inf predictions) gives a NaN/inf metric,
never an exception, so that the aggregate stage can count and report it.

References
----------
Saxena, Goebel, Simon, Eklund (2008). Damage propagation modeling for aircraft
engine run-to-failure simulation. PHM 2008. (C-MAPSS; the NASA/PHM08 score.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

METRIC_NAMES: tuple[str, ...] = ("rmse", "mae", "nasa_score")
"""The metrics of every run, in report order (all: lower is better)."""

METRIC_LABELS: dict[str, str] = {"rmse": "RMSE", "mae": "MAE", "nasa_score": "NASA score"}
"""Human-readable names of :data:`METRIC_NAMES`."""

NASA_EARLY_SCALE = 13.0
"""NASA score scale for early predictions (d < 0): exp(-d/13) - 1."""

NASA_LATE_SCALE = 10.0
"""NASA score scale for late predictions (d >= 0): exp(d/10) - 1 — late costs more."""


def _as_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to two float64 arrays of the same shape ``(n_units,)``."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"y_true: expected a 1-D array (n_units,), got shape {t.shape}")
    if p.shape != t.shape:
        raise ValueError(f"y_pred: expected shape {t.shape} like y_true, got {p.shape}")
    if t.size == 0:
        raise ValueError("y_true: expected at least one test unit, got an empty array")
    return t, p


def per_unit_errors(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Signed error ``d = y_pred - y_true`` per test unit, shape ``(n_units,)``, cycles.

    Positive ``d`` is a late prediction (the model says the engine lives longer
    than it does), negative ``d`` an early one.
    """
    t, p = _as_pair(y_true, y_pred)
    return p - t


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error over test units: ``sqrt(mean(d**2))``, in cycles."""
    d = per_unit_errors(y_true, y_pred)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.mean(d * d)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error over test units: ``mean(|d|)``, in cycles."""
    d = per_unit_errors(y_true, y_pred)
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.abs(d)))


def nasa_unit_scores(errors: ArrayLike) -> np.ndarray:
    """Per-unit NASA/PHM08 score of signed errors ``d = pred - true``, shape ``(n_units,)``.

    ``s = exp(-d/13) - 1`` if ``d < 0`` (early), ``s = exp(d/10) - 1`` if ``d >= 0``
    (late). The score is asymmetric: a late prediction costs more than an early
    one of the same size. Saxena et al. (2008) print the two constants swapped;
    that is a typo (every later paper and the PHM08 challenge use 13 for early,
    10 for late). Huge errors give ``inf``; NaN gives NaN.
    """
    d = np.asarray(errors, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        early = np.expm1(-d / NASA_EARLY_SCALE)
        late = np.expm1(d / NASA_LATE_SCALE)
    # NaN d: (d < 0) is False, so the late branch gives expm1(NaN) = NaN.
    return np.where(d < 0, early, late)


def nasa_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """NASA/PHM08 scoring function summed over test units (lower is better; 0 is perfect).

    See :func:`nasa_unit_scores` for the per-unit formula and the sign convention.
    """
    return float(np.sum(nasa_unit_scores(per_unit_errors(y_true, y_pred))))


def all_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``{"rmse", "mae", "nasa_score"}`` of one run (floats; NaN for a diverged run)."""
    return {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred), "nasa_score": nasa_score(y_true, y_pred)}
