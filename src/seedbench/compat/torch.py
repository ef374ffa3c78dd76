"""Every private torch API seedbench touches, in one place (STYLE rule 8).

torch does not promise these across releases; ``tests/compat/test_compat_torch.py``
checks that each still exists (:data:`PRIVATE_SYMBOLS`), so a torch upgrade
fails there, loudly, instead of silently changing what a determinism mode does.

- ``torch._C._set_deterministic_algorithms``: the flag eager kernels read,
  without ``torch.use_deterministic_algorithms``' import of ``torch._inductor``
  (≈0.8 s and 70 MB per train process).
- ``torch._C._get_nnpack_enabled``: NNPACK's switch read back (the public
  ``torch.backends.nnpack`` only sets it).
- ``torch._C._current_autograd_node``: the autograd node running now
  (``seedbench doctor`` names the backward op's node, e.g. ``AddmmBackward0``).
- ``torch.utils._python_dispatch.TorchDispatchMode``: the dispatch mode behind
  the portable op audit, its runtime refusal and ``seedbench doctor``
  (importable from here as :data:`TorchDispatchMode`).
- C symbols of the MKL and OpenMP that torch links into ``libtorch_cpu``
  (``MKL_Set_Num_Threads_Local``, ``MKL_Get_Max_Threads``,
  ``omp_set_max_active_levels``, ``omp_get_max_active_levels``), through
  ``ctypes``: portable mode pins MKL to one thread and turns nested OpenMP off.

Importing this module does not import torch; every function does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

OPENMP_SYMBOLS: tuple[str, ...] = ("omp_set_max_active_levels", "omp_get_max_active_levels")
"""OpenMP C functions looked up in torch's CPU library."""

MKL_SYMBOLS: tuple[str, ...] = ("MKL_Set_Num_Threads_Local", "MKL_Get_Max_Threads")
"""MKL C functions looked up in torch's CPU library (only in MKL builds)."""

PRIVATE_SYMBOLS: tuple[str, ...] = (
    "torch._C._set_deterministic_algorithms", "torch._C._get_nnpack_enabled", "torch._C._current_autograd_node",
    "torch.utils._python_dispatch.TorchDispatchMode",
)
"""Private Python attributes of torch used here (dotted paths)."""

_CPU_LIBRARY_NAMES = ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll")


def __getattr__(name: str) -> Any:
    """``TorchDispatchMode`` on first use (importing this module does not import torch)."""
    if name == "TorchDispatchMode":
        from torch.utils._python_dispatch import TorchDispatchMode

        return TorchDispatchMode
    raise AttributeError(name)


def current_autograd_node_name() -> str | None:
    """Name of the autograd node whose backward runs now (``"AddmmBackward0"``), ``None`` outside backward."""
    import torch

    getter = getattr(torch._C, "_current_autograd_node", None)
    node = getter() if getter is not None else None
    return None if node is None else str(node.name())


def set_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=warn_only)`` without its compiler import.

    Falls back to the public function when the compiler is already loaded
    (someone called ``torch.compile``: its own flag must follow) or the private
    setter is gone; the flag read back is the same either way.
    """
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


def nnpack_enabled() -> bool | None:
    """Whether NNPACK is enabled (``None`` when this torch cannot tell)."""
    import torch

    getter = getattr(torch._C, "_get_nnpack_enabled", None)
    return None if getter is None else bool(getter())


def torch_cpu_library_path() -> Path | None:
    """Path of torch's CPU library (``libtorch_cpu``), or ``None`` when not found."""
    import torch

    lib_dir = Path(torch.__file__).parent / "lib"
    return next((lib_dir / n for n in _CPU_LIBRARY_NAMES if (lib_dir / n).is_file()), None)


def threading_c_functions() -> dict[str, Any]:
    """The C functions of :data:`OPENMP_SYMBOLS` and :data:`MKL_SYMBOLS` torch links in, by name; absent ones left out.

    Looked up through torch's CPU library (``ctypes``), which also finds a
    dynamically linked MKL or OpenMP among its dependencies. MKL's are left
    out when torch is built without MKL.
    """
    import ctypes

    import torch

    path = torch_cpu_library_path()
    if path is None:
        return {}
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return {}
    signatures: dict[str, tuple[list[Any], Any]] = {
        "omp_set_max_active_levels": ([ctypes.c_int], None), "omp_get_max_active_levels": ([], ctypes.c_int),
    }
    if torch.backends.mkl.is_available():
        signatures |= {"MKL_Set_Num_Threads_Local": ([ctypes.c_int], ctypes.c_int),
                       "MKL_Get_Max_Threads": ([], ctypes.c_int)}
    found: dict[str, Any] = {}
    for name, (argtypes, restype) in signatures.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            continue
        function.argtypes, function.restype = argtypes, restype
        found[name] = function
    return found
