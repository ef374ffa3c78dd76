"""``seedbench doctor``'s recorder: every aten op of a few training steps, in call order, with a hash of its output.

:class:`TraceRecorder` is a ``TorchDispatchMode`` (it observes, never changes
a value): for each op it records the step, the phase (``forward``,
``backward``, ``optimizer``, ``validation``…), the module it ran in (the
innermost module whose forward is running, by its name in the model; in
backward the autograd node, e.g. ``backward:AddmmBackward0``), the input
shapes and dtypes, and per output a sha256 prefix of its bytes and three
summary numbers (float64 sum, largest absolute value, number of non-finite
values) so that a difference can be sized. :func:`parameter_record` hashes
the parameters after a step.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from seedbench.compat.torch import TorchDispatchMode, current_autograd_node_name
from seedbench.determinism.opaudit import op_name

HASH_CHARS = 16
"""Hex digits of sha256 kept per output (64 bits: a collision between two runs' ops is negligible)."""


def tensor_digest(t: torch.Tensor) -> dict[str, Any]:
    """``{"sha", "shape", "dtype", "sum", "absmax", "nonfinite"}`` of a tensor's values (bytes hashed in C order)."""
    data = t.detach()
    if data.layout != torch.strided or data.device.type != "cpu":
        return {"sha": None, "shape": list(data.shape), "dtype": str(data.dtype)}
    array = data.contiguous().numpy() if data.dtype != torch.bfloat16 else data.float().contiguous().numpy()
    digest: dict[str, Any] = {"sha": hashlib.sha256(array.tobytes()).hexdigest()[:HASH_CHARS],
                              "shape": list(data.shape), "dtype": str(data.dtype).removeprefix("torch.")}
    if data.is_floating_point() and array.size:
        values = array.astype("float64")
        finite = values[abs(values) < math.inf]
        digest.update(sum=float(finite.sum()), absmax=float(abs(finite).max()) if finite.size else 0.0,
                      nonfinite=int(values.size - finite.size))
    return digest


def _digest_value(value: Any) -> dict[str, Any]:
    if isinstance(value, torch.Tensor):
        return tensor_digest(value)
    if not isinstance(value, (bool, int, float, complex, str)):  # opaque objects (profiler handles): no stable value
        return {"sha": None, "shape": None, "dtype": type(value).__name__}
    text = repr(value)
    return {"sha": hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS], "shape": None, "dtype": type(value).__name__,
            **({"sum": float(value)} if isinstance(value, (int, float)) and not isinstance(value, bool) else {})}


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flat(item)]
    return [] if value is None else [value]


class TraceRecorder(TorchDispatchMode):
    """Dispatch mode that appends one record per aten op to :attr:`ops` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[dict[str, Any]] = []
        self.step: int | str = 0
        self.phase = "setup"
        self._modules: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        node = current_autograd_node_name()
        module = f"backward:{node}" if node else (self._modules[-1] if self._modules else "")
        inputs = [a for a in _flat(list(args) + list((kwargs or {}).values())) if isinstance(a, torch.Tensor)]
        self.ops.append({
            "i": len(self.ops), "step": self.step, "phase": "backward" if node else self.phase, "op": op_name(func),
            "module": module, "in_shapes": [list(a.shape) for a in inputs],
            "in_dtypes": sorted({str(a.dtype).removeprefix("torch.") for a in inputs}),
            "out": [_digest_value(v) for v in _flat(out)],
        })
        return out

    @contextmanager
    def phase_of(self, step: int | str, phase: str) -> Iterator[None]:
        """Label the ops run inside with ``step`` and ``phase``."""
        before = (self.step, self.phase)
        self.step, self.phase = step, phase
        try:
            yield
        finally:
            self.step, self.phase = before

    def watch(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> list[Any]:
        """Track which module of ``model`` runs (forward hooks) and label optimizer steps; returns the hook handles."""
        handles: list[Any] = []
        for name, module in model.named_modules():
            label = name or type(module).__name__

            def enter(_module: nn.Module, _inputs: Any, label: str = label) -> None:
                self._modules.append(label)

            def leave(_module: nn.Module, _inputs: Any, _output: Any) -> None:
                if self._modules:
                    self._modules.pop()

            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave, always_call=True))
        if optimizer is not None:
            saved: list[str] = []

            def before_step(*_: Any) -> None:
                saved.append(self.phase)
                self.phase = "optimizer"

            def after_step(*_: Any) -> None:
                self.phase = saved.pop() if saved else self.phase

            handles.append(optimizer.register_step_pre_hook(before_step))
            handles.append(optimizer.register_step_post_hook(after_step))
        return handles


def parameter_record(model: nn.Module) -> dict[str, dict[str, Any]]:
    """``{name: tensor_digest}`` of every parameter and buffer of ``model`` (the state dict's tensors)."""
    return {name: tensor_digest(t) for name, t in model.state_dict().items()}
