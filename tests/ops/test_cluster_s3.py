"""`seedbench repro --cluster` on a real Dask cluster on 127.0.0.1, with SeaweedFS (S3) as the DVC remote.

One scheduler and two worker processes (``dask scheduler`` / ``dask worker``, each
worker with its own ``--local-directory``, each in its own process group), one S3
server and one bare git repository serve the whole module; everything is stopped by
PID at the end. The driver repositories are clones of the bare repository (micro
profile: FD001 × linear × 2 replicates) with the S3 remote as their default remote.
Nothing is mocked: the failures are real (a worker's process group SIGKILLed while
its run trains, a worker process that exits after a task finished but before its
result reached the scheduler, a closed port, SIGINT to the driver). About 2
minutes on 2 busy cores (most of it three real pipelines and a 10 s connect timeout).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dvc_repo import dvc_env, make_repo, micro_params, run, set_s3_remote_config, tree_hashes
from s3_server import SeaweedS3, corrupt_dvc_objects

from seedbench.ops.cluster.workspace import WORKSPACE_DIRNAME, repo_id

pytestmark = [pytest.mark.s3, pytest.mark.e2e]  # a real S3 server, real Dask processes, real pipelines

PARAMS = micro_params(replicates=(0, 1))
STOP_GRACE = 5.0
DONE_LINE = re.compile(r"^\[\d+/\d+\] ([^,\s]+)(?:, \S+)* on (tcp://[\d.]+:\d+): done in ", re.MULTILINE)
"""The driver's line for a finished run: its first stage and the worker that ran it."""


# -- the cluster -----------------------------------------------------------------------------------


def _stop_group(proc: subprocess.Popen[Any], grace: float = STOP_GRACE) -> None:
    """SIGTERM the process group of ``proc`` (started with start_new_session), SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever the group still holds (a worker of a nanny)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class DaskCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (each in its own session), stopped by PID."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scheduler_file = root / "scheduler.json"
        self.env = dvc_env()
        self.dask = str(Path(sys.executable).parent / "dask")
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        self._client: Any = None

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{log_name}.log", "ab") as log:
            return subprocess.Popen(args, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def start(self) -> DaskCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        # --idle-timeout: a scheduler this test session lost (pytest killed) ends by itself.
        self.scheduler = self._spawn([self.dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--scheduler-file", str(self.scheduler_file), "--no-dashboard",
                                      "--dashboard-address", "127.0.0.1:0", "--idle-timeout", "900"], "scheduler")
        deadline = time.monotonic() + 60
        while not self.scheduler_file.is_file() or "address" not in self.scheduler_file.read_text():
            assert self.scheduler.poll() is None, (self.root / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the Dask scheduler did not write its scheduler file"
            time.sleep(0.1)
        return self

    @property
    def address(self) -> str:
        return str(json.loads(self.scheduler_file.read_text())["address"])

    def folder(self, name: str) -> Path:
        return self.root / name

    def start_worker(self) -> str:
        """One more worker process (and its nanny) of one thread, its own local directory and process group,
        named ``w<n>``; returns the name."""
        name = f"w{self.started}"
        self.started += 1
        # --death-timeout: a worker whose scheduler is gone ends by itself.
        self.workers[name] = self._spawn(
            [self.dask, "worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
             "--nthreads", "1", "--nworkers", "1", "--name", name, "--local-directory", str(self.folder(name)),
             "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--death-timeout", "60"], name)
        return name

    @property
    def client(self) -> Any:
        """This test process's own client of the scheduler (to watch it; the driver has its own)."""
        if self._client is None:
            from distributed import Client

            self._client = Client(self.address, timeout=30)
        return self._client

    def addresses(self) -> dict[str, str]:
        """``{worker name: address}`` of the workers the scheduler knows now."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {str(w["name"]): addr for addr, w in info.items()}

    def wait_for_workers(self, timeout: float = 90) -> dict[str, str]:
        """Wait until exactly the workers started and not killed are connected; returns their addresses."""
        names = set(self.workers)
        deadline = time.monotonic() + timeout
        while True:
            known = self.addresses()
            if set(known) == names:
                return known
            for name in names:
                proc = self.workers[name]
                assert proc.poll() is None, f"worker {name} exited: {(self.root / f'{name}.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"workers {sorted(names)} not connected; the scheduler has {known}"
            time.sleep(0.2)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (its nanny, its worker process, the stage it runs): a crash."""
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        for proc in self.workers.values():
            _stop_group(proc)
        self.workers.clear()
        if self.scheduler is not None:
            _stop_group(self.scheduler)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    logging.getLogger("distributed").setLevel(logging.ERROR)  # a lost worker is what these tests do
    dask = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        dask.start()
        for _ in range(2):
            dask.start_worker()
        dask.wait_for_workers()
        yield dask
    finally:
        dask.stop()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed-cluster") / "data").start()
    try:
        yield server
    finally:
        server.stop()


# -- repositories ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare git repository holding the micro-profile project (what a team's git server would)."""
    base = tmp_path_factory.mktemp("git")
    bare = base / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], base)
    source = make_repo(base / "source", PARAMS)
    run(["git", "push", "-q", str(bare), "main"], source)
    return bare


def clone_driver(origin: Path, dest: Path, s3: SeaweedS3, prefix: str) -> Path:
    """A clone of ``origin`` whose default DVC remote is ``s3://bucket/prefix`` (credentials in config.local)."""
    run(["git", "clone", "-q", str(origin), str(dest)], dest.parent)
    set_s3_remote_config(dest, "team", f"s3://{s3.bucket}/{prefix}", s3.endpoint, s3.access_key, s3.secret_key,
                         default=True)
    run(["git", "commit", "-q", "-am", "the team remote"], dest)
    return dest


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same profile, `dvc repro` one stage after another: the reference dvc.lock."""
    root = make_repo(tmp_path_factory.mktemp("sequential") / "repo", PARAMS)
    run(["dvc", "repro"], root)
    return root


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory, origin: Path, s3: SeaweedS3) -> Path:
    return clone_driver(origin, tmp_path_factory.mktemp("driver") / "repo", s3, "cache")


def results(root: Path) -> dict[str, str]:
    """Hashes of every file under runs/ and reports/ but the volatile records (times, hosts: no results; a
    cluster run's stays beside its manifest in the worker's clone)."""
    return {k: v for k, v in tree_hashes(root, "runs", "reports").items() if not k.endswith("/volatile.json")}


def done_on(stdout: str) -> dict[str, str]:
    """``{first stage of a run: address of the worker that finished it}`` from the driver's output."""
    return dict(DONE_LINE.findall(stdout))


def slot_repos(cluster: DaskCluster, name: str, driver_root: Path) -> list[Path]:
    """The clones worker ``name`` made of ``driver_root`` (its local directory/…/seedbench/<repo-id>/slot-N/repo)."""
    rid = repo_id(driver_root.resolve(), socket.gethostname())
    return sorted(cluster.folder(name).glob(f"dask-scratch-space/*/{WORKSPACE_DIRNAME}/{rid}/slot-*/repo"))


def lock_objects(root: Path) -> set[str]:
    """Every object md5 dvc.lock pins for the runs (``.dir`` objects and their files), from the local cache."""
    from seedbench.ops.cluster.lockmerge import cache_object_path

    found: set[str] = set()
    for name, entry in yaml.safe_load((root / "dvc.lock").read_text())["stages"].items():
        if not name.startswith("train@"):
            continue
        for out in entry.get("outs") or []:
            found.add(out["md5"])
            if out["md5"].endswith(".dir"):
                listing = json.loads(cache_object_path(root / ".dvc" / "cache", out["md5"]).read_text())
                found.update(item["md5"] for item in listing)
    return found


def s3_md5s(objects: dict[str, bytes], prefix: str) -> set[str]:
    """The md5 names of DVC objects under ``prefix`` (``prefix/files/md5/ab/cdef…``)."""
    return {"".join(key.split("/")[-2:]) for key in objects if key.startswith(f"{prefix}/files/md5/")}


# -- 1. the cluster gives dvc repro's lock ----------------------------------------------------------


def test_cluster_repro_writes_the_lock_of_a_sequential_dvc_repro(
        cluster: DaskCluster, driver: Path, sequential: Path, s3: SeaweedS3) -> None:
    addresses = cluster.wait_for_workers()
    result = run(["seedbench", "repro", "--cluster", cluster.address], driver)
    print(result.stdout)
    assert "2 runs to reproduce, 0 up to date; 2 workers" in result.stdout
    done = done_on(result.stdout)
    assert set(done) == {"train@FD001-linear-0", "train@FD001-linear-1"}, result.stdout
    assert set(done.values()) == set(addresses.values()), "each worker ran one of the two runs"

    assert (driver / "dvc.lock").read_bytes() == (sequential / "dvc.lock").read_bytes()
    assert (driver / "publish" / "manifest.json").read_bytes() == (sequential / "publish" / "manifest.json").read_bytes()
    assert results(driver) == results(sequential)
    assert "Data and pipelines are up to date." in run(["dvc", "status"], driver).stdout
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], driver).stdout

    # Each worker ran in its own clone (under its own --local-directory), with its own DVC cache, and made only
    # its own run's outputs there.
    by_address = {addr: name for name, addr in addresses.items()}
    for stage, address in done.items():
        name = by_address[address]
        (clone,) = slot_repos(cluster, name, driver)
        rep = stage.rsplit("-", 1)[1]
        other = "1" if rep == "0" else "0"
        assert (clone / f"runs/FD001/linear/rep_{rep}/model.pt").is_file()
        assert not (clone / f"runs/FD001/linear/rep_{other}").exists()
        cache = clone.parent.parent / "cache" / "files" / "md5"
        assert any(cache.rglob("*")), f"{name}: no DVC cache beside its clone"
    # The remote holds every object the lock pins for the runs, each under its own md5.
    objects = s3.objects("cache")
    assert corrupt_dvc_objects(objects) == []
    assert lock_objects(driver) <= s3_md5s(objects, "cache")


# -- 2. a worker killed while its run trains ---------------------------------------------------------


def test_a_worker_killed_mid_run_is_replaced_by_the_other_and_nothing_half_written_is_kept(
        cluster: DaskCluster, origin: Path, sequential: Path, s3: SeaweedS3, tmp_path: Path) -> None:
    addresses = cluster.wait_for_workers()
    root = clone_driver(origin, tmp_path / "repo", s3, "cache-fault")
    rid = repo_id(root.resolve(), socket.gethostname())
    proc = subprocess.Popen(["seedbench", "repro", "--cluster", cluster.address], cwd=root, env=dvc_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        victim = None
        while victim is None:  # a stage is running in a worker's clone: its slot's stage.log exists
            for name in addresses:
                if list(cluster.folder(name).glob(f"dask-scratch-space/*/{WORKSPACE_DIRNAME}/{rid}/slot-*/stage.log")):
                    victim = name
                    break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no run started on a worker"
            time.sleep(0.02)
        running = [k for k in cluster.client.processing()[addresses[victim]] if str(k).startswith("seedbench-")]
        cluster.kill_worker(victim)
        killed_at = time.monotonic()
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(out, err)
    assert proc.returncode == 0, (out, err)
    assert running, "the worker that ran a stage had no task"
    survivor = next(addr for name, addr in addresses.items() if name != victim)
    done = done_on(out)
    assert set(done) == {"train@FD001-linear-0", "train@FD001-linear-1"}, out
    assert set(done.values()) == {survivor}, f"killed {victim} ({addresses[victim]}) running {running}: {out}"

    assert (root / "dvc.lock").read_bytes() == (sequential / "dvc.lock").read_bytes()
    assert "Data and pipelines are up to date." in run(["dvc", "status"], root).stdout
    # The killed worker's stage processes went with it (its warm runner, in a session of its own, follows its
    # parent within a poll).
    folder = str(cluster.folder(victim))
    while time.monotonic() < killed_at + 5 and _processes_in(folder):
        time.sleep(0.1)
    assert _processes_in(folder) == []
    # Every object in the bucket is whole (its bytes hash to its key), and every one the lock pins is there.
    objects = s3.objects()
    assert corrupt_dvc_objects(objects) == []
    assert lock_objects(root) <= s3_md5s(objects, "cache-fault")
    # A replacement for the later tests (they wait for it).
    cluster.start_worker()


def _processes_in(folder: str) -> list[int]:
    """PIDs whose working folder lies under ``folder``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.readlink(proc / "cwd").startswith(folder + os.sep):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


# -- 3. a retried task that hashes differently --------------------------------------------------------

SCRATCH_DVC_YAML = """\
stages:
  prepare:
    cmd: python -c "open('data.txt', 'w').write('input')"
    outs:
      - data.txt
  train:
    matrix:
      rep: [0, 1]
    cmd: {cmd}
    deps:
      - data.txt
    outs:
      - out-${{item.rep}}.bin
"""
RANDOM_CMD = """python -c "import os; open('out-${item.rep}.bin', 'wb').write(os.urandom(8))\""""
FIXED_CMD = """python -c "open('out-${item.rep}.bin', 'wb').write(b'rep ${item.rep}')\""""


def scratch_repo(root: Path, cmd: str, s3: SeaweedS3, prefix: str) -> Path:
    """git + DVC repository: ``prepare`` (upstream, already run) and a ``train`` matrix of two runs running ``cmd``."""
    root.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], root)
    run(["dvc", "init", "-q"], root)
    (root / "dvc.yaml").write_text(SCRATCH_DVC_YAML.format(cmd=json.dumps(cmd)))
    set_s3_remote_config(root, "team", f"s3://{s3.bucket}/{prefix}", s3.endpoint, s3.access_key, s3.secret_key,
                         default=True)
    run(["dvc", "repro", "prepare"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "scratch pipeline"], root)
    return root


def die_after_first_finish(marker: Path) -> Any:
    """A Dask WorkerPlugin: the first seedbench task to finish anywhere (``executing → memory``) ends its worker
    process at once (``os._exit``), before the result reaches the scheduler; ``marker`` (created exclusively)
    makes it happen once and records the task and the worker. Defined in a function so that cloudpickle ships
    the class by value (the workers cannot import this test module)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class DieAfterFirstFinish(WorkerPlugin):
        def __init__(self, marker: str) -> None:
            self.marker = marker
            self.address = "?"

        def setup(self, worker: Any) -> None:
            self.address = str(worker.address)

        def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
            if finish != "memory" or start != "executing" or not str(key).startswith("seedbench-"):
                return
            try:
                fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return
            os.write(fd, json.dumps({"key": str(key), "worker": self.address}).encode())
            os.close(fd)
            os._exit(1)  # the attempt was recorded and pushed; its result dies with the worker

    return DieAfterFirstFinish(str(marker))


def repro_with_a_worker_dying_after_a_task(cluster: DaskCluster, root: Path, marker: Path) -> tuple[Any, list[str]]:
    """``repro_on_cluster`` in-process on the module's cluster with :func:`die_after_first_finish` registered;
    (the report or the exception raised, the driver's lines)."""
    from distributed import Client

    from seedbench.ops.cluster.driver import repro_on_cluster
    from seedbench.ops.cluster.workspace import RemoteSpec
    from seedbench.ops.remote import remote_options

    lines: list[str] = []
    remote = RemoteSpec(*remote_options(root))
    with Client(cluster.address, timeout=30) as client:
        client.register_plugin(die_after_first_finish(marker), name="die-after-first-finish")
        try:
            outcome: Any = repro_on_cluster(root, client=client, remote=remote, env=dvc_env(), echo=lines.append)
        except Exception as exc:  # noqa: BLE001 - returned for the test to check
            outcome = exc
        finally:
            client.unregister_worker_plugin("die-after-first-finish")
    return outcome, lines


@pytest.mark.parametrize("deterministic", [False, True], ids=["random-bytes", "fixed-bytes"])
def test_a_retry_that_hashes_differently_is_reported_and_one_that_agrees_is_merged(
        cluster: DaskCluster, s3: SeaweedS3, tmp_path: Path, deterministic: bool) -> None:
    from seedbench.ops.cluster.driver import NondeterminismError

    root = scratch_repo(tmp_path / "repo", FIXED_CMD if deterministic else RANDOM_CMD, s3,
                        f"cache-retry-{deterministic}")
    cluster.wait_for_workers()  # two (a replacement may still be starting)
    lock_before = (root / "dvc.lock").read_bytes()
    marker = tmp_path / "worker-died.json"
    outcome, lines = repro_with_a_worker_dying_after_a_task(cluster, root, marker)
    print("\n".join(lines), outcome, sep="\n")
    died = json.loads(marker.read_text())  # a worker did exit after finishing a task
    stage = re.fullmatch(r"seedbench-(train@\d)-[0-9a-f]+", died["key"])
    assert stage is not None, died
    if deterministic:
        assert not isinstance(outcome, BaseException), outcome
        lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
        assert set(lock) == {"prepare", "train@0", "train@1"}
        assert (root / "out-0.bin").read_bytes() == b"rep 0"
        assert "Data and pipelines are up to date." in run(["dvc", "status"], root).stdout
        # the run whose worker died was finished by another worker process (a rerun, accepted: it agreed)
        rerun = next(line for line in lines if f"] {stage.group(1)} on " in line)
        assert died["worker"] not in rerun, (died, lines)
    else:
        assert isinstance(outcome, NondeterminismError), outcome
        message = str(outcome)
        assert f"{stage.group(1)}: out-{stage.group(1)[-1]}.bin: " in message, message
        assert died["worker"] in message, message  # the first attempt's worker, against the rerun's
        assert "nothing was merged into dvc.lock" in message
        assert (root / "dvc.lock").read_bytes() == lock_before
    assert corrupt_dvc_objects(s3.objects(f"cache-retry-{deterministic}")) == []


# -- 4. what cannot be reached, and Ctrl-C -------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_a_scheduler_that_does_not_answer_is_one_line_naming_the_address_and_what_to_start(driver: Path) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = run(["seedbench", "repro", "--cluster", address], driver, check=False)
    print(result.stderr, f"{time.monotonic() - started:.1f} s")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"seedbench: error: --cluster {address}: "), line
    assert "no Dask scheduler answered" in line and "`dask scheduler`" in line and "`dask worker" in line, line


@pytest.fixture()
def pending(driver: Path) -> Iterator[Path]:
    """The driver with its upstream stages run and another experiment seed in params.yaml (both runs pending);
    params.yaml and DVC's config put back after."""
    if not (driver / "dvc.lock").is_file():  # this test alone: the upstream stages the cluster test would have run
        run(["dvc", "repro", "prepare@FD001"], driver)
    keep = {name: (driver / name).read_bytes() for name in ("params.yaml", ".dvc/config", ".dvc/config.local")}
    params = yaml.safe_load(keep["params.yaml"])
    params["seed"] = params["seed"] + 1
    (driver / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        yield driver
    finally:
        for name, data in keep.items():
            (driver / name).write_bytes(data)


def test_a_remote_that_does_not_answer_is_one_line_naming_the_remote_and_the_setting(
        cluster: DaskCluster, pending: Path, s3: SeaweedS3) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    set_s3_remote_config(pending, "down", f"s3://{s3.bucket}/cache", closed, s3.access_key, s3.secret_key)
    lock = (pending / "dvc.lock").read_bytes()
    result = run(["seedbench", "repro", "--cluster", cluster.address, "-r", "down"], pending, check=False)
    print(result.stderr)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    line = result.stderr.strip()
    assert "remote 'down'" in line and f"cannot be reached at {closed}" in line, line
    assert "dvc remote modify down endpointurl" in line, line
    assert s3.secret_key not in line
    assert (pending / "dvc.lock").read_bytes() == lock


def test_ctrl_c_to_the_driver_mid_run_exits_130_and_leaves_dvc_lock_as_it_was(
        cluster: DaskCluster, pending: Path) -> None:
    cluster.wait_for_workers()
    lock = (pending / "dvc.lock").read_bytes()
    proc = subprocess.Popen(["seedbench", "repro", "--cluster", cluster.address], cwd=pending, env=dvc_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(str(k).startswith("seedbench-") for keys in cluster.client.processing().values() for k in keys):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no run reached a worker"
            time.sleep(0.05)
        time.sleep(0.5)  # the runs are on the workers
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(out, err)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("seedbench: interrupted (Ctrl-C)"), err
    assert "runs already on a worker finish there" in out, out
    assert (pending / "dvc.lock").read_bytes() == lock
