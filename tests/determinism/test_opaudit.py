"""The portable op audit: every aten op one training step of every method runs is in the library's allow-list.

Each method trains one epoch (forward, loss, backward, optimizer step on every
batch, then the validation forward) with portable mode's in-process settings
and optimizer, under a ``TorchDispatchMode`` that lists every op. A new
method, a torch upgrade or a new op fails here, naming the op, instead of
silently breaking the portable claim; a planted ``torch.sqrt`` (a VML op) is
named, and refused by portable training itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from seedbench.core.errors import DeterminismError
from seedbench.core.names import BUILTIN_METHODS as METHODS
from seedbench.core.seeds import generator
from seedbench.data.preparation import WindowedSplit
from seedbench.determinism.opaudit import (
    PORTABLE_OPS,
    UNPINNED_OPS,
    RefuseUnpinnedOps,
    check_ops,
    record_ops,
    unlisted_ops,
)
from seedbench.determinism.settings import apply_mode_settings
from seedbench.training import loop
from seedbench.training.loop import mse_tensor, train_model, train_step, window_tensor
from seedbench.training.methods import build_model
from seedbench.training.optim import make_optimizer

SGD = {"dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 1, "patience": 1}
HPARAMS: dict[str, dict[str, Any]] = {
    "linear": {"alpha": 0.1},
    "mlp": {"hidden_sizes": [8, 4], **SGD},
    "cnn1d": {"channels": [4, 4], "kernel_size": 3, **SGD},
    "bilstm": {"hidden_size": 4, "num_layers": 2, **SGD},
}


def _split(n: int, stream: str) -> WindowedSplit:
    rng = generator(3, "op-audit", stream)
    return WindowedSplit(X=rng.random((n, 6, 3), dtype=np.float32), y=(rng.random(n) * 60).astype(np.float32),
                         unit=np.arange(n, dtype=np.int64))


@pytest.fixture
def portable_settings() -> Iterator[None]:
    apply_mode_settings("portable")  # oneDNN and NNPACK off, MKL on one thread: the kernels portable training runs
    try:
        yield
    finally:
        apply_mode_settings("native")


@pytest.mark.parametrize("method", METHODS)
def test_every_op_of_portable_training_is_in_the_allow_list(method: str, portable_settings: None) -> None:
    ops = record_ops(lambda: train_model(method, _split(40, "train"), _split(10, "val"), hparams=HPARAMS[method],
                                         seed=1, data_order_seed=2, determinism="portable"))
    assert len(ops) > 20
    assert unlisted_ops(ops) == []
    check_ops(ops)


def test_every_allowed_op_has_a_reason_and_none_is_also_refused() -> None:
    assert all(isinstance(why, str) and len(why) > 10 for why in PORTABLE_OPS.values())
    assert not set(PORTABLE_OPS) & set(UNPINNED_OPS)
    assert "aten::sqrt" in UNPINNED_OPS and "aten::addmm" in PORTABLE_OPS


def _planted_sqrt(model: torch.nn.Module) -> torch.nn.Module:
    model.net.register_forward_hook(lambda module, inputs, out: torch.sqrt(out * out + 1.0))
    return model


def test_the_audit_names_a_planted_vml_op(portable_settings: None) -> None:
    torch.manual_seed(0)
    model = _planted_sqrt(build_model("mlp", window=6, n_features=3, hparams=HPARAMS["mlp"]))
    optimizer = make_optimizer(model.parameters(), lr=1e-2, weight_decay=1e-4, determinism="portable")
    data, val = _split(16, "train"), _split(10, "val")

    def one_step() -> None:
        train_step(model, torch.from_numpy(data.X), torch.from_numpy(data.y), optimizer)
        mse_tensor(model, window_tensor(val.X), val.y)

    ops = record_ops(one_step)
    assert unlisted_ops(ops) == ["aten::sqrt"]
    with pytest.raises(DeterminismError, match=r"aten::sqrt: sqrt: MKL VML vsSqrt"):
        check_ops(ops)


def test_torchs_adamw_would_fail_the_audit(portable_settings: None) -> None:
    torch.manual_seed(0)
    model = build_model("mlp", window=6, n_features=3, hparams=HPARAMS["mlp"])
    optimizer = make_optimizer(model.parameters(), lr=1e-2, weight_decay=1e-4, determinism="native")
    data = _split(16, "train")
    ops = record_ops(lambda: train_step(model, torch.from_numpy(data.X), torch.from_numpy(data.y), optimizer))
    assert unlisted_ops(ops) == ["aten::sqrt"]


def test_portable_training_refuses_a_method_that_calls_an_unpinned_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "build_model", lambda *a, **k: _planted_sqrt(build_model(*a, **k)))
    with pytest.raises(DeterminismError, match=r"first training step calls aten::sqrt"):
        train_model("mlp", _split(40, "train"), _split(10, "val"), hparams=HPARAMS["mlp"], seed=1,
                    data_order_seed=2, determinism="portable")
    outcome = train_model("mlp", _split(40, "train"), _split(10, "val"), hparams=HPARAMS["mlp"], seed=1,
                          data_order_seed=2, determinism="native")  # native promises nothing across CPUs: allowed
    assert outcome.best_epoch == 1


def test_refusal_names_the_op_outside_training() -> None:
    with pytest.raises(DeterminismError, match=r"calls aten::erf,"), RefuseUnpinnedOps(where="a test"):
        torch.erf(torch.ones(3))
    with RefuseUnpinnedOps():
        assert torch.exp(torch.zeros(2)).tolist() == [1.0, 1.0]  # exp: measured equal across vendors, not refused
