"""huggingface_hub internals and helpers outside its documented top-level API.

:func:`http_get` (``huggingface_hub.file_download.http_get``, internal) streams a
download into any writable object, so the Hub source hashes bytes while they
arrive; the ``utils`` helpers build the client's own headers and session, so a
token, a proxy or ``HF_ENDPOINT`` is honoured exactly as the client honours
them. Imports are lazy: importing this module does not import the client.
Re-check on a huggingface_hub upgrade (``PRIVATE_API`` is tested).
"""

from __future__ import annotations

from typing import Any

PRIVATE_API: tuple[tuple[str, str], ...] = (
    ("huggingface_hub.file_download", "http_get"),
    ("huggingface_hub.utils", "build_hf_headers"),
    ("huggingface_hub.utils", "filter_repo_objects"),
    ("huggingface_hub.utils", "get_session"),
    ("huggingface_hub.utils", "hf_raise_for_status"),
)


def http_get(url: str, temp_file: Any, **kwargs: Any) -> None:
    """``huggingface_hub.file_download.http_get``: stream ``url`` into ``temp_file`` (retries, resumes, proxies)."""
    from huggingface_hub.file_download import http_get as _http_get

    _http_get(url, temp_file, **kwargs)


def build_hf_headers(**kwargs: Any) -> dict[str, str]:
    """The client's request headers (user agent, ``HF_TOKEN`` as a bearer token)."""
    from huggingface_hub.utils import build_hf_headers as _build

    return _build(**kwargs)


def filter_repo_objects(items: Any, **kwargs: Any) -> Any:
    """The client's ``allow_patterns``/``ignore_patterns`` filter (the syntax ``data.hf.files`` promises)."""
    from huggingface_hub.utils import filter_repo_objects as _filter

    return _filter(items, **kwargs)


def get_session() -> Any:
    """The client's configured HTTP session."""
    from huggingface_hub.utils import get_session as _get_session

    return _get_session()


def hf_raise_for_status(response: Any) -> None:
    """Raise the client's typed error for a failed Hub response."""
    from huggingface_hub.utils import hf_raise_for_status as _raise

    _raise(response)
