"""A known run and the per-run interval the evaluate stage computed for it, before the interval moved to aggregate."""

from __future__ import annotations

import numpy as np

from seedbench.results.predictions import Predictions

TRUE = np.array([112.0, 98.0, 69.0, 82.0, 91.0, 93.0, 91.0, 95.0, 111.0, 96.0, 97.0, 124.0])
PRED = TRUE + np.array([4.5, -12.25, 7.0, 0.5, -3.75, 15.0, -8.0, 2.25, 10.5, -1.0, -20.0, 6.0])
KNOWN = Predictions(np.arange(1, 13, dtype=np.int64), TRUE, PRED)
"""Test RUL (cycles) of 12 units and their predictions."""

KNOWN_KEY = ("FD002", "mlp", 3)
KNOWN_SEED, KNOWN_CONFIDENCE, KNOWN_RESAMPLES = 42, 0.9, 2000

OLD_RMSE_CI = {
    "statistic": "rmse", "estimate": 9.464572098092972, "low": 6.996966965261196, "high": 12.745867606403106,
    "confidence": 0.9, "method": "BCa", "n_resamples": 2000, "n_units": 12, "note": None,
}
"""``results.json: rmse_ci`` of run :data:`KNOWN_KEY` on :data:`KNOWN` (experiment seed 42, confidence 0.9, 2,000
resamples), as ``seedbench.results.record.build_results`` computed it for the evaluate stage before the interval
moved to the aggregate stage (commit d5750e6), repr floats."""
