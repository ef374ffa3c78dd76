"""Shared by the pipeline benchmarks: a scratch git repository holding this working tree, and subprocess helpers.

Benchmarks import it as a sibling module (``python bench/<name>.py`` puts
``bench/`` on ``sys.path``). Nothing here imports torch or seedbench.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout the benchmark was started from."""


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``args``; a failure stops the benchmark with the command's output tail."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def bench_env() -> dict[str, str]:
    """This environment without ``DVC_*`` variables, with the venv's bin first on PATH and a git identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    env.update(DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@seedbench.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@seedbench.invalid")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snapshot(dest: Path, env: dict[str, str], *, params: Path | None = None) -> None:
    """Commit this working tree (tracked + untracked-not-ignored files, no dvc.lock) as a new repo at ``dest``.

    ``params``: a profile to commit as ``params.yaml`` (e.g. ``profiles/tiny.yaml``).
    """
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
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
