"""Parallel seeds on one machine: the independent matrix stages of one experiment, N at a time.

``dvc repro`` runs stages one after another. The runs of the matrix
(``train@<dataset>-<method>-<rep>``, which also writes the run's metrics) share only
read-only inputs, so they can run side by side; DVC's per-output locks and its
repository lock (held while DVC checks and saves a stage, released while the
stage's command runs) make concurrent ``dvc --wait-for-lock repro --single-item``
calls on *different* stages safe. (Without ``--wait-for-lock`` a DVC process
gives up after 3 s of waiting for the repository lock — "Unable to acquire
lock" — which a busy machine reaches.) :func:`repro`
does exactly that, in three steps, DVC being the engine throughout:

1. ``dvc repro`` of every stage upstream of the matrix (fetch, prepare@…);
2. the runs K that ``dvc status`` reports as changed (each ``train@K``),
   dealt into ``2 × jobs`` batches that mix methods
   and datasets alike, each batch one ``dvc repro --single-item --keep-going …``
   call, ``jobs`` batches at a time (one DVC start-up per batch, not per run:
   on the default profile a DVC start-up costs about as much as a small run);
3. ``dvc repro`` once more: aggregate, publish, and a check that nothing is left.

Each worker trains with ``train.torch_threads`` threads, so
``jobs × torch_threads`` must not exceed the cores (:func:`check_thread_budget`):
oversubscribed cores only slow every worker down. The result is the same
``dvc.lock`` as a sequential ``dvc repro`` — each stage is the same process
with the same params (the thread count is a param, recorded in each run's
manifest) — only sooner.

Ctrl-C stops everything :func:`repro` started within a second or two: every
``dvc`` child runs in its own process group (:class:`Children`), queued
batches are cancelled, running groups get SIGINT (DVC and the stage clean up)
and SIGKILL after :data:`STOP_GRACE_SECONDS`; then ``KeyboardInterrupt``
reaches the CLI edge (one line, exit 130).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
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


@dataclass
class Report:
    """Wall times (seconds) of the three steps and one line per unit."""

    jobs: int
    upstream_seconds: float = 0.0
    parallel_seconds: float = 0.0
    downstream_seconds: float = 0.0
    units: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return self.upstream_seconds + self.parallel_seconds + self.downstream_seconds


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


def changed_stages(repo: str | os.PathLike[str], dvc: Sequence[str] = ("dvc",), children: Children | None = None) -> set[str]:
    """Stages that ``dvc status`` reports as changed (would rerun)."""
    code, stdout, stderr = (children or Children()).run([*dvc, "status", "--json"], repo, None)
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


def repro(
    repo: str | os.PathLike[str] = ".",
    *,
    jobs: int,
    torch_threads: int,
    cores: int | None = None,
    dvc: Sequence[str] = ("dvc",),
    env: dict[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> Report:
    """Reproduce the pipeline at ``repo`` with ``jobs`` matrix runs at a time (see the module docstring).

    Parameters
    ----------
    jobs : int
        Concurrent ``dvc repro`` processes.
    torch_threads : int
        ``train.torch_threads`` of the params (each worker's thread count).
    cores : int, optional
        Cores available; ``jobs × torch_threads`` must not exceed it.
    echo : callable
        Receives one progress line per step and per finished unit.

    Raises
    ------
    StageError
        When a stage fails; every other unit still runs first (like ``make -k``).
    """
    check_thread_budget(jobs, torch_threads, cores)
    children = Children()
    try:
        return _repro(repo, jobs=jobs, dvc=dvc, env=env, echo=echo, children=children)
    except KeyboardInterrupt:
        stopped = children.stop()
        echo(f"seedbench repro: interrupted; stopped {stopped} running dvc process group(s), started nothing more")
        raise


def _repro(repo: str | os.PathLike[str], *, jobs: int, dvc: Sequence[str], env: dict[str, str] | None,
           echo: Callable[[str], None], children: Children) -> Report:
    def _dvc(args: Sequence[str], repo: str | os.PathLike[str], env: dict[str, str] | None) -> tuple[int, str]:
        code, out, err = children.run(args, repo, env)
        return code, f"{out}{err}"

    report = Report(jobs=jobs)
    started = time.perf_counter()
    deps = stage_graph(repo)
    plan = make_plan(deps, None)
    if plan.upstream:
        code, out = _dvc([*dvc, "--wait-for-lock", "repro", *plan.upstream], repo, env)
        if code != 0:
            raise StageError(f"dvc repro {' '.join(plan.upstream)} failed:\n{_tail(out)}")
    plan = make_plan(deps, changed_stages(repo, dvc, children))
    report.upstream_seconds = time.perf_counter() - started
    batches = deal(plan.units, 2 * jobs)
    echo(f"seedbench repro: {len(plan.units)} runs to reproduce, {plan.skipped_units} up to date; "
         f"{len(batches)} batches, {jobs} at a time")

    started = time.perf_counter()
    failures: list[str] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(_run_batch, batch, repo, dvc, env, children): batch for batch in batches}
        for n, future in enumerate(as_completed(futures), start=1):
            batch = futures[future]
            code, out, seconds = future.result()
            names = ", ".join(unit[0].partition("@")[2] for unit in batch)
            line = f"[{n}/{len(batches)}] {len(batch)} runs ({names}): {'done' if code == 0 else 'FAILED'} in {seconds:.1f} s"
            report.units.append(line)
            echo(line)
            if code != 0:
                failures.append(f"batch {names}:\n{_tail(out)}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # on Ctrl-C: queued batches never start
    report.parallel_seconds = time.perf_counter() - started
    if failures:
        raise StageError(f"{len(failures)} of {len(batches)} batches failed (finished runs are cached):\n"
                         + "\n".join(failures))

    started = time.perf_counter()
    code, out = _dvc([*dvc, "--wait-for-lock", "repro"], repo, env)
    report.downstream_seconds = time.perf_counter() - started
    if code != 0:
        raise StageError(f"dvc repro failed:\n{_tail(out)}")
    sort_lockfile(Path(repo) / "dvc.lock", list(deps))
    echo(f"seedbench repro: done in {report.total_seconds:.1f} s")
    return report


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


def deal(units: Sequence[tuple[str, ...]], n: int) -> list[list[tuple[str, ...]]]:
    """Deal ``units`` (in pipeline order) into at most ``n`` batches like cards: batch i gets units i, i+n, i+2n…

    Pipeline order groups runs by dataset and method, so dealing gives every
    batch about the same mix of cheap and costly runs.
    """
    if n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    return [list(units[i::n]) for i in range(min(n, len(units)))]


def _run_batch(batch: Sequence[tuple[str, ...]], repo: str | os.PathLike[str], dvc: Sequence[str],
               env: dict[str, str] | None, children: Children) -> tuple[int, str, float]:
    started = time.perf_counter()
    stages = [stage for unit in batch for stage in unit]
    code, out, err = children.run([*dvc, "--wait-for-lock", "repro", "--single-item", "--keep-going", *stages], repo, env)
    return code, f"{out}{err}", time.perf_counter() - started


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
