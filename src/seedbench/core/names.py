"""One owner per fact: the names, lists and orders that several subpackages share.

File names of a run's outputs, the run key, the reproducibility levels and
their order, the C-MAPSS subsets, sensors and raw-file kinds, the built-in
methods, the methods folder and the determinism modes are defined here once and imported
everywhere else (scikit-learn's rule: re-export, never redefine). Seed-stream
names live beside the derivation in :mod:`seedbench.core.seeds`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# ----------------------------------------------------------------- files of a run and of the pipeline
RESULTS_FILENAME = "results.json"
"""A run's test metrics and identity (train stage), ``runs/<dataset>/<method>/rep_<r>/results.json``."""
PREDICTIONS_FILENAME = "predictions.csv"
"""A run's test predictions, one row per test unit (train stage)."""
MODEL_FILENAME = "model.pt"
"""A run's trained model, serialised through memory so its bytes are deterministic (train stage)."""
LIVE_DIRNAME = "dvclive"
"""A run's per-epoch DVCLive logs (train stage)."""
MANIFEST_FILENAME = "manifest.json"
"""Deterministic provenance of a run or an experiment: a DVC output of the stage that writes it (README, "Provenance")."""
VOLATILE_FILENAME = "volatile.json"
"""Volatile provenance beside a manifest (times, host, git state): neither git- nor DVC-tracked."""
PARAMS_FILENAME = "params.yaml"
"""The experiment's params file at the repository root."""
CODE_ROOTS: tuple[str, ...] = ("stages", "src", "methods")
"""Top-level folders holding pipeline code: a stage dep below one of them is code (recorded in ``code_hashes``)."""
RUN_INTERVALS_FILENAME = "run_intervals.json"
"""Every run's bootstrap interval of test RMSE over units (aggregate stage), ``reports/run_intervals.json``."""
SOURCE_RECORD_NAME = "SOURCE.json"
"""``data/raw/SOURCE.json``: where every raw file came from, with its sha256."""

RunKey = tuple[str, str, int]
"""A run of the matrix: ``(dataset, method, replicate)``."""


def run_dir_name(replicate: int) -> str:
    """The folder of replicate ``replicate`` under ``runs/<dataset>/<method>/``."""
    return f"rep_{replicate}"


RAW_DIR = "data/raw"
"""Where ``fetch`` puts the raw files (``data/raw/<dataset>/``)."""
PREPARED_DIR = "data/prepared"
"""Where ``prepare@<dataset>`` writes (``data/prepared/<dataset>/``)."""
RUNS_DIR = "runs"
"""Where the matrix stage ``train@…`` writes (``runs/<dataset>/<method>/rep_<r>/``)."""
REPORTS_DIR = "reports"
"""Where ``aggregate`` writes its reports (``reports/summary.json``, ``reports/run_intervals.json``, …)."""


def run_dir(key: RunKey) -> str:
    """``runs/<dataset>/<method>/rep_<r>`` (POSIX, repository-relative), as dvc.yaml declares it."""
    dataset, method, replicate = key
    return f"{RUNS_DIR}/{dataset}/{method}/{run_dir_name(replicate)}"


# ----------------------------------------------------------------- stage names of dvc.yaml's matrix
STAGE_ENV_VAR = "DVC_STAGE"
"""Set by DVC for every stage command: the stage's address, e.g. ``train@FD001-mlp-0``.

The matrix stages read their item from it instead of from interpolated command-line text, so no
params value ever reaches a shell (README, "Security and failure model").
"""


def matrix_stage_name(group: str, item: Sequence[Any]) -> str:
    """DVC's name of a ``foreach``/``matrix`` item: ``train@FD001-mlp-0`` for ``("FD001", "mlp", 0)``."""
    return f"{group}@{'-'.join(str(v) for v in item)}"


def item_of_stage(stage: str | None, group: str, items: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The item of ``items`` whose matrix stage name is ``stage`` (``dvc.yaml:`` prefixes allowed).

    ``items`` come from validated params, so what is returned is validated too;
    ``stage`` is only ever compared, never parsed into values. Raises
    :class:`~seedbench.core.errors.ParamsError` when no item matches.
    """
    from seedbench.core.errors import ParamsError

    if not stage:
        raise ParamsError(
            f"{STAGE_ENV_VAR}: not set; run this stage through DVC (`dvc repro {group}@…`), or name the item: "
            f"--stage {group}@… (or --dataset/--method/--replicate)"
        )
    name = stage.rpartition(":")[2]
    items = list(items)
    for item in items:
        if matrix_stage_name(group, item) == name:
            return item
    shown = ", ".join(matrix_stage_name(group, i) for i in items[:4]) + (", …" if len(items) > 4 else "")
    raise ParamsError(f"{STAGE_ENV_VAR}: {name[:120]!r} is not a {group} stage of params.yaml (expected one of {shown})")


# ----------------------------------------------------------------- reproducibility levels
LEVELS: tuple[str, ...] = ("bit", "seed", "distribution")
"""The three reproducibility levels of the GRACE recipe, strongest first."""

LEVEL_STRENGTH: dict[str, int] = {level: len(LEVELS) - 1 - i for i, level in enumerate(LEVELS)}
"""``{"bit": 2, "seed": 1, "distribution": 0}``: the larger, the stronger the promise."""


def weakest_level(*levels: str) -> str:
    """The weakest of ``levels`` (what two runs can promise each other is the least any part allows)."""
    return min(levels, key=LEVEL_STRENGTH.__getitem__)


# ----------------------------------------------------------------- data
KNOWN_DATASETS: tuple[str, ...] = ("FD001", "FD002", "FD003", "FD004")
"""C-MAPSS subsets the pipeline knows how to read (and the simulator how to make)."""

SETTING_NAMES: tuple[str, ...] = ("setting1", "setting2", "setting3")
"""The three operating-setting columns of a C-MAPSS row."""

SENSOR_NAMES: tuple[str, ...] = tuple(f"s{i}" for i in range(1, 22))
"""The 21 sensor columns of a C-MAPSS row, ``s1`` … ``s21``."""

RAW_FILE_KINDS: tuple[str, ...] = ("train", "test", "RUL")
"""The three files of a C-MAPSS subset: ``<kind>_<dataset>.txt``."""

SHA256_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
"""How every hash is written: ``sha256:`` and 64 lowercase hex digits."""

# ----------------------------------------------------------------- training
METHODS_DIR = "methods"
"""Folder of method files, relative to the repository root: ``methods/<name>.py`` is method ``<name>``
(README, "Benchmark your own method in 10 minutes"; declaration: ``seedbench.core.methodspec``)."""

def methods_dir_of(stage_script: str) -> str:
    """The ``methods/`` folder of the checkout holding ``stage_script`` (``stages/<name>.py``), POSIX.

    Relative to the working directory when below it (as DVC runs stages: ``methods``), so a stage
    validates params against its own checkout's method files wherever it is started from.
    """
    from pathlib import Path

    folder = Path(stage_script).resolve().parents[1] / METHODS_DIR
    try:
        return folder.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return folder.as_posix()


BUILTIN_METHODS: tuple[str, ...] = ("linear", "mlp", "cnn1d", "bilstm")
"""The methods shipped in ``methods/`` as worked examples, in the order reports list them first."""

DETERMINISM_MODES: tuple[str, ...] = ("native", "portable")
"""Values of ``params.yaml: train.determinism``."""

DEVICES: tuple[str, ...] = ("cpu", "cuda")
"""Values of ``params.yaml: train.device`` (``cuda`` = torch's current CUDA device, index 0 unless ``CUDA_VISIBLE_DEVICES``)."""

PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16")
"""Values of ``params.yaml: train.precision``: IEEE float32, TF32 tensor cores for float32 products, bfloat16 autocast."""

CPU_PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
"""Precisions ``train.device: cpu`` accepts (TF32 is a CUDA tensor-core format)."""

CUBLAS_ENV_VAR = "CUBLAS_WORKSPACE_CONFIG"
"""Environment variable that makes cuBLAS deterministic (read when cuBLAS first creates a handle)."""

CUBLAS_WORKSPACE_CONFIGS: tuple[str, ...] = (":4096:8", ":16:8")
"""Values of ``CUBLAS_WORKSPACE_CONFIG`` that NVIDIA documents as deterministic."""

CUBLAS_DEFAULT = ":4096:8"
"""The value the launcher (``seedbench.determinism.launch``) and dvc.yaml set when the variable is absent."""

PORTABLE_MAX_BATCH_SIZE = 32_768
"""Largest ``batch_size`` portable mode accepts (params validation refuses more).

ATen sums more than 32,768 elements to one number in per-thread pieces (its
grain size), so a mini-batch loss or output-bias gradient over more windows
would depend on ``train.torch_threads`` (measured: 32,769 elements differ with
1 and 2 threads).
"""
