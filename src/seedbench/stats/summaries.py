"""Summaries of one metric over replicate seeds: mean, std, SEM, t and bootstrap intervals.

Pure, array-in/dict-out functions in the style of rliable (Agarwal et al., 2021):
each documents the shapes it takes, does no I/O, and takes randomness only as
an explicit :class:`numpy.random.Generator` built by :mod:`seedbench.core.seeds`.
Returned dicts are JSON-ready: plain ``int``/``float``/``str``, and ``None``
wherever a quantity is undefined (one seed has no SEM, a diverged run has no
interval); they never hold NaN. Bootstrap intervals (BCa) come from
:mod:`seedbench.stats.bootstrap`, which is numpy-only (a port of scipy's BCa,
cross-checked against it), so the per-run intervals need no scipy.

Conventions
-----------
* Every metric is an error (RMSE, MAE, NASA score): **lower is better**.
* A non-finite value (NaN or ±inf: a diverged run) is *counted* (``n_nan``) and
  reported in notes; statistics are computed over the finite values only.

References
----------
Efron, B. (1987). Better bootstrap confidence intervals. JASA 82, 171–185. (BCa.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.stats as st
from numpy.typing import ArrayLike

from seedbench.stats.bootstrap import (
    DEFAULT_N_RESAMPLES,
    _as_1d,
    _bootstrap_interval_and_result,
    _check_confidence,
    _mean_statistic,
    finite_or_none,
)
from seedbench.stats.bootstrap_mc import bca_monte_carlo_error

# --------------------------------------------------------------------------- helpers


def json_safe(obj: Any) -> Any:
    """Copy of ``obj`` (dicts, lists, tuples, scalars) with every non-finite float replaced by ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj)
    return obj


# --------------------------------------------------------------------------- one cell


def describe_over_seeds(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Summary of one metric of one (dataset, method) cell over replicate seeds.

    Parameters
    ----------
    values : array_like, shape (n_seeds,)
        One value per replicate seed (e.g. test RMSE in cycles). NaN/±inf marks
        a diverged run: counted in ``n_nan``, excluded from the statistics, and
        named in ``note``.
    confidence : float
        Level of both intervals, in (0, 1).
    n_resamples : int
        Bootstrap resamples (one :func:`seedbench.stats.bootstrap.bca_interval` call).
    rng : numpy.random.Generator
        The cell's bootstrap stream, e.g.
        ``seeds.generator(bootstrap_seed, "bootstrap", dataset, method, metric)``.

    Returns
    -------
    dict
        ``n`` (finite values), ``n_nan``, ``mean``, ``std`` (ddof=1), ``sem``
        (``std/√n``), ``t_low``/``t_high`` (Student t interval, n−1 df),
        ``ci_low``/``ci_high`` (bootstrap interval of the mean), ``ci_method``
        (``"BCa"`` or ``"percentile (BCa degenerate: …)"``), ``confidence``,
        ``n_resamples``, ``ci_mc`` (the BCa endpoints' Monte-Carlo error and
        edge warning, :func:`seedbench.stats.bootstrap_mc.bca_monte_carlo_error`;
        ``None`` below 2 seeds), ``note`` (``None`` or why something is missing). With
        ``n == 1`` there is no std/SEM/interval (``None``), never a division by
        zero.

    Notes
    -----
    The values are sorted before anything is computed, so the result is a
    function of the multiset of values: permuting (or relabelling) seeds changes
    nothing, bit for bit. With few seeds (n ≲ 10) bootstrap intervals are too
    narrow (the bootstrap cannot see beyond the observed values); the t interval
    is the more honest one there, which is why both are reported.
    """
    _check_confidence(confidence)
    x = _as_1d(values, "values")
    finite = np.isfinite(x)
    xs = np.sort(x[finite])
    n, n_nan = int(xs.size), int(x.size - xs.size)
    notes: list[str] = []
    if n_nan:
        notes.append(f"{n_nan} of {x.size} runs non-finite (NaN/inf: diverged); statistics over the {n} finite runs")
    out: dict[str, Any] = {
        "n": n, "n_nan": n_nan, "mean": None, "std": None, "sem": None,
        "t_low": None, "t_high": None, "ci_low": None, "ci_high": None, "ci_method": None,
        "confidence": float(confidence), "n_resamples": int(n_resamples), "ci_mc": None, "note": None,
    }
    if n == 0:
        notes.append("no finite value: nothing to summarise")
    else:
        out["mean"] = finite_or_none(np.mean(xs))
    if n == 1:
        notes.append("1 finite seed: no std, SEM or interval (they need >= 2 seeds)")
    if n >= 2:
        std = float(np.std(xs, ddof=1))
        sem = std / math.sqrt(n)
        half = float(st.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * sem
        mean = float(np.mean(xs))
        low, high, method, bca = _bootstrap_interval_and_result(
            xs, _mean_statistic, confidence=confidence, n_resamples=n_resamples, rng=rng
        )
        out["ci_mc"] = json_safe(bca_monte_carlo_error(xs, _mean_statistic, bca, confidence=confidence))
        out.update(
            std=finite_or_none(std), sem=finite_or_none(sem), t_low=finite_or_none(mean - half), t_high=finite_or_none(mean + half),
            ci_low=finite_or_none(low), ci_high=finite_or_none(high), ci_method=method,
        )
    out["note"] = "; ".join(notes) or None
    return out
