"""Content hashes and credential redaction: how a file or URL is named in a record.

Every stage that records where bytes came from (fetch, train, publish, replay)
uses these, so they live in ``core`` rather than in ``provenance``.
"""

from __future__ import annotations

import hashlib
import os
import re

HASH_CHUNK_BYTES = 4 * 1024 * 1024
"""Read size of :func:`file_sha256` (large chunks keep hashing at disk/CPU speed)."""


def file_sha256(path: str | os.PathLike[str], chunk_bytes: int = HASH_CHUNK_BYTES) -> str:
    """``"sha256:<hex>"`` of a file, streamed in ``chunk_bytes`` chunks (never read whole)."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return f"sha256:{digest.hexdigest()}"


def bytes_sha256(data: bytes) -> str:
    """``"sha256:<hex>"`` of in-memory bytes."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@``."""
    return _CREDENTIALS_IN_URL.sub(lambda m: f"{m.group('scheme')}***@", url)
