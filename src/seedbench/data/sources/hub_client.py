"""What every Hugging Face Hub call of the hf source shares: the file and metadata records, and one error mapping.

:func:`hub_call` turns the client's exceptions (gated, not found, HTTP,
offline, transport) into one :class:`~seedbench.core.errors.SourceError` that
names the URL with credentials redacted and the params key to fix.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from seedbench.core.errors import SeedbenchError, SourceError
from seedbench.core.hashing import redact_url

COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
"""A pinned revision: a full git commit id."""

LIBRARY_NAME = "seedbench"
API_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HubMetadata:
    """Descriptive metadata of the dataset (``""`` = unknown / not given)."""

    name: str = ""
    description: str = ""
    license: str = ""
    citation: str = ""


@dataclass(frozen=True)
class HubFile:
    """One file of the tree listing at a commit.

    ``size`` in bytes; ``blob_id`` the git blob sha1 (40 hex); ``lfs_sha256``
    the LFS oid (64 hex, sha256 of the raw bytes) or ``None`` for a file kept
    in git itself.
    """

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None


# --------------------------------------------------------------------------- errors


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection/timeout exception types of whichever HTTP stack huggingface_hub uses."""
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                               ("requests", ("ConnectionError", "Timeout"))):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        source = getattr(module, "exceptions", module) if module_name == "requests" else module
        types.extend(t for name in names if isinstance(t := getattr(source, name, None), type))
    return tuple(types)


@contextmanager
def hub_call(action: str, url: str) -> Iterator[None]:
    """Run a huggingface_hub call; turn its failures into a :class:`SourceError` naming ``url`` (redacted)."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    shown = redact_url(url)
    try:
        yield
    except SeedbenchError:
        raise
    except GatedRepoError:
        raise SourceError(f"{action}: {shown}: the repository is gated; accept its terms on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise SourceError(
            f"{action}: repository not found: {shown} (check data.hf.repo_id and data.hf.repo_type; "
            "a private repository also needs HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise SourceError(f"{action}: revision not found: {shown} (check data.hf.revision)") from None
    except EntryNotFoundError:
        raise SourceError(f"{action}: file not found on the Hub: {shown}") from None
    except OfflineModeIsEnabled:
        raise SourceError(f"{action}: HF_HUB_OFFLINE is set, so {shown} cannot be reached; unset it to fetch") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else "?"
        raise SourceError(f"{action}: the Hub answered HTTP {status} for {shown}") from None
    except _transport_errors() as exc:
        raise SourceError(
            f"{action}: the Hugging Face Hub is unreachable at {shown} ({type(exc).__name__}); "
            "check the network connection or data.hf.endpoint"
        ) from None
