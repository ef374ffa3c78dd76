"""The CLI edge against clumsy input (issue 21, finding 5): one line, exit 2, bounded reads; sweeping debris."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seedbench.cli import main
from seedbench.core.edge import EXIT_INTERRUPTED, run_user_errors_as_messages
from seedbench.core.files import atomic_write_bytes, staged_directory, stale_siblings

SEEDBENCH = [sys.executable, "-m", "seedbench.cli"]


def _seedbench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SEEDBENCH_DEBUG"}
    return subprocess.run([*SEEDBENCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "expected"), [
    (["check-params", "/etc"], "/etc: is a directory"),
    (["check-params", "/dev/zero"], "/dev/zero: not a regular file"),
    (["check-params", "/etc/passwd"], "/etc/passwd: top level: expected a mapping"),
    (["describe", "/dev/zero"], "/dev/zero: not a regular file or folder"),
    (["compare", ".", ".", "--level", "seed", "--tolerance", "-1"], "--tolerance: expected a finite number >= 0"),
    (["compare", ".", ".", "--level", "seed", "--tolerance", "nan"], "--tolerance: expected a finite number >= 0"),
])
def test_clumsy_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    done = _seedbench(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()] and expected in done.stderr, done.stderr
    assert len(done.stderr) < 300  # never the whole file (/etc/passwd) nor a MemoryError (/dev/zero)


def test_a_big_params_file_is_refused_before_reading_it(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_bytes(b"#" * (2 << 20))
    done = _seedbench("check-params", "big.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "at most 1048576 bytes" in done.stderr


def test_a_file_that_may_not_be_read_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "prepare.json").write_text("{}")
    folder.chmod(0o000)
    try:
        if os.access(folder, os.R_OK):
            pytest.skip("running as a user who reads everything (root)")
        assert main(["describe", str(folder)]) == 2
    finally:
        folder.chmod(0o755)
    assert "permission denied" in capsys.readouterr().err


def test_third_party_errors_the_user_can_fix_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from dvc.lock import LockError

    def locked() -> None:
        raise LockError("Unable to acquire lock. Most likely another DVC process is running")

    assert run_user_errors_as_messages(locked, prog="seedbench") == 2
    assert "locked by another DVC process" in capsys.readouterr().err

    def not_a_dir() -> None:
        os.listdir("/dev/zero")

    assert run_user_errors_as_messages(not_a_dir, prog="seedbench") == 2
    assert capsys.readouterr().err == "seedbench: error: /dev/zero: not a directory\n"

    def bug() -> None:
        raise ZeroDivisionError("a bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        run_user_errors_as_messages(bug, prog="seedbench")


def test_ctrl_c_is_one_line_and_exit_130(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    assert run_user_errors_as_messages(interrupted, prog="train", debug=False) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.startswith("train: interrupted (Ctrl-C)")


def test_the_next_write_sweeps_what_a_kill_9_left(tmp_path: Path) -> None:
    (tmp_path / ".dvclive.ab12cd34.staging").mkdir()
    (tmp_path / ".dvclive.ab12cd34.staging" / "metrics.json").write_text("{}")
    (tmp_path / ".dvclive.previous").mkdir()
    (tmp_path / ".model.pt.x1y2z3w4.tmp").write_bytes(b"partial")
    (tmp_path / ".model.pt.json.x1y2z3w4.tmp").write_bytes(b"another target's")  # not model.pt's: kept
    assert [p.name for p in stale_siblings(tmp_path / "dvclive")] == [".dvclive.ab12cd34.staging", ".dvclive.previous"]
    with staged_directory(tmp_path / "dvclive") as staging:
        (staging / "metrics.json").write_text("{}")
    atomic_write_bytes(tmp_path / "model.pt", b"model")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.pt.json.x1y2z3w4.tmp", "dvclive", "model.pt"]
