"""The in-process part of a determinism mode: what torch, MKL and OpenMP are set to, and what manifests record.

:func:`apply_mode_settings` sets :data:`~seedbench.determinism.modes.PORTABLE_TORCH_SETTINGS`
(or torch's defaults back for ``native``); :func:`check_effective` confirms
that ATen runs the kernels the mode's variables asked for;
:func:`determinism_record` is what a manifest records about CPU determinism.
See :mod:`seedbench.determinism.modes` for why. Private torch APIs come from
:mod:`seedbench.compat.torch`. Nothing here imports torch at module level.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from seedbench.compat.torch import nnpack_enabled, threading_c_functions
from seedbench.core.errors import DeterminismError
from seedbench.determinism.modes import (
    DISPATCH_ENV_VARS,
    LAUNCH_COMMAND,
    PORTABLE_CAPABILITY,
    PORTABLE_ENV,
    check_mode,
    mode_torch_settings,
)


def check_effective(mode: str) -> str:
    """After torch is imported: confirm that ATen runs the kernels ``mode`` asked for; return the capability.

    ``ATEN_CPU_CAPABILITY`` is read when ATen first dispatches a kernel; if it
    was set after that, torch keeps its native capability and the run would not
    be portable. Raises :class:`DeterminismError` then.
    """
    import torch

    capability = str(torch.backends.cpu.get_cpu_capability())
    pinned = PORTABLE_ENV["ATEN_CPU_CAPABILITY"]
    if check_mode(mode) == "portable" and capability != PORTABLE_CAPABILITY:
        raise DeterminismError(
            f"train.determinism: portable, but torch runs {capability} kernels, not {PORTABLE_CAPABILITY}: "
            f"ATEN_CPU_CAPABILITY={pinned} was set after torch chose its kernels (or this CPU lacks AVX2/FMA); "
            f"set it in the command that starts Python: `{LAUNCH_COMMAND}`"
        )
    return capability


_native_state: dict[str, int] = {}
"""What :func:`apply_mode_settings` changed away from native (to put back): OpenMP's level, MKL pinned."""


def apply_mode_settings(mode: str) -> dict[str, Any]:
    """Set the in-process part of ``mode`` (imports torch); return the settings as torch, MKL and OpenMP report them.

    ``portable``: :data:`PORTABLE_TORCH_SETTINGS` (oneDNN and NNPACK off, MKL
    on one thread for this thread, no nested OpenMP parallelism so that MKL
    called inside one of ATen's parallel loops stays on one thread too).
    ``native``: torch's defaults back (oneDNN and NNPACK on, MKL on torch's
    thread count, OpenMP's nesting level as it was), so the call always leaves
    a known state. Call it *after* ``torch.set_num_threads``
    (``seeding.set_torch_threads``), which resets MKL's thread count:
    ``seeding.set_global_seeds`` calls it, and the train stage sets the thread
    count first.

    Returns
    -------
    dict
        ``{"mkldnn_enabled", "nnpack_enabled", "mkl_num_threads",
        "omp_max_active_levels"}`` read back (the last two ``None`` where torch
        has no MKL / no OpenMP).

    Raises
    ------
    DeterminismError
        ``portable`` with more than one torch thread and MKL's or OpenMP's
        control out of reach (torch without MKL, or an unexpected build):
        sums could then be split by thread.
    """
    import torch

    portable = check_mode(mode) == "portable"
    threads = torch.get_num_threads()  # also runs torch's lazy per-thread set-up now, which would reset MKL later
    torch.backends.mkldnn.enabled = not portable
    torch.backends.nnpack.set_flags(not portable)
    c = threading_c_functions()
    has_mkl, has_omp = "MKL_Set_Num_Threads_Local" in c, "omp_set_max_active_levels" in c
    if portable:
        if threads > 1 and not (has_mkl and has_omp):
            raise DeterminismError(
                f"train.determinism: portable runs MKL on one thread whatever train.torch_threads, but MKL's or "
                f"OpenMP's thread control is not reachable in this torch build; with {threads} threads GEMM could "
                "split its sums by thread: set train.torch_threads: 1"
            )
        if has_omp:
            _native_state.setdefault("omp_max_active_levels", int(c["omp_get_max_active_levels"]()))
            c["omp_set_max_active_levels"](1)
        if has_mkl:
            c["MKL_Set_Num_Threads_Local"](1)
            _native_state["mkl_pinned"] = 1
    else:
        if has_omp and "omp_max_active_levels" in _native_state:
            c["omp_set_max_active_levels"](_native_state.pop("omp_max_active_levels"))
        if has_mkl and _native_state.pop("mkl_pinned", None):
            c["MKL_Set_Num_Threads_Local"](threads)
    settings = {
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "nnpack_enabled": nnpack_enabled(),
        "mkl_num_threads": int(c["MKL_Get_Max_Threads"]()) if has_mkl else None,
        "omp_max_active_levels": int(c["omp_get_max_active_levels"]()) if has_omp else None,
    }
    off = [f"{k}={settings[k]!r} (needs {v!r})" for k, v in mode_torch_settings(mode).items()
           if settings[k] not in (v, None)]
    if off:
        raise DeterminismError(f"train.determinism: {mode}: could not set {', '.join(off)}")
    return settings


_MKL = re.compile(r"Math Kernel Library Version ([0-9][\w.]*)(?:-Product Build (\d+))?")
_ONEDNN = re.compile(r"(?:MKL-DNN|oneDNN)\s+v?([0-9][\w.]*)(?:\s+\(Git Hash ([0-9a-f]+)\))?")


def numeric_library_versions(config_text: str) -> dict[str, str | None]:
    """MKL and oneDNN versions from ``torch.__config__.show()`` text (``None`` when not built in).

    Examples
    --------
    >>> numeric_library_versions("Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for ...\\n"
    ...                          "Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)")
    {'mkl_version': '2024.2 build 20240605', 'onednn_version': '3.12.0 git 80afa71049cd'}
    """
    mkl = _MKL.search(config_text)
    onednn = _ONEDNN.search(config_text)
    return {
        "mkl_version": None if mkl is None else mkl.group(1) + (f" build {mkl.group(2)}" if mkl.group(2) else ""),
        "onednn_version": None if onednn is None
        else onednn.group(1) + (f" git {onednn.group(2)[:12]}" if onednn.group(2) else ""),
    }


def _openblas_version() -> str | None:
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # type: ignore[index]
    except Exception:  # noqa: BLE001 - numpy's config layout is not an API; absent means unknown
        return None
    return f"{blas.get('name')} {blas.get('version')}" if blas.get("version") else None


def determinism_record(
    mode: str,
    mode_env: Mapping[str, str | None],
    *,
    cpu_model: str,
    cpu_flags: Mapping[str, bool],
    cpu_count: int | None,
) -> dict[str, Any]:
    """What a manifest records about CPU determinism (imports torch).

    Returns ``{"mode", "mode_env", "torch_settings", "torch_cpu_capability",
    "cpu_model", "cpu_flags", "cpu_count", "torch_version", "mkl_version",
    "onednn_version", "numpy_version", "openblas_version"}``: everything
    :func:`seedbench.determinism.expectations.expected_level` needs, together with the run's ``torch_threads``,
    ``deterministic`` and ``cuda_available``. ``torch_settings`` is what the
    mode prescribes (:func:`mode_torch_settings`), which
    :func:`apply_mode_settings` sets and checks in a training run.
    """
    import numpy as np
    import torch

    return {
        "mode": check_mode(mode),
        "mode_env": {name: mode_env.get(name) for name in DISPATCH_ENV_VARS},
        "torch_settings": mode_torch_settings(mode),
        "torch_cpu_capability": check_effective(mode),
        "cpu_model": cpu_model,
        "cpu_flags": dict(cpu_flags),
        "cpu_count": cpu_count,
        "torch_version": str(torch.__version__),
        **numeric_library_versions(torch.__config__.show()),
        "numpy_version": str(np.__version__),
        "openblas_version": _openblas_version(),
    }
