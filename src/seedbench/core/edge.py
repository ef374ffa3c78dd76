"""The one place where errors become messages: the edge between seedbench and its user.

:func:`run_user_errors_as_messages` wraps every entry point (the ``seedbench``
console script, each DVC stage script, the determinism launcher):

- a :class:`~seedbench.core.errors.SeedbenchError` becomes one line on stderr and exit status 2;
- so do the third-party errors a user can cause and fix (:func:`foreseeable_message`): a path
  that is not a directory, is a directory, is missing or may not be read, and DVC's repository
  lock held by another DVC process (a running ``dvc repro``);
- Ctrl-C (``KeyboardInterrupt``) becomes one line and exit status 130, the shell's
  convention for SIGINT; whatever the command started has been stopped and its staging
  folders removed on the way out (``seedbench.core.files``).

With ``--debug`` (or ``SEEDBENCH_DEBUG=1``) the traceback is shown instead. A
check that ran and failed (``compare``, ``verify-data``) exits 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from seedbench.core.errors import SeedbenchError

EXIT_CHECK_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT: what a shell reports for a command stopped by Ctrl-C."""

_DVC_LOCK_ERRORS = {("dvc.lock", "LockError"), ("dvc.exceptions", "LockError")}


def foreseeable_message(exc: BaseException) -> str | None:
    """One line for a third-party error a user can fix, or ``None`` (a bug: keep the traceback).

    Parameters
    ----------
    exc
        The exception that reached the edge.
    """
    if (type(exc).__module__, type(exc).__name__) in _DVC_LOCK_ERRORS:
        return ("the DVC repository is locked by another DVC process (a running `dvc repro` or `dvc exp run`?); "
                "wait for it to finish and retry")
    kinds = {
        NotADirectoryError: "not a directory",
        IsADirectoryError: "is a directory, not a file",
        PermissionError: "permission denied",
        FileNotFoundError: "no such file or directory",
    }
    for kind, text in kinds.items():
        if isinstance(exc, kind) and exc.filename is not None:
            return f"{exc.filename}: {text}"
    return None


def _debugging(debug: bool | None) -> bool:
    return bool(debug or (debug is None and os.environ.get("SEEDBENCH_DEBUG") == "1"))


def one_line_interrupts(prog: str) -> None:
    """Make a Ctrl-C that lands before :func:`run_user_errors_as_messages` runs (while a stage imports torch) one line.

    Installs a ``sys.excepthook`` that prints ``prog: interrupted (Ctrl-C)`` for an
    uncaught ``KeyboardInterrupt``; Python then ends the process by SIGINT, which a
    shell reports as status 130. Other exceptions keep the previous hook. Call it
    first thing in an entry-point script.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: object) -> None:
        if issubclass(kind, KeyboardInterrupt) and not _debugging(None):
            print(f"{prog}: interrupted (Ctrl-C)", file=sys.stderr)
            return
        previous(kind, value, tb)  # type: ignore[arg-type]

    sys.excepthook = hook


def run_user_errors_as_messages(main: Callable[[], int | None], *, prog: str, debug: bool | None = None) -> int:
    """Call ``main``; turn a user error into ``prog: error: …`` (exit 2) and Ctrl-C into ``prog: interrupted`` (130).

    With ``debug`` (default: ``SEEDBENCH_DEBUG=1`` in the environment) the exception propagates.
    """
    try:
        return int(main() or 0)
    except SeedbenchError as exc:
        if _debugging(debug):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if _debugging(debug):
            raise
        print(f"{prog}: interrupted (Ctrl-C); outputs of unfinished steps were not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = foreseeable_message(exc)
        if message is None or _debugging(debug):
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
