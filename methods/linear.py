"""``linear``: ridge regression on the flattened window, fitted in closed form (a ``fit`` method).

A method file declares ``HPARAMS`` (a literal: type, default, one-line doc, optional check) and
either ``build(window, n_features, hparams) -> nn.Module`` (trained by seedbench's loop) or, as
here, ``fit(train, val, *, seed, hparams) -> nn.Module`` for methods trained otherwise. The
module maps float32 windows ``(batch, window, n_features)`` to ``(batch, 1)`` RUL in cycles; its
state dict is the run's ``model.pt``. This fit draws no random numbers, so ``seed`` is unused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

HPARAMS = {
    "alpha": {"type": "float", "default": 10.0, "check": "non_negative",
              "doc": "Ridge penalty (closed form; the bias is not penalised)."},
}


class Flatten(nn.Module):
    """``(batch, window, n_features)`` → ``(batch, window * n_features)``, time-major."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


def fit_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge regression in float64 with an unpenalised bias.

    Minimises ``||y - X w - b||² + alpha ||w||²`` by centring ``X`` (``(n, d)``) and ``y``
    (``(n,)``, cycles) and solving ``(Xcᵀ Xc + alpha I) w = Xcᵀ yc``; ``b = mean(y) - mean(X) · w``.
    With ``alpha == 0`` the minimum-norm least-squares solution. Returns ``w`` float64 ``(d,)`` and ``b``.
    """
    X64 = np.asarray(X, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64)
    if X64.ndim != 2 or y64.shape != (X64.shape[0],) or X64.shape[0] == 0:
        raise ValueError(f"expected X (n, d) and y (n,) with n > 0, got {X64.shape} and {y64.shape}")
    x_mean = X64.mean(axis=0)
    y_mean = float(y64.mean())
    Xc = X64 - x_mean
    yc = y64 - y_mean
    if alpha == 0:
        w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    else:
        gram = Xc.T @ Xc + float(alpha) * np.eye(X64.shape[1])
        w = np.linalg.solve(gram, Xc.T @ yc)
    return w, y_mean - float(x_mean @ w)


def fit(train: Any, val: Any, *, seed: int, hparams: dict[str, Any]) -> nn.Module:
    """Fit ridge on ``train.X`` (float32 ``(n, window, n_features)``) and ``train.y`` (``(n,)`` cycles)."""
    n, window, n_features = train.X.shape
    w, b = fit_ridge(train.X.reshape(n, -1), train.y, hparams["alpha"])
    net = nn.Sequential(Flatten(), nn.Linear(window * n_features, 1))
    with torch.no_grad():
        net[1].weight.copy_(torch.as_tensor(np.asarray(w, dtype=np.float32).reshape(1, -1)))
        net[1].bias.fill_(float(b))
    return net
