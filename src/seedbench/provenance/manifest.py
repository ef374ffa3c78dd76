"""Run and experiment manifests: the deterministic provenance that maps onto the NeurIPS checklist.

:func:`build_manifest` is pure (everything comes in as arguments);
:func:`write_manifest` does the I/O. Every manifest validates against the JSON
schema shipped in ``seedbench/provenance/schemas/manifest.schema.json``
(:data:`MANIFEST_SCHEMA_VERSION`).

A manifest holds only what is the same bytes when the same stage re-runs on the
same machine (seeds, config, data and code hashes, library versions,
determinism settings, the machine's description), so it is a DVC output of the
stage that writes it: ``dvc.lock`` pins it, the run-cache restores it together
with the results it describes, and it travels with ``dvc exp push``/``pull``
and ``git checkout`` + ``dvc checkout``. What changes from run to run (times,
host, the git state of the working tree, the experiment's name) is the
*volatile* record beside it (:mod:`seedbench.provenance.volatile`).
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

from seedbench.core.errors import DataFormatError
from seedbench.core.files import write_json
from seedbench.core.names import MANIFEST_FILENAME

MANIFEST_SCHEMA_VERSION = "3.0"


@dataclass(frozen=True)
class Manifest:
    """One manifest. ``kind`` is ``"run"`` (one training run) or ``"experiment"`` (all runs, publish stage).

    Fields (the NeurIPS checklist table in the README maps items onto them):
    ``code_hashes`` (md5 of every pipeline code file, DVC's scheme: the code
    version, checked against a commit by ``seedbench replay``),
    ``code_versions`` (seedbench, python and every library that matters),
    ``seeds``, ``determinism`` (flags, allow-listed env vars, torch threads),
    ``data_hashes`` (sha256 of every raw input, from SOURCE.json), ``config_hash``
    (sha256 of the canonical JSON of ``config``), ``env`` (python, platform, CPU),
    ``gpu_info``/``cuda_version``/``cudnn_version`` (``None`` without a GPU / CUDA),
    ``leakage``, ``dvc_lock`` (the stage's deps as DVC
    locks them), ``runs`` (experiment only: every run with its results), ``extra``.
    """

    schema_version: str
    kind: str
    run_id: str
    code_hashes: dict[str, str]
    code_versions: dict[str, str | None]
    seeds: dict[str, Any]
    determinism: dict[str, Any]
    data_hashes: dict[str, str]
    config_hash: str
    config: dict[str, Any]
    env: dict[str, Any]
    gpu_info: list[dict[str, Any]] | None
    cuda_version: str | None
    cudnn_version: int | str | None
    leakage: dict[str, Any] | None
    dvc_lock: dict[str, Any] | None
    runs: list[dict[str, Any]] | None
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
    """Current UTC time, ISO 8601 with seconds (the only clock read provenance needs: volatile records)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def manifest_digest(data: dict[str, Any]) -> str:
    """``"sha256:<hex>"`` of a manifest's canonical JSON: links a volatile record to the manifest it was written with."""
    return config_hash(data)


def build_manifest(
    *,
    kind: str,
    run_id: str,
    code_hashes: dict[str, str],
    code_versions: dict[str, str | None],
    seeds: dict[str, Any],
    determinism: dict[str, Any],
    data_hashes: dict[str, str],
    config: dict[str, Any],
    env: dict[str, Any],
    gpu: dict[str, Any] | None = None,
    leakage: dict[str, Any] | None = None,
    dvc_lock: dict[str, Any] | None = None,
    runs: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Assemble a :class:`Manifest` from values already gathered (no I/O, no clock).

    Parameters
    ----------
    code_hashes
        ``{repository-relative path: md5}`` of the pipeline's code
        (:func:`seedbench.provenance.dvclock.code_hashes`).
    env
        :func:`seedbench.provenance.environment.environment_record`; its ``env_vars`` (the
        allow-listed variables that change numerics) are also copied into
        ``determinism["env_vars"]`` unless that key is given.
    gpu
        :func:`seedbench.provenance.environment.gpu_record` (split into ``gpu_info``,
        ``cuda_version``, ``cudnn_version``), or ``None`` (all three ``None``).
    runs
        Experiment manifests only: one entry per run (results, hashes, lock entry).
    """
    if kind not in ("run", "experiment"):
        raise ValueError(f"kind must be 'run' or 'experiment', got {kind!r}")
    if (runs is not None) != (kind == "experiment"):
        raise ValueError("runs: required for an experiment manifest, and only there")
    gpu = gpu or {}
    determinism = dict(determinism)
    determinism.setdefault("env_vars", dict(env.get("env_vars") or {}))
    return Manifest(
        schema_version=MANIFEST_SCHEMA_VERSION,
        kind=kind,
        run_id=run_id,
        code_hashes=dict(sorted(code_hashes.items())),
        code_versions=dict(code_versions),
        seeds=dict(seeds),
        determinism=determinism,
        data_hashes=dict(sorted(data_hashes.items())),
        config_hash=config_hash(config),
        config=config,
        env=dict(env),
        gpu_info=gpu.get("gpus") or None,
        cuda_version=gpu.get("cuda_version"),
        cudnn_version=gpu.get("cudnn_version"),
        leakage=leakage,
        dvc_lock=dvc_lock,
        runs=runs,
        extra=dict(extra or {}),
    )


def manifest_schema() -> dict[str, Any]:
    """The JSON schema every manifest conforms to."""
    text = resources.files("seedbench.provenance").joinpath("schemas/manifest.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate_manifest(data: dict[str, Any], where: str = "manifest") -> None:
    """Check ``data`` against the shipped schema; :class:`DataFormatError` names the first problem."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(manifest_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        at = "/".join(str(p) for p in err.path) or "(top level)"
        raise DataFormatError(f"{where}: not a seedbench {MANIFEST_SCHEMA_VERSION} manifest: at {at}: {err.message}")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest file and validate it against the schema (:class:`DataFormatError` when it fails)."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: manifest not found (the publish stage writes publish/manifest.json)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataFormatError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataFormatError(f"{p}: expected a JSON object")
    validate_manifest(data, str(p))
    return data


def write_manifest(manifest: Manifest, run_dir: str | Path) -> Path:
    """Write ``manifest`` to ``run_dir/manifest.json`` atomically; returns the path."""
    path = Path(run_dir) / MANIFEST_FILENAME
    write_json(path, manifest.to_dict())
    return path
