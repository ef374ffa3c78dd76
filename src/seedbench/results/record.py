"""``results.json`` of one run: identity (dataset, method, replicate, seeds) and test metrics.

Written by the train stage beside the predictions it describes, in the same
all-or-nothing step. Results are data: no timestamps, hosts or durations
(those live in manifests). NaN metrics (a diverged run) are written as
``null`` and flagged, never dropped.

No ``stats.*`` param enters here: the per-run bootstrap interval of RMSE is
the aggregate stage's (:mod:`seedbench.results.intervals`,
``reports/run_intervals.json``), so changing ``stats.confidence`` or
``stats.n_resamples`` retrains nothing. This module imports numpy and
:mod:`seedbench.stats.metrics` only (no scipy, no bootstrap).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from seedbench.core.seeds import replicate_seed
from seedbench.results.predictions import Predictions
from seedbench.stats.metrics import mae, nasa_score, rmse


def _json_float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def build_results(
    predictions: Predictions,
    *,
    dataset: str,
    method: str,
    replicate: int,
    experiment_seed: int,
) -> dict[str, Any]:
    """The results.json mapping of one run (pure).

    Parameters
    ----------
    predictions : Predictions
        The run's test predictions: ``true_rul`` and ``predicted_rul`` of shape
        ``(n_test_units,)``, cycles.
    dataset, method, replicate
        The run's key.
    experiment_seed : int
        ``params.yaml: seed``; the replicate seed is derived from it.

    Returns
    -------
    dict
        ``dataset``, ``method``, ``replicate``, ``seed`` (replicate seed),
        ``experiment_seed``, ``n_test_units``, ``diverged`` and ``metrics``
        (``rmse``, ``mae`` in cycles, ``nasa_score`` dimensionless; ``None``
        when not finite).
    """
    y_true, y_pred = predictions.true_rul, predictions.predicted_rul
    metrics = {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred), "nasa_score": nasa_score(y_true, y_pred)}
    diverged = not all(math.isfinite(v) for v in metrics.values())
    return {
        "dataset": dataset,
        "method": method,
        "replicate": replicate,
        "seed": replicate_seed(experiment_seed, replicate),
        "experiment_seed": experiment_seed,
        "n_test_units": int(np.asarray(y_true).size),
        "diverged": diverged,
        "metrics": {name: _json_float(value) for name, value in metrics.items()},
    }
