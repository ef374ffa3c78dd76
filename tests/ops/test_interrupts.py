"""Interrupts leave nothing behind (issue 21, findings 3 and 4; issue 18: kill -9 then rerun).

Ctrl-C is emulated as a terminal sends it: SIGINT to the foreground process group.
Stop times are measured and printed (`pytest -s`), never asserted (speed lives in bench/).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from pipeline_helpers import REPO_ROOT, clean_env, run, tiny_clone


def _processes_in(repo: Path) -> list[psutil.Process]:
    """Live processes whose working directory is ``repo`` or below it (DVC runs every stage at the root; the
    cluster executor's workers run theirs in their clones under ``.dvc/tmp/seedbench-cluster``)."""
    found = []
    for proc in psutil.process_iter(["cwd", "status"]):
        try:
            cwd = proc.info["cwd"] or ""
            if (cwd == str(repo) or cwd.startswith(f"{repo}/")) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _wait_for(predicate, what: str, timeout: float = 300.0, every: float = 0.05):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _training(repo: Path) -> bool:
    """A train stage runs: as its own process (`dvc repro`), or as a forked child of a cluster worker's warm runner."""
    runner = "seedbench.ops.cluster.runner"
    for proc in _processes_in(repo):
        try:
            cmdline = " ".join(proc.cmdline())
            parent = proc.parent()
            if "stages/train.py" in cmdline or (runner in cmdline and parent is not None
                                                 and runner in " ".join(parent.cmdline())):
                return True
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return False


def _debris(repo: Path) -> list[str]:
    return sorted(p.relative_to(repo).as_posix() for top in ("data", "runs", "reports") if (repo / top).exists()
                  for p in (repo / top).rglob("*") if p.name.endswith((".staging", ".tmp", ".previous")))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clone(tmp_path_factory.mktemp("interrupts"))


@pytest.mark.e2e
def test_ctrl_c_in_a_stage_is_one_line_exit_130_and_no_traceback(clone: Path) -> None:
    proc = subprocess.Popen(["dvc", "repro"], cwd=clone, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(lambda: _training(clone), "a train stage to start")
    time.sleep(1.0)  # inside training (torch imported)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    output = out + err
    assert proc.returncode != 0
    assert "Traceback" not in output, output
    assert "train: interrupted" in output, output
    _wait_for(lambda: not _processes_in(clone), "every process of the clone to end", timeout=10)


@pytest.mark.e2e
def test_ctrl_c_on_parallel_repro_stops_every_run_it_started(clone: Path) -> None:
    env = clean_env()
    seedbench = str(Path(sys.executable).with_name("seedbench"))
    proc = subprocess.Popen([seedbench, "repro", "-j", "2"], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(lambda: _training(clone), "a train stage to start")
    time.sleep(0.5)
    runs_before = len(list((clone / "runs").rglob("results.json")))
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    exited = time.monotonic() - started
    _wait_for(lambda: not _processes_in(clone), "every process of the clone to end", timeout=10, every=0.01)
    gone = time.monotonic() - started
    print(f"\nseedbench repro -j 2: exited {exited:.2f} s after SIGINT, every child gone after {gone:.2f} s")
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["seedbench: interrupted (Ctrl-C); outputs of unfinished steps were not written"], err
    time.sleep(2.0)  # queued batches must not start after the interrupt
    assert not _processes_in(clone)
    assert len(list((clone / "runs").rglob("results.json"))) <= runs_before + 2


def test_kill_9_during_fetch_leaves_a_staging_folder_that_the_next_fetch_sweeps(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO_ROOT / "profiles/tiny.yaml").read_text())
    params["data"]["datasets"] = ["FD001", "FD002", "FD003", "FD004"]
    params["data"]["builtin"]["scale"] = 1.0  # slow enough to be caught mid-way
    params["prepare"]["windows"] = {"FD001": 30, "FD002": 20, "FD003": 30, "FD004": 15}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    fetch = [sys.executable, str(REPO_ROOT / "stages/fetch.py"), "--params", "params.yaml", "--out", "data/raw"]
    proc = subprocess.Popen(fetch, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = _wait_for(lambda: list((tmp_path / "data").glob(".raw.*.staging/FD00?")), "fetch to start writing", every=0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert staged and list((tmp_path / "data").glob(".raw.*.staging"))  # the debris kill -9 leaves

    params["data"]["datasets"], params["data"]["builtin"]["scale"] = ["FD001"], 0.05
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run(fetch, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]


@pytest.mark.e2e
def test_sigkill_during_train_then_rerun_gives_the_uninterrupted_dvc_lock(tmp_path: Path, tiny_pipeline: dict) -> None:
    """Issue 18: kill -9 a whole `dvc repro` (DVC and its train stage) mid-run; a rerun's dvc.lock is byte-identical."""
    repo = tiny_clone(tmp_path / "killed")
    proc = subprocess.Popen(["dvc", "repro"], cwd=repo, env=clean_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    # a train stage writes every output (DVCLive's logs first) into `.rep_<r>.<random>.staging` beside its run folder
    _wait_for(lambda: _training(repo) and list((repo / "runs").rglob(".rep_*.staging/dvclive/*")),
              "training to write DVCLive logs")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert _debris(repo), "kill -9 mid-train should leave a staging folder (otherwise this test shows nothing)"
    run(["dvc", "repro"], repo)
    assert _debris(repo) == []
    assert (repo / "dvc.lock").read_bytes() == (tiny_pipeline["repo"] / "dvc.lock").read_bytes()


def test_dvcignore_keeps_staging_and_temp_files_out_of_a_directory_dep(tmp_path: Path) -> None:
    """A real DVC directory dep does not change when a killed write's `.x.<random>.staging/` or `.tmp` appears."""
    repo = tmp_path / "repo"
    (repo / "inputs").mkdir(parents=True)
    (repo / "inputs" / "a.txt").write_text("a\n")
    (repo / ".dvcignore").write_text((REPO_ROOT / ".dvcignore").read_text())
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "stage", "add", "-q", "-n", "count", "-d", "inputs", "-o", "n.txt", "ls inputs | wc -l > n.txt"], repo)
    run(["dvc", "repro", "-q"], repo)
    (repo / "inputs" / ".dvclive.ab12cd34.staging").mkdir()
    (repo / "inputs" / ".dvclive.ab12cd34.staging" / "metrics.json").write_text("{}")
    (repo / "inputs" / ".a.txt.x1y2z3w4.tmp").write_text("partial")
    status = run(["dvc", "status"], repo).stdout
    assert "up to date" in status, status
    (repo / "inputs" / "b.txt").write_text("b\n")  # the check can fail: a real file does change the dep
    assert "changed deps" in run(["dvc", "status"], repo).stdout
