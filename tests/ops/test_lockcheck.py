"""A dvc.lock cut off by an interrupt is recognised; `seedbench report` refuses a stale summary (issue 21, findings 4, 5, 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seedbench.ops.lockcheck import lockfile_problem

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = (REPO_ROOT / "dvc.lock").read_text()


def _seedbench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SEEDBENCH_DEBUG"}
    return subprocess.run([sys.executable, "-m", "seedbench.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_committed_lock_is_whole() -> None:
    assert lockfile_problem(LOCK) is None


@pytest.mark.parametrize("after", ["    deps:\n", "  - path: ", "    outs:\n", "      md5: "])
def test_a_lock_cut_off_inside_an_entry_is_recognised(after: str) -> None:
    start = LOCK.index("train@")  # somewhere in the matrix entries
    cut = LOCK.index(after, start) + len(after)
    if not after.endswith("\n"):
        cut = LOCK.index("\n", cut) + 1 if after == "  - path: " else cut + 7  # a whole line, or mid-hash
    assert lockfile_problem(LOCK[:cut]) is not None, LOCK[cut - 200:cut]


def test_status_names_a_damaged_lock_and_how_to_repair_it(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(REPO_ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copytree(REPO_ROOT / "methods", tmp_path / "methods")
    (tmp_path / "dvc.lock").write_text(LOCK[: len(LOCK) // 2])
    done = _seedbench("status", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "dvc.lock: damaged" in done.stderr and "git checkout dvc.lock" in done.stderr and "dvc commit" in done.stderr


@pytest.mark.e2e
def test_report_refuses_a_summary_older_than_its_runs(tiny_pipeline: dict[str, Any]) -> None:
    repo = tiny_pipeline["repo"]
    assert _seedbench("report", cwd=repo).returncode == 0
    results = next((repo / "runs").rglob("results.json"))
    original = results.read_bytes()
    results.write_bytes(original[: len(original) // 2])  # truncated
    try:
        done = _seedbench("report", cwd=repo)
    finally:
        results.write_bytes(original)
    assert done.returncode == 1 and done.stdout == ""
    assert "reports/summary.md is not current with dvc.lock (runs changed" in done.stderr
    assert _seedbench("report", "--no-check", cwd=repo).returncode == 0


@pytest.mark.e2e
def test_status_while_dvc_holds_its_lock_is_one_line(tiny_pipeline: dict[str, Any]) -> None:
    from dvc.repo import Repo

    repo = tiny_pipeline["repo"]
    with Repo(str(repo)) as dvc_repo, dvc_repo.lock:
        done = _seedbench("status", cwd=repo)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("seedbench: error: the DVC repository is locked by another DVC process (a running "
                                   "`dvc repro` or `dvc exp run`?); wait for it to finish and retry")
