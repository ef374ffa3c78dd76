"""The default remote (a local folder, set up by `make setup`) and the hints seedbench adds to DVC's errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dvc_repo import dvc_env, make_repo, micro_params, run, tree_hashes

from seedbench.core.errors import RemoteError
from seedbench.ops.remote import Remote, configure_local_remote, resolve_remote
from seedbench.ops.remote_failures import (
    classify_failure,
    dvc_error_line,
    explain_failure,
)
from seedbench.ops.secrets import is_secret_option, redact

VENV = Path(sys.executable).parent.parent


def make(target: str, repo: Path, remote: Path) -> str:
    """``make TARGET REMOTE=…`` in ``repo`` with the running venv (its install stamp taken as done)."""
    stamp = VENV / ".installed"
    return run(["make", "-s", "-o", str(stamp), target, f"VENV={VENV}", f"REMOTE={remote}"], repo).stdout


def dvc_dir(tmp_path: Path, config: str = "", local: str = "") -> Path:
    (tmp_path / ".dvc").mkdir(parents=True)
    (tmp_path / ".dvc" / "config").write_text(config)
    if local:
        (tmp_path / ".dvc" / "config.local").write_text(local)
    return tmp_path


S3_REMOTE = Remote(name="team", url="s3://bench/cache", scheme="s3", settings={"endpointurl": "http://127.0.0.1:9"},
                   secret_options=("secret_access_key",), committed_secrets=(), defined_in="repo",
                   secret_values=("s3cr3t-value",))


# -- pure functions -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("ERROR: unexpected error - Forbidden: An error occurred (403) when calling the HeadObject operation", "credentials"),
        ("ERROR: unexpected error - The specified bucket does not exist: An error occurred (NoSuchBucket)", "bucket"),
        ('ERROR: unexpected error - Could not connect to the endpoint URL: "http://127.0.0.1:1/b/x"', "unreachable"),
        ("ERROR: failed to pull data from the cloud - Checkout failed for following targets:\ndata/raw", "missing"),
        ("ERROR: unexpected error - URL 's3://b' is supported but requires these missing dependencies: ['s3']", "dependency"),
        ("ERROR: something new", "other"),
    ],
)
def test_dvc_failures_are_classified(output: str, kind: str) -> None:
    assert classify_failure(output) == kind


def test_hint_names_remote_setting_and_never_the_secret() -> None:
    output = "noise\nERROR: unexpected error - Forbidden (403) for key s3cr3t-value\n\nHaving any troubles?"
    message = explain_failure("push", S3_REMOTE, output)
    assert message.startswith("dvc push with remote 'team' (s3://bench/cache, endpointurl http://127.0.0.1:9) failed:")
    assert "dvc remote modify --local team secret_access_key" in message
    assert "s3cr3t-value" not in message and "***" in message


def test_dvc_error_line_keeps_the_first_targets_of_a_list() -> None:
    output = "ERROR: failed - Checkout failed for following targets:\na\nb\nc\nd\nIs your cache up to date?"
    assert dvc_error_line(output) == "failed - Checkout failed for following targets: a, b, c (and 1 more)"


def test_redact_hides_secret_values_and_url_passwords() -> None:
    text = "ssh://alice:pa55word@host/x and token abcd1234"
    assert redact(text, ["abcd1234"]) == "ssh://***@host/x and token ***"


@pytest.mark.parametrize("option", ["secret_access_key", "access_key_id", "password", "sas_token", "account_key",
                                    "connection_string", "session_token", "gdrive_client_secret"])
def test_credential_options_are_secret(option: str) -> None:
    assert is_secret_option(option)


@pytest.mark.parametrize("option", ["url", "endpointurl", "region", "profile", "credentialpath", "keyfile", "user"])
def test_ordinary_options_are_not_secret(option: str) -> None:
    assert not is_secret_option(option)


# -- config ----------------------------------------------------------------------------------------

def test_no_default_remote_says_how_to_set_one(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match=r"no DVC remote configured .*make setup"):
        resolve_remote(dvc_dir(tmp_path))


def test_committed_secret_is_reported_by_name_only(tmp_path: Path) -> None:
    repo = dvc_dir(tmp_path, '[core]\n    remote = s3\n[\'remote "s3"\']\n    url = s3://b/p\n'
                             "    secret_access_key = committed-secret\n")
    remote = resolve_remote(repo)
    assert remote.committed_secrets == ("secret_access_key",)
    assert "committed-secret" not in repr(remote)


def test_local_remote_is_written_to_config_local_once(tmp_path: Path) -> None:
    repo = dvc_dir(tmp_path / "repo")
    folder = (tmp_path / "store").resolve()
    assert "set as the default" in configure_local_remote(repo, "../store")
    assert "already the default" in configure_local_remote(repo, "../store")
    assert (repo / ".dvc" / "config").read_text() == ""
    remote = resolve_remote(repo)
    assert (remote.name, remote.url, remote.scheme, remote.defined_in) == ("local", str(folder), "local", "local")


def test_local_remote_never_replaces_a_team_default(tmp_path: Path) -> None:
    repo = dvc_dir(tmp_path, '[core]\n    remote = team\n[\'remote "team"\']\n    url = s3://bucket/cache\n')
    assert "default remote 'team' kept" in configure_local_remote(repo, "../store")
    assert not (repo / ".dvc" / "config.local").exists()
    assert resolve_remote(repo).name == "team"


def test_local_remote_inside_the_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="outside the repository"):
        configure_local_remote(dvc_dir(tmp_path), "store")


# -- the real thing: make setup's remote step, push, a fresh clone, pull --------------------------------

@pytest.mark.e2e  # make, dvc repro and a clone
def test_fresh_clone_pushes_to_and_pulls_from_the_default_local_remote(tmp_path: Path) -> None:
    store = tmp_path / "seedbench-remote"
    first = make_repo(tmp_path / "first", micro_params())
    assert "set as the default" in make("remote", first, store)
    assert "already the default" in make("remote", first, store)  # idempotent
    assert run(["git", "status", "--porcelain"], first).stdout == ""  # .dvc/config.local is not committed
    run(["dvc", "repro", "fetch"], first)
    pushed = run(["seedbench", "push"], first).stdout
    assert f"remote 'local' ({store})" in pushed and "pushed" in pushed
    run(["git", "add", "dvc.lock"], first)
    run(["git", "commit", "-q", "-m", "fetch"], first)

    second = tmp_path / "second"
    run(["git", "clone", "-q", str(first), str(second)], tmp_path)
    make("remote", second, store)
    run(["dvc", "pull", "fetch"], second)
    assert tree_hashes(second, "data") == tree_hashes(first, "data") != {}


@pytest.mark.e2e  # make, dvc repro and a clone
def test_pull_from_an_empty_remote_names_the_missing_outputs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", micro_params())
    make("remote", repo, tmp_path / "empty-remote")
    result = subprocess.run(["seedbench", "pull"], cwd=repo, capture_output=True, text=True,
                            env=dvc_env())
    assert result.returncode == 2
    assert "remote 'local'" in result.stderr and "dvc.lock pins none" in result.stderr, result.stderr
