"""Helpers for end-to-end tests: a temporary git clone of this repository running the real `dvc repro`.

`tiny_pipeline` (tests/conftest.py, session scope) builds ONE such clone on the
tiny profile and runs the pipeline once, with secrets planted in its environment,
a git remote and a DVC remote whose URLs carry a password; every e2e test that
only reads the outputs shares it. The pipeline commit is left as HEAD (results
uncommitted), so `publish/manifest.json` records that commit as a clean tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dvc_repo import (  # one copy of the work tree, one environment, one runner
    copy_worktree,
    dvc_env,
    run,
)

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


clean_env = dvc_env
"""The environment of every subprocess here: :func:`dvc_repo.dvc_env` (venv first, git identity, loopback only, no AWS
profile of the machine); ``clean_env(SECRETS)`` plants the secrets on top."""


def tiny_clone(dest: Path) -> Path:
    """A git repository at ``dest``: this checkout's files, params = profiles/tiny.yaml, no dvc.lock, one commit."""
    copy_worktree(dest)
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
