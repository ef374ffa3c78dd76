"""The ``seedbench`` command and the one place where errors become messages.

:func:`run_user_errors_as_messages` wraps every entry point (the console
script and each DVC stage script): a :class:`~seedbench.errors.SeedbenchError`
becomes one line on stderr and exit status 2; with ``--debug`` (or
``SEEDBENCH_DEBUG=1``) the traceback is shown instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from seedbench.errors import SeedbenchError

EXIT_USER_ERROR = 2


def run_user_errors_as_messages(main: Callable[[], int | None], *, prog: str) -> int:
    """Call ``main``; turn a :class:`SeedbenchError` into ``prog: error: …`` and exit status 2."""
    try:
        return int(main() or 0)
    except SeedbenchError as exc:
        if os.environ.get("SEEDBENCH_DEBUG") == "1":
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _cmd_params_reference(_: argparse.Namespace) -> int:
    from seedbench.params import reference_markdown

    sys.stdout.write(reference_markdown())
    return 0


def _cmd_check_params(args: argparse.Namespace) -> int:
    from seedbench.params import load_params

    load_params(args.params)
    print(f"{args.params}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``seedbench``."""
    parser = argparse.ArgumentParser(prog="seedbench", description="Multi-seed benchmarks a stranger can re-run.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    ref = sub.add_parser("params-reference", help="print the params.yaml reference (Markdown)",
                         description="Print every params.yaml key with its type and meaning.\n\nexample: seedbench params-reference")
    ref.set_defaults(func=_cmd_params_reference)
    check = sub.add_parser("check-params", help="validate a params file",
                           description="Validate a params file against the schema.\n\nexample: seedbench check-params params.yaml")
    check.add_argument("params", nargs="?", default="params.yaml")
    check.set_defaults(func=_cmd_check_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seedbench`` console script."""
    args = build_parser().parse_args(argv)
    if args.debug:
        os.environ["SEEDBENCH_DEBUG"] = "1"
    return run_user_errors_as_messages(lambda: args.func(args), prog="seedbench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
