"""``python -m seedbench.determinism.launch --params params.yaml -- COMMAND ...``: run COMMAND in the environment of a mode.

The variables of ``portable`` mode (:data:`seedbench.determinism.modes.PORTABLE_ENV`)
must be in the environment before Python starts: torch, MKL, oneDNN and
OpenBLAS read them once, when they first run. A DVC stage command is one shell
string, so dvc.yaml starts the train stage through this launcher::

    python -m seedbench.determinism.launch --params params.yaml -- python stages/train.py --params params.yaml

The mode is ``train.determinism`` of the (validated) params file, never text interpolated into
the shell command (``--determinism MODE`` names it directly, for use by hand). The launcher
replaces itself (``os.execvpe``) with COMMAND, the environment being
:func:`seedbench.determinism.modes.launch_environment`. ``native`` changes nothing.
The launcher never imports torch; the stage then checks the
variables again (``seedbench.determinism.modes.require_mode_environment``), so a
stage started without the launcher is refused, not silently native.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.determinism.modes import MODES, launch_environment, mode_environment


def build_parser() -> argparse.ArgumentParser:
    """The launcher's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m seedbench.determinism.launch",
        description="Start COMMAND with the environment variables of a determinism mode set before it starts.",
        epilog="example: python -m seedbench.determinism.launch --determinism portable -- python stages/train.py --params params.yaml ...",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--determinism", choices=MODES, help="the mode, by hand")
    mode.add_argument("--params", help="a params file: its train.determinism (validated) is the mode")
    parser.add_argument("--print-env", action="store_true", help="print the variables the mode sets and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and exec the command (returns only with ``--print-env`` or on a usage error)."""
    args = build_parser().parse_args(argv)
    if args.params is not None:
        from seedbench.core.params import load_params

        args.determinism = load_params(args.params).train.determinism
    if args.print_env:
        for name, value in mode_environment(args.determinism).items():
            print(f"{name}={value}")
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        build_parser().error("no command given after --")
    env = launch_environment(args.determinism, os.environ)
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"seedbench.determinism.launch: error: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execvpe does not return


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="seedbench.determinism.launch"))
