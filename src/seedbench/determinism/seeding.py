"""Process-global random state and torch's determinism flags for one training run.

:func:`set_global_seeds` pins the five random streams (``random``, NumPy's
global state, torch CPU, torch CUDA) from one replicate seed; the DataLoader's
generator and workers are seeded by :func:`dataloader_generator` and
:func:`seed_worker`; torch's determinism flags are set by
:func:`set_deterministic_algorithms`. Each returns or records what it set for
the manifest. ``PYTHONHASHSEED`` and ``CUBLAS_WORKSPACE_CONFIG`` must be in the
environment before Python / CUDA start; they are checked and recorded here,
not silently fixed. Seeds themselves are derived in :mod:`seedbench.core.seeds`.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from seedbench.core.errors import DeterminismError, ParamsError
from seedbench.core.seeds import check_seed

# Everything here touches process-global random state or torch's determinism flags. torch is imported
# inside the functions so that importing this module stays cheap and, above all, so that a stage can set
# CUBLAS_WORKSPACE_CONFIG before torch is ever imported.

CUBLAS_ENV_VAR = "CUBLAS_WORKSPACE_CONFIG"
"""Environment variable that makes cuBLAS deterministic (read when cuBLAS first creates a handle)."""

CUBLAS_WORKSPACE_CONFIGS: tuple[str, ...] = (":4096:8", ":16:8")
"""Values of ``CUBLAS_WORKSPACE_CONFIG`` that NVIDIA documents as deterministic."""

CUBLAS_DEFAULT = ":4096:8"
"""The value the train stage (and dvc.yaml) set when the variable is absent."""

_NO_DETERMINISTIC_KERNEL = "does not have a deterministic implementation"
_CUBLAS_RUNTIME_MESSAGE = "CUBLAS_WORKSPACE_CONFIG"


def ensure_cublas_workspace_config(environ: MutableMapping[str, str] | None = None) -> str:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` to :data:`CUBLAS_DEFAULT` when absent; return the value now set.

    Call it before ``import torch`` (the train stage does so on its first lines).
    An existing value is never overwritten: :func:`require_cublas_workspace_config`
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


def set_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=warn_only)`` without its compiler import.

    The public function first imports ``torch._inductor.config`` (to set the
    compiler's own ``deterministic`` flag): about 0.8 s and 70 MB per process on
    the 2-core machine, paid by every train stage, for a compiler seedbench
    never runs. The flag eager kernels read lives in ``torch._C``; set it there.
    If the compiler is already loaded (someone called ``torch.compile``), or a
    torch version lacks the private setter, the public function is used, so the
    result is the same either way (tests/determinism/test_seeding.py reads it back).
    """
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


def set_global_seeds(
    seed: int,
    *,
    deterministic: bool = True,
    warn_only: bool = False,
    determinism: str = "native",
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Pin the global random streams of this process and set torch's determinism flags.

    Seeds Python's ``random``, NumPy's legacy global state, torch's CPU generator
    and every CUDA device (``torch.cuda.manual_seed_all``) with ``seed``. With
    ``deterministic``: ``cudnn.deterministic=True``, ``cudnn.benchmark=False``
    and ``torch.use_deterministic_algorithms(True, warn_only=warn_only)``;
    without it the three flags are set to torch's permissive defaults, so the
    call always leaves a known state. Explicit :class:`numpy.random.Generator`
    streams (:func:`generator`) are *not* affected: they never read global state.

    Parameters
    ----------
    seed
        Integer in ``0..2**32-1`` (the replicate seed).
    deterministic, warn_only
        ``params.yaml: train.deterministic`` / ``train.warn_only``.
    determinism
        ``params.yaml: train.determinism`` (``native`` or ``portable``, see
        :mod:`seedbench.determinism.modes`). Its variables must already be in the
        environment before torch was imported (the train stage checks them with
        ``require_mode_environment`` first); here ATen's capability is checked,
        the mode's in-process settings applied
        (:func:`seedbench.determinism.modes.apply_mode_settings`; call
        :func:`set_torch_threads` first) and the mode recorded.
    environ
        Environment to inspect (default ``os.environ``); only read, never written.

    Returns
    -------
    dict
        JSON-able record of what was pinned and which flags are now set, for
        the run manifest: the seeds, the flags as torch reports them back,
        ``PYTHONHASHSEED`` and ``CUBLAS_WORKSPACE_CONFIG`` as seen in the
        environment (``None`` when unset), torch's thread counts, and the CPU
        determinism record (:func:`seedbench.determinism.modes.determinism_record`:
        mode, dispatch variables as seen, ATen capability, CPU model and flags,
        torch/MKL/oneDNN/numpy/OpenBLAS versions).

    Raises
    ------
    ParamsError
        ``seed`` is not an integer in ``0..2**32-1``.
    DeterminismError
        ``deterministic`` on a machine with CUDA but without a valid
        ``CUBLAS_WORKSPACE_CONFIG``; ``portable`` while torch runs non-default
        (native) kernels, i.e. ``ATEN_CPU_CAPABILITY`` was set too late.

    Warns
    -----
    UserWarning
        ``PYTHONHASHSEED`` is unset: a running interpreter cannot change its own
        string-hash seed, so set it when starting Python (dvc.yaml does).
    """
    import torch

    from seedbench.determinism.modes import (
        DISPATCH_ENV_VARS,
        apply_mode_settings,
        determinism_record,
    )
    from seedbench.provenance.environment import cpu_flags_summary, cpu_model

    seed = check_seed(seed)
    env = os.environ if environ is None else environ
    cpu_record = determinism_record(
        determinism, {name: env.get(name) for name in DISPATCH_ENV_VARS},
        cpu_model=cpu_model(), cpu_flags=cpu_flags_summary(), cpu_count=os.cpu_count(),
    )
    apply_mode_settings(determinism)  # portable: oneDNN and NNPACK off, MKL on one thread (after set_torch_threads)
    cuda_available = bool(torch.cuda.is_available())
    if deterministic and cuda_available:
        require_cublas_workspace_config(env)
    hash_seed = env.get("PYTHONHASHSEED")
    if hash_seed is None:
        warnings.warn(
            "PYTHONHASHSEED is unset: string hashing is randomised in this interpreter and cannot be "
            "pinned from inside it; start Python with PYTHONHASHSEED=0 (recorded as null)",
            stacklevel=2,
        )

    random.seed(seed)
    np.random.seed(seed)
    seed_torch(seed)
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = False
    set_deterministic_algorithms(bool(deterministic), warn_only=bool(warn_only) if deterministic else False)

    return {
        "seed": seed,
        "python_random_seed": seed,
        "numpy_global_seed": seed,
        "torch_manual_seed": seed,
        "torch_cuda_manual_seed_all": seed,
        "cuda_available": cuda_available,
        "cuda_device_count": int(torch.cuda.device_count()) if cuda_available else 0,
        "deterministic": bool(deterministic),
        "warn_only": bool(warn_only),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "deterministic_algorithms_warn_only": bool(torch.is_deterministic_algorithms_warn_only_enabled()),
        "pythonhashseed": hash_seed,
        "cublas_workspace_config": env.get(CUBLAS_ENV_VAR),
        "torch_num_threads": int(torch.get_num_threads()),
        "torch_num_interop_threads": int(torch.get_num_interop_threads()),
        **cpu_record,
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
