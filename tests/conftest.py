"""Shared fixtures: the repository root and the validated default params."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def default_params_dict() -> dict[str, Any]:
    """A fresh, mutable copy of the committed params.yaml."""
    return copy.deepcopy(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))
