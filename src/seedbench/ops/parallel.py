"""Planning the matrix for ``seedbench repro``: the DAG, what is pending, and the child processes it starts.

``dvc repro`` runs stages one after another. The runs of the matrix
(``train@<dataset>-<method>-<rep>``) share only read-only inputs, so they can
run side by side. This module holds what the cluster driver
(:mod:`seedbench.ops.cluster.driver`) plans with: DVC's own view of the DAG
(:func:`stage_graph`), the split into upstream stages and independent units
(:func:`make_plan`), what ``dvc status`` reports as changed
(:func:`changed_stages`), the thread budget of a local cluster
(:func:`check_thread_budget`: ``jobs × torch_threads`` must not exceed the
cores; oversubscribed cores only slow every worker down), ``dvc.lock`` in
pipeline order (:func:`sort_lockfile`), and :class:`Children`: every ``dvc``
child runs in its own process group, so that Ctrl-C stops them all within a
second or two (SIGINT, then SIGKILL after :data:`STOP_GRACE_SECONDS`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seedbench.core.errors import ParamsError, SeedbenchError

PARALLEL_GROUPS: tuple[str, ...] = ("train",)
"""Matrix stage groups whose items run in parallel; items with the same key (after ``@``) form one unit
(one stage per unit today; a unit keeps several groups' stages of one run together, in this order)."""


class StageError(SeedbenchError):
    """A pipeline stage failed (the message names the stage and the end of its output)."""


@dataclass(frozen=True)
class Plan:
    """What :func:`repro` will run: ``upstream`` first, then ``units`` in parallel, then the rest."""

    upstream: tuple[str, ...]
    units: tuple[tuple[str, ...], ...]
    skipped_units: int


def check_thread_budget(jobs: int, torch_threads: int, cores: int | None) -> None:
    """Raise :class:`ParamsError` unless ``jobs × torch_threads ≤ cores`` (``cores=None``: unknown, no check)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParamsError(f"-j/--jobs: expected a positive integer, got {jobs!r}")
    if cores is not None and jobs * torch_threads > cores:
        raise ParamsError(
            f"-j {jobs} × train.torch_threads {torch_threads} = {jobs * torch_threads} threads > {cores} cores: "
            f"lower -j, or set train.torch_threads to {max(1, cores // jobs)} (`dvc exp run -S train.torch_threads=…` "
            "or params.yaml); oversubscribed cores slow every worker down"
        )


def stage_graph(repo: str | os.PathLike[str]) -> dict[str, set[str]]:
    """``{stage: {stages it depends on}}`` of the DVC pipeline at ``repo`` (matrix items expanded)."""
    from seedbench.compat.dvc import open_repo  # DVC's own view of the DAG

    try:
        with open_repo(str(repo)) as dvc_repo:
            index = dvc_repo.index
            deps: dict[str, set[str]] = {stage.name: set() for stage in index.stages}  # dvc.yaml order
            for stage, upstream in index.graph.edges:  # edges point from a stage to what it depends on
                deps.setdefault(stage.name, set()).add(upstream.name)
    except Exception as exc:  # noqa: BLE001 - DVC raises many types for a broken dvc.yaml
        raise StageError(f"{repo}: DVC cannot read the pipeline ({type(exc).__name__}: {exc})") from None
    return deps


def _ancestors(deps: dict[str, set[str]], stages: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(stages)
    while todo:
        for up in deps.get(todo.pop(), ()):
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


def unit_key(stage: str, groups: Sequence[str] = PARALLEL_GROUPS) -> str | None:
    """``"FD001-mlp-0"`` for ``train@FD001-mlp-0`` when its group is in ``groups``; else ``None``."""
    group, at, key = stage.partition("@")
    return key if at and group in groups else None


def make_plan(deps: dict[str, set[str]], changed: set[str] | None, groups: Sequence[str] = PARALLEL_GROUPS) -> Plan:
    """Split the pipeline into upstream stages and parallel units (only those with a ``changed`` stage).

    ``changed=None`` schedules every unit. Units keep pipeline order; inside a
    unit, stages come in the order of ``groups``.
    """
    order = list(deps)
    parallel = [s for s in order if unit_key(s, groups) is not None]
    units: dict[str, list[str]] = {}
    for stage in parallel:
        units.setdefault(unit_key(stage, groups) or "", []).append(stage)
    for key, stages in units.items():
        stages.sort(key=lambda s: groups.index(s.partition("@")[0]))
        inside = set(stages)
        for stage in stages:
            stray = {d for d in deps[stage] if unit_key(d, groups) is not None and d not in inside}
            if stray:
                raise StageError(f"{stage} depends on {sorted(stray)} of another run: the runs are not independent")
    upstream = [s for s in order if s in _ancestors(deps, parallel) and unit_key(s, groups) is None]
    chosen = [tuple(st) for st in units.values() if changed is None or any(s in changed for s in st)]
    return Plan(upstream=tuple(upstream), units=tuple(chosen), skipped_units=len(units) - len(chosen))


def changed_stages(repo: str | os.PathLike[str], dvc: Sequence[str] = ("dvc",), children: Children | None = None,
                   env: dict[str, str] | None = None) -> set[str]:
    """Stages that ``dvc status`` reports as changed (would rerun)."""
    code, stdout, stderr = (children or Children()).run([*dvc, "status", "--json"], repo, env)
    if code != 0:
        raise StageError(f"dvc status failed: {stderr.strip()[-2000:]}")
    try:
        status = json.loads(stdout or "{}")
    except ValueError:
        raise StageError(f"dvc status --json: unreadable output {stdout[:200]!r}") from None
    return {name.split(":")[-1] for name in status}


STOP_GRACE_SECONDS = 1.0
"""How long an interrupted child group may take to exit on SIGINT before it gets SIGKILL."""


class Children:
    """Child processes, each in its own process group, that :meth:`stop` ends together with everything they started.

    A terminal's Ctrl-C reaches only the foreground group (this process); the
    children, being in their own groups, are stopped by :meth:`stop` instead,
    which also covers a SIGINT sent to this process alone. Thread-safe: the
    worker threads :meth:`run`, the main thread :meth:`stop`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopping = False

    def run(self, args: Sequence[str], repo: str | os.PathLike[str], env: dict[str, str] | None) -> tuple[int, str, str]:
        """Run ``args`` in ``repo``; returns (exit status, stdout, stderr). After :meth:`stop`: 130, nothing started."""
        with self._lock:
            if self._stopping:
                return 130, "", "not started: interrupted"
            proc = subprocess.Popen(list(args), cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True)
            self._running.add(proc)
        try:
            out, err = proc.communicate()
        finally:
            with self._lock:
                self._running.discard(proc)
        return proc.returncode, out or "", err or ""

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int:
        """Start nothing more; SIGINT every running group, SIGKILL what is left after ``grace`` s; returns how many."""
        with self._lock:
            self._stopping = True
            procs = list(self._running)
        for proc in procs:
            _signal_group(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc.pid, signal.SIGKILL)  # also whatever the child started and left behind
        return len(procs)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def sort_lockfile(path: Path, order: Sequence[str]) -> bool:
    """Put the stages of ``dvc.lock`` in pipeline ``order``, written by DVC's own YAML writer; True if it moved any.

    DVC appends a stage's entry when it first locks it, so runs that finish in
    another order than ``dvc repro``'s would list the same entries in another
    order, and ``git diff dvc.lock`` (the bit-exact check) would show noise.
    """
    from seedbench.compat.dvc import modify_yaml

    if not path.is_file():
        return False
    rank = {name: i for i, name in enumerate(order)}
    with modify_yaml(str(path)) as data:
        stages = data.get("stages") or {}
        names = list(stages)
        wanted = sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))
        if wanted == names:
            return False
        entries = [(n, stages[n]) for n in wanted]
        for name in names:
            del stages[name]
        for name, entry in entries:
            stages[name] = entry
    return True


def default_cores() -> int | None:
    """CPUs this process may run on (affinity-aware), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def repo_path(path: str | os.PathLike[str]) -> Path:
    """``path`` checked to be a DVC repository root."""
    root = Path(path)
    if not (root / "dvc.yaml").is_file():
        raise StageError(f"{root}: no dvc.yaml (run at the repository root)")
    return root
