"""Helpers for end-to-end tests: a temporary git clone of this repository running the real `dvc repro`.

`tiny_pipeline` (tests/conftest.py, session scope) builds ONE such clone on the
tiny profile and runs the pipeline once, with secrets planted in its environment,
a git remote and a DVC remote whose URLs carry a password; every e2e test that
only reads the outputs shares it. The pipeline commit is left as HEAD (results
uncommitted), so `publish/manifest.json` records that commit as a clean tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

SECRETS: dict[str, str] = {
    "HF_TOKEN": "hf_seedbenchPlantedToken7Qx9",
    "AWS_SECRET_ACCESS_KEY": "seedbenchPlantedAwsSecret/K7x+Q2",
    "SEEDBENCH_TEST_REMOTE_URL": "https://alice:seedbenchPlantedPassw0rd@storage.invalid/bucket",
}
"""Planted in the pipeline's environment; none may appear in any file the pipeline writes."""

SECRET_VALUES: tuple[str, ...] = (
    SECRETS["HF_TOKEN"], SECRETS["AWS_SECRET_ACCESS_KEY"], "seedbenchPlantedPassw0rd",
)
"""What to search for (the password alone, not only the whole URL)."""


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without DVC_*/PYTHONHASHSEED, the venv's bin/ first on PATH, git identity set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "PYTHONHASHSEED"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="seedbench test",
        GIT_AUTHOR_EMAIL="test@seedbench.invalid",
        GIT_COMMITTER_NAME="seedbench test",
        GIT_COMMITTER_EMAIL="test@seedbench.invalid",
    )
    env.update(extra or {})
    return env


def run(args: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run a command in ``cwd`` with :func:`clean_env`; raise with its output when ``check`` and it fails."""
    result = subprocess.run(args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def copy_repo(dest: Path) -> None:
    """Copy what git would give a fresh clone (tracked + untracked-not-ignored files)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def tiny_clone(dest: Path) -> Path:
    """A git repository at ``dest``: this checkout's files, params = profiles/tiny.yaml, no dvc.lock, one commit."""
    copy_repo(dest)
    shutil.copy(dest / "profiles" / "tiny.yaml", dest / "params.yaml")
    (dest / "dvc.lock").unlink(missing_ok=True)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "tiny profile"], dest)
    return dest


def build_tiny_pipeline(dest: Path) -> dict[str, Any]:
    """Clone, plant secrets (env, git remote, DVC remote), run `dvc repro` once; returns what tests need."""
    from seedbench.core.params import load_params

    repo = tiny_clone(dest)
    url = SECRETS["SEEDBENCH_TEST_REMOTE_URL"]
    run(["git", "remote", "add", "origin", url], repo)
    env = clean_env(SECRETS)
    run(["dvc", "remote", "add", "--local", "-d", "store", url], repo, env=env)
    repro = run(["dvc", "repro"], repo, env=env)
    return {"repo": repo, "params": load_params(repo / "params.yaml"), "repro": repro, "env": env}


def files_written_by_pipeline(repo: Path) -> list[Path]:
    """Every file under the folders the pipeline writes: data/, runs/, reports/, publish/."""
    return sorted(p for top in ("data", "runs", "reports", "publish") for p in (repo / top).rglob("*") if p.is_file())
