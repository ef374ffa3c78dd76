"""``gru``: a GRU over the window, last hidden state → linear head. The README's "bring your own method" example.

Not in the default ``methods:`` list. To benchmark it: ``dvc exp run -S 'methods=[linear,mlp,cnn1d,bilstm,gru]'``
(its ``train.gru`` section is already in params.yaml). Everything a ``build`` method needs: ``HPARAMS``
(literal; type, default, doc, optional check) and ``build(window, n_features, hparams)`` returning a
module from float32 ``(batch, window, n_features)`` to ``(batch, 1)``. Seeds, data order, AdamW, early
stopping, DVCLive and the determinism mode are seedbench's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

HPARAMS = {
    "hidden_size": {"type": "int", "default": 32, "check": "positive", "doc": "GRU hidden units."},
    "num_layers": {"type": "int", "default": 1, "check": "positive", "doc": "Stacked GRU layers."},
    "dropout": {"type": "float", "default": 0.0, "check": "dropout", "doc": "Dropout probability (between layers and before the head)."},
    "lr": {"type": "float", "default": 0.005, "check": "positive", "doc": "Adam learning rate."},
    "weight_decay": {"type": "float", "default": 0.0, "check": "non_negative", "doc": "L2 weight decay."},
    "batch_size": {"type": "int", "default": 256, "check": "positive", "doc": "Mini-batch size (windows)."},
    "max_epochs": {"type": "int", "default": 6, "check": "positive", "doc": "Upper bound on training epochs."},
    "patience": {"type": "int", "default": 3, "check": "positive",
                 "doc": "Early-stopping patience, in epochs without a better validation loss."},
}


class GruNet(nn.Module):
    """``(batch, window, n_features)`` → GRU → last layer's final hidden state → Dropout → Linear → ``(batch, 1)``."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.gru(x)  # h_n: (num_layers, batch, hidden)
        return self.head(h_n[-1])


def build(window: int, n_features: int, hparams: dict[str, Any]) -> nn.Module:
    """A :class:`GruNet` (the window length does not change its shape)."""
    return GruNet(n_features, hparams["hidden_size"], hparams["num_layers"], hparams["dropout"])
