"""``train.device`` and ``train.precision``: the device check, torch's float32 precision flags, and their record.

A CUDA run differs from a CPU run of the same seed in its rounding (measured on an
H200: predictions up to 8.5 cycles apart after 3 epochs; REFERENCE.md, "CUDA
probe"), and TF32 changes the bits again, so both are settings that must be
chosen, set, read back and recorded:

- :func:`require_device` refuses ``cuda`` when torch sees no CUDA device (a
  :class:`~seedbench.core.errors.ParamsError` naming ``train.device``), never
  falling back to the CPU;
- :func:`set_float_precision` sets cuBLAS' and cuDNN's float32 precision
  (``ieee`` for ``fp32`` and ``bf16``, ``tf32`` for ``tf32``) through torch's
  current API (``torch.backends.cuda.matmul.fp32_precision``,
  ``torch.backends.cudnn.conv/rnn.fp32_precision``, torch ≥ 2.9) or the legacy
  ``allow_tf32`` flags, reads them back and refuses a mismatch; the CPU's oneDNN
  settings are read back, never changed (a CPU run's bits stay as they were);
- :func:`device_record` is what a manifest records, and what
  :mod:`seedbench.determinism.expectations` compares.

Setting cuBLAS/cuDNN flags is harmless on a CPU-only torch: they are read when
a CUDA kernel runs. Nothing here imports torch at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seedbench.core.errors import DeterminismError, ParamsError
from seedbench.core.names import DEVICES, PRECISIONS

CUDA_FP32_KNOBS: tuple[str, ...] = ("cuda.matmul", "cudnn.conv", "cudnn.rnn")
"""The float32 precision settings of cuBLAS (matmuls) and cuDNN (convolutions, RNNs), as ``torch.backends`` paths."""

CPU_FP32_KNOBS: tuple[str, ...] = ("mkldnn.matmul", "mkldnn.conv", "mkldnn.rnn")
"""oneDNN's float32 precision settings: read back and required to be IEEE (``none`` inherits IEEE), never set."""

AUTOCAST_DTYPES: dict[str, str | None] = {"fp32": None, "tf32": None, "bf16": "bfloat16"}
"""The dtype each precision autocasts the forward pass to (``None``: no autocast)."""


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`~seedbench.core.names.PRECISIONS`, else raise ParamsError."""
    if precision not in PRECISIONS:
        raise ParamsError(f"train.precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def wanted_fp32_precision(precision: str) -> dict[str, str]:
    """``{knob: "ieee" | "tf32"}`` for :data:`CUDA_FP32_KNOBS`: TF32 only for ``tf32`` (bf16 keeps float32 ops IEEE)."""
    value = "tf32" if check_precision(precision) == "tf32" else "ieee"
    return {knob: value for knob in CUDA_FP32_KNOBS}


def cuda_unavailable_reason(cuda_version: str | None, available: bool, device_count: int) -> str | None:
    """Why torch cannot train on CUDA (``None`` when it can): a CPU build, or no device visible."""
    if cuda_version is None:
        return "this torch is a CPU build (torch.version.cuda is None)"
    if not available or device_count < 1:
        return f"torch (CUDA {cuda_version}) sees no CUDA device (no driver, or CUDA_VISIBLE_DEVICES hides them)"
    return None


def require_device(device: str) -> str:
    """Return ``device`` if training can run there now (imports torch); never falls back to the CPU.

    Raises
    ------
    ParamsError
        ``device`` is not one of :data:`~seedbench.core.names.DEVICES`, or is
        ``cuda`` and torch sees no CUDA device (the message says which and what to do).
    """
    import torch

    if device not in DEVICES:
        raise ParamsError(f"train.device: expected one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda":
        available = bool(torch.cuda.is_available())
        reason = cuda_unavailable_reason(torch.version.cuda, available, torch.cuda.device_count() if available else 0)
        if reason is not None:
            raise ParamsError(f"train.device: cuda, but {reason}; install a CUDA build of torch (README: \"Training "
                              "on a GPU\") or set train.device: cpu")
    return device


def _backend(path: str) -> Any:
    import torch

    node: Any = torch.backends
    for part in path.split("."):
        node = getattr(node, part)
    return node


def has_fp32_precision_api() -> bool:
    """Whether this torch has the ``fp32_precision`` settings (torch ≥ 2.9) rather than only ``allow_tf32``."""
    return all(hasattr(_backend(knob), "fp32_precision") for knob in CUDA_FP32_KNOBS)


def read_fp32_precision() -> dict[str, str]:
    """The float32 precision of :data:`CUDA_FP32_KNOBS` and :data:`CPU_FP32_KNOBS` as torch reports it back.

    Values are torch's (``"ieee"``, ``"tf32"``, ``"bf16"``, ``"none"`` = inherit);
    with the legacy API ``allow_tf32`` reads as ``"tf32"``/``"ieee"`` and oneDNN as ``"ieee"``.
    """
    import torch

    if has_fp32_precision_api():
        return {knob: str(_backend(knob).fp32_precision) for knob in (*CUDA_FP32_KNOBS, *CPU_FP32_KNOBS)}
    matmul = "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
    cudnn = "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    return {"cuda.matmul": matmul, "cudnn.conv": cudnn, "cudnn.rnn": cudnn, **{k: "ieee" for k in CPU_FP32_KNOBS}}


def set_float_precision(precision: str) -> dict[str, str]:
    """Set cuBLAS' and cuDNN's float32 precision for ``precision``; return :func:`read_fp32_precision`.

    Raises
    ------
    DeterminismError
        A setting reads back other than it was set, or oneDNN (CPU) was set to
        a reduced float32 precision by someone else (it would change CPU results).
    """
    import torch

    wanted = wanted_fp32_precision(precision)
    if has_fp32_precision_api():
        for knob, value in wanted.items():
            _backend(knob).fp32_precision = value
    else:  # torch < 2.9: one flag for cuBLAS, one for cuDNN
        torch.backends.cuda.matmul.allow_tf32 = wanted["cuda.matmul"] == "tf32"
        torch.backends.cudnn.allow_tf32 = wanted["cudnn.conv"] == "tf32"
    seen = read_fp32_precision()
    off = [f"{k}={seen[k]!r} (set {v!r})" for k, v in wanted.items() if seen[k] != v]
    off += [f"{k}={seen[k]!r} (needs 'ieee' or 'none')" for k in CPU_FP32_KNOBS if seen[k] not in ("ieee", "none")]
    if off:
        raise DeterminismError(f"train.precision: {precision}: float32 precision reads back as {', '.join(off)}")
    return seen


def used_gpu(gpu: Mapping[str, Any] | None, index: int) -> dict[str, Any] | None:
    """The facts of GPU ``index`` a run trained on, from a :func:`seedbench.provenance.environment.gpu_record`.

    ``{"name", "capability", "driver_version", "cuda_version", "cudnn_version"}``
    (``None`` values where unknown); ``None`` when the record lists no such GPU.
    """
    gpu = gpu or {}
    entry = next((g for g in gpu.get("gpus") or [] if g.get("index") == index and g.get("visible_to_torch")), None)
    if entry is None:
        return None
    return {"name": entry.get("name"), "capability": entry.get("capability"),
            "driver_version": entry.get("driver_version") or gpu.get("driver"),
            "cuda_version": gpu.get("cuda_version"), "cudnn_version": gpu.get("cudnn_version")}


def device_record(device: str, precision: str, fp32_precision: Mapping[str, str],
                  gpu: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a manifest's ``determinism`` records about the device (pure).

    Returns ``{"device", "precision", "autocast_dtype", "fp32_precision", "gpu"}``;
    ``gpu`` is :func:`used_gpu` for ``cuda`` and ``None`` for ``cpu``.
    """
    return {"device": device, "precision": check_precision(precision), "autocast_dtype": AUTOCAST_DTYPES[precision],
            "fp32_precision": dict(fp32_precision), "gpu": gpu if device == "cuda" else None}


def current_cuda_index() -> int:
    """The index of the CUDA device torch trains on (imports torch; call only after :func:`require_device`)."""
    import torch

    return int(torch.cuda.current_device())
