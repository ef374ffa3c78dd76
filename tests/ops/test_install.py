"""What the pinned environment must hold for the pipeline to run at the speed BENCHMARKS.md reports."""

from __future__ import annotations

import re
from pathlib import Path

import ruamel.yaml.parser
from ruamel.yaml import YAML


def test_dvc_reads_yaml_with_ruamels_c_parser() -> None:
    """DVC parses params.yaml (once per stage) and dvc.lock with YAML(typ="safe"): pure Python without the C parser."""
    assert YAML(typ="safe").Parser is not ruamel.yaml.parser.Parser


def test_every_direct_dependency_is_pinned_in_requirements_lock(repo_root: Path) -> None:
    pyproject = (repo_root / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    direct = {re.split(r"[<>=!~ ]", line.strip().strip('",'))[0].lower()
              for line in block.splitlines() if line.strip().startswith('"')}
    pinned = {line.split("==")[0].lower() for line in (repo_root / "requirements.lock").read_text().splitlines()
              if "==" in line}
    normalise = lambda name: re.sub(r"[-_.]+", "-", name)  # noqa: E731
    assert {normalise(n) for n in direct} - {normalise(n) for n in pinned} == set()
