"""A worker's own checkout of the driver's commit, with the DVC remote and cache it uses (worker side).

Each worker slot (one task at a time) keeps a clone under its folder and
reuses it: a new commit is fetched from the bundle the driver shipped, checked
out with ``--force``, and everything untracked is removed (``git clean -ffdx``,
keeping DVC's ``.dvc/tmp`` state), so every task starts from exactly the
commit's files. The DVC cache is one folder per worker, outside the clones;
``.dvc/config.local`` names the remote the driver chose, with its options.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seedbench.core.errors import SeedbenchError

WORKSPACE_DIRNAME = "seedbench"
"""The folder under a worker's local directory that holds its slots and its DVC cache."""


class WorkspaceError(SeedbenchError):
    """A worker cannot set up its checkout (git or DVC config failed; names the worker folder)."""


@dataclass(frozen=True)
class RemoteSpec:
    """The DVC remote a task pulls inputs from and pushes outputs to.

    ``options`` are DVC's own keys for ``remote "<name>"`` (``url``,
    ``endpointurl``, credentials …), as the driver's DVC config resolves them.
    """

    name: str
    options: Mapping[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return str(self.options["url"])


def repo_id(driver_root: str | os.PathLike[str], host: str) -> str:
    """A short stable name for the driver's repository, so projects sharing a worker keep separate folders."""
    return hashlib.sha256(f"{host}:{Path(driver_root).resolve()}".encode()).hexdigest()[:12]


_slot_lock = threading.Lock()
_slots_in_use: set[Path] = set()


@contextmanager
def worker_slot(base: Path) -> Iterator[Path]:
    """The lowest-numbered free slot folder ``base/slot-<i>`` of this process (a worker with N threads has N)."""
    with _slot_lock:
        i = 0
        while (base / f"slot-{i}") in _slots_in_use:
            i += 1
        slot = base / f"slot-{i}"
        _slots_in_use.add(slot)
    try:
        slot.mkdir(parents=True, exist_ok=True)
        yield slot
    finally:
        with _slot_lock:
            _slots_in_use.discard(slot)


def _git(args: Sequence[str], cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WorkspaceError(f"{cwd}: git {' '.join(args[:2])} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def checkout(slot: Path, bundle: bytes, commit: str) -> Path:
    """``slot/repo`` at ``commit`` (fetched from ``bundle`` when missing), nothing untracked left; returns it."""
    repo = slot / "repo"
    bundle_path = slot / "driver.bundle"
    have = (repo / ".git").is_dir() and subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo, capture_output=True).returncode == 0
    if not have:
        bundle_path.write_bytes(bundle)
        if not (repo / ".git").is_dir():
            _git(["clone", "-q", "--no-checkout", str(bundle_path), str(repo)], slot)
        _git(["fetch", "-q", str(bundle_path), "+refs/seedbench/repro:refs/seedbench/repro"], repo)
        bundle_path.unlink()
    _git(["checkout", "-q", "--force", "--detach", commit], repo)
    _git(["clean", "-q", "-ffdx", "-e", "/.dvc/tmp"], repo)
    return repo


def configure_dvc(repo: Path, remote: RemoteSpec, cache_dir: Path) -> None:
    """Write ``repo/.dvc/config.local``: ``remote`` as the default remote, ``cache_dir`` as the cache."""
    from seedbench.compat.dvc import open_config

    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open_config(str(repo / ".dvc")).edit("local") as conf:
            conf["core"]["remote"] = remote.name
            conf["remote"][remote.name] = {str(k): str(v) for k, v in remote.options.items()}
            conf["cache"]["dir"] = str(cache_dir)
    except Exception as exc:  # noqa: BLE001 - DVC's config validation raises its own types
        raise WorkspaceError(f"{repo}: cannot write the DVC config for remote {remote.name!r} "
                             f"({type(exc).__name__}: {exc})") from None
