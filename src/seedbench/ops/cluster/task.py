"""One unit of the matrix as a cluster task (worker side): inputs from the remote, the run, its outputs to the remote.

:func:`run_unit` is what the driver submits. In a worker slot
(:func:`seedbench.ops.cluster.workspace.worker_slot`) it

1. checks out the driver's commit from the shipped bundle;
2. pulls the outputs of the stages the unit depends on (``prepare@…``) from the
   DVC remote (``dvc pull`` through DVC's Python API: a worker shares no
   filesystem with the driver);
3. runs each stage's command with DVC's environment (``DVC_STAGE``,
   ``DVC_ROOT``) — warm through :mod:`.runner` when
   :func:`.stagecmd.parse_stage_cmd` recognises it, else ``sh -c`` as DVC does;
4. ``dvc commit`` of the stage (DVC hashes its deps, params and outputs and
   writes the entry ``dvc repro`` would have written) and ``dvc push`` of its
   outputs — only after the run succeeded, so a killed task leaves nothing in
   the remote but whole, content-addressed objects that no lock refers to;
5. records the attempt (stage → output hashes) in a scheduler-side queue
   (``distributed.Queue``), which outlives the worker, so that the driver can
   tell a retried task that hashed differently (nondeterminism) from one that
   agreed; and returns the unit's ``dvc.lock`` entries.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedbench.core.errors import SeedbenchError
from seedbench.ops.cluster.runner import WarmRunner
from seedbench.ops.cluster.stagecmd import WarmCall, parse_stage_cmd, warm_environment
from seedbench.ops.cluster.workspace import (
    WORKSPACE_DIRNAME,
    RemoteSpec,
    checkout,
    configure_dvc,
    worker_slot,
)

PRELOAD: tuple[str, ...] = ("torch", "torch._dynamo", "seedbench.training.loop", "seedbench.training.live",
                            "seedbench.provenance.runmanifest")
"""Modules the warm runner imports once (``torch.optim`` imports ``torch._dynamo`` when the first optimizer is built)."""

LOG_TAIL_LINES = 15


class RunFailed(SeedbenchError):
    """A stage failed on a worker (names the stage, the worker and the end of its output)."""


@dataclass(frozen=True)
class UnitSpec:
    """Everything a worker needs for one unit; sent with the task (the bundle travels once per worker)."""

    stages: tuple[str, ...]
    inputs: tuple[str, ...]
    commit: str
    repo_id: str
    remote: RemoteSpec
    attempts_queue: str | None
    warm: bool = True
    environ: Mapping[str, str] | None = field(default=None, repr=False)
    """The environment stages start from: a local cluster's driver sends its own (taken before Dask touched
    it); ``None``: the worker's, less what the Dask nanny added (:func:`stage_base_environ`)."""


@dataclass
class UnitResult:
    """The ``dvc.lock`` entries of a unit's stages, where and how fast they ran."""

    entries: dict[str, dict[str, Any]]
    worker: str
    seconds: float
    warm: bool
    log_tails: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: checkout, pull, run, commit, push (what the bookkeeping costs beside the run)."""
    volatile: dict[str, str] = field(default_factory=dict)
    """``{repo-relative path: text}`` of the ``volatile.json`` files the run wrote beside its outputs (times,
    host, git state: no DVC output, so they travel here), for the driver to put in place."""


def outs_hashes(entry: Mapping[str, Any]) -> dict[str, str]:
    """``{out path: md5}`` of one ``dvc.lock`` entry (what two attempts must agree on)."""
    return {str(o["path"]): str(o.get("md5")) for o in entry.get("outs") or []}


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


_runners_lock = threading.Lock()
_runners: dict[tuple[Path, str, tuple[tuple[str, str], ...]], WarmRunner] = {}
_environments: dict[tuple[Path, str, WarmCall], dict[str, str]] = {}


def _runner_for(slot: Path, repo: Path, commit: str, env: Mapping[str, str]) -> WarmRunner:
    """The slot's warm runner for this commit and environment, started on first use.

    A slot keeps one runner per environment (stages with different variables, e.g. two matrix groups with their own
    command, each keep theirs); a new commit closes the slot's runners of older commits (their code is stale).
    """
    key = (slot, commit, tuple(sorted(env.items())))
    with _runners_lock:
        stale = [k for k in _runners if k[0] == slot and k[1] != commit]
        closing = [_runners.pop(k) for k in stale]
        runner = _runners.get(key)
    for old in closing:
        old.close()
    if runner is not None and runner.alive():
        return runner
    python = shutil.which("python", path=env.get("PATH")) or sys.executable
    runner = WarmRunner(python, repo, env, PRELOAD, slot / "runner.log")
    with _runners_lock:
        _runners[key] = runner
    return runner


def _warm_env(call: WarmCall, base: Mapping[str, str], repo: Path, slot: Path, commit: str) -> dict[str, str]:
    """:func:`warm_environment`, asked once per slot, commit and command (it starts the launcher)."""
    key = (slot, commit, call)
    with _runners_lock:
        env = _environments.get(key)
    if env is None:
        env = warm_environment(call, base, repo)
        with _runners_lock:
            for k in [k for k in _environments if k[0] == slot and k[1] != commit]:
                del _environments[k]
            _environments[key] = env
    return env


DASK_HASH_SEED = "6640"
"""The ``PYTHONHASHSEED`` a Dask nanny gives its worker when none (or 0) was set (distributed/nanny.py)."""


@functools.cache
def nanny_variables() -> frozenset[str]:
    """What a Dask nanny puts into its worker's environment by itself (``distributed.nanny.pre-spawn-environ``:
    ``OMP_NUM_THREADS=1`` and the like), which a stage started from a shell would not have."""
    try:
        import dask
        import distributed  # noqa: F401 - registers the distributed.* config defaults
    except ImportError:
        return frozenset()
    return frozenset(str(k) for k in (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}))


def stage_base_environ(worker_environ: Mapping[str, str]) -> dict[str, str]:
    """A worker's environment less what its Dask nanny set by itself: the thread-count variables of
    ``pre-spawn-environ`` and ``PYTHONHASHSEED=6640``. A stage sets its threads from params and its manifest
    records these variables as seen, so they must be what a shell would give it, as under ``dvc repro``."""
    env = {k: v for k, v in worker_environ.items() if k not in nanny_variables()}
    if env.get("PYTHONHASHSEED") == DASK_HASH_SEED:
        del env["PYTHONHASHSEED"]
    return env


def _base_env(repo: Path, environ: Mapping[str, str] | None) -> dict[str, str]:
    """The stages' environment (``environ``, else :func:`stage_base_environ` of this worker's) with the
    checkout's ``src/`` first on ``PYTHONPATH`` (its code, not the installed copy) and no ``DVC_*`` of its own."""
    env = dict(environ) if environ is not None else stage_base_environ(os.environ)
    src = str(repo / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    for name in [k for k in env if k.startswith("DVC_")]:
        del env[name]
    return env


def run_stage_command(stage: str, cmd: str, repo: Path, slot: Path, commit: str, *, warm: bool,
                      environ: Mapping[str, str] | None = None) -> tuple[int, Path, bool]:
    """Run ``stage``'s command in ``repo``; (exit status, its log, whether it ran warm)."""
    log = slot / "stage.log"
    base = _base_env(repo, environ)
    dvc_vars = {"DVC_STAGE": stage, "DVC_ROOT": str(repo)}
    call: WarmCall | None = parse_stage_cmd(cmd) if warm else None
    if call is not None:
        env = _warm_env(call, base, repo, slot, commit)
        runner = _runner_for(slot, repo, commit, env)
        return runner.run(str(repo / call.script), call.args, cwd=repo, env=dvc_vars, log=log), log, True
    with open(log, "wb") as out:
        proc = subprocess.run(["/bin/sh", "-c", cmd], cwd=repo, env={**base, **dvc_vars}, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc.returncode, log, False


def trim_lock(repo: Path, keep: Sequence[str]) -> None:
    """Leave only ``keep``'s entries (the unit's inputs) in the checkout's ``dvc.lock``.

    Every DVC call parses the lock, and ``dvc commit`` rewrites it whole: with the driver's full lock
    (a matrix already built once) that is O(runs) per task, O(runs²) per build. The unit's own entries are
    written afresh by ``dvc commit`` either way.
    """
    import yaml

    path = repo / "dvc.lock"
    if not path.is_file():
        return
    lock = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    stages = lock.get("stages") or {}
    lock["stages"] = {name: stages[name] for name in keep if name in stages}
    path.write_text(yaml.safe_dump(lock, sort_keys=False))


def _lock_entries(repo: Path, stages: Sequence[str]) -> dict[str, dict[str, Any]]:
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text()) or {}
    return {stage: lock["stages"][stage] for stage in stages}


def _volatile_records(repo: Path, entries: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The ``volatile.json`` beside any output of ``entries`` (one per run folder)."""
    from seedbench.core.names import VOLATILE_FILENAME

    found: dict[str, str] = {}
    for entry in entries.values():
        for out in entry.get("outs") or []:
            candidate = (repo / str(out["path"])).parent / VOLATILE_FILENAME
            rel = candidate.relative_to(repo).as_posix()
            if rel not in found and candidate.is_file():
                found[rel] = candidate.read_text()
    return found


def _record_attempt(queue_name: str | None, stages: Mapping[str, Mapping[str, Any]], worker: str) -> None:
    if queue_name is None:
        return
    from distributed import Queue, get_client

    Queue(queue_name, client=get_client()).put(
        {"worker": worker, "outs": {stage: outs_hashes(entry) for stage, entry in stages.items()}})


def _worker_identity() -> tuple[str, Path]:
    """(address, local folder) of the Dask worker running this task; (host, temp folder) outside Dask."""
    try:
        from distributed import get_worker

        worker = get_worker()
        return str(worker.address), Path(worker.local_directory)
    except ValueError:
        import tempfile

        return socket.gethostname(), Path(tempfile.gettempdir())


_cwd_lock = threading.Lock()


@contextmanager
def _in_repo(repo: Path) -> Iterator[None]:
    """DVC's Python API works relative to the process's cwd: hold it at ``repo`` (one slot at a time)."""
    with _cwd_lock:
        before = os.getcwd()
        os.chdir(repo)
        try:
            yield
        finally:
            os.chdir(before)


def run_unit(spec: UnitSpec, bundle: bytes) -> UnitResult:
    """Run one unit on this worker (see the module docstring); raises :class:`RunFailed` when a stage fails."""
    from seedbench.compat.dvc import open_repo

    started = time.perf_counter()
    logging.getLogger("dvc").setLevel(logging.WARNING)  # not DVC's "Updating lock file" of every run in the worker's log
    worker, local_dir = _worker_identity()
    base = local_dir / WORKSPACE_DIRNAME / spec.repo_id
    ran_warm = True
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - clock
        clock = now

    with worker_slot(base) as slot:
        repo = checkout(slot, bundle, spec.commit)
        configure_dvc(repo, spec.remote, base / "cache")
        trim_lock(repo, spec.inputs)
        phase("checkout")
        tails: dict[str, str] = {}
        def target(stage: str) -> str:
            return f"{repo / 'dvc.yaml'}:{stage}"

        with _in_repo(repo), open_repo(str(repo)) as dvc_repo:
            if spec.inputs:
                try:
                    dvc_repo.pull(targets=[target(s) for s in spec.inputs])
                except Exception as exc:  # noqa: BLE001 - DVC raises many types for a transfer failure
                    raise RunFailed(f"{worker}: cannot pull {', '.join(spec.inputs)} from remote {spec.remote.name!r} "
                                    f"({spec.remote.url}): {type(exc).__name__}: {exc}") from None
            cmds = {stage: {s.cmd for s in dvc_repo.stage.collect(target(stage))}.pop() for stage in spec.stages}
        phase("pull")
        for stage in spec.stages:
            code, log, warm = run_stage_command(stage, cmds[stage], repo, slot, spec.commit, warm=spec.warm,
                                               environ=spec.environ)
            ran_warm = ran_warm and warm
            tails[stage] = _tail(log)
            if code != 0:
                raise RunFailed(f"{stage} failed on {worker} (exit {code}):\n{tails[stage]}")
        phase("run")
        with _in_repo(repo), open_repo(str(repo)) as dvc_repo:
            for stage in spec.stages:
                dvc_repo.commit(target(stage), force=True)
            phase("commit")
            try:
                dvc_repo.push(targets=[target(s) for s in spec.stages])
            except Exception as exc:  # noqa: BLE001
                raise RunFailed(f"{worker}: cannot push {', '.join(spec.stages)} to remote {spec.remote.name!r} "
                                f"({spec.remote.url}): {type(exc).__name__}: {exc}") from None
        entries = _lock_entries(repo, spec.stages)
        volatile = _volatile_records(repo, entries)
    phase("push")
    _record_attempt(spec.attempts_queue, entries, worker)
    return UnitResult(entries=entries, worker=worker, seconds=time.perf_counter() - started, warm=ran_warm,
                      log_tails=tails, phases={k: round(v, 3) for k, v in phases.items()}, volatile=volatile)
