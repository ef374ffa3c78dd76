"""Per-run bootstrap intervals (``reports/run_intervals.json``): the same numbers the evaluate stage wrote, checked on read."""

from __future__ import annotations

from typing import Any

import pytest
from run_interval_cases import KNOWN, OLD_RMSE_CI, PRED, TRUE

from seedbench.core.errors import DataFormatError
from seedbench.core.hashing import bytes_sha256
from seedbench.core.seeds import STREAM_BOOTSTRAP_RUN, generator
from seedbench.results.intervals import (
    RunPredictions,
    run_intervals_of,
    run_intervals_report,
    run_rmse_interval,
)
from seedbench.results.predictions import predictions_text
from seedbench.stats.bootstrap import bootstrap_interval_over_units


def test_the_moved_interval_is_the_old_one_bit_for_bit() -> None:
    got = run_rmse_interval(KNOWN, ("FD002", "mlp", 3), experiment_seed=42, confidence=0.9, n_resamples=2000)
    assert got == OLD_RMSE_CI
    # the same stream as before: generator(experiment_seed, "bootstrap-run", dataset, method, replicate)
    rng = generator(42, STREAM_BOOTSTRAP_RUN, "FD002", "mlp", 3)
    assert bootstrap_interval_over_units(TRUE, PRED, confidence=0.9, n_resamples=2000, rng=rng) == got


def test_each_run_has_its_own_stream() -> None:
    a = run_rmse_interval(KNOWN, ("FD002", "mlp", 3), experiment_seed=42, confidence=0.9, n_resamples=2000)
    b = run_rmse_interval(KNOWN, ("FD002", "mlp", 4), experiment_seed=42, confidence=0.9, n_resamples=2000)
    assert a["estimate"] == b["estimate"] and (a["low"], a["high"]) != (b["low"], b["high"])


def _runs(*keys: tuple[str, str, int]) -> dict[tuple[str, str, int], RunPredictions]:
    return {key: RunPredictions(KNOWN, bytes_sha256(predictions_text(KNOWN).encode())) for key in keys}


def _report(**changes: Any) -> dict[str, Any]:
    keys = [("FD002", "mlp", 3), ("FD002", "linear", 3)]
    report = run_intervals_report(_runs(*keys), keys, experiment_seed=42, confidence=0.9, n_resamples=2000)
    return {**report, **changes}


def test_the_report_lists_every_run_in_order_with_its_predictions_hash() -> None:
    report = _report()
    assert {k: v for k, v in report.items() if k != "runs"} == {
        "statistic": "rmse", "stream": STREAM_BOOTSTRAP_RUN, "experiment_seed": 42, "confidence": 0.9, "n_resamples": 2000}
    assert [(r["dataset"], r["method"], r["replicate"]) for r in report["runs"]] == [("FD002", "mlp", 3), ("FD002", "linear", 3)]
    assert report["runs"][0]["rmse_ci"] == OLD_RMSE_CI
    assert report["runs"][0]["predictions_sha256"] == bytes_sha256(predictions_text(KNOWN).encode())
    with pytest.raises(DataFormatError, match="no predictions for run FD002/mlp/rep_9"):
        run_intervals_report(_runs(), [("FD002", "mlp", 9)], experiment_seed=42, confidence=0.9, n_resamples=2000)


def test_reading_checks_the_intervals_against_the_runs_beside_them() -> None:
    sha = bytes_sha256(predictions_text(KNOWN).encode())
    hashes = {("FD002", "mlp", 3): sha}
    got = run_intervals_of(_report(), where="r.json", experiment_seed=42, prediction_hashes=hashes)
    assert got == {("FD002", "mlp", 3): OLD_RMSE_CI}  # runs the params do not list are ignored
    with pytest.raises(DataFormatError, match="computed from other predictions.*stale reports; rerun `dvc repro aggregate`"):
        run_intervals_of(_report(), where="r.json", experiment_seed=42, prediction_hashes={("FD002", "mlp", 3): "sha256:" + "0" * 64})
    with pytest.raises(DataFormatError, match="no interval for run FD001/mlp/rep_3"):
        run_intervals_of(_report(), where="r.json", experiment_seed=42, prediction_hashes={("FD001", "mlp", 3): sha})
    with pytest.raises(DataFormatError, match="experiment seed 42, params say seed 43"):
        run_intervals_of(_report(), where="r.json", experiment_seed=43, prediction_hashes=hashes)
    twice = _report(runs=[*_report()["runs"], _report()["runs"][0]])
    with pytest.raises(DataFormatError, match="FD002/mlp/rep_3 appears twice"):
        run_intervals_of(twice, where="r.json", experiment_seed=42, prediction_hashes=hashes)
    with pytest.raises(DataFormatError, match="r.json: expected an object with a list 'runs'"):
        run_intervals_of([], where="r.json", experiment_seed=42, prediction_hashes=hashes)
