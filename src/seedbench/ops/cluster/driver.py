"""``seedbench repro --cluster ADDRESS`` / ``-j N``: every pending run of the matrix as a Dask task, DVC the source of truth.

1. ``dvc repro`` of the stages upstream of the matrix (fetch, prepare@…), here.
2. ``dvc status``: the runs that would rerun. Their inputs (the outputs of the
   upstream stages they depend on) are pushed to the DVC remote; the working
   tree is shipped as a git bundle (:mod:`.snapshot`), once per worker.
3. One task per run (:func:`seedbench.ops.cluster.task.run_unit`): a worker
   checks out the commit, pulls the inputs, runs the stage, ``dvc commit``s
   and ``dvc push``es it and returns its ``dvc.lock`` entry. A worker that dies
   mid-task gets its task rerun on another (Dask's scheduler); every completed
   attempt is recorded, and two attempts of one run that hashed differently
   stop the merge (:class:`NondeterminismError`).
4. The entries are checked against the bytes (every object fetched from the
   remote into the local cache and re-hashed) and written into ``dvc.lock``
   once (:mod:`.lockmerge`); ``dvc checkout`` puts the outputs in the
   workspace, ``dvc status`` of the runs must be clean.
5. ``dvc repro``: aggregate, publish — and a check that nothing else is pending.

The local ``-j N`` is the same path on a local cluster (:func:`local_client`: a
scheduler and N single-threaded workers on 127.0.0.1), whose "remote" is this
repository's own DVC cache (a local remote has the cache's layout), so nothing
is copied twice.
The final ``dvc.lock`` is the one a sequential ``dvc repro`` writes (portable
mode gives the same bits on every x86-64 node; tested).

Ctrl-C: pending tasks are cancelled, a local cluster is shut down (its workers
take their runs with them; a remote cluster's running tasks finish on their
workers, since Dask cannot stop a running task, and are not merged),
``dvc.lock`` is left as it was or, once the merge has begun, restored; nothing
half-written is merged.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedbench.core.errors import RemoteError, SeedbenchError
from seedbench.ops.cluster.lockmerge import (
    attempt_conflicts,
    merge_lock_text,
    object_problems,
    write_lock,
)
from seedbench.ops.cluster.snapshot import bundle_bytes, snapshot_commit
from seedbench.ops.cluster.task import UnitResult, UnitSpec, run_unit
from seedbench.ops.cluster.workspace import RemoteSpec, repo_id
from seedbench.ops.parallel import (
    STOP_GRACE_SECONDS,
    Children,
    Plan,
    StageError,
    changed_stages,
    make_plan,
    sort_lockfile,
    stage_graph,
)

CONNECT_TIMEOUT_SECONDS = 10
"""How long to wait for a Dask scheduler (``--cluster``) to answer."""

DRIVER_CACHE_REMOTE = "seedbench-driver-cache"
"""The remote name local-cluster workers use for the driver's own DVC cache."""


class ClusterError(SeedbenchError):
    """The cluster cannot be reached or used (names the address and the setting to fix)."""


class NondeterminismError(SeedbenchError):
    """Two attempts of one run produced different outputs (names the run, the outputs and the workers)."""


@dataclass
class ClusterReport:
    """Wall times (seconds) of the steps, one line per run, and the runs' own worker seconds."""

    workers: int
    upstream_seconds: float = 0.0
    parallel_seconds: float = 0.0
    merge_seconds: float = 0.0
    downstream_seconds: float = 0.0
    runs: list[str] = field(default_factory=list)
    warm_runs: int = 0

    @property
    def total_seconds(self) -> float:
        return self.upstream_seconds + self.parallel_seconds + self.merge_seconds + self.downstream_seconds


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


LOCAL_START_TIMEOUT_SECONDS = 60
"""How long a local scheduler and its workers may take to start."""


@contextmanager
def local_client(jobs: int, workdir: Path, env: dict[str, str]) -> Iterator[Any]:
    """A :class:`distributed.Client` of a local cluster: a scheduler and ``jobs`` single-threaded workers on 127.0.0.1.

    Started as ``dask scheduler`` / ``dask worker --no-nanny`` processes, each in its own session (a
    terminal's Ctrl-C reaches the driver alone, which then stops them), with ``env`` (no nanny: no
    thread-count variables of Dask's own), each worker with its own folder under ``workdir``;
    stopped by their PIDs on the way out.
    """
    import signal
    import subprocess
    import sys

    from distributed import Client

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    scheduler_file = workdir / f"scheduler-{os.getpid()}.json"
    scheduler_file.unlink(missing_ok=True)
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], log: Path) -> None:
        with open(log, "wb") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", *args], cwd=workdir, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))

    try:
        start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(scheduler_file)], workdir / "scheduler.log")
        for i in range(jobs):
            folder = workdir / f"worker-{i}"
            folder.mkdir(exist_ok=True)
            start(["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                   "--no-nanny", "--no-dashboard", "--memory-limit", "0", "--local-directory", str(folder),
                   "--name", f"local-{i}"], workdir / f"worker-{i}.log")
        deadline = time.monotonic() + LOCAL_START_TIMEOUT_SECONDS
        while not scheduler_file.is_file():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise ClusterError(f"the local Dask scheduler did not start; see {workdir / 'scheduler.log'}")
            time.sleep(0.05)
        logging.getLogger("distributed").setLevel(logging.ERROR)
        with Client(scheduler_file=str(scheduler_file), timeout=LOCAL_START_TIMEOUT_SECONDS) as client:
            client.wait_for_workers(jobs, timeout=LOCAL_START_TIMEOUT_SECONDS)
            yield client
    finally:
        for proc in procs[1:] + procs[:1]:  # workers first
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS  # an idle worker exits at once; a busy one is killed
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        scheduler_file.unlink(missing_ok=True)


@contextmanager
def remote_client(address: str) -> Iterator[Any]:
    """A :class:`distributed.Client` of the scheduler at ``address``; :class:`ClusterError` when none answers."""
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.ERROR)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"--cluster {address}: no Dask scheduler answered within {CONNECT_TIMEOUT_SECONDS} s "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); start one (`dask scheduler`, "
            "`dask worker ADDRESS`; README: Many machines) or fix the address") from None
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ClusterError(f"--cluster {address}: the scheduler has no workers ({type(exc).__name__}); start some: "
                           f"`dask worker {address} --nthreads 1`") from None
    try:
        yield client
    finally:
        client.close()


def _driver_cache_dir(repo: Path) -> Path:
    from seedbench.compat.dvc import open_repo

    with open_repo(str(repo)) as dvc_repo:
        return Path(dvc_repo.cache.local_cache_dir)


def _inputs(plan: Plan, deps: dict[str, set[str]], unit: Sequence[str]) -> tuple[str, ...]:
    inside = set(unit)
    wanted = {d for stage in unit for d in deps.get(stage, ()) if d not in inside}
    return tuple(s for s in plan.upstream if s in wanted)


def repro_on_cluster(
    repo: str | os.PathLike[str],
    *,
    client: Any,
    remote: RemoteSpec | None,
    dvc: Sequence[str] = ("dvc",),
    env: dict[str, str] | None = None,
    echo: Callable[[str], None] = print,
    children: Children | None = None,
    warm: bool = True,
    stage_environ: dict[str, str] | None = None,
) -> ClusterReport:
    """Reproduce the pipeline at ``repo`` with every pending run a task on ``client``'s cluster (module docstring).

    ``remote=None``: the workers share this machine and use its DVC cache as their remote (the local ``-j N``).
    ``stage_environ``: the environment the workers start stages from (a local cluster's: this process's,
    taken before Dask changed it); ``None``: each worker's own, less what its Dask nanny added.

    Raises
    ------
    StageError
        A stage failed (every other run still ran; finished runs are merged and cached).
    NondeterminismError
        A retried run hashed differently from its first completed attempt (nothing merged).
    ClusterError, RemoteError
        The cluster or the remote cannot be used.
    """
    from distributed import Queue, as_completed

    root = Path(repo)
    children = children or Children()
    report = ClusterReport(workers=len(client.scheduler_info().get("workers", {})))

    def _dvc(args: Sequence[str]) -> None:
        code, out, err = children.run([*dvc, "--wait-for-lock", *args], root, env)
        if code != 0:
            raise StageError(f"dvc {' '.join(args[:1])} failed:\n{_tail(out + err)}")

    def _transfer(action: str, remote_name: str, targets: Sequence[str], why: str) -> None:
        """``dvc push|fetch -r REMOTE TARGETS``; a failure is one line naming the remote and the setting to fix."""
        code, out, err = children.run([*dvc, "--wait-for-lock", action, "-r", remote_name, *targets], root, env)
        if code != 0:
            from seedbench.ops.remote import resolve_remote
            from seedbench.ops.remote_failures import explain_failure

            explained = explain_failure(action, resolve_remote(root, remote_name), out + "\n" + err)
            raise RemoteError(f"{why}: {explained}")

    started = time.perf_counter()
    deps = stage_graph(root)
    plan = make_plan(deps, None)
    if plan.upstream:
        _dvc(["repro", *plan.upstream])
    plan = make_plan(deps, changed_stages(root, dvc, children, env))
    cache_dir = _driver_cache_dir(root)
    units = [tuple(u) for u in plan.units]
    inputs = {unit: _inputs(plan, deps, unit) for unit in units}
    if remote is None:
        remote = RemoteSpec(DRIVER_CACHE_REMOTE, {"url": str(cache_dir)})
        pushed_here = False
    else:
        needed = sorted({s for ins in inputs.values() for s in ins})
        if needed:
            _transfer("push", remote.name, needed, f"the workers' inputs ({', '.join(needed)}) were not pushed")
        pushed_here = True
    report.upstream_seconds = time.perf_counter() - started
    echo(f"seedbench repro: {len(units)} runs to reproduce, {plan.skipped_units} up to date; "
         f"{report.workers} workers")

    started = time.perf_counter()
    results: dict[tuple[str, ...], UnitResult] = {}
    failures: list[str] = []
    attempts: list[dict[str, Any]] = []
    if units:
        token = secrets.token_hex(4)
        commit = snapshot_commit(root)
        bundle = client.scatter(bundle_bytes(root), broadcast=True, hash=False)
        queue_name = f"seedbench-attempts-{token}"
        queue = Queue(queue_name, client=client)
        rid = repo_id(root, socket.gethostname())
        futures = {
            client.submit(run_unit, UnitSpec(stages=unit, inputs=inputs[unit], commit=commit, repo_id=rid,
                                             remote=remote, attempts_queue=queue_name, warm=warm,
                                             environ=stage_environ),
                          bundle, key=f"seedbench-{unit[0]}-{token}", pure=False, retries=0): unit
            for unit in units
        }
        try:
            for n, future in enumerate(as_completed(futures), start=1):
                unit = futures[future]
                try:
                    result: UnitResult = future.result()
                except SeedbenchError as exc:
                    failures.append(str(exc))
                    echo(f"[{n}/{len(units)}] {unit[0]}: FAILED")
                    continue
                except Exception as exc:  # noqa: BLE001 - KilledWorker (died too often), a worker-side bug
                    failures.append(f"{unit[0]}: {type(exc).__name__}: {exc}")
                    echo(f"[{n}/{len(units)}] {unit[0]}: FAILED ({type(exc).__name__})")
                    continue
                results[unit] = result
                report.warm_runs += int(result.warm)
                steps = ", ".join(f"{k} {v:.1f}" for k, v in result.phases.items())
                line = (f"[{n}/{len(units)}] {', '.join(unit)} on {result.worker}: done in {result.seconds:.1f} s "
                        f"({steps}{'' if result.warm else '; cold'})")
                report.runs.append(line)
                echo(line)
        finally:
            for future in futures:
                future.cancel()
        attempts = list(queue.get(batch=True))
    report.parallel_seconds = time.perf_counter() - started

    started = time.perf_counter()
    conflicts = attempt_conflicts(attempts)
    if conflicts:
        lines = [f"{stage}: {line}" for stage, diffs in sorted(conflicts.items()) for line in diffs]
        raise NondeterminismError(
            f"{len(conflicts)} run(s) gave different outputs on a retry (a task rerun after its worker died); "
            "nothing was merged into dvc.lock:\n" + "\n".join(lines))
    entries = {stage: entry for result in results.values() for stage, entry in result.entries.items()}
    if entries:
        def _fetch() -> None:  # no targets: see _merge
            _transfer("fetch", remote.name, [], "the runs' outputs were not fetched back to be checked "
                      "(dvc.lock left as it was)")

        _merge(root, entries, list(deps), cache_dir, _fetch if pushed_here else None, _dvc,
               lambda: changed_stages(root, dvc, children, env))
        _put_volatile(root, [result.volatile for result in results.values()])
    report.merge_seconds = time.perf_counter() - started
    if failures:
        raise StageError(f"{len(failures)} of {len(units)} runs failed (finished runs are merged and cached):\n"
                         + "\n".join(failures))

    started = time.perf_counter()
    _dvc(["repro"])
    sort_lockfile(root / "dvc.lock", list(deps))
    report.downstream_seconds = time.perf_counter() - started
    echo(f"seedbench repro: done in {report.total_seconds:.1f} s ({report.warm_runs} of {len(units)} runs warm)")
    return report


def _put_volatile(root: Path, records: Sequence[dict[str, str]]) -> None:
    """Write the runs' ``volatile.json`` (from their workers) beside their checked-out outputs."""
    from seedbench.core.files import atomic_write_text

    for record in records:
        for rel, text in record.items():
            path = (root / rel).resolve()
            if path.is_relative_to(root.resolve()) and path.parent.is_dir():  # a path from a worker: stay inside
                atomic_write_text(path, text)


def _ignore_outputs(root: Path, entries: dict[str, dict[str, Any]], order: Sequence[str]) -> None:
    """Add each output to git's ignore files as ``dvc repro`` would (``/<name>`` in its folder's ``.gitignore``,
    unless git ignores it already), in pipeline order: a ``.gitignore`` DVC writes is itself in the hash of a
    folder dep (an ``aggregate`` over ``out/``), so it must be the same file ``dvc repro`` leaves."""
    from seedbench.compat.dvc import open_repo

    rank = {name: i for i, name in enumerate(order)}
    with open_repo(str(root)) as dvc_repo:
        for name in sorted(entries, key=lambda n: rank.get(n, len(rank))):
            for out in entries[name].get("outs") or []:
                dvc_repo.scm.ignore(str((root / str(out["path"])).resolve()))


def _merge(root: Path, entries: dict[str, dict[str, Any]], order: list[str], cache_dir: Path,
           fetch: Callable[[], None] | None, dvc: Callable[[Sequence[str]], None],
           changed: Callable[[], set[str]]) -> None:
    """Write ``entries`` into dvc.lock, fetch (``fetch``: from the workers' remote; ``None``: the objects are in
    the cache already) and re-hash their objects, check out; the old lock back on any failure.

    ``dvc fetch``/``checkout``/``status`` run without targets: DVC collects each target on its own (≈ 80 ms
    a target on a 100-run matrix, more on larger ones), while the whole workspace is one pass and only the
    new runs' objects are missing locally.
    """
    lock = root / "dvc.lock"
    old = lock.read_text() if lock.is_file() else None
    write_lock(lock, merge_lock_text(old, entries, order, str(lock)))
    try:
        if fetch is not None:
            fetch()
        problems = object_problems(cache_dir, entries)
        if problems:
            raise StageError(f"{len(problems)} returned output(s) do not match the bytes in the remote; "
                             "dvc.lock left as it was:\n" + "\n".join(problems[:20]))
        dvc(["checkout", "--allow-missing"])  # stages not locked yet (aggregate on a first build); ours: checked above and below
        _ignore_outputs(root, entries, order)
        still = sorted(changed() & set(entries))
        if still:
            raise StageError("after the merge, `dvc status` still reports these runs as changed (a worker ran other "
                             f"code or data than this checkout): {', '.join(still)[:2000]}")
    except BaseException:
        if old is None:
            lock.unlink(missing_ok=True)
        else:
            write_lock(lock, old)
        raise


def repro(
    repo: str | os.PathLike[str] = ".",
    *,
    jobs: int = 2,
    cluster: str | None = None,
    remote_name: str | None = None,
    torch_threads: int = 1,
    cores: int | None = None,
    dvc: Sequence[str] = ("dvc",),
    env: dict[str, str] | None = None,
    echo: Callable[[str], None] = print,
    warm: bool = True,
) -> ClusterReport:
    """``seedbench repro``: on the Dask scheduler at ``cluster``, else on a local cluster of ``jobs`` workers.

    ``jobs × torch_threads`` must not exceed ``cores`` on a local cluster
    (:func:`seedbench.ops.parallel.check_thread_budget`); a remote cluster's
    workers are sized by whoever starts them (``dask worker --nthreads 1``).
    ``remote_name``: the DVC remote the workers share (default: DVC's default
    remote); a local cluster uses this repository's cache instead.
    """
    from seedbench.ops.parallel import check_thread_budget
    from seedbench.ops.remote import remote_options

    root = Path(repo)
    env = dict(os.environ if env is None else env)
    remote = None
    if cluster is None:
        check_thread_budget(jobs, torch_threads, cores)
    else:
        remote = RemoteSpec(*remote_options(root, remote_name))
    children = Children()
    try:
        if cluster is None:
            with local_client(jobs, root / ".dvc" / "tmp" / "seedbench-cluster", env) as client:
                return repro_on_cluster(root, client=client, remote=None, dvc=dvc, env=env, echo=echo,
                                        children=children, warm=warm)
        with remote_client(cluster) as client:
            return repro_on_cluster(root, client=client, remote=remote, dvc=dvc, env=env, echo=echo,
                                    children=children, warm=warm)
    except KeyboardInterrupt:
        stopped = children.stop()
        # Dask cannot stop a task that already runs: on a cluster of one's own it runs to its end on its worker.
        tasks = ("the local cluster was shut down with its runs" if cluster is None else
                 "the cluster's tasks not yet started were cancelled; runs already on a worker finish there "
                 "(their outputs reach the remote; none is merged)")
        echo(f"seedbench repro: interrupted; stopped {stopped} running dvc process group(s); {tasks}; "
             "dvc.lock left as it was")
        raise
