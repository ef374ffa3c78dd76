"""The manifest of one training run: gathers the provenance, then calls the pure :func:`build_manifest`.

Kept apart from :mod:`seedbench.provenance.manifest` (pure building and I/O) because this is
where the outside world is read: git, library versions, the environment
allow-list, GPUs, the stage's deps as DVC will lock them, prepared-data hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seedbench.core.hashing import file_sha256
from seedbench.core.params import Params, params_as_dict
from seedbench.data.record import dataset_hashes
from seedbench.provenance.dvclock import pipeline_git_state, stage_lock_record
from seedbench.provenance.environment import (
    environment_record,
    gpu_record,
    library_versions,
)
from seedbench.provenance.manifest import Manifest, build_manifest, utc_now_iso

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
    raw_dir: str | Path,
    prepared_dir: str | Path,
    wall_clock_seconds: float,
    repo_dir: str | Path = ".",
) -> Manifest:
    """The run manifest of ``train@<dataset>-<method>-<replicate>`` (reads git, env, GPUs, files)."""
    config = params_as_dict(params)
    prepared = Path(prepared_dir)
    return build_manifest(
        kind="run",
        run_id=f"{dataset}-{method}-{replicate}",
        created_at=utc_now_iso(),
        git=pipeline_git_state(repo_dir),
        code_versions=library_versions(),
        seeds=seeds,
        determinism={**determinism, "torch_threads_requested": params.train.torch_threads,
                     "torch_threads": torch_threads, "num_workers": params.train.num_workers},
        data_hashes=dataset_hashes(raw_dir, dataset),
        config={"dataset": dataset, "method": method, "replicate": replicate, "params": config},
        env=environment_record(),
        gpu=gpu_record(),
        wall_clock_seconds=wall_clock_seconds,
        leakage=leakage,
        dvc_lock=stage_lock_record(repo_dir, f"train@{dataset}-{method}-{replicate}", config),
        extra={
            "training": training_summary,
            "hparams": params.train.hparams(method),
            "prepared_sha256": {(prepared / n).as_posix(): file_sha256(prepared / n) for n in PREPARED_FILES},
        },
    )
