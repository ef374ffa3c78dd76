"""The optimizer of each determinism mode: torch's AdamW (``native``), AdamW with an IEEE-exact square root (``portable``).

torch's CPU ``sqrt`` goes through MKL's vector math library (VML, ``vsSqrt``;
ATen's ``aten/src/ATen/cpu/vml.h``) in MKL builds, and ``MKL_CBWR=COMPATIBLE``
does not pin it across CPU vendors: on an Intel Xeon it gave other bits than
on an AMD EPYC (REFERENCE.md, "Cross-vendor probe"), and on this AMD EPYC
(AVX-512) it differs from the correctly rounded square root on 16% of random
float32 values. AdamW takes ``exp_avg_sq.sqrt()`` every step, so every
portable run of ``mlp``, ``cnn1d`` and ``bilstm`` differed between the two
hosts. :func:`exact_sqrt` computes the correctly rounded square root instead
(numpy's, i.e. the CPU's IEEE-754 ``sqrt`` instruction, in float64, rounded to
float32: the same bits as ``np.sqrt`` on every x86-64 CPU), and
:class:`PortableAdamW` is torch's single-tensor AdamW step written out with it.
Nothing in torch is patched: ``native`` keeps ``torch.optim.AdamW``.

With ``sqrt=torch.sqrt``, :class:`PortableAdamW` gives torch's AdamW bit for
bit (``tests/training/test_optim.py``), so the two differ in the square root
only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from seedbench.core.errors import DeterminismError

Sqrt = Callable[[torch.Tensor], torch.Tensor]


def exact_sqrt(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root of a float32 or float64 CPU tensor, as a new tensor of the same dtype and shape.

    float32 values are widened to float64, square-rooted by numpy (the CPU's
    IEEE-754 square root, exact on every CPU), and rounded back to float32:
    the float64 root of a float32 rounds to the correctly rounded float32 root
    (53 ≥ 2·24 + 2 bits), so the result equals ``np.sqrt`` on the float32
    values bit for bit, subnormals, zeros, infinities and NaN included.
    No ATen ``sqrt`` (and so no MKL VML) is called.

    Raises
    ------
    DeterminismError
        A tensor that is not on the CPU or not float32/float64.
    """
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise DeterminismError(f"train.determinism: portable: the exact square root needs float32 or float64 CPU "
                               f"tensors, got {x.dtype} on {x.device}")
    wide = x.detach().to(torch.float64, copy=True).contiguous()  # a float64 copy we own: rooted in place
    values = wide.numpy()
    with np.errstate(invalid="ignore"):  # negative → NaN, as torch.sqrt, without a warning
        np.sqrt(values, out=values)
    return wide.to(x.dtype)


class PortableAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay) whose denominator takes ``sqrt`` (default :func:`exact_sqrt`).

    The arithmetic, its order and the state (``step`` a float32 scalar tensor,
    ``exp_avg``, ``exp_avg_sq``) are those of torch's single-tensor AdamW path
    (``torch.optim.adam._single_tensor_adam``, what ``torch.optim.AdamW`` runs
    on CPU tensors), without ``amsgrad``, ``maximize``, complex parameters or
    tensor learning rates. State dicts load into either class.

    Parameters
    ----------
    params
        Parameters (or parameter groups) to optimise.
    lr, betas, eps, weight_decay
        As ``torch.optim.AdamW`` (same defaults).
    sqrt
        The square root of the denominator; tests pass ``torch.sqrt`` to
        compare with torch's AdamW.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        *,
        sqrt: Sqrt = exact_sqrt,
    ) -> None:
        if not (lr >= 0 and eps >= 0 and weight_decay >= 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid AdamW settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, {"lr": float(lr), "betas": (float(betas[0]), float(betas[1])), "eps": float(eps),
                                  "weight_decay": float(weight_decay)})
        self._sqrt = sqrt

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One AdamW step over every parameter with a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        """torch's single-tensor AdamW update of one parameter, with ``self._sqrt`` for the square root."""
        if param.grad.is_sparse or torch.is_complex(param):
            raise DeterminismError("train.determinism: portable: PortableAdamW supports dense real parameters only")
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        state = self.state[param]
        if not state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        grad, exp_avg, exp_avg_sq, step_t = param.grad, state["exp_avg"], state["exp_avg_sq"], state["step"]
        step_t += 1
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = step_t.item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        denom = (self._sqrt(exp_avg_sq) / bias_correction2_sqrt).add_(eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)


def make_optimizer(parameters: Iterable[Any], *, lr: float, weight_decay: float, determinism: str) -> torch.optim.Optimizer:
    """The AdamW of ``determinism``: ``torch.optim.AdamW`` (``native``) or :class:`PortableAdamW` (``portable``)."""
    if determinism == "portable":
        return PortableAdamW(parameters, lr=lr, weight_decay=weight_decay)
    if determinism == "native":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    raise DeterminismError(f"train.determinism: expected native or portable, got {determinism!r}")
