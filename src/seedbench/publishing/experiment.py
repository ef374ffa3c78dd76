"""Pieces of the experiment-level manifest: the run matrix, its seeds, the run manifests, per-run results."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seedbench.core.errors import DataFormatError
from seedbench.core.files import read_json
from seedbench.core.hashing import file_sha256
from seedbench.core.names import (
    MODEL_FILENAME,
    PREDICTIONS_FILENAME,
    RESULTS_FILENAME,
    RUN_INTERVALS_FILENAME,
    RunKey,
)
from seedbench.core.params import Params
from seedbench.core.seeds import (
    STREAM_BOOTSTRAP,
    STREAM_DATA_ORDER,
    STREAM_VALIDATION_SPLIT,
    derive_seed,
    replicate_seed,
)
from seedbench.provenance.dvclock import lock_stage_entry
from seedbench.provenance.manifest import MANIFEST_FILENAME
from seedbench.provenance.volatile import read_volatile
from seedbench.results.intervals import run_intervals_of


def run_keys(params: Params) -> list[RunKey]:
    """Every (dataset, method, replicate) of the experiment, in params order."""
    return [(d, m, r) for d in params.data.datasets for m in params.methods for r in params.replicates]


def run_dir(runs_root: Path, key: RunKey) -> Path:
    """``runs/<dataset>/<method>/rep_<r>``."""
    dataset, method, replicate = key
    return runs_root / dataset / method / f"rep_{replicate}"


def experiment_seeds(params: Params) -> dict[str, Any]:
    """The experiment seed and every seed derived from it for this run matrix."""
    return {
        "experiment_seed": params.seed,
        "replicate_seeds": {str(r): replicate_seed(params.seed, r) for r in params.replicates},
        "validation_split_seeds": {str(r): derive_seed(params.seed, STREAM_VALIDATION_SPLIT, r) for r in params.replicates},
        "data_order_seeds": {str(r): derive_seed(params.seed, STREAM_DATA_ORDER, r) for r in params.replicates},
        "bootstrap_seed": derive_seed(params.seed, STREAM_BOOTSTRAP),
        "data_seed": params.data.builtin.seed if params.data.source == "builtin" else None,
    }


def read_run_manifests(runs_root: Path, keys: list[RunKey]) -> list[dict[str, Any]]:
    """The manifest of every run in ``keys`` (raises :class:`DataFormatError` naming a missing one)."""
    manifests = []
    for key in keys:
        path = run_dir(runs_root, key) / MANIFEST_FILENAME
        if not path.is_file():
            raise DataFormatError(f"{path}: run manifest missing; rerun that training stage (`dvc repro --force train@{key[0]}-{key[1]}-{key[2]}`)")
        manifests.append(read_json(path))
    return manifests


def training_seconds(runs_root: Path, keys: list[RunKey], run_manifests: list[dict[str, Any]]) -> float | None:
    """Sum of the runs' training wall-clock seconds, from their volatile records; ``None`` unless every run has one.

    A run restored by DVC (run-cache, checkout) without training has no volatile
    record of its own (:func:`seedbench.provenance.volatile.read_volatile`), so its time is unknown here.
    """
    total = 0.0
    for key, manifest in zip(keys, run_manifests, strict=True):
        record = read_volatile(run_dir(runs_root, key), manifest)
        if record is None or record.get("wall_clock_seconds") is None:
            return None
        total += float(record["wall_clock_seconds"])
    return total


# --------------------------------------------------------------------------- experiment manifest pieces


def train_stage_name(key: RunKey) -> str:
    """``train@<dataset>-<method>-<rep>``: the DVC stage that trained run ``key``."""
    return f"train@{key[0]}-{key[1]}-{key[2]}"


def read_run_intervals(reports_dir: Path, runs_root: Path, keys: list[RunKey], experiment_seed: int) -> dict[RunKey, dict[str, Any]]:
    """``{run key: rmse_ci}`` from ``<reports_dir>/run_intervals.json``, each checked against the run's predictions.

    Raises :class:`DataFormatError` when the file is missing or stale (an
    interval of other predictions than the run's ``predictions.csv``: the
    reports are older than the runs), saying to run the aggregate stage.
    """
    path = reports_dir / RUN_INTERVALS_FILENAME
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; run the aggregate stage (`dvc repro aggregate`)")
    hashes = {key: file_sha256(run_dir(runs_root, key) / PREDICTIONS_FILENAME) for key in keys
              if (run_dir(runs_root, key) / PREDICTIONS_FILENAME).is_file()}
    return run_intervals_of(read_json(path), where=str(path), experiment_seed=experiment_seed, prediction_hashes=hashes)


def run_entries(runs_root: Path, keys: list[RunKey], run_manifests: list[dict[str, Any]],
                dvc_lock: dict[str, Any], run_intervals: Mapping[RunKey, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per run for ``publish/manifest.json``: results, interval, hashes, the lock entry, the run manifest.

    ``results`` is the run's ``results.json`` as written by the train stage,
    ``rmse_ci`` its bootstrap interval over test units from ``run_intervals``
    (:func:`read_run_intervals`; the aggregate stage's, ``None`` when absent),
    ``predictions_sha256`` / ``model_sha256`` hash its deterministic outputs (the
    baseline that ``seedbench replay`` compares against), ``dvc_lock`` is the
    ``train@…`` entry of the final ``dvc.lock`` (deps and outs md5), and
    ``dvc_lock_matches_run_manifest`` says whether the deps hashes the training
    stage computed while running equal what DVC then locked (``None`` when
    either side is missing; ``False`` means the run manifest is stale: the
    stage's inputs changed after it was written).
    """
    entries = []
    for key, manifest in zip(keys, run_manifests, strict=True):
        folder = run_dir(runs_root, key)
        results_path = folder / RESULTS_FILENAME
        if not results_path.is_file():
            raise DataFormatError(f"{results_path}: missing; run the train stage (`dvc repro {train_stage_name(key)}`)")
        stage = train_stage_name(key)
        locked = lock_stage_entry(dvc_lock, stage)
        computed = (manifest.get("dvc_lock") or {}).get("deps")
        entries.append({
            "run_id": manifest.get("run_id", f"{key[0]}-{key[1]}-{key[2]}"),
            "dataset": key[0],
            "method": key[1],
            "replicate": key[2],
            "results": read_json(results_path),
            "rmse_ci": dict(run_intervals[key]) if key in run_intervals else None,
            "predictions_sha256": file_sha256(folder / PREDICTIONS_FILENAME),
            "model_sha256": file_sha256(folder / MODEL_FILENAME),
            "dvc_lock": {"stage": stage, **locked} if locked else None,
            "dvc_lock_matches_run_manifest": (locked["deps"] == computed) if (locked and computed is not None) else None,
            "manifest": manifest,
        })
    return entries


def _distinct(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def merged_gpu_record(run_manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """GPU facts over all runs, shaped like :func:`seedbench.provenance.environment.gpu_record` (for ``build_manifest(gpu=…)``).

    ``gpus`` lists every distinct GPU any run saw (``None`` when none did); a
    CUDA or cuDNN version that differs between runs is given as ``"a | b"``.
    """
    gpus = _distinct([g for m in run_manifests for g in (m.get("gpu_info") or [])])

    def one(field: str) -> Any:
        values = _distinct([m.get(field) for m in run_manifests])
        if len(values) == 1:
            return values[0]
        return " | ".join(str(v) for v in values)

    return {"gpus": gpus or None, "cuda_version": one("cuda_version"), "cudnn_version": one("cudnn_version")}


def merged_determinism(run_manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The determinism settings shared by every run, plus which keys vary between runs (seeds always do)."""
    records = [m.get("determinism") or {} for m in run_manifests]
    keys = sorted({k for r in records for k in r})
    common = {k: records[0].get(k) for k in keys if all(k in r and r[k] == records[0].get(k) for r in records)}
    return {**common, "varies_between_runs": [k for k in keys if k not in common]}


def leakage_summary(run_manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"leakage": any run leaked, "runs_checked", "runs_with_leakage", "check"}`` over the runs' reports."""
    leaked = [m.get("run_id") for m in run_manifests if (m.get("leakage") or {}).get("leakage")]
    return {
        "leakage": bool(leaked),
        "runs_checked": sum(1 for m in run_manifests if m.get("leakage") is not None),
        "runs_with_leakage": leaked,
        "check": "no unit id in both the training and the validation split of any run (whole units are held out)",
    }
