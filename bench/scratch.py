"""Shared by the pipeline benchmarks: a scratch git repository holding this working tree, and subprocess helpers.

Benchmarks import it as a sibling module (``python bench/<name>.py`` puts
``bench/`` on ``sys.path``). Nothing here imports torch or seedbench (tests/dvc_repo.py imports PyYAML).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout the benchmark was started from."""

# One copy of "this work tree as a scratch repository" for tests and benchmarks: tests/dvc_repo.py (plain
# functions over git, PyYAML and the standard library; no test framework), imported from there rather than moved,
# so the tests keep their helpers beside them and the benchmarks measure exactly what the tests set up.
sys.path.insert(0, str(ROOT / "tests"))
from dvc_repo import copy_worktree, dvc_env  # noqa: E402


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``args``; a failure stops the benchmark with the command's output tail."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def bench_env() -> dict[str, str]:
    """The tests' subprocess environment (tests/dvc_repo.py ``dvc_env``): no ``DVC_*``, the venv's bin first on PATH,
    a git identity, nothing leaves 127.0.0.1."""
    return dvc_env()


def snapshot(dest: Path, env: dict[str, str], *, params: Path | None = None) -> None:
    """Commit this working tree (tracked + untracked-not-ignored files, no dvc.lock) as a new repo at ``dest``.

    ``params``: a profile to commit as ``params.yaml`` (e.g. ``profiles/tiny.yaml``).
    """
    copy_worktree(dest)
    (dest / "dvc.lock").unlink(missing_ok=True)
    if params is not None:
        shutil.copy(params, dest / "params.yaml")
    sh(["git", "init", "-q", "-b", "main"], dest, env)
    sh(["git", "add", "-A"], dest, env)
    sh(["git", "commit", "-q", "-m", "benchmark snapshot"], dest, env)


def loadavg() -> float | None:
    """The 1-minute load average (``None`` without ``/proc``)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return None
