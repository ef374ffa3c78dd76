"""``results.json`` of one run: identity (dataset, method, replicate, seeds) and test metrics.

Results are data: no timestamps, hosts or durations (those live in manifests).
NaN metrics (a diverged run) are written as ``null`` and flagged, never dropped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from seedbench.core.seeds import STREAM_BOOTSTRAP_RUN, generator, replicate_seed
from seedbench.results.predictions import Predictions
from seedbench.stats.bootstrap import bootstrap_interval_over_units
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
    confidence: float,
    n_resamples: int,
) -> dict[str, Any]:
    """The results.json mapping of one run (pure; the bootstrap stream is derived from the seeds)."""
    y_true, y_pred = predictions.true_rul, predictions.predicted_rul
    metrics = {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred), "nasa_score": nasa_score(y_true, y_pred)}
    diverged = not all(math.isfinite(v) for v in metrics.values())
    rng = generator(experiment_seed, STREAM_BOOTSTRAP_RUN, dataset, method, replicate)
    rmse_ci = bootstrap_interval_over_units(y_true, y_pred, confidence=confidence, n_resamples=n_resamples, rng=rng)
    return {
        "dataset": dataset,
        "method": method,
        "replicate": replicate,
        "seed": replicate_seed(experiment_seed, replicate),
        "experiment_seed": experiment_seed,
        "n_test_units": int(np.asarray(y_true).size),
        "diverged": diverged,
        "metrics": {name: _json_float(value) for name, value in metrics.items()},
        "rmse_ci": rmse_ci,
    }
