"""Pieces of the experiment-level manifest: the run matrix, its seeds, the run manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seedbench.errors import DataFormatError
from seedbench.files import read_json
from seedbench.manifest import MANIFEST_FILENAME
from seedbench.params import Params
from seedbench.seeding import derive_seed, replicate_seed

RunKey = tuple[str, str, int]
"""(dataset, method, replicate)."""


def run_keys(params: Params) -> list[RunKey]:
    """Every (dataset, method, replicate) of the experiment, in params order."""
    return [(d, m, r) for d in params.data.datasets for m in params.methods for r in params.replicates]


def run_dir(runs_root: Path, key: RunKey) -> Path:
    """``runs/<dataset>/<method>/rep_<r>``."""
    dataset, method, replicate = key
    return runs_root / dataset / method / f"rep_{replicate}"


def experiment_seeds(params: Params) -> dict[str, Any]:
    """The experiment seed and every seed derived from it for this run matrix."""
    return {
        "experiment_seed": params.seed,
        "replicate_seeds": {str(r): replicate_seed(params.seed, r) for r in params.replicates},
        "validation_split_seeds": {str(r): derive_seed(params.seed, "validation-split", r) for r in params.replicates},
        "data_order_seeds": {str(r): derive_seed(params.seed, "data-order", r) for r in params.replicates},
        "bootstrap_seed": derive_seed(params.seed, "bootstrap"),
        "data_seed": params.data.builtin.seed if params.data.source == "builtin" else None,
    }


def read_run_manifests(runs_root: Path, keys: list[RunKey]) -> list[dict[str, Any]]:
    """The manifest of every run in ``keys`` (raises :class:`DataFormatError` naming a missing one)."""
    manifests = []
    for key in keys:
        path = run_dir(runs_root, key) / MANIFEST_FILENAME
        if not path.is_file():
            raise DataFormatError(f"{path}: run manifest missing; rerun that training stage (`dvc repro --force train@{key[0]}-{key[1]}-{key[2]}`)")
        manifests.append(read_json(path))
    return manifests
