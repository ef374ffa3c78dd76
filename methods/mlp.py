"""``mlp``: a multi-layer perceptron on the flattened window, trained by seedbench's loop (a ``build`` method).

``build(window, n_features, hparams)`` returns a module mapping float32 windows
``(batch, window, n_features)`` to ``(batch, 1)``; seedbench wraps it as ``offset + scale * net(x)``
(the training targets' mean and std, so the head starts near the mean RUL) and trains it: AdamW,
seeded mini-batch order, early stopping, DVCLive, the determinism mode. A method trained by the loop
declares ``lr``, ``weight_decay``, ``batch_size``, ``max_epochs`` and ``patience``. Weights are
initialised from torch's generator, seeded with the replicate seed just before ``build``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

HPARAMS = {
    "hidden_sizes": {"type": "list[int]", "default": [64, 32], "check": "non_empty_positive_ints",
                     "doc": "Widths of the hidden layers."},
    "dropout": {"type": "float", "default": 0.1, "check": "dropout", "doc": "Dropout probability."},
    "lr": {"type": "float", "default": 0.003, "check": "positive", "doc": "Adam learning rate."},
    "weight_decay": {"type": "float", "default": 0.0, "check": "non_negative", "doc": "L2 weight decay."},
    "batch_size": {"type": "int", "default": 256, "check": "positive", "doc": "Mini-batch size (windows)."},
    "max_epochs": {"type": "int", "default": 20, "check": "positive", "doc": "Upper bound on training epochs."},
    "patience": {"type": "int", "default": 4, "check": "positive",
                 "doc": "Early-stopping patience, in epochs without a better validation loss."},
}


class Flatten(nn.Module):
    """``(batch, window, n_features)`` → ``(batch, window * n_features)``, time-major."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


def build(window: int, n_features: int, hparams: dict[str, Any]) -> nn.Module:
    """Flatten → (Linear → ReLU → Dropout) per hidden size → Linear to one output."""
    layers: list[nn.Module] = [Flatten()]
    width = window * n_features
    for size in hparams["hidden_sizes"]:
        layers += [nn.Linear(width, int(size)), nn.ReLU(), nn.Dropout(hparams["dropout"])]
        width = int(size)
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
