"""How a worker runs a stage's command: warm (a Python script, in the forking runner) or as DVC would (``sh -c``).

A DVC stage command is one shell string. When it has the form::

    [NAME=VALUE ...] [python -m seedbench.determinism.launch --params P --] python SCRIPT [ARG ...]

(what dvc.yaml's ``train`` runs) it is a :class:`WarmCall`: the script can run
in a forked child of a Python that already imported torch
(:mod:`seedbench.ops.cluster.runner`), in the same environment — the
assignments, the launcher's determinism-mode variables (from the params file,
as the launcher reads them) — and with the same ``sys.argv``. Any other
command (pipes, ``&&``, other programs) runs through ``sh -c`` exactly as DVC
runs it.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from seedbench.core.errors import SeedbenchError

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PYTHON = ("python", "python3")
_LAUNCHER = ("-m", "seedbench.determinism.launch")


class StageCommandError(SeedbenchError):
    """A stage's command cannot be prepared on a worker (names the checkout and the launcher's message)."""


@dataclass(frozen=True)
class WarmCall:
    """``env`` assignments, the launcher's params file (``None``: no launcher), the script and its arguments."""

    env: tuple[tuple[str, str], ...]
    launcher_params: str | None
    script: str
    args: tuple[str, ...]


def parse_stage_cmd(cmd: str) -> WarmCall | None:
    """The :class:`WarmCall` of ``cmd``, or ``None`` when it must run through the shell."""
    if any(ch in cmd for ch in ";&|<>`$()\n\\*?~#"):
        return None
    try:
        tokens = shlex.split(cmd)
    except ValueError:
        return None
    env: list[tuple[str, str]] = []
    while tokens and _ASSIGNMENT.match(tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        env.append((name, value))
    launcher_params = None
    if len(tokens) >= 6 and tokens[0] in _PYTHON and tuple(tokens[1:3]) == _LAUNCHER:
        if tokens[3] != "--params" or tokens[5] != "--":
            return None
        launcher_params = tokens[4]
        tokens = tokens[6:]
    if len(tokens) < 2 or tokens[0] not in _PYTHON or not tokens[1].endswith(".py") or tokens[1].startswith("-"):
        return None
    return WarmCall(env=tuple(env), launcher_params=launcher_params, script=tokens[1], args=tuple(tokens[2:]))


def warm_environment(call: WarmCall, base: Mapping[str, str], repo: Path) -> dict[str, str]:
    """The environment ``call``'s script starts in: ``base`` and its assignments, then whatever the launcher sets.

    The launcher itself (the checkout's code, on ``base``'s ``PATH`` and
    ``PYTHONPATH``) is asked: it starts a Python that prints its environment,
    so the warm runner starts in exactly the environment the stage's command
    would give the script, by construction.
    """
    env = {**base, **dict(call.env)}
    if call.launcher_params is None:
        return env
    python = shutil.which("python", path=env.get("PATH")) or sys.executable
    show = "import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"
    proc = subprocess.run([python, *_LAUNCHER, "--params", call.launcher_params, "--", python, "-c", show],
                          cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StageCommandError(f"{repo}: the determinism launcher refused the stage's environment: "
                                f"{proc.stderr.strip()[-500:]}")
    return dict(json.loads(proc.stdout))
