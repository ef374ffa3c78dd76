"""Hashes, environment allow-list, git state."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from seedbench.core.hashing import file_sha256, redact_url
from seedbench.provenance.environment import (
    RECORDED_ENV_VARS,
    environment_record,
    git_state,
    library_versions,
    recorded_env,
)


def test_file_sha256_streams_and_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # ~10 MB, several chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert file_sha256(path, chunk_bytes=1000) == file_sha256(path)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_environment_capture_is_an_allow_list() -> None:
    environ = {
        "PYTHONHASHSEED": "0",
        "HF_TOKEN": "hf_secret_token_value",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "DVC_REMOTE_URL": "s3://user:hunter2@bucket",
    }
    record = recorded_env(environ)
    assert set(record) == set(RECORDED_ENV_VARS)
    assert record["PYTHONHASHSEED"] == "0"
    text = repr(environment_record(environ))
    for secret in ("hf_secret_token_value", "aws-secret-value", "hunter2"):
        assert secret not in text


def test_redact_url_hides_credentials() -> None:
    assert redact_url("https://user:hunter2@example.invalid/repo") == "https://***@example.invalid/repo"
    assert redact_url("s3://bucket/prefix") == "s3://bucket/prefix"


def test_library_versions_cover_what_matters() -> None:
    versions = library_versions()
    for name in ("python", "seedbench", "torch", "numpy", "scipy", "pandas", "dvc", "huggingface_hub"):
        assert versions[name], name


def test_git_state_reports_sha_and_dirty(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"git_sha": None, "dirty": None, "dirty_paths": []}
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run(["git", "add", "a.txt"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "a"], cwd=tmp_path, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    clean = git_state(tmp_path)
    assert len(clean["git_sha"]) == 40 and clean["dirty"] is False
    (tmp_path / "a.txt").write_text("changed")
    dirty = git_state(tmp_path)
    assert dirty["dirty"] is True and dirty["dirty_paths"] == ["a.txt"]
