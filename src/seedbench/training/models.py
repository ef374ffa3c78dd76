"""The four RUL regressors behind one factory: ``linear``, ``mlp``, ``cnn1d``, ``bilstm``.

Every model maps a batch of windows, float32 of shape ``(batch, window,
n_features)`` (cycles × scaled sensors), to a float32 RUL prediction of shape
``(batch,)`` in cycles. Every model is an :class:`RulRegressor`: a network
``net`` producing one number per window, rescaled as ``offset + scale * net(x)``
where ``offset``/``scale`` are buffers set from the training targets before
training (so the output layer starts near the mean RUL and its weights live on a
unit scale). Buffers are part of the state dict, so saving and loading are the
same for all four methods.

Hyper-parameters arrive as a plain mapping with exactly the keys of
:data:`HPARAM_KEYS` (``params.yaml: train.<method>``); :func:`check_hparams`
names a missing or unknown key. ``linear`` is ridge regression fitted in closed
form (:func:`fit_ridge`), the others are trained by ``seedbench.training.loop``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from seedbench.core.errors import ParamsError
from seedbench.core.names import KNOWN_METHODS

METHODS = KNOWN_METHODS
"""Every method the factory builds, in the order reports list them."""

_SGD_KEYS = ("dropout", "lr", "weight_decay", "batch_size", "max_epochs", "patience")

HPARAM_KEYS: dict[str, tuple[str, ...]] = {
    "linear": ("alpha",),
    "mlp": ("hidden_sizes", *_SGD_KEYS),
    "cnn1d": ("channels", "kernel_size", *_SGD_KEYS),
    "bilstm": ("hidden_size", "num_layers", *_SGD_KEYS),
}
"""The exact hyper-parameter keys of each method (``params.yaml: train.<method>``)."""

def check_method(method: str) -> str:
    """Return ``method`` if the factory knows it, else raise :class:`ParamsError` naming ``methods``."""
    if method not in METHODS:
        raise ParamsError(f"methods: unknown method {method!r}; allowed: {', '.join(METHODS)}")
    return method


def check_hparams(method: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``hparams`` as a dict if its keys are exactly :data:`HPARAM_KEYS` ``[method]``.

    Value ranges are validated by the params schema (``seedbench.core.params``); this
    check guards the library edge against a missing or misspelt key.
    """
    check_method(method)
    allowed = HPARAM_KEYS[method]
    missing = [k for k in allowed if k not in hparams]
    unknown = sorted(str(k) for k in hparams if k not in allowed)
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
        raise ParamsError(f"train.{method}: {problem}; expected exactly the keys {', '.join(allowed)}")
    return dict(hparams)


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


class _Flatten(nn.Module):
    """``(batch, window, n_features)`` → ``(batch, window * n_features)``, time-major."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class ConvNet(nn.Module):
    """1-D convolutions over time (zero "same" padding), then the flattened feature map → linear head.

    Like the DCNN baseline (Li et al. 2018): the head sees every time step of
    the last feature map, so *where* in the window a change happens counts.
    (Measured on the default FD001 profile, 3 seeds: global mean + last-step
    pooling gave test RMSE 28.0, adaptive average pooling to 4 bins 26.4, the
    flattened map 23.7.)
    """

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


class BiLstmNet(nn.Module):
    """Bidirectional LSTM over the window; final hidden states of both directions → MLP head.

    The recurrent baseline of the GRACE recipe: ``h_n`` of the last layer,
    forward (end of window) and backward (start of window) concatenated.
    """

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


def _mlp_net(n_inputs: int, hidden_sizes: list[int], dropout: float) -> nn.Module:
    layers: list[nn.Module] = [_Flatten()]
    width = n_inputs
    for size in hidden_sizes:
        layers += [nn.Linear(width, int(size)), nn.ReLU(), nn.Dropout(dropout)]
        width = int(size)
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def build_model(method: str, *, window: int, n_features: int, hparams: Mapping[str, Any]) -> RulRegressor:
    """Build an untrained model of ``method`` for windows of ``window`` cycles × ``n_features``.

    Parameter initialisation draws from torch's global generator: seed it first
    (``seedbench.determinism.seeding.seed_torch``). ``linear`` starts at zero weights; fit it
    with :func:`fit_ridge` / :func:`set_linear_weights`.

    Raises
    ------
    ParamsError
        Unknown method (names ``methods`` and lists the allowed ones), or
        ``hparams`` without exactly the method's keys.
    """
    hp = check_hparams(method, hparams)
    if window < 1 or n_features < 1:
        raise ValueError(f"window and n_features must be positive, got {window}, {n_features}")
    if method == "linear":
        net: nn.Module = nn.Sequential(_Flatten(), nn.Linear(window * n_features, 1))
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
    elif method == "mlp":
        net = _mlp_net(window * n_features, list(hp["hidden_sizes"]), float(hp["dropout"]))
    elif method == "cnn1d":
        net = ConvNet(window, n_features, list(hp["channels"]), int(hp["kernel_size"]), float(hp["dropout"]))
    else:
        net = BiLstmNet(n_features, int(hp["hidden_size"]), int(hp["num_layers"]), float(hp["dropout"]))
    return RulRegressor(net, window=window, n_features=n_features)


def fit_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge regression in float64 with an unpenalised bias.

    Minimises ``||y - X w - b||² + alpha ||w||²`` by centring ``X`` and ``y``
    (which removes ``b`` from the penalty) and solving
    ``(Xcᵀ Xc + alpha I) w = Xcᵀ yc``; ``b = mean(y) - mean(X) · w``. With
    ``alpha == 0`` the minimum-norm least-squares solution is returned.

    Parameters
    ----------
    X
        ``(n, d)`` features (a flattened window per row).
    y
        ``(n,)`` targets, cycles.
    alpha
        Penalty ``>= 0``.

    Returns
    -------
    (w, b)
        ``w`` float64 ``(d,)``, ``b`` float.
    """
    X64 = np.asarray(X, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64)
    if X64.ndim != 2 or y64.shape != (X64.shape[0],) or X64.shape[0] == 0:
        raise ValueError(f"expected X (n, d) and y (n,) with n > 0, got {X64.shape} and {y64.shape}")
    if not alpha >= 0:
        raise ParamsError(f"train.linear.alpha: expected a number >= 0, got {alpha!r}")
    x_mean = X64.mean(axis=0)
    y_mean = float(y64.mean())
    Xc = X64 - x_mean
    yc = y64 - y_mean
    if alpha == 0:
        w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    else:
        gram = Xc.T @ Xc + float(alpha) * np.eye(X64.shape[1])
        w = np.linalg.solve(gram, Xc.T @ yc)
    b = y_mean - float(x_mean @ w)
    return w, b


def set_linear_weights(model: RulRegressor, w: np.ndarray, b: float) -> None:
    """Store a ridge solution ``(w, b)`` in a ``linear`` model (as float32; output scaling reset to identity)."""
    linear = model.net[1]
    if not isinstance(linear, nn.Linear) or linear.in_features != np.asarray(w).size:
        raise ValueError("set_linear_weights needs a model built with method 'linear' of matching input size")
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(np.asarray(w, dtype=np.float32).reshape(1, -1)))
        linear.bias.fill_(float(b))
    model.set_target_scaling(0.0, 1.0)
