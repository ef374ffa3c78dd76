"""The one place where errors become messages: the edge between seedbench and its user.

:func:`run_user_errors_as_messages` wraps every entry point (the ``seedbench``
console script, each DVC stage script, the determinism launcher): a
:class:`~seedbench.core.errors.SeedbenchError` becomes one line on stderr and
exit status 2; with ``--debug`` (or ``SEEDBENCH_DEBUG=1``) the traceback is
shown instead. A check that ran and failed (``compare``, ``verify-data``)
exits 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from seedbench.core.errors import SeedbenchError

EXIT_CHECK_FAILED = 1
EXIT_USER_ERROR = 2


def run_user_errors_as_messages(main: Callable[[], int | None], *, prog: str, debug: bool | None = None) -> int:
    """Call ``main``; turn a :class:`SeedbenchError` into ``prog: error: …`` and exit status 2.

    With ``debug`` (default: ``SEEDBENCH_DEBUG=1`` in the environment) the exception propagates.
    """
    try:
        return int(main() or 0)
    except SeedbenchError as exc:
        if debug or (debug is None and os.environ.get("SEEDBENCH_DEBUG") == "1"):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
