"""Device and precision plumbing of the training loop, exercised on the CPU (CI has no GPU).

Every path a CUDA run takes — model moved after CPU initialisation, batches moved after their CPU draw, forward
passes under the placement's autocast, outputs brought back to the CPU, a CPU state dict in model.pt — is the
same code on the CPU; ``bf16`` runs the autocast branch for real (CPU autocast to bfloat16).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from test_training import PINNED_ENV, TINY, synthetic_split

from seedbench.core.errors import ParamsError
from seedbench.determinism.seeding import set_global_seeds
from seedbench.training.loop import model_bytes, predict, test_predictions, train_model
from seedbench.training.placement import CPU_FP32, Placement


@pytest.fixture(scope="module")
def splits() -> tuple:
    return synthetic_split(6), synthetic_split(2, first_unit=7, stream="val")


def _train(method: str, splits: tuple, placement: Placement) -> tuple[bytes, np.ndarray, object]:
    torch.set_num_threads(1)
    set_global_seeds(0, deterministic=True, environ=PINNED_ENV, device=placement.device, precision=placement.precision)
    train, val = splits
    outcome = train_model(method, train, val, hparams=TINY[method], seed=5, data_order_seed=6, placement=placement)
    return model_bytes(outcome.model), test_predictions(outcome, val.X), outcome


def test_placement_refuses_unknown_device_and_precision_naming_the_key() -> None:
    with pytest.raises(ParamsError, match="train.device: expected one of cpu, cuda, got 'gpu'"):
        Placement("gpu")
    with pytest.raises(ParamsError, match="train.precision: expected one of fp32, tf32, bf16, got 'fp16'"):
        Placement("cpu", "fp16")


def test_cpu_placement_leaves_tensors_and_modules_where_they_are() -> None:
    value = torch.ones(3)
    assert CPU_FP32.tensor(value) is value
    module = torch.nn.Linear(2, 1)
    assert CPU_FP32.module(module) is module and module.weight.device.type == "cpu"


def test_an_explicit_cpu_fp32_placement_gives_the_default_runs_bytes(splits: tuple) -> None:
    train, val = splits
    torch.set_num_threads(1)
    set_global_seeds(0, deterministic=True, environ=PINNED_ENV)
    default = train_model("mlp", train, val, hparams=TINY["mlp"], seed=5, data_order_seed=6)
    explicit_bytes, _, outcome = _train("mlp", splits, Placement("cpu", "fp32"))
    assert explicit_bytes == model_bytes(default.model)
    assert outcome.placement == CPU_FP32


@pytest.mark.parametrize("method", ["mlp", "cnn1d", "bilstm", "linear"])
def test_bf16_autocast_runs_through_the_same_loop_and_changes_the_bits(method: str, splits: tuple) -> None:
    fp32_bytes, fp32_pred, _ = _train(method, splits, Placement("cpu", "fp32"))
    bf16_bytes, bf16_pred, outcome = _train(method, splits, Placement("cpu", "bf16"))
    again_bytes, again_pred, _ = _train(method, splits, Placement("cpu", "bf16"))
    assert outcome.placement == Placement("cpu", "bf16")
    assert np.isfinite(bf16_pred).all()
    assert (bf16_bytes, bf16_pred.tobytes()) == (again_bytes, again_pred.tobytes())  # bf16 on one CPU: repeatable
    assert not np.array_equal(bf16_pred, fp32_pred)  # autocast really ran: bfloat16 products round differently
    if method != "linear":  # linear's weights are the float64 ridge fit on every device: only its predictions move
        assert bf16_bytes != fp32_bytes
    assert np.max(np.abs(bf16_pred - fp32_pred)) < 5.0  # same model, coarser arithmetic (cycles)


def test_predictions_come_back_as_float64_on_the_cpu_under_autocast(splits: tuple) -> None:
    _, val = splits
    _, _, outcome = _train("mlp", splits, Placement("cpu", "bf16"))
    out = predict(outcome.model, val.X, placement=Placement("cpu", "bf16"))
    assert out.dtype == np.float64 and out.shape == (val.X.shape[0],)


def test_model_file_holds_cpu_tensors_and_loads_without_a_map_location(splits: tuple) -> None:
    data, _, _ = _train("cnn1d", splits, Placement("cpu", "fp32"))
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert all(t.device.type == "cpu" for t in state.values())
    assert hasattr(state, "_metadata")  # the state dict's module versions kept: the same archive layout as before
