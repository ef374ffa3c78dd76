"""Descriptive metadata of a Hub dataset from its Croissant endpoint (never its hashes: those come from the tree API)."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from seedbench.core.errors import SourceError
from seedbench.core.hashing import redact_url
from seedbench.data.sources.hub_client import (
    API_TIMEOUT_S,
    LIBRARY_NAME,
    HubMetadata,
    hub_call,
)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def fetch_croissant(endpoint: str, repo_id: str) -> dict[str, Any]:
    """The Hub's Croissant JSON-LD of dataset ``repo_id`` (``GET {endpoint}/api/datasets/{repo}/croissant``)."""
    from seedbench.compat.huggingface_hub import (
        build_hf_headers,
        get_session,
        hf_raise_for_status,
    )

    url = f"{endpoint}/api/datasets/{repo_id}/croissant"
    with hub_call("read Croissant metadata", url):
        response = get_session().get(url, headers=build_hf_headers(library_name=LIBRARY_NAME), timeout=API_TIMEOUT_S)
        hf_raise_for_status(response)
    try:
        doc = response.json()
    except ValueError:
        raise SourceError(f"read Croissant metadata: {redact_url(url)} did not return JSON") from None
    if not isinstance(doc, dict):
        raise SourceError(f"read Croissant metadata: {redact_url(url)} did not return a JSON object")
    return doc


def _text(value: Any) -> str:
    """A Croissant value as text: strings as is, lists joined, ``{"@id"|"url"|"name": …}`` by that key."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return ", ".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("@id", "url", "name", "@value"):
            if isinstance(value.get(key), str):
                return value[key].strip()
    return ""


def croissant_metadata(doc: dict[str, Any]) -> HubMetadata:
    """Name, description, license and citation (``citeAs``) of a Croissant document; per-file hashes are ignored."""
    return HubMetadata(
        name=_text(doc.get("name")),
        description=_text(doc.get("description")),
        license=_text(doc.get("license")),
        citation=_text(doc.get("citeAs") or doc.get("citation")),
    )


def placeholder_hashes(doc: dict[str, Any]) -> int:
    """How many Croissant ``distribution`` entries carry a ``sha256`` that is not 64 hex digits (e.g. a URL)."""
    entries = doc.get("distribution") or []
    return sum(
        1 for e in entries if isinstance(e, dict) and "sha256" in e and not _HEX64.fullmatch(str(e["sha256"]).lower())
    )


def merge_metadata(explicit: HubMetadata, remote: HubMetadata | None) -> tuple[HubMetadata, dict[str, str]]:
    """Explicit (params) values win; empty ones are filled from ``remote``. Also returns where each came from."""
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for fld in fields(HubMetadata):
        mine = getattr(explicit, fld.name)
        theirs = getattr(remote, fld.name) if remote is not None else ""
        values[fld.name] = mine or theirs
        origin[fld.name] = "params" if mine else ("croissant" if theirs else "none")
    return HubMetadata(**values), origin
