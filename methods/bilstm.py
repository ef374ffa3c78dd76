"""``bilstm``: a bidirectional LSTM over the window, final hidden states → MLP head (a ``build`` method).

The recurrent baseline of the GRACE recipe: ``h_n`` of the last layer, forward (end of window) and
backward (start of window) concatenated. See ``mlp.py`` for what a ``build`` method provides.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

HPARAMS = {
    "hidden_size": {"type": "int", "default": 32, "check": "positive", "doc": "LSTM hidden units per direction."},
    "num_layers": {"type": "int", "default": 1, "check": "positive", "doc": "Stacked LSTM layers."},
    "dropout": {"type": "float", "default": 0.0, "check": "dropout", "doc": "Dropout probability."},
    "lr": {"type": "float", "default": 0.005, "check": "positive", "doc": "Adam learning rate."},
    "weight_decay": {"type": "float", "default": 0.0, "check": "non_negative", "doc": "L2 weight decay."},
    "batch_size": {"type": "int", "default": 256, "check": "positive", "doc": "Mini-batch size (windows)."},
    "max_epochs": {"type": "int", "default": 6, "check": "positive", "doc": "Upper bound on training epochs."},
    "patience": {"type": "int", "default": 3, "check": "positive",
                 "doc": "Early-stopping patience, in epochs without a better validation loss."},
}


class BiLstmNet(nn.Module):
    """``(batch, window, n_features)`` → BiLSTM → ``[h_fwd, h_bwd]`` → Dropout → Linear → ReLU → Linear → ``(batch, 1)``."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)  # h_n: (num_layers * 2, batch, hidden)
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=1))


def build(window: int, n_features: int, hparams: dict[str, Any]) -> nn.Module:
    """A :class:`BiLstmNet` (the window length does not change its shape)."""
    return BiLstmNet(n_features, hparams["hidden_size"], hparams["num_layers"], hparams["dropout"])
