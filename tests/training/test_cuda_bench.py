"""bench/cuda_determinism.py without a GPU: its refusal, and its comparison run end to end on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "cuda_determinism.py"


def _run(args: list[str], repo_root: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "CUBLAS_WORKSPACE_CONFIG")}
    env["PYTHONPATH"] = str(repo_root / "src")  # as the script's docstring says: src/ on PYTHONPATH, nothing else
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the refusal cannot happen here")
def test_without_cuda_the_benchmark_exits_2_with_one_line_saying_why(repo_root: Path) -> None:
    proc = _run([], repo_root)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("cuda_determinism: no CUDA device: ")
    assert "--device cpu" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """FD001 of the tiny profile, fetched and prepared by the real stages."""
    root = tmp_path_factory.mktemp("cuda-bench")
    params = str(repo_root / "profiles" / "tiny.yaml")
    for argv in (["stages/fetch.py", "--params", params, "--out", str(root / "raw")],
                 ["stages/prepare.py", "--params", params, "--dataset", "FD001", "--raw", str(root / "raw" / "FD001"),
                  "--out", str(root / "prepared")]):
        subprocess.run([sys.executable, *argv], cwd=repo_root, check=True, capture_output=True, timeout=300)
    return root / "prepared"


@pytest.mark.e2e  # trains every method several times in two processes
def test_on_the_cpu_two_runs_per_setting_are_compared_and_reported(prepared: Path, repo_root: Path) -> None:
    proc = _run(["--device", "cpu", "--prepared", str(prepared), "--params", "profiles/tiny.yaml", "--epochs", "1",
                 "--methods", "mlp", "--flags", "det", "--json", "-"], repo_root)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["environment"]["torch"] == torch.__version__ and report["epochs"] == 1
    rows = {(r["method"], r["precision"], r["flags"]): r for r in report["rows"]}
    assert set(rows) == {("mlp", "fp32", "det"), ("mlp", "bf16", "det")}
    for row in rows.values():
        assert row["identical"] is True and row["max_abs_param_diff"] == 0.0 and row["max_abs_prediction_diff"] == 0.0
        assert len(row["seconds_per_epoch"]) == 2 and all(s > 0 for s in row["seconds_per_epoch"])
    assert rows[("mlp", "fp32", "det")]["sha256"] != rows[("mlp", "bf16", "det")]["sha256"]


def test_a_missing_prepared_folder_is_one_line(repo_root: Path, tmp_path: Path) -> None:
    proc = _run(["--device", "cpu", "--prepared", str(tmp_path / "absent"), "--params", "profiles/tiny.yaml"], repo_root)
    assert proc.returncode == 2 and proc.stderr.startswith("cuda_determinism: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
