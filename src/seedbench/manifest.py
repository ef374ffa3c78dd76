"""Run and experiment manifests: provenance that maps onto the NeurIPS checklist.

:func:`build_manifest` is pure (everything comes in as arguments);
:func:`write_manifest` does the I/O. Every manifest validates against the JSON
schema shipped in ``seedbench/schemas/manifest.schema.json``
(:data:`MANIFEST_SCHEMA_VERSION`). Manifests hold times and hosts, so they are
provenance, not results: they are not DVC outputs and never enter ``dvc.lock``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from seedbench.files import write_json

MANIFEST_SCHEMA_VERSION = "1.0"
MANIFEST_FILENAME = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """One manifest. ``kind`` is ``"run"`` (one training run) or ``"experiment"`` (all runs)."""

    schema_version: str
    kind: str
    run_id: str
    created_at: str
    git_sha: str | None
    dirty_flag: bool | None
    code_versions: dict[str, str | None]
    seeds: dict[str, Any]
    determinism: dict[str, Any]
    data_hashes: dict[str, str]
    config_hash: str
    config: dict[str, Any]
    env: dict[str, Any]
    gpu: dict[str, Any] | None
    wall_clock_seconds: float | None
    leakage: dict[str, Any] | None
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return dataclasses.asdict(self)


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no whitespace) used for hashing configs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def config_hash(config: Any) -> str:
    """``"sha256:<hex>"`` of the canonical JSON of ``config``."""
    return "sha256:" + hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def utc_now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds (the only clock read a manifest needs)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def build_manifest(
    *,
    kind: str,
    run_id: str,
    created_at: str,
    git: dict[str, Any],
    code_versions: dict[str, str | None],
    seeds: dict[str, Any],
    determinism: dict[str, Any],
    data_hashes: dict[str, str],
    config: dict[str, Any],
    env: dict[str, Any],
    gpu: dict[str, Any] | None = None,
    wall_clock_seconds: float | None = None,
    leakage: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Assemble a :class:`Manifest` from values already gathered (no I/O, no clock)."""
    if kind not in ("run", "experiment"):
        raise ValueError(f"kind must be 'run' or 'experiment', got {kind!r}")
    return Manifest(
        schema_version=MANIFEST_SCHEMA_VERSION,
        kind=kind,
        run_id=run_id,
        created_at=created_at,
        git_sha=git.get("git_sha"),
        dirty_flag=git.get("dirty"),
        code_versions=dict(code_versions),
        seeds=dict(seeds),
        determinism=dict(determinism),
        data_hashes=dict(sorted(data_hashes.items())),
        config_hash=config_hash(config),
        config=config,
        env=dict(env),
        gpu=gpu,
        wall_clock_seconds=wall_clock_seconds,
        leakage=leakage,
        extra=dict(extra or {}),
    )


def manifest_schema() -> dict[str, Any]:
    """The JSON schema every manifest conforms to."""
    text = resources.files("seedbench").joinpath("schemas/manifest.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def write_manifest(manifest: Manifest, run_dir: str | Path) -> Path:
    """Write ``manifest`` to ``run_dir/manifest.json`` atomically; returns the path."""
    path = Path(run_dir) / MANIFEST_FILENAME
    write_json(path, manifest.to_dict())
    return path
