"""Load a method file by path and turn what it returns into a checked :class:`RulRegressor`.

A method is ``methods/<name>.py`` (README, "Benchmark your own method in 10
minutes"): a literal ``HPARAMS`` declaration (``seedbench.core.methodspec``,
read without running the file) and one of

- ``build(window, n_features, hparams) -> nn.Module``: trained by
  ``seedbench.training.loop`` (seeds, data order, AdamW, early stopping,
  DVCLive, the determinism mode all apply unchanged);
- ``fit(train, val, *, seed, hparams) -> nn.Module``: trained by the method
  itself (closed form, boosting, …) on :class:`Windows`, with the replicate
  seed as its only source of randomness.

Either module maps float32 windows ``(batch, window, n_features)`` to
``(batch, 1)`` RUL in cycles. Every failure of the file — it does not import,
lacks ``build``/``fit``, raises, returns something else or the wrong shape,
or an untrained ``build`` model outputs NaN — is a one-line
:class:`~seedbench.core.errors.MethodError` naming the file (and line where
Python gives one).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from seedbench.core.errors import MethodError, ParamsError, SeedbenchError
from seedbench.core.methodspec import MethodSpec, method_path, read_method_spec
from seedbench.core.names import METHODS_DIR
from seedbench.determinism.seeding import determinism_errors
from seedbench.training.models import RulRegressor

PROBE_WINDOWS = 2
"""Windows of the training set the untrained ``build`` model is run on before training (shape and NaN check)."""


@dataclass(frozen=True)
class Windows:
    """What a ``fit`` method gets of a split: ``X`` float32 ``(n, window, n_features)``, ``y`` float32 ``(n,)`` cycles."""

    X: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Method:
    """A loaded method: its declaration and its ``build`` or ``fit`` function (the other is ``None``)."""

    spec: MethodSpec
    build: Callable[..., Any] | None
    fit: Callable[..., Any] | None

    @property
    def name(self) -> str:
        """The method's name (its file's stem)."""
        return self.spec.name

    @property
    def where(self) -> str:
        """The method file, as error messages name it."""
        return self.spec.path.as_posix()


_LOADED: dict[Path, Method] = {}


def _line_in(exc: BaseException, path: Path) -> str:
    """``:<line>`` of the deepest traceback frame inside ``path`` (or of a syntax error in it), else ``""``."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path.resolve():
        return f":{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return f":{frames[-1].lineno}" if frames else ""


def _import_file(path: Path, name: str) -> ModuleType:
    module_name = f"seedbench_method_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise MethodError(f"{path.as_posix()}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise MethodError(f"{path.as_posix()}{_line_in(exc, path)}: the method file does not import: "
                          f"{type(exc).__name__}: {exc}") from None
    return module


def load_method(name: str, methods_dir: str | Path = METHODS_DIR) -> Method:
    """Read the declaration of ``<methods_dir>/<name>.py``, import the file (once per process) and return it."""
    path = method_path(methods_dir, name)
    key = path.resolve()
    if key not in _LOADED:
        spec = read_method_spec(path, name)
        module = _import_file(path, name)
        function = getattr(module, spec.kind, None)
        if not callable(function):
            raise MethodError(f"{path.as_posix()}: {spec.kind} is not a function")
        _LOADED[key] = Method(spec, function if spec.kind == "build" else None, function if spec.kind == "fit" else None)
    return _LOADED[key]


def resolve(method: Method | str, methods_dir: str | Path = METHODS_DIR) -> Method:
    """``method`` itself, or the method named so, loaded from ``methods_dir`` (:func:`load_method`)."""
    return method if isinstance(method, Method) else load_method(method, methods_dir)


def check_hparams(method: Method | str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` as a dict if its keys are exactly the method's declared ones, else :class:`ParamsError`."""
    method = resolve(method)
    allowed = method.spec.keys()
    missing = [k for k in allowed if k not in hparams]
    unknown = sorted(str(k) for k in hparams if k not in allowed)
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
        raise ParamsError(f"train.{method.name}: {problem}; expected exactly the keys {', '.join(allowed)} "
                          f"({method.where})")
    return dict(hparams)


def call_method(method: Method, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``; an exception from the method's code becomes a :class:`MethodError` naming file:line."""
    try:
        with determinism_errors():  # an op without a deterministic kernel stays a DeterminismError naming it
            return function(*args, **kwargs)
    except SeedbenchError:
        raise
    except Exception as exc:
        raise MethodError(f"{method.where}{_line_in(exc, method.spec.path)}: {what} failed: "
                          f"{type(exc).__name__}: {exc}") from None


def as_regressor(method: Method, net: Any, what: str, *, window: int, n_features: int) -> RulRegressor:
    """Wrap the module ``what`` returned as a :class:`RulRegressor` (a :class:`MethodError` when it is no module)."""
    if not isinstance(net, nn.Module):
        raise MethodError(f"{method.where}: {what} returned {type(net).__name__}; expected a torch.nn.Module mapping "
                          f"(batch, {window}, {n_features}) to (batch, 1)")
    return RulRegressor(net, window=window, n_features=n_features)


def build_model(method: Method | str, *, window: int, n_features: int, hparams: Mapping[str, Any]) -> RulRegressor:
    """An untrained model of the ``build`` method ``method`` for windows ``(window, n_features)``.

    Initialisation draws from torch's global generator: seed it first (``seedbench.determinism.seeding.seed_torch``).
    """
    method = resolve(method)
    if method.build is None:
        raise MethodError(f"{method.where}: a fit method has no untrained model; seedbench trains it by calling fit")
    if window < 1 or n_features < 1:
        raise ValueError(f"window and n_features must be positive, got {window}, {n_features}")
    hp = check_hparams(method, hparams)
    net = call_method(method, f"build(window={window}, n_features={n_features}, hparams)", method.build,
                      window, n_features, hp)
    return as_regressor(method, net, "build", window=window, n_features=n_features)


def probe_output(method: Method, model: RulRegressor, X: np.ndarray, *, require_finite: bool) -> None:
    """Run ``model.net`` on the first :data:`PROBE_WINDOWS` windows of ``X`` (eval mode, no gradient, no random draw).

    Raises :class:`MethodError` when the output is not ``(k, 1)``, or (``require_finite``) holds NaN or infinity.
    The model's train/eval mode is restored.
    """
    batch = torch.from_numpy(np.array(X[:PROBE_WINDOWS], dtype=np.float32, copy=True, order="C"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = call_method(method, "the model's forward pass", model.net, batch)
    finally:
        model.train(was_training)
    k = batch.shape[0]
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (k, 1):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise MethodError(f"{method.where}: the model's output for {k} windows has shape {shape}; expected ({k}, 1) "
                          "(one RUL per window)")
    if require_finite and not np.isfinite(out.numpy()).all():  # numpy: no extra torch op in the op audit
        raise MethodError(f"{method.where}: the untrained model outputs NaN or infinity for {k} training windows; "
                          "expected finite numbers before any training step")


def fit_model(method: Method, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, *, seed: int,
              hparams: Mapping[str, Any]) -> RulRegressor:
    """Call the ``fit`` method on :class:`Windows` of train and validation; its module as a :class:`RulRegressor`."""
    if method.fit is None:
        raise MethodError(f"{method.where}: a build method is trained by seedbench's loop, not by fit")
    hp = check_hparams(method, hparams)
    net = call_method(method, "fit(train, val, *, seed, hparams)", method.fit, Windows(X, y), Windows(Xv, yv),
                      seed=seed, hparams=hp)
    model = as_regressor(method, net, "fit", window=X.shape[1], n_features=X.shape[2])
    model.set_target_scaling(0.0, 1.0)
    probe_output(method, model, X, require_finite=False)  # NaN after fitting = a diverged run, as for the loop
    return model

