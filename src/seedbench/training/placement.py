"""Where a run's tensors live and in which precision its forward passes run (``train.device``, ``train.precision``).

One small value, :class:`Placement`, carries both through the training loop, so
CPU and CUDA runs take the same code path: the model is built and initialised on
the CPU (same initial weights on every device), then moved; every mini-batch is
drawn on the CPU (same order) and moved; forward passes run under
:meth:`Placement.autocast` (bfloat16 for ``bf16``, nothing otherwise); outputs
come back to the CPU as float64. On ``cpu``/``fp32`` every method is the
identity (``Tensor.to("cpu")`` returns the tensor itself), so CPU results keep
their bits. The device check and the float32 flags are
:mod:`seedbench.determinism.devices`' (the stage's ``set_global_seeds``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from seedbench.core.errors import ParamsError
from seedbench.core.names import DEVICES, PRECISIONS

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class Placement:
    """``device`` (``"cpu"`` or ``"cuda"``) and ``precision`` (``"fp32"``, ``"tf32"``, ``"bf16"``) of one run."""

    device: str = "cpu"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ParamsError(f"train.device: expected one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ParamsError(f"train.precision: expected one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def module(self, model: ModuleT) -> ModuleT:
        """``model`` with its parameters and buffers on :attr:`device` (in place; returned for chaining)."""
        return model.to(self.device)

    def tensor(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` on :attr:`device` (the same tensor when it is there already)."""
        return value.to(self.device)

    def autocast(self) -> AbstractContextManager[Any]:
        """The forward pass's precision: ``torch.autocast`` to bfloat16 for ``bf16``, else a no-op context."""
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device, dtype=torch.bfloat16)
        return nullcontext()


CPU_FP32 = Placement()
"""The default: float32 on the CPU (what every run did before ``train.device`` existed)."""


def to_cpu(value: torch.Tensor) -> torch.Tensor:
    """``value`` detached on the CPU (the same storage when it is a CPU tensor already)."""
    return value.detach().cpu()
