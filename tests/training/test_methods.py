"""Method files: every mistake in one is a one-line error naming the file (and line), found before training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seedbench.core.errors import MethodError, ParamsError
from seedbench.core.params import params_from_dict
from seedbench.core.seeds import generator
from seedbench.training.loop import train_model
from seedbench.training.methods import load_method

REPO = Path(__file__).resolve().parents[2]
GRU = (REPO / "methods" / "gru.py").read_text()


class _Split:
    def __init__(self, n: int, name: str) -> None:
        rng = generator(5, "test-methods", name)
        self.X = rng.random((n, 6, 3), dtype=np.float32)
        self.y = (rng.random(n) * 100).astype(np.float32)


def _method_dir(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "methods"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return folder


def _train(folder: Path, name: str, hparams: dict[str, Any] | None = None) -> Any:
    method = load_method(name, folder)
    hp = hparams or {h.name: h.default for h in method.spec.hparams}
    return train_model(method, _Split(40, "train"), _Split(10, "val"), hparams={**hp, "max_epochs": 1},
                       seed=1, data_order_seed=2)


def test_the_gru_example_trains_through_the_loop(tmp_path: Path) -> None:
    outcome = _train(_method_dir(tmp_path, "mygru", GRU), "mygru")
    assert len(outcome.history) == 1 and not outcome.diverged


def test_a_file_that_fails_to_import_names_file_and_line(tmp_path: Path) -> None:
    text = GRU.replace("import torch\n", "import torch\nimport no_such_package_here\n", 1)
    line = text.splitlines().index("import no_such_package_here") + 1
    folder = _method_dir(tmp_path, "broken", text)
    with pytest.raises(MethodError, match=rf"broken\.py:{line}: the method file does not import: ModuleNotFoundError"):
        load_method("broken", folder)


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    folder = _method_dir(tmp_path, "typo", GRU + "\ndef oops(:\n")
    with pytest.raises(MethodError, match=r"typo\.py:\d+: syntax error"):
        load_method("typo", folder)


def test_a_file_without_build_or_fit_is_refused(tmp_path: Path) -> None:
    folder = _method_dir(tmp_path, "nofactory", GRU.replace("def build(", "def make("))
    with pytest.raises(MethodError, match=r"nofactory\.py: defines neither build nor fit"):
        load_method("nofactory", folder)


def test_an_untyped_hyper_parameter_names_file_line_and_key(tmp_path: Path) -> None:
    text = GRU.replace('"hidden_size": {"type": "int", ', '"hidden_size": {')
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith('"hidden_size"'))
    folder = _method_dir(tmp_path, "untyped", text)
    with pytest.raises(MethodError, match=rf"untyped\.py:{line}: HPARAMS\['hidden_size'\]: no type"):
        load_method("untyped", folder)


def test_a_build_method_must_declare_what_the_loop_reads(tmp_path: Path) -> None:
    text = "\n".join(t for t in GRU.splitlines() if not t.strip().startswith('"patience"')
                     and not t.strip().startswith('"doc": "Early-stopping'))
    folder = _method_dir(tmp_path, "nopatience", text)
    with pytest.raises(MethodError, match=r"HPARAMS lacks patience"):
        load_method("nopatience", folder)


def test_a_wrong_output_shape_is_refused_before_training(tmp_path: Path) -> None:
    folder = _method_dir(tmp_path, "wide", GRU.replace("nn.Linear(hidden_size, 1)", "nn.Linear(hidden_size, 3)"))
    with pytest.raises(MethodError, match=r"wide\.py: the model's output for 2 windows has shape \(2, 3\); expected \(2, 1\)"):
        _train(folder, "wide")


def test_an_untrained_model_that_outputs_nan_is_refused(tmp_path: Path) -> None:
    folder = _method_dir(tmp_path, "nanny", GRU.replace("return self.head(h_n[-1])", "return self.head(h_n[-1]) * float('nan')"))
    with pytest.raises(MethodError, match=r"nanny\.py: the untrained model outputs NaN or infinity"):
        _train(folder, "nanny")


def test_an_exception_in_build_names_file_and_line(tmp_path: Path) -> None:
    text = GRU.replace('    return GruNet(', '    raise KeyError("width")\n    return GruNet(')
    line = text.splitlines().index('    raise KeyError("width")') + 1
    folder = _method_dir(tmp_path, "raiser", text)
    with pytest.raises(MethodError, match=rf"raiser\.py:{line}: build\(window=6, n_features=3, hparams\) failed: KeyError"):
        _train(folder, "raiser")


def test_params_validate_a_new_method_against_its_declaration(tmp_path: Path, default_params_dict) -> None:
    folder = _method_dir(tmp_path, "mygru", GRU)
    raw = default_params_dict
    raw["methods"] = [*raw["methods"], "mygru"]
    for name in ("linear", "mlp", "cnn1d", "bilstm"):
        (folder / f"{name}.py").write_text((REPO / "methods" / f"{name}.py").read_text())
    raw["train"]["mygru"] = {**raw["train"]["gru"], "lr": 0}
    del raw["train"]["gru"]  # no methods/gru.py in this folder: its section would be an unknown key
    with pytest.raises(ParamsError, match=r"^params.yaml: train.mygru.lr: expected a positive number, got 0$"):
        params_from_dict(raw, folder)
    raw["train"]["mygru"]["lr"] = 0.01
    assert params_from_dict(raw, folder).train.hparams("mygru")["lr"] == 0.01
    raw["train"]["mygru"]["hiden_size"] = 3
    with pytest.raises(ParamsError, match=r"unknown key train.mygru.hiden_size; allowed keys under train.mygru"):
        params_from_dict(raw, folder)
    del raw["train"]["mygru"]
    with pytest.raises(ParamsError, match=r"missing key train.mygru \(the hyper-parameters of .*mygru.py\)"):
        params_from_dict(raw, folder)
