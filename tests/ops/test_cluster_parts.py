"""The cluster executor's parts without a cluster: stage commands, the lock merge, object checks, attempts,
the working-tree snapshot and the warm runner."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seedbench.ops.cluster.lockmerge import (
    attempt_conflicts,
    cache_object_path,
    merge_lock_text,
    object_problems,
)
from seedbench.ops.cluster.runner import WarmRunner
from seedbench.ops.cluster.snapshot import SNAPSHOT_REF, SnapshotError, snapshot_commit
from seedbench.ops.cluster.stagecmd import WarmCall, parse_stage_cmd
from seedbench.ops.cluster.task import outs_hashes

REPO_ROOT = Path(__file__).resolve().parents[2]

# -- stage commands --------------------------------------------------------------------------------


def test_the_train_command_of_dvc_yaml_runs_warm() -> None:
    cmd = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]["train"]["cmd"]
    assert parse_stage_cmd(cmd) == WarmCall(
        env=(("PYTHONHASHSEED", "0"), ("CUBLAS_WORKSPACE_CONFIG", ":4096:8")), launcher_params="params.yaml",
        script="stages/train.py", args=("--params", "params.yaml"))


@pytest.mark.parametrize("cmd", [
    "python stages/train.py --params params.yaml && touch x",
    "python stages/train.py | tee log",
    "python stages/train.py $HOME",
    "python stages/train.py `id`",
    "echo hi",
    "python -c 'print(1)'",
    "python -m seedbench.determinism.launch --determinism portable -- python stages/train.py",
    "python stages/train.py  # comment",
    "X=1 python stages/train.py > out",
])
def test_anything_but_a_plain_python_script_runs_through_the_shell(cmd: str) -> None:
    assert parse_stage_cmd(cmd) is None


def test_assignments_and_script_arguments_are_kept_in_order() -> None:
    call = parse_stage_cmd("A=1 B='two words' python3 stages/x.py --a 1 'b c'")
    assert call == WarmCall(env=(("A", "1"), ("B", "two words")), launcher_params=None, script="stages/x.py",
                            args=("--a", "1", "b c"))


# -- dvc.lock merge ----------------------------------------------------------------------------------

LOCK = """schema: '2.0'
stages:
  fetch:
    cmd: python stages/fetch.py
    outs:
    - path: data/raw
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
      size: 10
      nfiles: 1
  aggregate:
    cmd: python stages/aggregate.py
"""


def _entry(md5: str) -> dict:
    return {"cmd": "python stages/train.py", "deps": [{"path": "stages/train.py", "hash": "md5", "md5": md5, "size": 3}],
            "outs": [{"path": f"runs/{md5[:4]}/model.pt", "hash": "md5", "md5": md5, "size": 3}]}


def test_entries_are_merged_in_pipeline_order_with_the_rest_untouched() -> None:
    order = ["fetch", "train@a", "train@b", "aggregate"]
    text = merge_lock_text(LOCK, {"train@b": _entry("b" * 32), "train@a": _entry("a" * 32)}, order)
    data = yaml.safe_load(text)
    assert list(data["stages"]) == order
    assert data["stages"]["train@a"] == _entry("a" * 32)
    assert text.startswith(LOCK.split("  aggregate:")[0])  # fetch's entry: the same bytes


def test_merging_into_no_lock_starts_one() -> None:
    data = yaml.safe_load(merge_lock_text(None, {"train@a": _entry("a" * 32)}, ["train@a"]))
    assert data == {"schema": "2.0", "stages": {"train@a": _entry("a" * 32)}}


def _put(cache: Path, data: bytes, suffix: str = "") -> str:
    md5 = hashlib.md5(data).hexdigest() + suffix
    path = cache_object_path(cache, md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


def test_objects_are_checked_against_their_names_directories_file_by_file(tmp_path: Path) -> None:
    file_md5 = _put(tmp_path, b"model")
    inner = _put(tmp_path, b"metrics")
    listing = json.dumps([{"md5": inner, "relpath": "metrics.json"}]).encode()
    dir_md5 = _put(tmp_path, listing, ".dir")
    entries = {"train@a": {"outs": [{"path": "runs/a/model.pt", "md5": file_md5}, {"path": "runs/a/live", "md5": dir_md5}]}}
    assert object_problems(tmp_path, entries) == []
    cache_object_path(tmp_path, inner).write_bytes(b"tampered")
    assert object_problems(tmp_path, entries) == [
        f"train@a: runs/a/live/metrics.json: object {inner} holds other bytes (md5 {hashlib.md5(b'tampered').hexdigest()})"]
    cache_object_path(tmp_path, file_md5).unlink()
    assert f"train@a: runs/a/model.pt: object {file_md5} missing" in object_problems(tmp_path, entries)


def test_attempts_that_agree_pass_and_a_retry_that_hashed_otherwise_is_named() -> None:
    first = {"worker": "w1", "outs": {"train@a": {"m.pt": "1" * 32}, "train@b": {"m.pt": "2" * 32}}}
    same = {"worker": "w2", "outs": {"train@a": {"m.pt": "1" * 32}}}
    other = {"worker": "w3", "outs": {"train@b": {"m.pt": "3" * 32}}}
    assert attempt_conflicts([first, same]) == {}
    assert attempt_conflicts([first, same, other]) == {"train@b": [f"m.pt: {'2' * 32} (w1) vs {'3' * 32} (w3)"]}


def test_outs_hashes_of_an_entry() -> None:
    assert outs_hashes(_entry("c" * 32)) == {"runs/cccc/model.pt": "c" * 32}


# -- snapshot ----------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t.invalid", "PATH": "/usr/bin:/bin"}).stdout


def test_snapshot_holds_the_working_tree_and_leaves_branch_and_index_alone(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("ignored.txt\n")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "one")
    head = _git(tmp_path, "rev-parse", "HEAD").strip()
    (tmp_path / "params.yaml").write_text("seed: 2\n")  # edited, not staged
    (tmp_path / "new.py").write_text("x = 1\n")  # untracked
    (tmp_path / "ignored.txt").write_text("no\n")
    commit = snapshot_commit(tmp_path)
    assert _git(tmp_path, "rev-parse", "HEAD").strip() == head
    assert _git(tmp_path, "status", "--porcelain").splitlines() == [" M params.yaml", "?? new.py"]
    assert _git(tmp_path, "rev-parse", SNAPSHOT_REF).strip() == commit
    assert _git(tmp_path, "show", f"{commit}:params.yaml") == "seed: 2\n"
    assert _git(tmp_path, "show", f"{commit}:new.py") == "x = 1\n"
    assert "ignored.txt" not in _git(tmp_path, "ls-tree", "-r", "--name-only", commit)
    assert _git(tmp_path, "rev-parse", f"{commit}^").strip() == head


def test_snapshot_of_a_folder_without_git_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"not a git repository.*git init"):
        snapshot_commit(tmp_path)


# -- warm runner -------------------------------------------------------------------------------------


def test_the_warm_runner_runs_a_script_as_python_would(tmp_path: Path) -> None:
    script = tmp_path / "stage.py"
    script.write_text(
        "import os, sys\n"
        "print('argv', sys.argv[1:], 'cwd', os.getcwd(), 'stage', os.environ['DVC_STAGE'], 'hash', os.environ['PYTHONHASHSEED'])\n"
        "print('path0', sys.path[0])\n"
        "sys.exit(int(sys.argv[1]))\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "PYTHONPATH": str(REPO_ROOT / "src")}
    runner = WarmRunner(sys.executable, tmp_path, env, ["json"], tmp_path / "runner.log")
    try:
        log = tmp_path / "stage.log"
        assert runner.run(str(script), ["0", "x y"], cwd=tmp_path, env={"DVC_STAGE": "train@a"}, log=log) == 0
        assert log.read_text().splitlines() == [
            f"argv ['0', 'x y'] cwd {tmp_path} stage train@a hash 0", f"path0 {tmp_path}"]
        assert runner.run(str(script), ["3"], cwd=tmp_path, env={"DVC_STAGE": "train@b"}, log=log) == 3
        (tmp_path / "boom.py").write_text("raise RuntimeError('boom')\n")
        assert runner.run(str(tmp_path / "boom.py"), [], cwd=tmp_path, env={}, log=log) == 1
        assert "RuntimeError: boom" in log.read_text()
        assert runner.alive()  # a failing script takes only its own child down
    finally:
        runner.close()
    assert not runner.alive()


@pytest.mark.e2e  # real DVC and a local cluster: about 11 s
def test_a_matrix_without_gitignore_gets_dvc_repros_gitignore_files_and_lock(tmp_path: Path) -> None:
    """DVC writes ``/<name>`` into each output's folder's ``.gitignore``; an aggregate over that folder hashes it,
    so the cluster path must leave the same files in the same order (found by bench/bench_cluster.py)."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from bench_noop import write_matrix_repo
    from scratch import bench_env, sh

    from seedbench.ops.cluster.driver import repro

    env = bench_env()
    sequential, cluster = tmp_path / "sequential", tmp_path / "cluster"
    for path in (sequential, cluster):
        write_matrix_repo(path, 2, 3, env)
    sh(["dvc", "repro"], sequential, env)
    repro(cluster, jobs=2, torch_threads=1, cores=2, env=env, echo=lambda line: None)
    assert (cluster / "out/m00/.gitignore").read_text() == (sequential / "out/m00/.gitignore").read_text() == \
        "/0.json\n/1.json\n/2.json\n"
    assert (cluster / "dvc.lock").read_bytes() == (sequential / "dvc.lock").read_bytes()
