"""CPU determinism modes: which kernels torch may pick, and what two runs can promise each other.

torch's CPU results depend on the instruction set that three dispatchers inside
torch pick when the process starts: ATen (``ATEN_CPU_CAPABILITY``: scalar, AVX2 or
AVX-512 kernels), oneDNN (``ONEDNN_MAX_CPU_ISA``: convolutions, LSTM) and MKL
(``MKL_CBWR``: GEMM). numpy's OpenBLAS does the same for the closed-form ridge
fit of ``linear`` (``OPENBLAS_CORETYPE``, and its thread count
``OPENBLAS_NUM_THREADS``, which defaults to the number of cores). Each reads
its variable once, when it first runs, so a variable set from inside Python
after that is silently ignored.

``params.yaml: train.determinism`` picks one of :data:`MODES`:

``native``
    Every dispatcher picks the fastest kernels for this CPU. Two runs are
    bit-exact on the same CPU model with the same library versions and thread
    count; on another CPU only seed-stable.
``portable``
    ``native`` plus :data:`PORTABLE_ENV`, set in the command that starts Python
    (``python -m seedbench.determinism.launch --determinism portable -- python stages/train.py …``):
    ATen's AVX2 kernels, oneDNN capped at AVX2, MKL's SSE2 "compatible" CNR
    branch (the only branch Intel documents as equal on Intel and non-Intel
    CPUs), OpenBLAS's Haswell (AVX2) kernels on one thread. Inside the process,
    ``settings.apply_mode_settings`` (called by ``seeding.set_global_seeds``) adds
    :data:`PORTABLE_TORCH_SETTINGS`: oneDNN and NNPACK off, so convolutions and
    LSTMs run ATen's own kernels over MKL GEMM, and MKL on one thread; training
    takes AdamW's square root exactly (``training.optim``: MKL VML's ``sqrt`` is
    not pinned across vendors) and refuses the other unpinned ops
    (``determinism.opaudit``). Every library then runs the same code on every
    CPU with AVX2 and with any ``train.torch_threads``, so two runs are expected
    bit-exact on x86-64 CPUs with AVX2, given the same library versions
    (checked: README, "Determinism modes").

ATen is pinned to ``avx2`` rather than its scalar ``default`` kernels: AVX2 is
the floor anyway (oneDNN and OpenBLAS are pinned there), ATen's AVX2 kernels
use only exactly-rounded arithmetic (division, not ``rcp``/``rsqrt``
estimates; Sleef's 1-ulp functions), and the scalar fallbacks are slow (ReLU
forward 3×, its backward 10×: up to +25% training time for cnn1d; BENCHMARKS.md).

The thread count changes speed, not bits, in portable mode (1 vs 2 threads,
every method: ``tests/determinism/test_portable_determinism.py``). That takes the
in-process settings. MKL's CNR mode is reproducible only for a fixed number of
threads (its thread-independent ``STRICT`` mode exists only for the
AVX2/AVX-512 branches, which fall back to automatic dispatch on non-Intel CPUs;
``MKL_CBWR=COMPATIBLE,STRICT`` still changed ``mlp``'s weight gradients with 2
threads), and torch's own per-thread MKL setting overrides ``MKL_NUM_THREADS``:
so MKL is set to one thread from inside the process, after torch's thread
count, with nested OpenMP parallelism off so that MKL called inside ATen's
parallel loops stays on one thread too. oneDNN splits a convolution's
weight-gradient sum over the batch by thread (``cnn1d``), with no setting to
fix its order: so oneDNN is off. What is left is ATen's own kernels:
element-wise ops and reductions to many values do not depend on the thread
count; a reduction to a single value over more than 32,768 elements (ATen's
grain size) is split by thread, which in training means the loss and the
output bias gradient of a mini-batch larger than 32,768 windows. The cost:
ATen's im2col convolutions and LSTM are slower than oneDNN's (with one thread,
cnn1d and bilstm take ≈1.5× their time before, ≈1.3–1.6× native; mlp and
linear unchanged), and MKL's GEMMs no longer use a second thread.

This module holds the modes, their variables and the checks that run *before*
torch is imported (it never imports torch): :func:`require_mode_environment`
refuses (:class:`~seedbench.core.errors.DeterminismError`) a missing, wrong or
late variable; :func:`launch_environment` is what the launcher starts a stage
with. The in-process part (:func:`seedbench.determinism.settings.apply_mode_settings`,
:func:`~seedbench.determinism.settings.check_effective`,
:func:`~seedbench.determinism.settings.determinism_record`) and what two
recorded runs can promise each other (:mod:`seedbench.determinism.expectations`)
live next door; the optimizer portable mode trains with and the ops it
allows are :mod:`seedbench.training.optim` and
:mod:`seedbench.determinism.opaudit`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seedbench.core.errors import DeterminismError
from seedbench.core.names import CUBLAS_DEFAULT, CUBLAS_ENV_VAR, DETERMINISM_MODES

MODES = DETERMINISM_MODES

PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
}
"""Variables ``portable`` mode sets before Python starts, with their exact values."""

PORTABLE_TORCH_SETTINGS: dict[str, Any] = {
    "mkldnn_enabled": False, "nnpack_enabled": False, "mkl_num_threads": 1, "omp_max_active_levels": 1,
}
"""What ``portable`` mode sets inside the process (:func:`apply_mode_settings`); recorded as ``torch_settings``.

``torch.backends.mkldnn`` off (convolutions and LSTMs run ATen's kernels, not
oneDNN's), ``torch.backends.nnpack`` off (convolution forward by im2col + GEMM,
not NNPACK's transforms), MKL on one thread, and no nested OpenMP parallelism
(ATen's convolution calls MKL inside its own parallel loop over the batch;
with nesting allowed, e.g. ``OMP_NESTED=TRUE``, MKL would take threads there
and change ``cnn1d``'s bits): none of them then depends on ``train.torch_threads``.
"""

PORTABLE_CAPABILITY = "AVX2"
"""What ``torch.backends.cpu.get_cpu_capability()`` reports in portable mode."""

DISPATCH_ENV_VARS: tuple[str, ...] = (*PORTABLE_ENV, "MKL_ENABLE_INSTRUCTIONS")
"""Every variable that changes which CPU kernels run; recorded as seen, in both modes."""

LAUNCH_COMMAND = "python -m seedbench.determinism.launch --determinism portable -- python stages/train.py ..."
"""How to start a stage in portable mode (what dvc.yaml runs), for error messages."""


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MODES`, else raise :class:`DeterminismError` naming the key."""
    if mode not in MODES:
        raise DeterminismError(f"train.determinism: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def mode_environment(mode: str) -> dict[str, str]:
    """The variables ``mode`` requires, with their values (``{}`` for ``native``)."""
    return dict(PORTABLE_ENV) if check_mode(mode) == "portable" else {}


def launch_environment(mode: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus the variables of ``mode``: the environment to start a stage with.

    ``native`` passes ``environ`` through (whatever it holds is recorded);
    ``portable`` overrides the variables of :data:`PORTABLE_ENV`. Both add
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when it is absent (cuBLAS reads it when
    CUDA starts, so it too must precede Python); a value already set is kept
    (``seeding.require_cublas_workspace_config`` refuses a wrong one).
    """
    cublas = {} if environ.get(CUBLAS_ENV_VAR) else {CUBLAS_ENV_VAR: CUBLAS_DEFAULT}
    return {**environ, **cublas, **mode_environment(mode)}


def startup_environment() -> dict[str, str] | None:
    """The environment this process was started with (Linux ``/proc/self/environ``), or ``None``.

    Python's ``os.environ`` also shows variables set from inside the process;
    the start-up copy shows only what was in place before the interpreter (and
    so torch, MKL, oneDNN, OpenBLAS) started.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            env[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
    return env


def require_mode_environment(
    mode: str,
    environ: Mapping[str, str],
    *,
    startup_environ: Mapping[str, str] | None,
    cpu_flags: Mapping[str, bool],
    loaded_modules: Mapping[str, Any] | None = None,
) -> dict[str, str | None]:
    """Check, before torch is imported, that the variables of ``mode`` are in place; return them as seen.

    Parameters
    ----------
    mode
        ``params.yaml: train.determinism``.
    environ
        The current environment (``os.environ``).
    startup_environ
        The environment the process started with (:func:`startup_environment`),
        or ``None`` where the platform cannot tell: then a variable counts as
        late when torch is already imported.
    cpu_flags
        :func:`seedbench.provenance.environment.cpu_flags_summary` (``portable`` needs ``avx2``).
    loaded_modules
        ``sys.modules`` (to tell whether torch is already imported).

    Returns
    -------
    dict
        Every variable of :data:`DISPATCH_ENV_VARS` as seen (``None`` when unset).

    Raises
    ------
    DeterminismError
        ``portable`` and a variable is missing or has another value; or it was
        set after Python started (it would be silently ignored by whichever
        library already read it); or the CPU has no AVX2.
    """
    required = mode_environment(mode)
    modules = sys.modules if loaded_modules is None else loaded_modules
    seen = {name: environ.get(name) for name in DISPATCH_ENV_VARS}
    wrong = [f"{k}={seen[k]!r} (needs {v!r})" for k, v in required.items() if seen[k] != v]
    if wrong:
        raise DeterminismError(
            f"train.determinism: {mode} needs {' '.join(f'{k}={v}' for k, v in required.items())} in the "
            f"environment before Python starts, but found {', '.join(wrong)}; start the stage with `{LAUNCH_COMMAND}`"
        )
    if required:
        if startup_environ is not None:
            late = [k for k, v in required.items() if startup_environ.get(k) != v]
            why = "set after Python started"
        else:
            late = list(required) if "torch" in modules else []
            why = "torch was imported before the check"
        if late:
            raise DeterminismError(
                f"train.determinism: {mode}: {', '.join(late)} {why}; torch, MKL, oneDNN and OpenBLAS read "
                f"these once, when they first run, so a late setting would be silently ignored. Set them in the "
                f"command that starts Python: `{LAUNCH_COMMAND}`"
            )
        if not cpu_flags.get("avx2"):
            raise DeterminismError(
                "train.determinism: portable needs an x86-64 CPU with AVX2 (oneDNN and OpenBLAS are pinned to AVX2 "
                "kernels); this CPU reports no avx2 flag: use train.determinism: native"
            )
    return seen


def mode_torch_settings(mode: str) -> dict[str, Any]:
    """The in-process settings ``mode`` prescribes (:data:`PORTABLE_TORCH_SETTINGS`; ``{}`` for ``native``)."""
    return dict(PORTABLE_TORCH_SETTINGS) if check_mode(mode) == "portable" else {}
