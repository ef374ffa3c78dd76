"""Stage scripts on bad input: one-line error naming file and line (or key), nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from seedbench.data.cmapss import write_subset
from seedbench.data.simulate import simulate_subset

REPO_ROOT = Path(__file__).resolve().parents[2]


def _stage(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SEEDBENCH_DEBUG"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "stages" / f"{name}.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _workspace(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO_ROOT / "profiles/tiny.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(REPO_ROOT / "methods", tmp_path / "methods", dirs_exist_ok=True)  # params name method files
    write_subset(simulate_subset("FD001", seed=1, scale=0.05), tmp_path / "data/raw/FD001")
    return tmp_path


def _prepare(ws: Path) -> subprocess.CompletedProcess[str]:
    return _stage("prepare", "--dataset", "FD001", "--raw", "data/raw/FD001", "--out", "data/prepared/FD001", cwd=ws)


def test_malformed_row_names_file_and_line_and_keeps_previous_output(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    assert _prepare(ws).returncode == 0
    before = _snapshot(ws / "data/prepared")

    train = ws / "data/raw/FD001/train_FD001.txt"
    lines = train.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace(" ", " x", 1)
    train.write_text("".join(lines))
    result = _prepare(ws)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("prepare: error:")
    assert "data/raw/FD001/train_FD001.txt, line 7" in result.stderr
    assert _snapshot(ws / "data/prepared") == before
    assert sorted(p.name for p in (ws / "data").iterdir()) == ["prepared", "raw"]


def test_wrong_column_count_and_missing_rul_file(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    test_file = ws / "data/raw/FD001/test_FD001.txt"
    lines = test_file.read_text().splitlines(keepends=True)
    lines[2] = " ".join(lines[2].split()[:-1]) + "  \n"
    test_file.write_text("".join(lines))
    result = _prepare(ws)
    assert result.returncode == 2 and "test_FD001.txt, line 3" in result.stderr and "25" in result.stderr
    assert not (ws / "data/prepared").exists() or not any((ws / "data/prepared").iterdir())

    ws2 = _workspace(tmp_path / "second")
    (ws2 / "data/raw/FD001/RUL_FD001.txt").unlink()
    result = _prepare(ws2)
    assert result.returncode == 2 and "RUL_FD001.txt" in result.stderr


def test_rul_count_mismatch_is_named(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    rul = ws / "data/raw/FD001/RUL_FD001.txt"
    rul.write_text("".join(rul.read_text().splitlines(keepends=True)[:-1]))
    result = _prepare(ws)
    assert result.returncode == 2 and "RUL_FD001.txt" in result.stderr


def test_window_longer_than_shortest_unit_names_the_key(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["prepare"]["windows"]["FD001"] = 1000
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    result = _prepare(ws)
    assert result.returncode == 2 and "prepare.windows.FD001" in result.stderr


def test_unknown_dataset_in_params_fails_fetch_before_writing(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO_ROOT / "profiles/tiny.yaml").read_text())
    params["data"]["datasets"] = ["FD001", "FD007"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = _stage("fetch", "--out", "data/raw", cwd=tmp_path)
    assert result.returncode == 2 and "data.datasets" in result.stderr and "FD007" in result.stderr
    assert not (tmp_path / "data").exists()


def _train(ws: Path) -> subprocess.CompletedProcess[str]:
    """The train stage as dvc.yaml starts it (through the determinism launcher), for FD001 × linear × rep 0."""
    env = {k: v for k, v in os.environ.items() if k != "SEEDBENCH_DEBUG"}
    launch = [sys.executable, "-m", "seedbench.determinism.launch", "--params", "params.yaml", "--"]
    train = [sys.executable, str(REPO_ROOT / "stages" / "train.py"), "--params", "params.yaml",
             "--dataset", "FD001", "--method", "linear", "--replicate", "0"]
    return subprocess.run([*launch, *train], cwd=ws, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_train_failing_after_the_model_is_built_leaves_the_run_folder_as_it_was(tmp_path: Path) -> None:
    """All outputs or none: a failure after model.pt was written (the test windows do not fit the trained model,
    so predicting fails) leaves model.pt, predictions.csv, results.json and the manifest as they were."""
    ws = _workspace(tmp_path)
    assert _prepare(ws).returncode == 0
    assert _train(ws).returncode == 0
    run = ws / "runs/FD001/linear/rep_0"
    (run / "notes.txt").write_text("mine\n")  # a file train does not own, in the same folder: never touched by train
    before = _snapshot(run)
    assert {"model.pt", "predictions.csv", "results.json", "manifest.json", "volatile.json",
            "dvclive/metrics.json"} <= set(before)

    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["train"]["linear"]["alpha"] *= 10  # a new model.pt and predictions.csv, if they were written
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    test_npz = ws / "data/prepared/FD001/test.npz"
    good = test_npz.read_bytes()
    with np.load(test_npz) as arrays:
        narrow = {k: (v[:, :, :-1] if k == "X" else v) for k, v in arrays.items()}
    np.savez(test_npz, **narrow)  # one feature fewer than the model was trained on: prediction fails
    result = _train(ws)
    assert result.returncode != 0 and "ValueError: expected input of shape" in result.stderr, result.stderr
    assert _snapshot(run) == before
    assert sorted(p.name for p in run.parent.iterdir()) == ["rep_0"]  # no staging folder left

    test_npz.write_bytes(good)  # the positive control: with the test windows back it succeeds, all new
    assert _train(ws).returncode == 0
    after = _snapshot(run)
    assert after["model.pt"] != before["model.pt"] and after["predictions.csv"] != before["predictions.csv"]
    assert after["results.json"] != before["results.json"]  # the new predictions' metrics, written with them
    assert after["notes.txt"] == before["notes.txt"]
