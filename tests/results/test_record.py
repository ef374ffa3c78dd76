"""``results.json`` is the train stage's: metrics and identity, no ``stats.*`` param, no bootstrap in train."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from seedbench.core.names import RESULTS_FILENAME, VOLATILE_FILENAME
from seedbench.core.seeds import replicate_seed
from seedbench.results.predictions import Predictions
from seedbench.results.record import build_results

REPO_ROOT = Path(__file__).resolve().parents[2]


def _train_stage():
    spec = importlib.util.spec_from_file_location("train_stage", REPO_ROOT / "stages" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_hold_identity_and_metrics_and_no_interval() -> None:
    true = np.array([10.0, 20.0, 30.0, 40.0])
    results = build_results(Predictions(np.arange(1, 5), true, true + np.array([3.0, -4.0, 0.0, 5.0])),
                            dataset="FD001", method="mlp", replicate=2, experiment_seed=42)
    assert results == {
        "dataset": "FD001", "method": "mlp", "replicate": 2, "seed": replicate_seed(42, 2), "experiment_seed": 42,
        "n_test_units": 4, "diverged": False,
        "metrics": {"rmse": float(np.sqrt(50 / 4)), "mae": 3.0, "nasa_score": results["metrics"]["nasa_score"]},
    }
    assert results["metrics"]["nasa_score"] > 0
    # nothing of stats.* can reach it: the interval is the aggregate stage's (reports/run_intervals.json)
    assert set(inspect.signature(build_results).parameters) == {"predictions", "dataset", "method", "replicate",
                                                                "experiment_seed"}


def test_a_diverged_run_has_null_metrics_and_is_flagged() -> None:
    results = build_results(Predictions(np.arange(1, 3), np.array([5.0, 6.0]), np.array([np.nan, 6.0])),
                            dataset="FD002", method="linear", replicate=0, experiment_seed=7)
    assert results["diverged"] is True and results["metrics"] == {"rmse": None, "mae": None, "nasa_score": None}


def test_train_writes_results_json_with_its_other_outputs_as_dvc_yaml_declares() -> None:
    stage = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]["train"]
    assert RESULTS_FILENAME in _train_stage().TRAIN_OUTPUTS
    declared = {out.rsplit("/", 1)[1] for out in stage["outs"]}
    assert declared == set(_train_stage().TRAIN_OUTPUTS) - {VOLATILE_FILENAME}  # volatile.json: never a DVC out
    assert not [p for p in stage["params"] if str(p).split(".")[0] == "stats"], "stats.* would retrain every run"


def test_the_train_stage_module_loads_no_scipy_torch_matplotlib_or_bootstrap() -> None:
    """Before main() runs (torch comes only after the determinism check), results code included: a fresh interpreter."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('train_stage', {str(REPO_ROOT / 'stages' / 'train.py')!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "heavy = {name.split('.')[0] for name in sys.modules} & {'scipy', 'torch', 'matplotlib'}\n"
        "stats = {name for name in sys.modules if name.startswith(('seedbench.stats.', 'seedbench.results.'))}\n"
        "print(json.dumps([sorted(heavy), sorted(stats)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    heavy, loaded = json.loads(out.stdout)
    assert heavy == []
    assert "seedbench.results.record" in loaded and "seedbench.stats.metrics" in loaded
    assert "seedbench.stats.bootstrap" not in loaded and "seedbench.results.intervals" not in loaded
