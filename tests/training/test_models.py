"""The built-in method files (methods/*.py): shapes, hyper-parameter keys, closed-form ridge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seedbench.core import params as params_module
from seedbench.core.errors import ParamsError
from seedbench.core.methodspec import read_method_spec
from seedbench.core.names import BUILTIN_METHODS as METHODS
from seedbench.core.seeds import generator
from seedbench.determinism.seeding import seed_torch
from seedbench.training.loop import fit_once
from seedbench.training.methods import build_model, check_hparams, load_method

fit_ridge = load_method("linear").fit.__globals__["fit_ridge"]  # methods/linear.py's own function
BUILD_METHODS = [m for m in METHODS if m != "linear"]

TINY = {
    "linear": {"alpha": 0.5},
    "mlp": {"hidden_sizes": [8, 4], "dropout": 0.1, "lr": 1e-2, "weight_decay": 0.0, "batch_size": 8, "max_epochs": 2, "patience": 1},
    "cnn1d": {"channels": [4, 4], "kernel_size": 3, "dropout": 0.1, "lr": 1e-2, "weight_decay": 0.0, "batch_size": 8, "max_epochs": 2, "patience": 1},
    "bilstm": {"hidden_size": 4, "num_layers": 2, "dropout": 0.1, "lr": 1e-2, "weight_decay": 0.0, "batch_size": 8, "max_epochs": 2, "patience": 1},
}


@pytest.mark.parametrize("method", BUILD_METHODS)
def test_every_method_maps_a_batch_of_windows_to_one_rul_each(method: str) -> None:
    model = build_model(method, window=7, n_features=3, hparams=TINY[method])
    x = torch.from_numpy(generator(0, "test-models").random((5, 7, 3), dtype=np.float32))
    out = model.eval()(x)
    assert out.shape == (5,)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("kernel_size", [1, 4, 5, 9])
def test_convolutions_keep_the_window_length_for_any_kernel(kernel_size: int) -> None:
    hparams = {**TINY["cnn1d"], "kernel_size": kernel_size}
    for window in (2, 15):
        model = build_model("cnn1d", window=window, n_features=3, hparams=hparams)
        assert model.eval()(torch.zeros(1, window, 3)).shape == (1,)


def test_wrong_input_shape_is_rejected_with_the_expected_shape() -> None:
    model = build_model("mlp", window=7, n_features=3, hparams=TINY["mlp"])
    with pytest.raises(ValueError, match=r"\(batch, 7, 3\)"):
        model(torch.zeros(2, 6, 3))


def test_a_method_without_a_file_names_the_file() -> None:
    with pytest.raises(Exception, match=r"methods/xgboost\.py: no such method file"):
        build_model("xgboost", window=7, n_features=3, hparams={})


def test_missing_or_unknown_hyper_parameter_key_is_rejected_by_name() -> None:
    hp = dict(TINY["mlp"])
    del hp["patience"]
    with pytest.raises(ParamsError, match=r"train\.mlp: missing patience"):
        check_hparams("mlp", hp)
    with pytest.raises(ParamsError, match=r"train\.bilstm: unknown hiden_size"):
        check_hparams("bilstm", {**TINY["bilstm"], "hiden_size": 3})


def test_built_in_methods_declare_the_keys_the_committed_params_set(repo_root) -> None:
    params = params_module.load_params(repo_root / "params.yaml")
    for method in METHODS:
        assert read_method_spec(repo_root / "methods" / f"{method}.py").keys() == tuple(params.train.hparams(method))


def test_the_committed_params_build_every_model(repo_root) -> None:
    params = params_module.load_params(repo_root / "params.yaml")
    for method in BUILD_METHODS:
        build_model(method, window=30, n_features=14, hparams=params.train.hparams(method))


def test_initial_weights_depend_only_on_the_torch_seed() -> None:
    def weights(seed: int) -> list[torch.Tensor]:
        seed_torch(seed)
        return list(build_model("bilstm", window=5, n_features=2, hparams=TINY["bilstm"]).state_dict().values())

    assert all(torch.equal(a, b) for a, b in zip(weights(3), weights(3), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights(3), weights(4), strict=True))


def test_ridge_solves_the_penalised_normal_equations_without_penalising_the_bias() -> None:
    rng = generator(1, "ridge")
    X = rng.standard_normal((40, 6)) + 3.0
    y = X @ rng.standard_normal(6) + 50.0 + rng.standard_normal(40)
    alpha = 2.5
    w, b = fit_ridge(X, y, alpha)
    Xa = np.hstack([X, np.ones((40, 1))])
    penalty = np.diag([alpha] * 6 + [0.0])
    expected = np.linalg.solve(Xa.T @ Xa + penalty, Xa.T @ y)
    np.testing.assert_allclose(np.r_[w, b], expected, rtol=1e-9, atol=1e-9)


def test_ridge_with_zero_penalty_is_least_squares_even_when_rank_deficient() -> None:
    rng = generator(2, "ridge")
    X = rng.standard_normal((10, 3))
    X = np.hstack([X, X[:, :1]])  # duplicated column: X'X is singular
    y = X[:, 0] * 2.0 + 1.0
    w, b = fit_ridge(X, y, 0.0)
    np.testing.assert_allclose(X @ w + b, y, atol=1e-9)


def test_negative_ridge_penalty_is_refused_at_params_validation(default_params_dict) -> None:
    default_params_dict["train"]["linear"]["alpha"] = -1.0
    with pytest.raises(ParamsError, match=r"params.yaml: train\.linear\.alpha: expected a number >= 0, got -1.0"):
        params_module.params_from_dict(default_params_dict)


def test_linear_model_predicts_the_ridge_solution_on_flattened_windows() -> None:
    rng = generator(3, "ridge")
    X = rng.standard_normal((20, 4, 2)).astype(np.float32)
    y = (X.reshape(20, -1) @ rng.standard_normal(8) + 10.0).astype(np.float32)
    w, b = fit_ridge(X.reshape(20, -1), y, 0.1)
    model = fit_once(load_method("linear"), X, y, X, y, seed=0, hparams={"alpha": 0.1}).model
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, X.reshape(20, -1).astype(np.float64) @ w + b, rtol=1e-5, atol=1e-4)
