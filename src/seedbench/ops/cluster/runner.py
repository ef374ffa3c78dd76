"""A warm Python that runs stage scripts in forked children: interpreter start and ``import torch`` once per worker.

``python -m seedbench.ops.cluster.runner MODULE ...`` imports the MODULEs (torch,
the training code), then reads one JSON request per line on stdin and answers
one JSON line on stdout. Each request runs a script as ``python SCRIPT ARG ...``
would, in a child made by ``fork``: the child has the runner's start-up
environment (so ``/proc/self/environ`` shows the determinism-mode variables in
place before Python started, as the stage checks), its own working folder,
``sys.argv``, extra variables (``DVC_STAGE``…), stdin from ``/dev/null`` and
stdout/stderr into a log file. The runner itself never runs a tensor op, so
no thread pool exists when it forks; every run starts from the same imported,
untouched state — what a fresh process would have, minus the start-up time.

The runner is started by :class:`WarmRunner` (worker side) with the stage's
environment and the checkout's ``src/`` on ``PYTHONPATH``: it runs the
checkout's code, never the worker's installed copy. It exits when its stdin
closes or its parent dies (a killed worker takes its runs with it).
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

POLL_SECONDS = 0.05
"""How often the runner checks on a running child and on its own parent."""


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _child(request: Mapping[str, Any]) -> None:  # pragma: no cover - runs in the forked child, ends in os._exit
    code = 1
    try:
        os.setpgid(0, 0)  # its own group: the runner can stop it with whatever it started (DataLoader workers)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        os.environ.update(request["env"])
        script = str(request["script"])
        sys.argv = [script, *request["args"]]
        sys.path[0] = str(Path(script).resolve().parent)  # as `python SCRIPT` sets it
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - a traceback in the log, as a crashing `python SCRIPT` prints it
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_forked(request: Mapping[str, Any], parent: int) -> int:
    """Run one request in a forked child; its exit status (negative: killed by that signal)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(request)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if os.getppid() != parent:  # the worker died: take the run down with it
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            os._exit(1)
        time.sleep(POLL_SECONDS)


def serve(preload: Sequence[str], stdin: TextIO, stdout: TextIO) -> None:
    """Import ``preload`` (a module that fails to import is left to the script), then answer requests until EOF."""
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the script will import it itself and fail with its own message
            print(f"runner: preload {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    parent = os.getppid()
    stdout.write(json.dumps({"ready": True}) + "\n")
    stdout.flush()
    for line in stdin:
        code = run_forked(json.loads(line), parent)
        stdout.write(json.dumps({"code": code}) + "\n")
        stdout.flush()


class RunnerError(RuntimeError):
    """The runner process died or answered nonsense (a bug or a killed process, not a stage failure)."""


class WarmRunner:
    """Worker side: one runner process, started in ``repo`` with ``env``, running scripts on request."""

    def __init__(self, python: str, repo: Path, env: Mapping[str, str], preload: Sequence[str], log: Path) -> None:
        self.repo = repo
        self._log = open(log, "ab")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [python, "-m", "seedbench.ops.cluster.runner", *preload], cwd=repo, env=dict(env),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True)
        self._read()  # {"ready": true} once the preloads are imported

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            raise RunnerError(f"warm runner in {self.repo} exited ({code}); see its log")
        return dict(json.loads(line))

    def run(self, script: str, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path) -> int:
        """Run ``python script args…`` in a forked child; returns its exit status."""
        assert self._proc.stdin is not None
        request = {"script": script, "args": list(args), "cwd": str(cwd), "env": dict(env), "log": str(log)}
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise RunnerError(f"warm runner in {self.repo} is gone") from None
        return int(self._read()["code"])

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        """Close its stdin (it exits), then make sure its group is gone."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            pass
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._proc.wait()
        self._log.close()


if __name__ == "__main__":  # pragma: no cover - the runner process
    serve(sys.argv[1:], sys.stdin, sys.stdout)
