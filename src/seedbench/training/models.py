"""The wrapper every method's module is trained and saved in: :class:`RulRegressor`.

A method (``methods/<name>.py``, loaded by ``seedbench.training.methods``) returns a
module ``net`` mapping a batch of windows, float32 of shape ``(batch, window,
n_features)`` (cycles × scaled sensors), to ``(batch, 1)``. seedbench wraps it as
``offset + scale * net(x)``, a float32 RUL prediction of shape ``(batch,)`` in
cycles, where ``offset``/``scale`` are buffers set from the training targets
before training by the loop (so the output layer starts near the mean RUL and
its weights live on a unit scale; a ``fit`` method's are 0 and 1). Buffers are
part of the state dict, so saving and loading are the same for every method.
"""

from __future__ import annotations

import torch
from torch import nn


class RulRegressor(nn.Module):
    """``offset + scale * net(x)``: one RUL (cycles) per window.

    Parameters
    ----------
    net
        Module mapping ``(batch, window, n_features)`` to ``(batch, 1)``.
    window, n_features
        Input shape of one window (cycles, features); checked on every call.
    """

    def __init__(self, net: nn.Module, *, window: int, n_features: int) -> None:
        super().__init__()
        self.net = net
        self.window = int(window)
        self.n_features = int(n_features)
        self.register_buffer("offset", torch.zeros((), dtype=torch.float32))
        self.register_buffer("scale", torch.ones((), dtype=torch.float32))

    def set_target_scaling(self, offset: float, scale: float) -> None:
        """Set the output affine map (cycles); ``scale`` must be positive."""
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        with torch.no_grad():
            self.offset.fill_(float(offset))
            self.scale.fill_(float(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float32 ``(batch, window, n_features)`` → RUL float32 ``(batch,)``."""
        if x.dim() != 3 or x.shape[1] != self.window or x.shape[2] != self.n_features:
            raise ValueError(
                f"expected input of shape (batch, {self.window}, {self.n_features}), got {tuple(x.shape)}"
            )
        return self.offset + self.scale * self.net(x).squeeze(-1)
