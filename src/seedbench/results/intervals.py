"""Per-run bootstrap intervals of test RMSE over units: ``reports/run_intervals.json`` (aggregate stage).

Each run's interval resamples its test units (:func:`run_rmse_interval`, the
stream ``generator(experiment_seed, "bootstrap-run", dataset, method, r)``):
it says how much the finite test set alone moves that run's RMSE, not how
seeds vary. It depends on ``stats.confidence`` and ``stats.n_resamples``, so
it is computed by the stage that owns the statistics params (``aggregate``)
and not by ``train``, whose ``results.json`` holds the params-free metrics:
changing ``stats.*`` then re-aggregates and retrains nothing.

Why a report file of its own rather than a section of ``statistics.json``:

- one fact per file: ``statistics.json`` is keyed by cell (dataset × method ×
  metric, over seeds), these intervals by run; mixed, every reader of either
  would have to know both shapes;
- ``seedbench compare``, ``publish`` and ``replay`` need the intervals alone
  and read a small file keyed like ``results.json`` (dataset, method,
  replicate) instead of parsing every cell statistic;
- ``dvc.lock`` pins it by its own hash, so after ``dvc repro --force`` a
  ``git diff dvc.lock`` tells a change of the per-run intervals apart from a
  change of the statistics over seeds;
- each entry records the sha256 of the ``predictions.csv`` it was computed
  from, so a reader refuses an interval that describes other predictions
  than the ones beside it (reports older than the runs), as the provenance
  rule asks.

File shape (JSON, sorted keys)::

    {"statistic": "rmse", "stream": "bootstrap-run", "experiment_seed": 42,
     "confidence": 0.95, "n_resamples": 10000,
     "runs": [{"dataset": "FD001", "method": "linear", "replicate": 0,
               "predictions_sha256": "sha256:…", "rmse_ci": {…}}, …]}

``rmse_ci`` is :func:`seedbench.stats.bootstrap.bootstrap_interval_over_units`
(``estimate``, ``low``, ``high`` in cycles, …), bit for bit what
``results.json: rmse_ci`` held when an ``evaluate`` stage computed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seedbench.core.errors import DataFormatError
from seedbench.core.names import RunKey
from seedbench.core.seeds import STREAM_BOOTSTRAP_RUN, generator
from seedbench.results.index import run_key, run_name
from seedbench.results.predictions import Predictions
from seedbench.stats.bootstrap import bootstrap_interval_over_units

INTERVAL_STATISTIC = "rmse"
"""The test metric whose per-run interval is reported."""


@dataclass(frozen=True)
class RunPredictions:
    """One run's parsed ``predictions.csv`` and the ``"sha256:<hex>"`` of its bytes."""

    predictions: Predictions
    sha256: str


def run_rmse_interval(
    predictions: Predictions,
    key: RunKey,
    *,
    experiment_seed: int,
    confidence: float,
    n_resamples: int,
) -> dict[str, Any]:
    """BCa interval of run ``key``'s test RMSE, resampling its test units (pure).

    Parameters
    ----------
    predictions : Predictions
        ``true_rul``, ``predicted_rul`` of shape ``(n_test_units,)``, cycles.
    key : RunKey
        ``(dataset, method, replicate)``: names the run's bootstrap stream
        ``generator(experiment_seed, STREAM_BOOTSTRAP_RUN, dataset, method, replicate)``.
    experiment_seed : int
        ``params.yaml: seed``.
    confidence, n_resamples
        ``stats.confidence`` in (0, 1) and ``stats.n_resamples`` (B).

    Returns
    -------
    dict
        :func:`~seedbench.stats.bootstrap.bootstrap_interval_over_units`' record
        (``estimate``, ``low``, ``high`` in cycles; ``None`` when undefined).
    """
    dataset, method, replicate = key
    rng = generator(experiment_seed, STREAM_BOOTSTRAP_RUN, dataset, method, replicate)
    return bootstrap_interval_over_units(
        predictions.true_rul, predictions.predicted_rul, confidence=confidence, n_resamples=n_resamples, rng=rng
    )


def run_intervals_report(
    runs: Mapping[RunKey, RunPredictions],
    keys: Sequence[RunKey],
    *,
    experiment_seed: int,
    confidence: float,
    n_resamples: int,
) -> dict[str, Any]:
    """The content of ``reports/run_intervals.json``: one entry per run of ``keys``, in that order (pure).

    ``runs`` must hold every key (the stage reads exactly the runs params
    list); a missing one is a :class:`DataFormatError` naming it.
    """
    entries = []
    for key in keys:
        if key not in runs:
            raise DataFormatError(f"run intervals: no predictions for run {run_name(key)}; run the train stage first")
        run = runs[key]
        entries.append({
            "dataset": key[0], "method": key[1], "replicate": key[2], "predictions_sha256": run.sha256,
            "rmse_ci": run_rmse_interval(run.predictions, key, experiment_seed=experiment_seed,
                                         confidence=confidence, n_resamples=n_resamples),
        })
    return {
        "statistic": INTERVAL_STATISTIC, "stream": STREAM_BOOTSTRAP_RUN, "experiment_seed": int(experiment_seed),
        "confidence": float(confidence), "n_resamples": int(n_resamples), "runs": entries,
    }


def run_intervals_of(
    report: Any,
    *,
    where: str,
    experiment_seed: int,
    prediction_hashes: Mapping[RunKey, str],
) -> dict[RunKey, dict[str, Any]]:
    """``{run key: rmse_ci}`` of a ``run_intervals.json`` mapping, checked against the runs beside it.

    Parameters
    ----------
    report
        The parsed JSON of ``reports/run_intervals.json``.
    where
        Names the file in errors (e.g. ``"folder a: reports/run_intervals.json"``).
    experiment_seed
        The tree's ``params.yaml: seed``.
    prediction_hashes
        ``{run key: "sha256:<hex>"}`` of each run's ``predictions.csv`` present
        beside the report: every one of these runs must have an interval
        computed from exactly those bytes. Entries of other runs are ignored
        (like stale run folders).

    Raises
    ------
    DataFormatError
        A malformed file, another experiment seed, a run appearing twice, a
        run without an interval or an interval of other predictions (the
        reports are older than the runs): each names the run and says to run
        ``dvc repro aggregate``.
    """
    if not isinstance(report, Mapping) or not isinstance(report.get("runs"), list):
        raise DataFormatError(f"{where}: expected an object with a list 'runs' (the aggregate stage's run_intervals.json)")
    if report.get("experiment_seed") != experiment_seed:
        raise DataFormatError(f"{where}: intervals of experiment seed {report.get('experiment_seed')!r}, params say seed "
                              f"{experiment_seed}: stale reports; rerun `dvc repro aggregate`")
    entries: dict[RunKey, Mapping[str, Any]] = {}
    for i, entry in enumerate(report["runs"]):
        key = run_key(entry, f"{where}: runs[{i}]")
        if key in entries:
            raise DataFormatError(f"{where}: run {run_name(key)} appears twice")
        if not isinstance(entry.get("rmse_ci"), Mapping):
            raise DataFormatError(f"{where}: runs[{i}] ({run_name(key)}): expected an object 'rmse_ci'")
        entries[key] = entry
    out: dict[RunKey, dict[str, Any]] = {}
    for key, sha256 in prediction_hashes.items():
        entry = entries.get(key)
        if entry is None:
            raise DataFormatError(f"{where}: no interval for run {run_name(key)}: stale reports; rerun `dvc repro aggregate`")
        if entry.get("predictions_sha256") != sha256:
            raise DataFormatError(f"{where}: the interval of run {run_name(key)} was computed from other predictions than "
                                  f"its predictions.csv ({sha256[:19]}…): stale reports; rerun `dvc repro aggregate`")
        out[key] = dict(entry["rmse_ci"])
    return out
