"""Helpers for tests that drive the real DVC on a copy of this repository (remotes, queues, clones).

``make_repo`` gives what a fresh clone would hold, committed, with a *micro* params
profile (``profiles/tiny.yaml`` shrunk to one dataset and the closed-form
``linear`` method) so that a whole experiment costs a few DVC stages.
The environment of every subprocess is pinned to loopback: no proxies, no
cloud metadata endpoint, no AWS profile of the machine.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _empty_aws_file() -> str:
    """An empty AWS config/credentials file for this test process (so ~/.aws is never read), made on first use
    (nothing is written at import) and removed when the process exits."""
    fd, name = tempfile.mkstemp(prefix="seedbench-empty-aws-config-")
    os.close(fd)
    atexit.register(Path(name).unlink, missing_ok=True)
    return name


def dvc_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for DVC/git/seedbench subprocesses: the venv first on PATH, nothing leaves 127.0.0.1."""
    drop = ("DVC_", "PYTHONHASHSEED", "AWS_", "GOOGLE_", "AZURE_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
            "http_proxy", "https_proxy", "all_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="seedbench test",
        GIT_AUTHOR_EMAIL="test@seedbench.invalid",
        GIT_COMMITTER_NAME="seedbench test",
        GIT_COMMITTER_EMAIL="test@seedbench.invalid",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        # botocore: never ask an instance-metadata address, never read ~/.aws, give up on the first failure.
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=_empty_aws_file(),
        AWS_SHARED_CREDENTIALS_FILE=_empty_aws_file(),
        AWS_MAX_ATTEMPTS="1",
    )
    env.update(extra or {})
    return env


def run(args: Sequence[str], cwd: Path, check: bool = True, timeout: float = 600,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in ``cwd`` with :func:`dvc_env` (``env``: variables on top, e.g. a whole ``dvc_env(...)``);
    with ``check``, fail the test with its output on a non-zero exit."""
    result = subprocess.run(list(args), cwd=cwd, env=dvc_env(env), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def copy_worktree(dest: Path) -> None:
    """Copy what git would give a fresh clone (tracked + untracked-not-ignored files) of this repository.

    The one copy of the work tree: ``make_repo`` here, ``tiny_clone`` (tests/pipeline_helpers.py) and the
    benchmarks' ``snapshot`` (bench/scratch.py) all use it."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def micro_params(replicates: Sequence[int] = (0, 1), **train: Any) -> dict[str, Any]:
    """``profiles/tiny.yaml`` shrunk to FD001 × ``linear`` × ``replicates`` (``train`` overrides train.*)."""
    params = yaml.safe_load((REPO_ROOT / "profiles" / "tiny.yaml").read_text())
    params["data"]["datasets"] = ["FD001"]
    params["methods"] = ["linear"]
    params["replicates"] = list(replicates)
    params["train"].update(train)
    return params


def make_repo(dest: Path, params: Mapping[str, Any]) -> Path:
    """A committed copy of this repository at ``dest`` with ``params`` as params.yaml and no dvc.lock."""
    dest.mkdir(parents=True, exist_ok=True)
    copy_worktree(dest)
    (dest / "params.yaml").write_text(yaml.safe_dump(dict(params), sort_keys=False))
    (dest / "dvc.lock").unlink(missing_ok=True)
    (dest / ".dvc" / "config.local").unlink(missing_ok=True)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "micro profile"], dest)
    return dest


def tree_hashes(root: Path, *folders: str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file below ``root/folder`` for each folder."""
    out: dict[str, str] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def add_s3_remote(repo: Path, name: str, url: str, endpoint: str, key: str | None, secret: str | None,
                  default: bool = False) -> None:
    """``dvc remote add`` an S3 remote with its endpoint; credentials only with ``--local`` (never committed)."""
    run(["dvc", "remote", "add", *(["-d"] if default else []), name, url], repo)
    run(["dvc", "remote", "modify", name, "endpointurl", endpoint], repo)
    if key is not None:
        run(["dvc", "remote", "modify", "--local", name, "access_key_id", key], repo)
    if secret is not None:
        run(["dvc", "remote", "modify", "--local", name, "secret_access_key", secret], repo)


def set_s3_remote_config(repo: Path, name: str, url: str, endpoint: str, key: str, secret: str,
                         default: bool = False) -> None:
    """What :func:`add_s3_remote` does, written in-process with DVC's own config writer (no CLI start-up)."""
    from dvc.config import Config

    config = Config(dvc_dir=str(repo / ".dvc"), validate=False)
    with config.edit("repo") as conf:
        conf.setdefault("remote", {})[name] = {"url": url, "endpointurl": endpoint}
        if default:
            conf.setdefault("core", {})["remote"] = name
    with config.edit("local") as conf:
        conf.setdefault("remote", {})[name] = {"access_key_id": key, "secret_access_key": secret}
