"""Shared fixtures: the repository root and the validated default params."""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# CI (CI=true, as .ci/run is started) draws the same hypothesis examples on every run and keeps no example
# database: a red CI is then reproducible by running the same commit. Locally hypothesis explores freely.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Tests that Ctrl-C a child (tests/ops/test_interrupts.py, test_cluster_s3.py) need SIGINT to reach it. A test run
# started in the background of a non-interactive shell (`bash -c '… &'`) inherits SIGINT *ignored*, which every
# child would inherit in turn (an ignored signal stays ignored across exec), so the interrupt would silently do
# nothing. Restore what Python installs in a foreground process: children then start with the default action.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def default_params_dict() -> dict[str, Any]:
    """A fresh, mutable copy of the committed params.yaml."""
    return copy.deepcopy(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """ONE real `dvc repro` of the tiny profile in a temp git clone, shared by every e2e test that reads it.

    Secrets are planted in its environment and remotes (see tests/pipeline_helpers.py). Tests that
    change the clone must restore it.
    """
    from pipeline_helpers import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-pipeline"))
