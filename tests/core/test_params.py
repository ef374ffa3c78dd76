"""params.yaml validation: one schema, errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbench.core.errors import ParamsError
from seedbench.core.names import BUILTIN_METHODS
from seedbench.core.params import load_params, params_from_dict
from seedbench.core.params_reference import reference_markdown

REPO_ROOT = Path(__file__).resolve().parents[2]


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(ParamsError) as info:
        params_from_dict(raw)
    return str(info.value)


def test_committed_params_and_profiles_validate() -> None:
    for path in [REPO_ROOT / "params.yaml", *sorted((REPO_ROOT / "profiles").glob("*.yaml"))]:
        params = load_params(path)
        assert params.methods and params.replicates


def test_profiles_have_exactly_the_keys_of_params_yaml() -> None:
    def keys(node: Any, prefix: str = "") -> set[str]:
        if isinstance(node, dict) and prefix != "prepare.windows.":
            return set().union(*(keys(v, f"{prefix}{k}.") for k, v in node.items())) | {prefix}
        return {prefix}

    default = keys(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))
    for path in (REPO_ROOT / "profiles").glob("*.yaml"):
        assert keys(yaml.safe_load(path.read_text())) == default, path.name


def test_unknown_key_is_named(default_params_dict: dict[str, Any]) -> None:
    default_params_dict["train"]["mlp"]["learning_rate"] = 0.1
    message = _error(default_params_dict)
    assert "train.mlp.learning_rate" in message and "lr" in message


def test_unknown_top_level_key_is_named(default_params_dict: dict[str, Any]) -> None:
    default_params_dict["seeds"] = [1, 2]
    assert "unknown key seeds" in _error(default_params_dict)


def test_missing_key_is_named(default_params_dict: dict[str, Any]) -> None:
    del default_params_dict["stats"]["confidence"]
    assert "missing key stats.confidence" in _error(default_params_dict)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("seed",), "42", "seed: expected integer"),
        (("seed",), 2**32, "seed: expected an integer in 0..4294967295"),
        (("seed",), -1, "seed: expected an integer in 0..4294967295"),
        (("seed",), True, "seed: expected integer"),
        (("train", "mlp", "lr"), "fast", "train.mlp.lr: expected number"),
        (("train", "mlp", "lr"), 0, "train.mlp.lr: expected a positive number"),
        (("train", "deterministic"), "yes", "train.deterministic: expected boolean"),
        (("train", "mlp", "hidden_sizes"), 64, "train.mlp.hidden_sizes: expected a list of integers"),
        (("train", "mlp", "hidden_sizes"), [64, "x"], "train.mlp.hidden_sizes[1]: expected integer"),
        (("data", "builtin", "scale"), 1.5, "data.builtin.scale: expected a number in (0, 1]"),
        (("train", "val_fraction"), 1.0, "train.val_fraction: expected a number strictly between 0 and 1"),
        (("methods",), [], "methods: expected a non-empty list"),
        (("methods",), ["mlp", "transformer"], "methods: no method file methods/transformer.py for 'transformer'"),
        (("methods",), ["mlp", "my-method"], "methods: expected a lowercase identifier"),
        (("methods",), ["mlp", "determinism"], "methods: 'determinism' collides with the setting train.determinism"),
        (("methods",), ["mlp", "mlp"], "methods: expected a list without duplicates"),
        (("replicates",), [0, 1, 1], "replicates: expected a list without duplicates"),
        (("replicates",), [-1], "replicates: expected non-negative replicate indices"),
        (("replicates",), [], "replicates: expected a non-empty list"),
        (("data", "datasets"), ["FD009"], "data.datasets: expected names from: FD001"),
        (("data", "source"), "ftp", "data.source: expected one of builtin"),
        (("prepare", "windows"), {"FD001": 30, "FD002": 0}, "prepare.windows: expected positive window lengths"),
        (("prepare", "sensors"), ["s2", "s99"], "prepare.sensors: expected names from"),
    ],
)
def test_bad_values_name_key_and_allowed(default_params_dict: dict[str, Any], path: tuple[str, ...], value: Any, expected: str) -> None:
    node = default_params_dict
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert expected in _error(default_params_dict)


def test_portable_mode_refuses_a_batch_whose_sums_threads_would_split(default_params_dict: dict[str, Any]) -> None:
    default_params_dict["train"]["determinism"] = "portable"
    default_params_dict["train"]["mlp"]["batch_size"] = 32_769
    assert "train.mlp.batch_size: at most 32768 with train.determinism: portable" in _error(default_params_dict)
    default_params_dict["train"]["determinism"] = "native"
    params_from_dict(default_params_dict)  # native mode promises nothing across thread counts: allowed


def test_dataset_without_window_is_named(default_params_dict: dict[str, Any]) -> None:
    default_params_dict["prepare"]["windows"] = {"FD001": 30}
    assert "prepare.windows: no window for dataset FD002" in _error(default_params_dict)


def test_load_params_names_the_file(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    default_params_dict["train"]["torch_threads"] = 0
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(default_params_dict))
    with pytest.raises(ParamsError, match=re.escape(f"{path}: train.torch_threads: expected a positive number")):
        load_params(path)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="top level: expected a mapping"):
        load_params(bad)


def test_hparams_per_method_are_plain_dicts(default_params_dict: dict[str, Any]) -> None:
    params = params_from_dict(default_params_dict)
    for method in BUILTIN_METHODS:
        assert params.train.hparams(method) == default_params_dict["train"][method]
    with pytest.raises(ParamsError, match="unknown method 'svm'"):
        params.train.hparams("svm")


def test_readme_params_reference_is_in_sync_with_schema() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert reference_markdown() in readme, "README's params reference is stale: run `seedbench params-reference`"


def test_every_schema_key_is_documented() -> None:
    for line in reference_markdown().splitlines()[2:]:
        assert line.rstrip("| ").split("|")[-1].strip(), line
