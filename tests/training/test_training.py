"""The training loop, prediction, model files and the DVCLive logger (in-process, tiny data)."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seedbench.core.errors import (
    DataFormatError,
    DeterminismError,
    MethodError,
    ParamsError,
)
from seedbench.core.names import BUILTIN_METHODS as METHODS
from seedbench.core.seeds import generator
from seedbench.data.preparation import WindowedSplit
from seedbench.determinism.seeding import set_global_seeds
from seedbench.training import loop as training
from seedbench.training.live import EpochLogger, progress_line
from seedbench.training.loop import (
    load_model,
    model_bytes,
    mse,
    predict,
    select_units,
    test_predictions,
    train_model,
)
from seedbench.training.models import RulRegressor

PINNED_ENV = {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
WINDOW, N_FEATURES = 6, 3

TINY = {
    "linear": {"alpha": 0.1},
    "mlp": {"hidden_sizes": [8], "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 3, "patience": 2},
    "cnn1d": {"channels": [4], "kernel_size": 3, "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 3, "patience": 2},
    "bilstm": {"hidden_size": 4, "num_layers": 1, "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 3, "patience": 2},
}


def synthetic_split(n_units: int, *, first_unit: int = 1, stream: str = "train") -> WindowedSplit:
    """Degrading units of 16–24 cycles cut into windows; RUL capped at 15 cycles."""
    rng = generator(2024, "synthetic", stream)
    X, y, unit = [], [], []
    for u in range(first_unit, first_unit + n_units):
        length = int(rng.integers(16, 25))
        t = np.arange(length)
        signal = (t / length)[:, None] * np.linspace(0.5, 1.5, N_FEATURES) + 0.05 * rng.standard_normal((length, N_FEATURES))
        rul = np.minimum(length - 1 - t, 15)
        for end in range(WINDOW, length + 1):
            X.append(signal[end - WINDOW : end])
            y.append(rul[end - 1])
            unit.append(u)
    return WindowedSplit(X=np.asarray(X, np.float32), y=np.asarray(y, np.float32), unit=np.asarray(unit, np.int64))


@pytest.fixture(scope="module")
def data() -> tuple[WindowedSplit, WindowedSplit]:
    return synthetic_split(6), synthetic_split(2, first_unit=7, stream="val")


@pytest.fixture(autouse=True)
def deterministic_torch() -> Iterator[None]:
    """Deterministic flags and one thread during each test; previous global state restored afterwards."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_num_threads())
    torch.set_num_threads(1)
    set_global_seeds(0, environ=PINNED_ENV)
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.set_num_threads(saved[2])


def _train(method: str, data: tuple[WindowedSplit, WindowedSplit], **kwargs: object) -> training.TrainOutcome:
    hparams = kwargs.pop("hparams", TINY[method])
    return train_model(method, data[0], data[1], hparams=hparams, seed=kwargs.pop("seed", 1), data_order_seed=kwargs.pop("data_order_seed", 2), **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("method", METHODS)
def test_same_seeds_in_one_process_give_identical_weights_and_predictions(method: str, data) -> None:
    first = _train(method, data)
    torch.rand(5)  # consume the global stream: train_model must reseed what it uses
    np.random.random(5)
    second = _train(method, data)
    assert model_bytes(first.model) == model_bytes(second.model)
    assert np.array_equal(predict(first.model, data[1].X), predict(second.model, data[1].X))
    assert first.history == second.history


@pytest.mark.parametrize("method", ["mlp", "cnn1d", "bilstm"])
def test_weight_seed_and_data_order_seed_each_change_the_result(method: str, data) -> None:
    base = predict(_train(method, data).model, data[1].X)
    assert not np.array_equal(predict(_train(method, data, seed=9).model, data[1].X), base)
    assert not np.array_equal(predict(_train(method, data, data_order_seed=9).model, data[1].X), base)


def test_history_has_one_record_per_epoch_and_best_weights_are_restored(data) -> None:
    outcome = _train("mlp", data, hparams={**TINY["mlp"], "max_epochs": 4, "patience": 4})
    assert [r["epoch"] for r in outcome.history] == [1, 2, 3, 4]
    assert set(outcome.history[0]) == {"epoch", "train_loss", "val_loss"}
    best = min(outcome.history, key=lambda r: r["val_loss"])
    assert outcome.best_epoch == best["epoch"]
    assert mse(outcome.model, data[1].X, data[1].y) == best["val_loss"]
    assert not outcome.stopped_early and not outcome.diverged
    assert outcome.summary()["best_val_loss"] == best["val_loss"]


def test_no_improvement_for_patience_epochs_stops_early(data) -> None:
    frozen = {**TINY["mlp"], "lr": 0.0, "weight_decay": 0.0, "dropout": 0.0, "max_epochs": 10, "patience": 2}
    outcome = _train("mlp", data, hparams=frozen)
    assert outcome.stopped_early
    assert outcome.best_epoch == 1
    assert len(outcome.history) == 3


def test_linear_is_fitted_in_closed_form_with_one_history_entry(data) -> None:
    calls = []
    outcome = _train("linear", data, on_epoch=calls.append)
    assert len(outcome.history) == 1 == len(calls) == outcome.best_epoch
    assert outcome.history[0]["train_loss"] == mse(outcome.model, data[0].X, data[0].y)


def test_on_epoch_receives_every_record(data) -> None:
    calls = []
    outcome = _train("cnn1d", data, on_epoch=calls.append)
    assert calls == outcome.history


def test_exploding_loss_marks_the_run_diverged_and_its_predictions_nan(data) -> None:
    hp = {**TINY["mlp"], "lr": 1e30}
    outcome = _train("mlp", data, hparams=hp)
    assert outcome.diverged
    assert not math.isfinite(outcome.history[-1]["val_loss"])
    assert outcome.summary()["diverged"] is True
    predictions = test_predictions(outcome, data[1].X)
    assert predictions.shape == (len(data[1].y),) and np.isnan(predictions).all()


def test_predict_returns_float64_per_window(data) -> None:
    out = predict(_train("linear", data).model, data[1].X)
    assert out.dtype == np.float64 and out.shape == (len(data[1].y),)


def test_bad_inputs_name_what_is_wrong(data) -> None:
    train, val = data
    with pytest.raises(MethodError, match=r"methods/gbm\.py: no such method file"):
        train_model("gbm", train, val, hparams={}, seed=1, data_order_seed=2)
    with pytest.raises(ParamsError, match="train.num_workers"):
        _train("mlp", data, num_workers=-1)
    short = WindowedSplit(X=val.X[:, 1:], y=val.y, unit=val.unit)
    with pytest.raises(DataFormatError, match="differ from training windows"):
        train_model("mlp", train, short, hparams=TINY["mlp"], seed=1, data_order_seed=2)
    bad = WindowedSplit(X=np.full_like(val.X, np.nan), y=val.y, unit=val.unit)
    with pytest.raises(DataFormatError, match="validation split: X or y holds NaN"):
        train_model("mlp", train, bad, hparams=TINY["mlp"], seed=1, data_order_seed=2)
    with pytest.raises(ParamsError, match="data-order seed"):
        _train("mlp", data, data_order_seed=-5)


def test_select_units_keeps_whole_units_in_order(data) -> None:
    part = select_units(data[0], np.array([2, 5]))
    assert isinstance(part, WindowedSplit)
    assert set(part.unit.tolist()) == {2, 5}
    assert np.array_equal(part.X, data[0].X[np.isin(data[0].unit, [2, 5])])


class _PutNet(nn.Module):
    """A net whose forward uses ``Tensor.put_``, which has no deterministic kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0])
        out.put_(torch.arange(x.shape[0]), x.sum(dim=(1, 2)).detach())
        return (out * self.weight).unsqueeze(-1)


def test_training_an_op_without_deterministic_kernel_raises_a_determinism_error(data, monkeypatch) -> None:
    monkeypatch.setattr(training, "build_model", lambda method, *, window, n_features, hparams: RulRegressor(_PutNet(), window=window, n_features=n_features))
    with pytest.raises(DeterminismError, match="^put_ has no deterministic kernel"):
        _train("mlp", data)
    set_global_seeds(0, deterministic=True, warn_only=True, environ=PINNED_ENV)
    with pytest.warns(UserWarning, match="put_ does not have a deterministic implementation"):
        assert _train("mlp", data).history


# --------------------------------------------------------------------------- model files


@pytest.mark.parametrize("method", [m for m in METHODS if m != "linear"])  # a fit method is rebuilt by fitting
def test_model_file_round_trips_with_weights_only_load(method: str, data, tmp_path: Path) -> None:
    model = _train(method, data).model
    blob = model_bytes(model)  # same bytes in another process: dvc.lock pins model.pt (tests/provenance/test_provenance_travels.py)
    path = tmp_path / "model.pt"
    path.write_bytes(blob)
    loaded = load_model(path, method, window=WINDOW, n_features=N_FEATURES, hparams=TINY[method])
    for (name, a), (name_b, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == name_b and torch.equal(a, b)
    assert np.array_equal(predict(loaded, data[1].X), predict(model, data[1].X))


def test_loading_a_missing_or_mismatched_model_file_is_a_data_format_error(data, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="model file missing"):
        load_model(tmp_path / "nope.pt", "mlp", window=WINDOW, n_features=N_FEATURES, hparams=TINY["mlp"])
    path = tmp_path / "model.pt"
    path.write_bytes(model_bytes(_train("mlp", data).model))
    with pytest.raises(DataFormatError, match="do not fit a mlp model"):
        load_model(path, "mlp", window=WINDOW, n_features=N_FEATURES, hparams={**TINY["mlp"], "hidden_sizes": [5]})
    path.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="not a readable torch state dict"):
        load_model(path, "mlp", window=WINDOW, n_features=N_FEATURES, hparams=TINY["mlp"])


# --------------------------------------------------------------------------- DVCLive logger

RECORDS = [
    {"epoch": 1, "train_loss": 412.25, "val_loss": 530.0625},
    {"epoch": 2, "train_loss": 300.1, "val_loss": float("nan")},
]


def _log(live_dir: Path, stream: io.StringIO) -> None:
    with EpochLogger(live_dir, label="train FD001/mlp/rep_0", max_epochs=30, stream=stream) as log:
        for record in RECORDS:
            log(record)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dvclive_files_are_byte_identical_across_runs(tmp_path: Path) -> None:
    _log(tmp_path / "a" / "dvclive", io.StringIO())
    _log(tmp_path / "b" / "dvclive", io.StringIO())
    files = _tree(tmp_path / "a" / "dvclive")
    assert files == _tree(tmp_path / "b" / "dvclive")
    assert sorted(files) == ["metrics.json", "plots/metrics/train_loss.tsv", "plots/metrics/val_loss.tsv"]
    assert files["plots/metrics/train_loss.tsv"].decode().splitlines() == ["step\ttrain_loss", "1\t412.25", "2\t300.1"]
    assert files["plots/metrics/val_loss.tsv"].decode().splitlines()[-1] == "2\tnan"


def test_progress_is_one_plain_line_per_epoch_when_not_a_terminal(tmp_path: Path) -> None:
    stream = io.StringIO()
    _log(tmp_path / "dvclive", stream)
    assert stream.getvalue().splitlines() == [progress_line("train FD001/mlp/rep_0", r, 30) for r in RECORDS]
    assert stream.getvalue().splitlines()[0] == "train FD001/mlp/rep_0 epoch 1/30 train_loss 412.2 val_loss 530.1"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_dvclive_neither_initialises_dvc_nor_stages_files_in_git(tmp_path: Path, monkeypatch) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))  # as inside `dvc exp run`
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
    _log(tmp_path / "runs" / "dvclive", io.StringIO())
    assert not (tmp_path / ".dvc").exists()
    assert not (tmp_path / "dvc.yaml").exists()
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert staged.stdout == ""


@pytest.mark.parametrize(("n", "batch_size"), [(10, 4), (12, 4), (3, 8), (1, 1), (257, 256)])
def test_shuffled_batches_are_random_samplers_batches_draw_for_draw(n: int, batch_size: int) -> None:
    """Whole-batch indexing must give the batches (and leave the generator) exactly as RandomSampler + batch_size."""
    from torch.utils.data import DataLoader, RandomSampler, TensorDataset

    dataset = TensorDataset(torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n, dtype=torch.float32))
    ours_gen, theirs_gen = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ours = DataLoader(dataset, batch_size=None, sampler=training.ShuffledBatches(n, batch_size, ours_gen))
    theirs = DataLoader(dataset, batch_size=batch_size, sampler=RandomSampler(dataset, generator=theirs_gen))
    assert len(ours) == len(theirs)
    for _epoch in range(3):
        got, expected = list(ours), list(theirs)
        assert len(got) == len(expected)
        for (xa, ya), (xb, yb) in zip(got, expected, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(ours_gen.get_state(), theirs_gen.get_state())


@pytest.mark.parametrize(("n", "batch_size"), [(0, 4), (4, 0)])
def test_shuffled_batches_refuse_empty_data_or_batches(n: int, batch_size: int) -> None:
    with pytest.raises(ValueError, match="n >= 1 and batch_size >= 1"):
        training.ShuffledBatches(n, batch_size, torch.Generator())
