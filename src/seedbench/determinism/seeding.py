"""Process-global random state and torch's determinism flags for one training run.

:func:`set_global_seeds` runs, in order, one-job functions: :func:`cpu_determinism`
(the CPU mode's checks and settings), :func:`check_cuda_environment`,
:func:`check_hash_seed`, :func:`seed_everything` (``random``, NumPy's global
state, torch CPU and CUDA from one replicate seed) and
:func:`set_deterministic_flags`; the DataLoader's generator and workers are
seeded by :func:`dataloader_generator` and :func:`seed_worker`. Each returns or
records what it set for the manifest. ``PYTHONHASHSEED`` and ``CUBLAS_WORKSPACE_CONFIG`` must be in the
environment before Python / CUDA start; they are checked and recorded here,
not silently fixed. Seeds themselves are derived in :mod:`seedbench.core.seeds`.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from seedbench.compat.torch import set_deterministic_algorithms
from seedbench.core.errors import DeterminismError, ParamsError
from seedbench.core.names import (
    CUBLAS_DEFAULT,
    CUBLAS_ENV_VAR,
    CUBLAS_WORKSPACE_CONFIGS,
)
from seedbench.core.seeds import check_seed

# Everything here touches process-global random state or torch's determinism flags. torch is imported
# inside the functions so that importing this module stays cheap.

_NO_DETERMINISTIC_KERNEL = "does not have a deterministic implementation"
_CUBLAS_RUNTIME_MESSAGE = "CUBLAS_WORKSPACE_CONFIG"


def ensure_cublas_workspace_config(environ: MutableMapping[str, str] | None = None) -> str:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` to :data:`CUBLAS_DEFAULT` when absent; return the value now set.

    Call it before ``import torch``; the launcher (``seedbench.determinism.launch``)
    does the same for the process it starts. An existing value is never overwritten: :func:`require_cublas_workspace_config`
    rejects a wrong one instead of silently replacing it.
    """
    env = os.environ if environ is None else environ
    if not env.get(CUBLAS_ENV_VAR):
        env[CUBLAS_ENV_VAR] = CUBLAS_DEFAULT
    return env[CUBLAS_ENV_VAR]


def require_cublas_workspace_config(environ: Mapping[str, str] | None = None) -> str:
    """Return ``CUBLAS_WORKSPACE_CONFIG`` if it is one of :data:`CUBLAS_WORKSPACE_CONFIGS`.

    Raises
    ------
    DeterminismError
        When the variable is unset or has another value: cuBLAS would then pick
        reduction strategies at run time and GPU results would not repeat.
    """
    env = os.environ if environ is None else environ
    value = env.get(CUBLAS_ENV_VAR)
    if value not in CUBLAS_WORKSPACE_CONFIGS:
        raise DeterminismError(
            f"{CUBLAS_ENV_VAR}={value!r}: deterministic GPU training needs one of "
            f"{', '.join(CUBLAS_WORKSPACE_CONFIGS)}, set in the environment before torch initialises CUDA "
            f"(e.g. `export {CUBLAS_ENV_VAR}={CUBLAS_DEFAULT}`)"
        )
    return value


def seed_torch(seed: int) -> int:
    """Seed torch's CPU generator and every CUDA device's generator with ``seed``; return it.

    ``torch.cuda.manual_seed_all`` is lazy and harmless without CUDA.
    """
    import torch

    seed = check_seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    return seed


def seed_python_and_numpy(seed: int) -> int:
    """Seed Python's ``random`` and NumPy's legacy global state with ``seed``; return it.

    Explicit :class:`numpy.random.Generator` streams (``seedbench.core.seeds.generator``)
    never read this global state.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    return seed


def seed_everything(seed: int) -> int:
    """Seed ``random``, NumPy's global state, torch's CPU generator and every CUDA device; return ``seed``."""
    seed_python_and_numpy(seed)
    return seed_torch(seed)


def set_deterministic_flags(deterministic: bool, *, warn_only: bool = False) -> None:
    """cuDNN's flags and torch's deterministic-algorithms flag, on or back to torch's permissive defaults.

    With ``deterministic``: ``cudnn.deterministic=True``, ``cudnn.benchmark=False``
    and ``torch.use_deterministic_algorithms(True, warn_only=warn_only)``;
    without it the flags are off (``benchmark`` stays off), so the call always
    leaves a known state. Read them back with :func:`deterministic_flags`.
    """
    import torch

    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = False
    set_deterministic_algorithms(bool(deterministic), warn_only=bool(warn_only) if deterministic else False)


def deterministic_flags() -> dict[str, bool]:
    """torch's determinism flags as torch reports them back (for the manifest)."""
    import torch

    return {
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "deterministic_algorithms_warn_only": bool(torch.is_deterministic_algorithms_warn_only_enabled()),
    }


def check_hash_seed(environ: Mapping[str, str]) -> str | None:
    """``PYTHONHASHSEED`` as seen (``None`` when unset, with a warning: it cannot be set from inside Python)."""
    hash_seed = environ.get("PYTHONHASHSEED")
    if hash_seed is None:
        warnings.warn(
            "PYTHONHASHSEED is unset: string hashing is randomised in this interpreter and cannot be "
            "pinned from inside it; start Python with PYTHONHASHSEED=0 (recorded as null)",
            stacklevel=3,
        )
    return hash_seed


def check_cuda_environment(deterministic: bool, environ: Mapping[str, str]) -> dict[str, Any]:
    """Whether CUDA is visible and, when deterministic GPU training needs it, that ``CUBLAS_WORKSPACE_CONFIG`` is valid.

    Returns ``{"cuda_available", "cuda_device_count", "cublas_workspace_config"}``.
    """
    import torch

    cuda_available = bool(torch.cuda.is_available())
    if deterministic and cuda_available:
        require_cublas_workspace_config(environ)
    return {
        "cuda_available": cuda_available,
        "cuda_device_count": int(torch.cuda.device_count()) if cuda_available else 0,
        "cublas_workspace_config": environ.get(CUBLAS_ENV_VAR),
    }


def cpu_determinism(determinism: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Check and record the CPU determinism mode, then apply its in-process settings; return the record.

    The record is :func:`seedbench.determinism.settings.determinism_record`
    (mode, dispatch variables as seen, ATen capability, CPU, library versions);
    the settings are :func:`~seedbench.determinism.settings.apply_mode_settings`
    (call :func:`set_torch_threads` first).
    """
    from seedbench.determinism.modes import DISPATCH_ENV_VARS
    from seedbench.determinism.settings import apply_mode_settings, determinism_record
    from seedbench.provenance.environment import cpu_flags_summary, cpu_model

    record = determinism_record(
        determinism, {name: environ.get(name) for name in DISPATCH_ENV_VARS},
        cpu_model=cpu_model(), cpu_flags=cpu_flags_summary(), cpu_count=os.cpu_count(),
    )
    apply_mode_settings(determinism)
    return record


def device_and_precision(device: str, precision: str) -> dict[str, Any]:
    """Refuse an unusable ``device``, set ``precision``'s float32 flags; return :func:`~seedbench.determinism.devices.device_record`.

    For ``cuda`` the record names the GPU trained on (model, capability, driver,
    CUDA, cuDNN: :func:`seedbench.provenance.environment.gpu_record`).
    """
    from seedbench.determinism.devices import (
        current_cuda_index,
        device_record,
        require_device,
        set_float_precision,
        used_gpu,
    )

    require_device(device)
    fp32 = set_float_precision(precision)
    gpu = None
    if device == "cuda":
        from seedbench.provenance.environment import gpu_record

        gpu = used_gpu(gpu_record(), current_cuda_index())
    return device_record(device, precision, fp32, gpu)


def set_global_seeds(
    seed: int,
    *,
    deterministic: bool = True,
    warn_only: bool = False,
    determinism: str = "native",
    device: str = "cpu",
    precision: str = "fp32",
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything a training run pins before it starts, in order; return the manifest's record of it.

    1. :func:`cpu_determinism` (check ``determinism``'s kernels, apply its in-process settings);
    2. :func:`check_cuda_environment` (``CUBLAS_WORKSPACE_CONFIG`` when deterministic on a GPU);
    3. :func:`check_hash_seed` (``PYTHONHASHSEED``, warned about when unset);
    4. :func:`seed_everything` (``random``, NumPy's global state, torch CPU and CUDA);
    5. :func:`set_deterministic_flags` (cuDNN and torch's deterministic algorithms);
    6. :func:`device_and_precision` (``device`` usable, else ParamsError before any training; the float32 flags).

    Parameters
    ----------
    seed
        Integer in ``0..2**32-1`` (the replicate seed).
    deterministic, warn_only
        ``params.yaml: train.deterministic`` / ``train.warn_only``.
    determinism
        ``params.yaml: train.determinism`` (``native`` or ``portable``, see
        :mod:`seedbench.determinism.modes`); its variables must already be in
        the environment before torch was imported.
    device, precision
        ``params.yaml: train.device`` / ``train.precision`` (:mod:`seedbench.determinism.devices`).
    environ
        Environment to inspect (default ``os.environ``); only read, never written.

    Returns
    -------
    dict
        JSON-able: the seeds, the flags as torch reports them back
        (:func:`deterministic_flags`), ``pythonhashseed``, the CUDA record,
        torch's thread counts and the CPU determinism record.

    Raises
    ------
    ParamsError
        ``seed`` is not an integer in ``0..2**32-1``; ``device`` is ``cuda`` and torch sees no CUDA device.
    DeterminismError
        ``deterministic`` on a machine with CUDA but without a valid
        ``CUBLAS_WORKSPACE_CONFIG``; ``portable`` while torch runs other than
        its AVX2 kernels (``ATEN_CPU_CAPABILITY`` set too late).
    """
    import torch

    seed = check_seed(seed)
    env = os.environ if environ is None else environ
    from seedbench.determinism.devices import require_device

    require_device(device)  # first: a missing GPU is refused before anything is set
    cpu_record = cpu_determinism(determinism, env)
    cuda = check_cuda_environment(deterministic, env)
    hash_seed = check_hash_seed(env)
    seed_everything(seed)
    set_deterministic_flags(deterministic, warn_only=warn_only)
    device_info = device_and_precision(device, precision)
    return {
        "seed": seed,
        "python_random_seed": seed,
        "numpy_global_seed": seed,
        "torch_manual_seed": seed,
        "torch_cuda_manual_seed_all": seed,
        **cuda,
        "deterministic": bool(deterministic),
        "warn_only": bool(warn_only),
        **deterministic_flags(),
        "pythonhashseed": hash_seed,
        "torch_num_threads": int(torch.get_num_threads()),
        "torch_num_interop_threads": int(torch.get_num_interop_threads()),
        **cpu_record,
        **device_info,
    }


def set_torch_threads(n: int, what: str = "train.torch_threads") -> int:
    """Set torch's intra-op thread count to ``n`` and return the count torch reports back.

    The thread count can change the order of float reductions on CPU, so it is
    a recorded setting (``params.yaml: train.torch_threads``), not left to torch.
    """
    import torch

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParamsError(f"{what}: expected a positive integer, got {n!r}")
    torch.set_num_threads(int(n))
    return int(torch.get_num_threads())


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and NumPy's global state inside a worker.

    torch seeds each worker's torch generator with ``base_seed + worker_id``
    (``base_seed`` drawn from the DataLoader's generator); this copies that
    seed, reduced to 32 bits, into the two other global streams so that any
    NumPy/``random`` call inside a worker repeats too.
    """
    import torch

    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def dataloader_generator(seed: int) -> Any:
    """A ``torch.Generator`` seeded with ``seed``: the DataLoader's shuffling and worker base seeds.

    Pass the ``("data-order", r)`` stream: data order then depends on the
    replicate only, not on whatever consumed torch's global generator before.
    """
    import torch

    seed = check_seed(seed, "data-order seed")
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def determinism_error_from(exc: BaseException) -> DeterminismError | None:
    """The :class:`DeterminismError` that torch's RuntimeError ``exc`` stands for, or ``None``.

    torch raises a plain RuntimeError when, under
    ``torch.use_deterministic_algorithms(True)``, an op has no deterministic
    kernel (``"put_ does not have a deterministic implementation, ..."``) or
    cuBLAS lacks ``CUBLAS_WORKSPACE_CONFIG``. The returned error names the op.
    """
    if not isinstance(exc, RuntimeError):
        return None
    message = str(exc)
    if _NO_DETERMINISTIC_KERNEL in message:
        op = message.split(_NO_DETERMINISTIC_KERNEL, 1)[0].strip() or "an operation"
        return DeterminismError(
            f"{op} has no deterministic kernel on this device, and train.deterministic is true; "
            "use another method or device, or set train.warn_only: true to run anyway with a warning "
            "(the run is then not bit-exact)"
        )
    if _CUBLAS_RUNTIME_MESSAGE in message and "eterministic" in message:
        return DeterminismError(
            f"cuBLAS is not deterministic without {CUBLAS_ENV_VAR} in {CUBLAS_WORKSPACE_CONFIGS}: "
            f"set `{CUBLAS_ENV_VAR}={CUBLAS_DEFAULT}` before starting Python"
        )
    return None


@contextmanager
def determinism_errors() -> Iterator[None]:
    """Context manager turning torch's "no deterministic kernel" RuntimeError into :class:`DeterminismError`.

    Other exceptions pass through untouched. With ``warn_only`` torch warns
    (``UserWarning`` naming the op) instead of raising, and nothing is converted.
    """
    try:
        yield
    except RuntimeError as exc:
        converted = determinism_error_from(exc)
        if converted is None:
            raise
        raise converted from exc
