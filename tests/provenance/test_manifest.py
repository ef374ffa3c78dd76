"""Manifests: pure build, atomic write, JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from seedbench.core.seeds import run_seeds
from seedbench.provenance.environment import environment_record, library_versions
from seedbench.provenance.manifest import (
    build_manifest,
    config_hash,
    manifest_schema,
    write_manifest,
)


def _manifest(**overrides):  # type: ignore[no-untyped-def]
    kwargs = dict(
        kind="run",
        run_id="FD001-mlp-0",
        code_hashes={"stages/train.py": "0" * 32},
        code_versions=library_versions(),
        seeds=run_seeds(42, 0),
        determinism={"deterministic": True},
        leakage={"leakage": False},
        data_hashes={"FD001/train_FD001.txt": "sha256:" + "0" * 64},
        config={"seed": 42, "train": {"lr": 0.001}},
        env=environment_record({}),
    )
    kwargs.update(overrides)
    return build_manifest(**kwargs)


def test_config_hash_is_canonical() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    with pytest.raises(ValueError):
        config_hash({"a": float("nan")})


def test_written_manifest_validates_against_shipped_schema(tmp_path: Path) -> None:
    path = write_manifest(_manifest(), tmp_path)
    jsonschema.validate(json.loads(path.read_text()), manifest_schema())


def test_schema_rejects_a_bad_manifest(tmp_path: Path) -> None:
    data = _manifest().to_dict()
    data["code_hashes"] = {"stages/train.py": "not-an-md5"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, manifest_schema())
    with pytest.raises(ValueError, match="kind"):
        _manifest(kind="other")
