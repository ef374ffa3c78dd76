"""The manifest of one training run: gathers the provenance, then calls the pure :func:`build_manifest`.

Kept apart from :mod:`seedbench.provenance.manifest` (pure building and I/O) because this is
where the outside world is read: code and library versions, the environment
allow-list, GPUs, the stage's deps as DVC will lock them, prepared-data hashes
(deterministic: the manifest), and git, the clock and the host (the volatile record).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seedbench.core.errors import DataFormatError
from seedbench.core.hashing import file_sha256
from seedbench.core.params import Params, params_as_dict
from seedbench.provenance.dvclock import (
    DVC_YAML,
    code_deps,
    code_hashes,
    pipeline_git_state,
    read_yaml,
    stage_deps,
    stage_lock_record,
)
from seedbench.provenance.environment import (
    environment_record,
    gpu_record,
    host_name,
    library_versions,
)
from seedbench.provenance.manifest import Manifest, build_manifest, utc_now_iso
from seedbench.provenance.volatile import build_volatile_record

PREPARED_FILES: tuple[str, ...] = ("train.npz", "test.npz", "prepare.json")


def run_manifest(
    *,
    dataset: str,
    method: str,
    replicate: int,
    params: Params,
    seeds: dict[str, Any],
    determinism: dict[str, Any],
    torch_threads: int,
    leakage: dict[str, Any],
    training_summary: dict[str, Any],
    data_hashes: dict[str, str],
    prepared_dir: str | Path,
    repo_dir: str | Path = ".",
) -> Manifest:
    """The run manifest of ``train@<dataset>-<method>-<replicate>`` (reads code, env, GPUs, files; no clock, no git)."""
    config = params_as_dict(params)
    prepared = Path(prepared_dir)
    root = Path(repo_dir)
    stage = f"train@{dataset}-{method}-{replicate}"
    return build_manifest(
        kind="run",
        run_id=f"{dataset}-{method}-{replicate}",
        code_hashes=train_code_hashes(root, stage, config),
        code_versions=library_versions(),
        seeds=seeds,
        determinism={**determinism, "torch_threads_requested": params.train.torch_threads,
                     "torch_threads": torch_threads, "num_workers": params.train.num_workers},
        data_hashes=data_hashes,
        config={"dataset": dataset, "method": method, "replicate": replicate, "params": config},
        env=environment_record(),
        gpu=gpu_record(),
        leakage=leakage,
        dvc_lock=stage_lock_record(repo_dir, stage, config),
        extra={
            "training": training_summary,
            "hparams": params.train.hparams(method),
            "prepared_sha256": {(prepared / n).as_posix(): file_sha256(prepared / n) for n in PREPARED_FILES},
        },
    )


def train_code_hashes(root: Path, stage: str, config: dict[str, Any]) -> dict[str, str]:
    """``{file: md5}`` of the code ``stage`` depends on (``{}`` outside a pipeline: no dvc.yaml or no such stage)."""
    if not (root / DVC_YAML).is_file():
        return {}
    try:
        return code_hashes(root, code_deps(stage_deps(read_yaml(root / DVC_YAML), stage, config)))
    except DataFormatError:
        return {}


def volatile_record(manifest: Manifest, *, kind: str, wall_clock_seconds: float | None,
                    experiment: dict[str, str] | None, repo_dir: str | Path = ".") -> dict[str, Any]:
    """The volatile record of ``manifest``: now, this host, the checkout's git state, the DVC experiment."""
    return build_volatile_record(
        kind=kind, manifest=manifest.to_dict(), created_at=utc_now_iso(), wall_clock_seconds=wall_clock_seconds,
        host=host_name(), git=pipeline_git_state(repo_dir), experiment=experiment,
    )
