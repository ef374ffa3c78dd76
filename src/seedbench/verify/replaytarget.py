"""What ``seedbench replay TARGET`` replays, and where: the manifest, the commit, a scratch git worktree.

``TARGET`` is a manifest file (``publish/manifest.json``) or a revision: an
experiment name (``dvc exp list``), a branch, tag or commit. A file gives the
manifest directly, and its commit comes from the volatile record beside it
(the commit the pipeline ran on; with ``dvc exp run -S …`` the experiment's
baseline, the ``-S`` params being recorded in the manifest's ``config``). A
revision gives the commit, and its manifest is read through DVC at that
revision (``publish/manifest.json`` is a DVC output, so it comes from the cache
that ``dvc exp pull`` / ``dvc pull`` fill).

The re-run happens in a scratch ``git worktree`` at that commit, outside the
user's checkout, removed afterwards: the user's workspace, params and outputs are
never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from seedbench.core.errors import DataFormatError, ReplayError, SeedbenchError
from seedbench.core.names import MANIFEST_FILENAME
from seedbench.provenance.manifest import read_manifest, validate_manifest
from seedbench.provenance.volatile import read_volatile

PUBLISHED_MANIFEST = f"publish/{MANIFEST_FILENAME}"
"""Where the publish stage writes the experiment manifest, relative to the repository root."""

REPRO_TARGET = "aggregate"
"""What a replay re-runs (every stage that produces results; ``publish`` is not re-run)."""

EXPERIMENT_REFS = "refs/exps"
"""Where DVC keeps experiment commits (``refs/exps/<baseline>/<name>``)."""


@dataclass(frozen=True)
class ReplayTarget:
    """The manifest to replay, where it came from (``where``), and the commit holding its code (``commit``).

    ``volatile`` is the volatile record written with the manifest (``None`` when
    there is none that belongs to it); ``note`` says how ``commit`` was chosen.
    """

    where: str
    manifest: dict[str, Any]
    commit: str
    note: str
    volatile: dict[str, Any] | None


def _git(repo: Path, *args: str) -> str | None:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def experiment_commit(repo: Path, name: str) -> str | None:
    """The commit of the DVC experiment ``name`` (a ref ``refs/exps/…/<name>``), or ``None``."""
    listing = _git(repo, "for-each-ref", "--format=%(objectname) %(refname)", EXPERIMENT_REFS) or ""
    matches = sorted({sha for sha, ref in (line.split(" ", 1) for line in listing.splitlines() if " " in line)
                      if ref.rsplit("/", 1)[-1] == name})
    if len(matches) > 1:
        raise ReplayError(f"{name!r} names {len(matches)} experiments (different baselines): give its commit instead")
    return matches[0] if matches else None


def resolve_revision(repo: Path, rev: str) -> str:
    """The commit sha of an experiment name, branch, tag or commit of ``repo`` (:class:`ReplayError` when none)."""
    sha = experiment_commit(repo, rev) or _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not sha:
        raise ReplayError(
            f"{rev!r} is neither a manifest file nor a revision of {repo}: give publish/manifest.json, an experiment "
            "name (`dvc exp list`; `dvc exp pull origin NAME` fetches one), a branch, tag or commit"
        )
    return sha


def manifest_at_revision(repo: Path, rev: str, sha: str) -> dict[str, Any]:
    """``publish/manifest.json`` of commit ``sha``, read through DVC (from the cache; :class:`ReplayError` when absent)."""
    from seedbench.results.trees import revision_reader

    try:
        data = json.loads(revision_reader(repo, sha)(PUBLISHED_MANIFEST))
    except FileNotFoundError:
        raise ReplayError(f"{rev} ({sha[:12]}): no {PUBLISHED_MANIFEST}; its pipeline never ran to publish") from None
    except (SeedbenchError, ValueError) as exc:
        raise ReplayError(f"{rev} ({sha[:12]}): cannot read {PUBLISHED_MANIFEST} ({exc})") from None
    if not isinstance(data, dict):
        raise DataFormatError(f"{rev}:{PUBLISHED_MANIFEST}: expected a JSON object")
    validate_manifest(data, f"{rev}:{PUBLISHED_MANIFEST}")
    return data


def resolve_target(target: str, repo: str | Path) -> ReplayTarget:
    """The :class:`ReplayTarget` of ``target`` (a manifest file or a revision of ``repo``)."""
    root = Path(repo)
    if Path(target).is_file():
        manifest = read_manifest(target)
        volatile = read_volatile(Path(target).parent, manifest)
        recorded = ((volatile or {}).get("git") or {}).get("git_sha")
        if recorded:
            experiment = (volatile or {}).get("experiment")
            how = (f"the baseline of experiment {experiment['name']}" if experiment and experiment.get("name")
                   else "the commit it ran on")
            return ReplayTarget(target, manifest, recorded, f"{how}, from {Path(target).parent / 'volatile.json'}", volatile)
        head = _git(root, "rev-parse", "HEAD")
        if not head:
            raise ReplayError(f"{root}: not a git repository with a commit; cannot replay {target}")
        return ReplayTarget(target, manifest, head, "HEAD: no volatile record belongs to this manifest "
                            "(restored by DVC or copied), so its code is looked for at HEAD", None)
    sha = resolve_revision(root, target)
    manifest = manifest_at_revision(root, target, sha)
    kind = "experiment" if experiment_commit(root, target) else "revision"
    return ReplayTarget(f"{target}:{PUBLISHED_MANIFEST}", manifest, sha, f"{kind} {target}", None)


@contextlib.contextmanager
def scratch_worktree(repo: str | Path, commit: str, keep: bool = False) -> Iterator[Path]:
    """A detached ``git worktree`` of ``repo`` at ``commit`` in a temporary folder; removed on exit unless ``keep``."""
    root = Path(repo)
    parent = Path(tempfile.mkdtemp(prefix="seedbench-replay-"))
    path = parent / "checkout"
    proc = subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), commit], cwd=root,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise ReplayError(f"cannot create a scratch worktree of {root} at {commit[:12]}: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        if not keep:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, capture_output=True, check=False)
            shutil.rmtree(parent, ignore_errors=True)
            subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True, check=False)


def write_params(checkout: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` (a manifest's exact params) as ``checkout/params.yaml``, then validate it; returns the path."""
    import yaml

    from seedbench.core.files import atomic_write_text
    from seedbench.core.names import METHODS_DIR, PARAMS_FILENAME
    from seedbench.core.params import load_params

    path = checkout / PARAMS_FILENAME
    atomic_write_text(path, "# written by `seedbench replay`: the params the replayed manifest recorded\n"
                      + yaml.safe_dump(config, sort_keys=False))
    load_params(path, checkout / METHODS_DIR)  # the checkout's own method files
    return path


def run_dvc_repro(repo: Path, stream: TextIO) -> int:
    """``dvc repro --force aggregate`` in ``repo``, running ``repo``'s own code; output to ``stream``.

    This interpreter's bin/ goes first on ``PATH`` (the stage commands call
    ``python``) and ``repo/src`` first on ``PYTHONPATH``, ahead of the editable
    install of the user's checkout, so the stages import the replayed commit's library.
    """
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(repo).resolve() / "src"), env.get("PYTHONPATH")) if p)
    cmd = [str(Path(sys.executable).parent / "dvc") if (Path(sys.executable).parent / "dvc").exists() else "dvc",
           "repro", "--force", REPRO_TARGET]
    try:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise ReplayError(f"cannot start dvc ({exc}); install the project's environment (`make repro` sets up .venv)") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        stream.write(line)
    return proc.wait()
