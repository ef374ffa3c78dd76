"""Exception types for user-actionable problems.

Every message names the file, key or argument at fault and what was expected.
The CLI edge (``seedbench.cli`` and the stage scripts) turns them into one-line
messages with exit status 2; anything else is a bug and keeps its traceback.
"""


class SeedbenchError(Exception):
    """Base class of every error a user can fix."""


class ParamsError(SeedbenchError):
    """A key or value in params.yaml is wrong (the message names the key path)."""


class MethodError(SeedbenchError):
    """A method file cannot be used: import error, missing factory, bad declaration, wrong output (names file:line, key)."""


class DataFormatError(SeedbenchError):
    """A data file is malformed or missing (the message names the file and line)."""


class DataIntegrityError(SeedbenchError):
    """A file's bytes do not match the hash they were pinned to."""


class SourceError(SeedbenchError):
    """A data source cannot deliver (unknown source, unreachable server, no match)."""


class DeterminismError(SeedbenchError):
    """Determinism was asked for and cannot be guaranteed (names the op or setting)."""


class ReplayError(SeedbenchError):
    """A replay cannot start: dirty manifest, wrong checkout, changed params (names what to do)."""


class RemoteError(SeedbenchError):
    """A DVC remote cannot be used (names the remote, the setting to fix and how; never a secret)."""
