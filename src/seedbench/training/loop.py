"""Training, prediction and model files for every method (``methods/<name>.py``, ``seedbench.training.methods``).

:func:`train_model` is the one training loop: AdamW on the MSE (cycles²),
mini-batches in an order fixed by a seeded ``torch.Generator``, early stopping
on the validation MSE with ``patience`` epochs, best weights restored, for a
``build`` method; a ``fit`` method (``linear``: closed-form ridge) fits itself
instead (one history entry). A NaN or
infinite loss stops training and marks the outcome ``diverged``:
:func:`test_predictions` then returns NaN for every unit, so the run shows up
as diverged in its results instead of crashing or passing silently.

Randomness comes only from the two seeds passed in (see ``seedbench.determinism.seeding``):
``seed`` initialises the weights and drives dropout, ``data_order_seed`` the
order of mini-batches and the DataLoader workers' seeds (:func:`make_loader`:
the number of workers changes speed, never the result). Global determinism
flags are the caller's business (``seeding.set_global_seeds``).

``placement`` (:class:`~seedbench.training.placement.Placement`: ``train.device``,
``train.precision``) moves the model after its CPU initialisation, every batch
after its CPU draw, and wraps forward passes in its autocast; training,
validation and prediction all run there, through the same code on every device.

Why ~430 lines: the one training loop and the prediction it is judged by (the same batching, device
placement and eval mode) read together; batches (:mod:`.batches`), the optimizer (:mod:`.optim`), placement
(:mod:`.placement`) and method loading (:mod:`.methods`) are already split out.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from seedbench.core.errors import DataFormatError, ParamsError
from seedbench.determinism.opaudit import RefuseUnpinnedOps
from seedbench.determinism.seeding import determinism_errors, seed_torch
from seedbench.training.batches import ShuffledBatches, make_loader  # noqa: F401 - ShuffledBatches re-exported
from seedbench.training.methods import (
    Method,
    build_model,
    check_hparams,
    fit_model,
    probe_output,
    resolve,
)
from seedbench.training.models import RulRegressor
from seedbench.training.optim import make_optimizer
from seedbench.training.placement import CPU_FP32, Placement, to_cpu

PREDICT_BATCH_SIZE = 1024
"""Windows per forward pass in :func:`predict` (fixed: batch size can change float results)."""

EpochRecord = dict[str, float | int]
"""``{"epoch": int (1-based), "train_loss": float, "val_loss": float}``, losses in cycles²."""


class WindowedSplitLike(Protocol):
    """What training needs of a split: ``X`` float32 (n, window, n_features), ``y`` float32 (n,) cycles."""

    X: np.ndarray
    y: np.ndarray


@dataclass
class TrainOutcome:
    """Result of :func:`train_model`.

    Attributes
    ----------
    model
        The trained model (best-validation weights restored), in eval mode.
    history
        One :data:`EpochRecord` per epoch run.
    best_epoch
        1-based epoch whose weights ``model`` holds (0 if no epoch finished finite).
    stopped_early
        Training stopped before ``max_epochs`` because validation loss did not improve for ``patience`` epochs.
    diverged
        A loss became NaN or infinite; predictions of this run are NaN.
    placement
        Where ``model`` lives and the precision its forward passes use (:func:`test_predictions` predicts there).
    """

    model: RulRegressor
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    diverged: bool = False
    placement: Placement = CPU_FP32

    def summary(self) -> dict[str, Any]:
        """JSON-able facts about the run (for the manifest): epochs, best epoch and its val loss, flags."""
        best = next((r for r in self.history if r["epoch"] == self.best_epoch), None)
        return {
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "best_val_loss": None if best is None else _json_float(best["val_loss"]),
            "stopped_early": self.stopped_early,
            "diverged": self.diverged,
        }


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def as_windows(split: WindowedSplitLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of ``split`` as contiguous float32 copies, shapes checked."""
    X = np.array(split.X, dtype=np.float32, copy=True, order="C")
    y = np.array(split.y, dtype=np.float32, copy=True, order="C")
    if X.ndim != 3 or y.shape != (X.shape[0],):
        raise DataFormatError(f"{what} split: expected X (n, window, n_features) and y (n,), got {X.shape} and {y.shape}")
    if X.shape[0] == 0:
        raise DataFormatError(f"{what} split: no windows (train.val_fraction leaves too few units?)")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise DataFormatError(f"{what} split: X or y holds NaN or infinite values")
    return X, y


def select_units(split: Any, units: np.ndarray) -> Any:
    """The windows of ``split`` whose unit id is in ``units`` (same type, order kept).

    ``split`` is a ``preparation.WindowedSplit`` (or any dataclass with ``X``, ``y``,
    ``unit``); used to cut the training windows into the whole-unit train and
    validation sides chosen by ``splits.split_units``.
    """
    mask = np.isin(np.asarray(split.unit), np.asarray(units))
    return type(split)(X=split.X[mask], y=split.y[mask], unit=split.unit[mask])


def window_tensor(X: np.ndarray) -> torch.Tensor:
    """Windows ``X`` (n, window, n_features) as a float32, C-contiguous tensor that owns a copy of the data."""
    return torch.from_numpy(np.array(X, dtype=np.float32, copy=True, order="C"))


def predict_tensor(model: nn.Module, X: torch.Tensor, batch_size: int = PREDICT_BATCH_SIZE,
                   placement: Placement = CPU_FP32) -> np.ndarray:
    """:func:`predict` on windows already made a tensor by :func:`window_tensor` (no copy per call).

    Each chunk runs on ``placement``'s device under its autocast; outputs come back to the CPU.
    """
    model.eval()
    outputs = []
    with torch.no_grad(), determinism_errors():
        for start in range(0, X.shape[0], batch_size):
            with placement.autocast():
                output = model(placement.tensor(X[start : start + batch_size]))
            outputs.append(to_cpu(output.float()))
    if not outputs:
        return np.zeros(0, dtype=np.float64)
    return torch.cat(outputs).to(torch.float64).numpy()


def predict(model: nn.Module, X: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE,
            placement: Placement = CPU_FP32) -> np.ndarray:
    """RUL predictions (cycles), float64 ``(n,)``, for windows ``X`` float32 ``(n, window, n_features)``.

    Runs in eval mode (no dropout) without gradients, ``batch_size`` windows at a time, on ``placement``.
    """
    return predict_tensor(model, window_tensor(X), batch_size, placement)


def mse_tensor(model: nn.Module, X: torch.Tensor, y: np.ndarray, placement: Placement = CPU_FP32) -> float:
    """Mean squared error (cycles²) of ``model`` on windows ``X`` (a :func:`window_tensor`) and ``y``, in float64."""
    errors = predict_tensor(model, X, placement=placement) - np.asarray(y, dtype=np.float64)
    return float(np.mean(errors * errors))


def mse(model: nn.Module, X: np.ndarray, y: np.ndarray, placement: Placement = CPU_FP32) -> float:
    """Mean squared error (cycles²) of ``model`` on ``(X, y)``, accumulated in float64."""
    return mse_tensor(model, window_tensor(X), y, placement)


def train_model(
    method: Method | str,
    train: WindowedSplitLike,
    val: WindowedSplitLike,
    *,
    hparams: Mapping[str, Any],
    seed: int,
    data_order_seed: int,
    num_workers: int = 0,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    determinism: str = "native",
    placement: Placement = CPU_FP32,
) -> TrainOutcome:
    """Train ``method`` on ``train``, early-stopping on ``val``; see the module docstring.

    Parameters
    ----------
    method
        A method loaded by ``seedbench.training.methods.load_method``, or its name (loaded from ``methods/``).
    train, val
        Splits with ``X`` float32 (n, window, n_features) and ``y`` float32 (n,) RUL in cycles;
        whole units apart (the caller checks leakage).
    hparams
        Exactly the keys the method file declares (``params.yaml: train.<method>``).
    seed
        Replicate seed: weight initialisation and dropout (torch's global generator is reseeded here).
    data_order_seed
        Seed of the mini-batch order (one permutation per epoch) and, through a derived
        stream, of the DataLoader workers (:func:`make_loader`).
    num_workers
        DataLoader worker processes; workers are persistent and seeded by ``seeding.seed_worker``.
    on_epoch
        Called after every epoch with its :data:`EpochRecord` (logging, progress).
    determinism
        ``params.yaml: train.determinism``: the optimizer (``seedbench.training.optim.make_optimizer``:
        torch's AdamW, or AdamW with an IEEE-exact square root for ``portable``); ``portable`` also
        runs the first training step and validation pass under
        :class:`~seedbench.determinism.opaudit.RefuseUnpinnedOps`. The mode's variables and
        in-process settings are the caller's (``seeding.set_global_seeds``).
    placement
        ``train.device`` and ``train.precision``: the model is initialised on the CPU, then moved there;
        batches (drawn on the CPU), validation and prediction run there. The device's availability and
        the float32 flags are the caller's (``seeding.set_global_seeds``).

    Raises
    ------
    ParamsError
        Wrong hyper-parameter keys, negative ``num_workers``.
    MethodError
        The method's code raises, returns no module or the wrong output shape, or an untrained model outputs NaN.
    DataFormatError
        Malformed or non-finite arrays, mismatched window shapes, an empty split.
    DeterminismError
        Deterministic mode and an op without a deterministic kernel (named); portable mode and an
        op whose CPU kernel is not pinned (named).
    """
    method = resolve(method)
    hp = check_hparams(method, hparams)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ParamsError(f"train.num_workers: expected an integer >= 0, got {num_workers!r}")
    X, y = as_windows(train, "train")
    Xv, yv = as_windows(val, "validation")
    if Xv.shape[1:] != X.shape[1:]:
        raise DataFormatError(f"validation windows {Xv.shape[1:]} differ from training windows {X.shape[1:]}")
    window, n_features = X.shape[1], X.shape[2]

    seed_torch(seed)
    with determinism_errors():
        if method.fit is not None:
            outcome = fit_once(method, X, y, Xv, yv, seed=seed, hparams=hp, placement=placement)
            if on_epoch is not None:
                on_epoch(outcome.history[0])
        else:
            model = build_model(method, window=window, n_features=n_features, hparams=hp)
            probe_output(method, model, X, require_finite=True)  # on the CPU, where it was initialised
            model = placement.module(model)  # then moved to train.device
            outcome = _fit_sgd(model, X, y, Xv, yv, hp, data_order_seed, num_workers, on_epoch, determinism, placement)
    outcome.model.eval()
    return outcome


def fit_once(method: Method, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, *, seed: int,
             hparams: Mapping[str, Any], placement: Placement = CPU_FP32) -> TrainOutcome:
    """A ``fit`` method fitted on ``(X, y)`` and its one history entry (train and validation MSE, cycles²).

    The fit runs where the method runs it (``linear``: numpy, float64, CPU); the fitted module is then moved to
    ``placement`` and the losses predicted there. Non-finite outputs mark the run ``diverged`` (its predictions
    are then NaN), as a NaN loss does in the loop.
    """
    model = placement.module(fit_model(method, X, y, Xv, yv, seed=seed, hparams=hparams))
    record: EpochRecord = {"epoch": 1, "train_loss": mse(model, X, y, placement),
                           "val_loss": mse(model, Xv, yv, placement)}
    diverged = not (math.isfinite(record["train_loss"]) and math.isfinite(record["val_loss"]))
    return TrainOutcome(model, [record], best_epoch=0 if diverged else 1, stopped_early=False, diverged=diverged,
                        placement=placement)


def sgd_setup(model: RulRegressor, X: np.ndarray, y: np.ndarray, hp: Mapping[str, Any], *, data_order_seed: int,
              num_workers: int, determinism: str) -> tuple[torch.optim.Optimizer, DataLoader]:
    """Before the first epoch: the output scaling from ``y`` (cycles), the mode's optimizer and the seeded loader."""
    y_std = float(np.std(y, dtype=np.float64))
    model.set_target_scaling(float(np.mean(y, dtype=np.float64)), y_std if y_std > 0 else 1.0)
    optimizer = make_optimizer(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]),
                               determinism=determinism)
    loader = make_loader(X, y, batch_size=int(hp["batch_size"]), data_order_seed=data_order_seed, num_workers=num_workers)
    return optimizer, loader


def _fit_sgd(
    model: RulRegressor,
    X: np.ndarray,
    y: np.ndarray,
    Xv: np.ndarray,
    yv: np.ndarray,
    hp: dict[str, Any],
    data_order_seed: int,
    num_workers: int,
    on_epoch: Callable[[EpochRecord], None] | None,
    determinism: str,
    placement: Placement = CPU_FP32,
) -> TrainOutcome:
    optimizer, loader = sgd_setup(model, X, y, hp, data_order_seed=data_order_seed, num_workers=num_workers,
                                  determinism=determinism)
    Xv_tensor = placement.tensor(window_tensor(Xv))  # once, not once an epoch
    outcome = TrainOutcome(model, placement=placement)
    best_val = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    epochs_without_improvement = 0
    for epoch in range(1, int(hp["max_epochs"]) + 1):
        first = determinism == "portable" and epoch == 1  # refuse unpinned ops on the first step and validation
        train_loss = _train_one_epoch(model, loader, optimizer, _guard(first, "the first training step"), placement)
        with _guard(first, "the first validation pass"):
            val_loss = mse_tensor(model, Xv_tensor, yv, placement) if math.isfinite(train_loss) else math.nan
        record: EpochRecord = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}
        outcome.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            outcome.diverged = True
            break
        if val_loss < best_val:
            best_val, outcome.best_epoch, epochs_without_improvement = val_loss, epoch, 0
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        else:
            epochs_without_improvement += 1
            if epochs_without_improvement >= int(hp["patience"]):
                outcome.stopped_early = epoch < int(hp["max_epochs"])
                break
    del loader  # shuts persistent workers down now rather than at garbage collection
    if best_state is not None:
        model.load_state_dict(best_state)
    return outcome


def _guard(active: bool, where: str) -> AbstractContextManager[Any]:
    """:class:`RefuseUnpinnedOps` for ``where`` when ``active``, else a no-op context."""
    return RefuseUnpinnedOps(where=where) if active else nullcontext()


def train_step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, optimizer: torch.optim.Optimizer,
               placement: Placement = CPU_FP32) -> float:
    """One optimizer step on the batch ``(xb, yb)``; returns its MSE (cycles²), NaN (no step taken) when not finite.

    The forward pass and the loss run under ``placement``'s autocast, the backward pass outside it.
    """
    optimizer.zero_grad(set_to_none=True)
    with placement.autocast():
        loss = nn.functional.mse_loss(model(xb), yb)
    value = float(loss.item())
    if not math.isfinite(value):
        return math.nan
    loss.backward()
    optimizer.step()
    return value


def _train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                     first_step: AbstractContextManager[Any] | None = None, placement: Placement = CPU_FP32) -> float:
    """One pass over ``loader``; mean MSE (cycles²) over windows, NaN as soon as a batch loss is not finite.

    ``first_step`` (a context manager) wraps the first batch's step only; batches are moved to ``placement``.
    """
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        xb, yb = placement.tensor(xb), placement.tensor(yb)
        with first_step if first_step is not None and count == 0 else nullcontext():
            value = train_step(model, xb, yb, optimizer, placement)
        if not math.isfinite(value):
            return math.nan
        total += value * len(yb)
        count += len(yb)
    return total / count


def test_predictions(outcome: TrainOutcome, X: np.ndarray) -> np.ndarray:
    """Predictions (cycles, float64 ``(n,)``) of a trained run on test windows; all NaN if it diverged."""
    if outcome.diverged:
        return np.full(np.asarray(X).shape[0], np.nan)
    return predict(outcome.model, X, placement=outcome.placement)


test_predictions.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def model_bytes(model: nn.Module) -> bytes:
    """The model's state dict, on the CPU, serialised by ``torch.save`` into memory.

    Saving through :class:`io.BytesIO` keeps the archive's internal folder name
    fixed (saving to a path would embed the file name), so equal weights give
    equal bytes; write them with ``seedbench.core.files.atomic_write_bytes``.
    Tensors are moved to the CPU first (in the state dict, keeping its order and
    metadata), so a CUDA run's file holds no device and loads anywhere.
    """
    state = model.state_dict()
    for name, value in state.items():
        state[name] = to_cpu(value)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_model(
    path: str | os.PathLike[str],
    method: Method | str,
    *,
    window: int,
    n_features: int,
    hparams: Mapping[str, Any],
) -> RulRegressor:
    """Rebuild the ``build`` method ``method`` with ``hparams`` and load the weights saved at ``path`` (``weights_only``), eval mode.

    Raises
    ------
    DataFormatError
        The file is missing, not a torch state dict, or does not fit the model.
    """
    method = resolve(method)
    model = build_model(method, window=window, n_features=n_features, hparams=hparams)
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: model file missing; run the train stage first") from None
    except Exception as exc:  # torch raises several types for a corrupt archive
        raise DataFormatError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {exc})") from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise DataFormatError(f"{path}: weights do not fit a {method.name} model with these hyper-parameters: {exc}") from None
    model.eval()
    return model
