"""params.yaml schema of the raw-data sources: `data.local` and `data.hf` (every key required, checked)."""

from __future__ import annotations

from typing import Any

import pytest

from seedbench.core.errors import ParamsError
from seedbench.core.params import KNOWN_SOURCES, params_from_dict


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(ParamsError) as info:
        params_from_dict(raw)
    return str(info.value)


def _set(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def test_every_known_source_is_accepted(default_params_dict: dict[str, Any]) -> None:
    assert KNOWN_SOURCES == ("builtin", "local", "hf")
    for source in KNOWN_SOURCES:
        default_params_dict["data"]["source"] = source
        assert params_from_dict(default_params_dict).data.source == source


def test_committed_source_sections_are_inert_and_typed(default_params_dict: dict[str, Any]) -> None:
    data = params_from_dict(default_params_dict).data
    assert data.source == "builtin"
    assert data.local.expected_sha256 == {} and data.local.link is False
    assert data.hf.repo_type == "dataset" and data.hf.files
    assert data.hf.metadata.name == ""


def test_valid_pins_are_accepted(default_params_dict: dict[str, Any]) -> None:
    pins = {"train_FD001.txt": "sha256:" + "0123456789abcdef" * 4, "RUL_FD004.txt": "sha256:" + "f" * 64}
    default_params_dict["data"]["local"]["expected_sha256"] = pins
    assert params_from_dict(default_params_dict).data.local.expected_sha256 == pins


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("data", "local", "path"), "", "data.local.path: expected a non-empty string"),
        (("data", "local", "path"), 3, "data.local.path: expected string"),
        (("data", "local", "link"), "yes", "data.local.link: expected boolean"),
        (("data", "local", "expected_sha256"), {"train.txt": "sha256:" + "0" * 64}, "data.local.expected_sha256: expected C-MAPSS file names"),
        (("data", "local", "expected_sha256"), {"train_FD001.txt": "0" * 64}, "expected values of the form sha256:<64 lowercase hex digits>"),
        (("data", "local", "expected_sha256"), {"train_FD001.txt": "sha256:" + "A" * 64}, "expected values of the form sha256:"),
        (("data", "local", "expected_sha256"), [], "data.local.expected_sha256: expected a mapping of string to string"),
        (("data", "hf", "repo_id"), "a/b/c", "data.hf.repo_id: expected a Hub repository id"),
        (("data", "hf", "repo_id"), "../x", "data.hf.repo_id: expected a Hub repository id"),
        (("data", "hf", "repo_type"), "space", "data.hf.repo_type: expected one of dataset, model"),
        (("data", "hf", "revision"), "", "data.hf.revision: expected a git revision without spaces"),
        (("data", "hf", "revision"), "my branch", "data.hf.revision: expected a git revision"),
        (("data", "hf", "files"), [], "data.hf.files: expected a non-empty list of non-empty glob patterns"),
        (("data", "hf", "files"), ["*.txt", "*.txt"], "data.hf.files: expected a list without duplicates"),
        (("data", "hf", "files"), "*.txt", "data.hf.files: expected a list of strings"),
        (("data", "hf", "endpoint"), "ftp://mirror", "data.hf.endpoint: expected an http(s) URL"),
        (("data", "hf", "fetch_remote_metadata"), 1, "data.hf.fetch_remote_metadata: expected boolean"),
        (("data", "hf", "metadata", "license"), None, "data.hf.metadata.license: expected string"),
    ],
)
def test_bad_source_values_name_key_and_allowed(
    default_params_dict: dict[str, Any], path: tuple[str, ...], value: Any, expected: str
) -> None:
    _set(default_params_dict, path, value)
    assert expected in _error(default_params_dict)


@pytest.mark.parametrize("key", ["repo_id", "repo_type", "revision", "files", "endpoint", "fetch_remote_metadata", "metadata"])
def test_every_hf_key_is_required(default_params_dict: dict[str, Any], key: str) -> None:
    del default_params_dict["data"]["hf"][key]
    assert f"missing key data.hf.{key}" in _error(default_params_dict)


def test_a_token_cannot_be_put_in_params(default_params_dict: dict[str, Any]) -> None:
    default_params_dict["data"]["hf"]["token"] = "hf_xxx"
    message = _error(default_params_dict)
    assert "unknown key data.hf.token" in message and "hf_xxx" not in message


def test_missing_local_section_is_named(default_params_dict: dict[str, Any]) -> None:
    del default_params_dict["data"]["local"]
    assert "missing key data.local" in _error(default_params_dict)


def test_empty_endpoint_means_client_default(default_params_dict: dict[str, Any]) -> None:
    default_params_dict["data"]["hf"]["endpoint"] = ""
    assert params_from_dict(default_params_dict).data.hf.endpoint == ""
