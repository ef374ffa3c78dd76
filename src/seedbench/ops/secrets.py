"""Credentials never reach a message: which DVC options and environment variables hold secrets, and redaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from seedbench.core.hashing import redact_url

_SECRET_OPTION = re.compile(
    r"secret|password|passphrase|token|account_key|connection_string|key_id|sas_|session", re.IGNORECASE
)
_NOT_SECRET = frozenset({"credentialpath", "keyfile", "ask_password", "ask_passphrase", "token_auth"})

_REDACTED = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def is_secret_option(option: str) -> bool:
    """Whether a DVC remote option holds a credential (``secret_access_key``, ``password``, ``sas_token``, …)."""
    return option not in _NOT_SECRET and bool(_SECRET_OPTION.search(option))


def secrets_in_environment(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values of the variables in ``environ`` whose names look like credentials (for :func:`redact` only)."""
    pattern = re.compile(r"SECRET|PASSWORD|PASSPHRASE|TOKEN|ACCESS_KEY|ACCOUNT_KEY|CONNECTION_STRING|SAS", re.IGNORECASE)
    return tuple(value for name, value in environ.items() if pattern.search(name) and value)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every value in ``secrets`` and every URL ``user:password@`` part replaced by ``***``."""
    for value in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(value, _REDACTED)
    return redact_url(text)
