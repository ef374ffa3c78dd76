"""The driver's working tree as a git commit and a bundle, for workers that share no filesystem with it.

:func:`snapshot_commit` writes a commit object of the working tree as it is
(tracked changes and untracked, not ignored files included; ``dvc.lock`` as
the upstream stages just left it) through a temporary index: the branch, the
index and the working tree are untouched. :func:`bundle_bytes` packs it (and
its history) as a git bundle a worker clones or fetches from.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from seedbench.core.errors import SeedbenchError

SNAPSHOT_REF = "refs/seedbench/repro"
"""The ref the bundle carries (in the driver's repository it points at the newest snapshot)."""


class SnapshotError(SeedbenchError):
    """The working tree cannot be shipped to the workers (not a git repository, git failed)."""


def _git(args: Sequence[str], repo: Path, env: Mapping[str, str] | None = None, *, text: bool = True) -> str | bytes:
    proc = subprocess.run(["git", *args], cwd=repo, env=None if env is None else dict(env),
                          capture_output=True, text=text)
    if proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        raise SnapshotError(f"{repo}: git {' '.join(args[:2])} failed: {str(err).strip()[-500:]}")
    return proc.stdout


def snapshot_commit(repo: str | os.PathLike[str]) -> str:
    """The 40-hex id of a commit holding the working tree of ``repo`` (parent: ``HEAD``, if any); sets :data:`SNAPSHOT_REF`.

    Raises
    ------
    SnapshotError
        ``repo`` is not a git work tree, or git fails.
    """
    root = Path(repo)
    if not (root / ".git").exists():
        raise SnapshotError(f"{root}: not a git repository; the cluster workers get the code as a git commit "
                            "(`git init && git add -A && git commit`)")
    with tempfile.TemporaryDirectory(prefix="seedbench-snapshot-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
        parent = head.stdout.strip() if head.returncode == 0 else ""
        if parent:
            _git(["read-tree", parent], root, env)
        _git(["add", "-A", "."], root, env)
        tree = str(_git(["write-tree"], root, env)).strip()
        identity = {"GIT_AUTHOR_NAME": "seedbench repro", "GIT_AUTHOR_EMAIL": "repro@seedbench.invalid",
                    "GIT_COMMITTER_NAME": "seedbench repro", "GIT_COMMITTER_EMAIL": "repro@seedbench.invalid"}
        args = ["commit-tree", tree, "-m", "seedbench repro: the working tree the cluster runs"]
        if parent:
            args[2:2] = ["-p", parent]
        commit = str(_git(args, root, {**env, **identity})).strip()
    _git(["update-ref", SNAPSHOT_REF, commit], root)
    return commit


def bundle_bytes(repo: str | os.PathLike[str]) -> bytes:
    """A git bundle of :data:`SNAPSHOT_REF` with its history (what a worker clones or fetches)."""
    return bytes(_git(["bundle", "create", "-q", "-", SNAPSHOT_REF], Path(repo), text=False))
