"""Bit-exact training across processes, through the real train stage (stages/train.py).

Two interpreters train every method with 0 and 2 DataLoader workers, the second
in reverse order (so nothing carried over from an earlier run in the same
process can matter); a third runs the stage's command line once. Every output
that dvc.lock pins must be byte-identical: model.pt, predictions.csv and the
DVCLive files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from seedbench.core.names import BUILTIN_METHODS as METHODS
from seedbench.core.seeds import generator
from seedbench.data.preparation import (
    PreparedSubset,
    Scaler,
    WindowedSplit,
    save_prepared,
)
from seedbench.results.predictions import read_predictions

WINDOW, N_FEATURES = 6, 3
TINY = {
    "linear": {"alpha": 0.1},
    "mlp": {"hidden_sizes": [8], "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 3, "patience": 2},
    "cnn1d": {"channels": [4], "kernel_size": 3, "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 3, "patience": 2},
    "bilstm": {"hidden_size": 4, "num_layers": 1, "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 3, "patience": 2},
}
RUNS = [(method, workers) for method in METHODS for workers in (0, 2)]
PINNED_FILES = ("model.pt", "predictions.csv", "results.json", "dvclive/metrics.json",
                "dvclive/plots/metrics/train_loss.tsv", "dvclive/plots/metrics/val_loss.tsv")

# Loads stages/train.py as a module and calls main(argv) per run; started through the launcher (which sets
# CUBLAS_WORKSPACE_CONFIG, as dvc.yaml's command does).
LAUNCH = [sys.executable, "-m", "seedbench.determinism.launch", "--determinism", "native", "--"]
DRIVER = textwrap.dedent(
    """
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("train_stage", sys.argv[1])
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    for argv in json.loads(sys.argv[2]):
        stage.main(argv)
    """
)

pytestmark = pytest.mark.e2e  # training processes (stage command lines, DataLoader workers)


def _windows(n_units: int, stream: str, *, last_only: bool = False) -> WindowedSplit:
    rng = generator(7, "train-determinism", stream)
    X, y, unit = [], [], []
    for u in range(1, n_units + 1):
        length = int(rng.integers(14, 22))
        t = np.arange(length)
        signal = (t / length)[:, None] * np.linspace(0.5, 1.5, N_FEATURES) + 0.05 * rng.standard_normal((length, N_FEATURES))
        rul = np.minimum(length - 1 - t, 12) + (3 if last_only else 0)
        ends = [length] if last_only else range(WINDOW, length + 1)
        for end in ends:
            X.append(signal[end - WINDOW : end])
            y.append(rul[end - 1])
            unit.append(u)
    return WindowedSplit(X=np.asarray(X, np.float32), y=np.asarray(y, np.float32), unit=np.asarray(unit, np.int64))


def _params(repo_root: Path, workers: int) -> dict[str, Any]:
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["methods"] = list(METHODS)
    # native: these runs start Python directly (tests/determinism/test_portable_determinism.py covers portable mode and its launcher)
    params["train"].update({"num_workers": workers, "torch_threads": 1, "deterministic": True, "warn_only": False,
                            "determinism": "native", **TINY})
    return params


def _argv(ws: Path, tag: str, method: str, workers: int, replicate: int = 0) -> list[str]:
    return ["--params", str(ws / f"params_w{workers}.yaml"), "--dataset", "FD001", "--method", method,
            "--replicate", str(replicate), "--prepared", str(ws / "prepared"),
            "--out", str(ws / tag / f"w{workers}" / method / f"rep_{replicate}")]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CUBLAS_WORKSPACE_CONFIG", "SEEDBENCH_DEBUG")}
    env["PYTHONHASHSEED"] = "0"
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """Tiny prepared data, params files, and the outputs of the two driver processes and one CLI run."""
    ws = tmp_path_factory.mktemp("train-determinism")
    scaler = Scaler(conditions=(0,), minimum=((0.0,) * N_FEATURES,), maximum=((1.0,) * N_FEATURES,))
    save_prepared(
        PreparedSubset(name="FD001", train=_windows(8, "train"), test=_windows(4, "test", last_only=True),
                       features=("s2", "s3", "s4"), window=WINDOW, rul_cap=12, test_labels_capped=True,
                       n_conditions=1, scaler=scaler),
        ws / "prepared",
    )
    for workers in (0, 2):
        (ws / f"params_w{workers}.yaml").write_text(yaml.safe_dump(_params(repo_root, workers)))
    stage = str(repo_root / "stages" / "train.py")
    forward = [_argv(ws, "a", m, w) for m, w in RUNS] + [_argv(ws, "a", m, 0, 1) for m in METHODS]
    backward = [_argv(ws, "b", m, w) for m, w in reversed(RUNS)]
    procs = [subprocess.Popen([*LAUNCH, sys.executable, "-c", DRIVER, stage, json.dumps(runs)], env=_env(), cwd=ws,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for runs in (forward, backward)]
    procs.append(subprocess.Popen([*LAUNCH, sys.executable, stage, *_argv(ws, "cli", "mlp", 2)], env=_env(), cwd=ws,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    return ws


@pytest.mark.parametrize(("method", "workers"), RUNS)
def test_same_seed_in_separate_processes_gives_identical_files(workspace: Path, method: str, workers: int) -> None:
    a = workspace / "a" / f"w{workers}" / method / "rep_0"
    b = workspace / "b" / f"w{workers}" / method / "rep_0"
    for name in PINNED_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    state_a = torch.load(a / "model.pt", weights_only=True)
    state_b = torch.load(b / "model.pt", weights_only=True)
    assert list(state_a) == list(state_b)
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert sorted(p.name for p in a.iterdir()) == ["dvclive", "manifest.json", "model.pt", "predictions.csv", "results.json",
                                                  "volatile.json"]


@pytest.mark.parametrize("method", METHODS)
def test_worker_count_changes_speed_not_results(workspace: Path, method: str) -> None:
    for name in PINNED_FILES:
        w0 = (workspace / "a" / "w0" / method / "rep_0" / name).read_bytes()
        assert w0 == (workspace / "a" / "w2" / method / "rep_0" / name).read_bytes(), name


def test_the_stage_command_line_reproduces_the_in_process_runs(workspace: Path) -> None:
    cli = workspace / "cli" / "w2" / "mlp" / "rep_0"
    ref = workspace / "a" / "w2" / "mlp" / "rep_0"
    for name in PINNED_FILES:
        assert (cli / name).read_bytes() == (ref / name).read_bytes(), name


@pytest.mark.parametrize("method", METHODS)
def test_results_are_the_metrics_of_the_predictions_file_beside_them(workspace: Path, method: str) -> None:
    """train computes results.json in memory; the numbers are those of predictions.csv read back (as evaluate did)."""
    from seedbench.results.record import build_results

    run = workspace / "a" / "w0" / method / "rep_0"
    written = json.loads((run / "results.json").read_text())
    assert written == build_results(read_predictions(run / "predictions.csv"), dataset=written["dataset"],
                                    method=method, replicate=0, experiment_seed=written["experiment_seed"])
    assert written["method"] == method and written["replicate"] == 0 and written["n_test_units"] == 4


def test_predictions_file_has_one_row_per_test_unit(workspace: Path) -> None:
    predictions = read_predictions(workspace / "a" / "w0" / "bilstm" / "rep_0" / "predictions.csv")
    assert predictions.unit.tolist() == [1, 2, 3, 4]
    assert np.isfinite(predictions.predicted_rul).all()


@pytest.mark.parametrize("method", [m for m in METHODS if m != "linear"])
def test_different_replicates_give_different_predictions(workspace: Path, method: str) -> None:
    rep0 = read_predictions(workspace / "a" / "w0" / method / "rep_0" / "predictions.csv")
    rep1 = read_predictions(workspace / "a" / "w0" / method / "rep_1" / "predictions.csv")
    assert not np.array_equal(rep0.predicted_rul, rep1.predicted_rul)


def test_run_manifest_records_seeds_flags_and_training(workspace: Path) -> None:
    manifest = json.loads((workspace / "a" / "w2" / "cnn1d" / "rep_0" / "manifest.json").read_text())
    assert manifest["seeds"]["replicate"] == 0 and manifest["seeds"]["experiment_seed"] == 42
    det = manifest["determinism"]
    assert det["deterministic_algorithms"] is True and det["pythonhashseed"] == "0"
    assert det["cublas_workspace_config"] == ":4096:8" and det["torch_threads"] == 1 and det["num_workers"] == 2
    assert manifest["leakage"]["leakage"] is False
    assert manifest["extra"]["training"]["epochs_run"] >= 1


def test_unknown_method_on_the_command_line_is_one_line_and_exit_2(workspace: Path, repo_root: Path) -> None:
    argv = _argv(workspace, "bad", "xgboost", 0)
    proc = subprocess.run([sys.executable, str(repo_root / "stages" / "train.py"), *argv], env=_env(), cwd=workspace,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "methods: unknown method 'xgboost'" in proc.stderr and all(m in proc.stderr for m in ("linear", "mlp", "cnn1d", "bilstm"))
    # the run folder's parents may exist; no file was written anywhere under them
    assert not [p for p in (workspace / "bad").rglob("*") if not p.is_dir()]
