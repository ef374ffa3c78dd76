"""Every private API of another library that seedbench touches still exists (an upgrade fails here, by name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from seedbench.compat import dvc, huggingface_hub
from seedbench.compat import dvclive as compat_dvclive
from seedbench.compat.check import missing_private_api

SRC = Path(__file__).resolve().parents[2] / "src" / "seedbench"


@pytest.mark.parametrize("module", [dvc, huggingface_hub, compat_dvclive], ids=lambda m: m.__name__)
def test_every_listed_private_symbol_still_exists(module: object) -> None:
    assert missing_private_api(module.PRIVATE_API) == []  # type: ignore[attr-defined]


def test_a_vanished_symbol_is_named() -> None:
    assert missing_private_api([("dvc.repo", "Repo.no_such_thing"), ("no_such_module_x", "f")]) == [
        "dvc.repo:Repo.no_such_thing (no attribute 'no_such_thing')",
        "no_such_module_x:f (cannot import no_such_module_x: No module named 'no_such_module_x')",
    ]


def test_files_only_live_still_sets_what_dvclive_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no repository here: DVCLive must not look for one
    live = compat_dvclive.FilesOnlyLive(str(tmp_path / "live"), save_dvc_exp=False, dvcyaml=False)
    live.log_metric("loss", 1.0)
    live.next_step()
    live.end()
    for name in compat_dvclive.PRIVATE_ATTRIBUTES:
        assert hasattr(live, name), name
    assert not (tmp_path / ".dvc").exists() and not (tmp_path / ".git").exists()


_INTERNAL_IMPORTS = ("dvc.repo", "dvc.config", "dvc.utils", "huggingface_hub.file_download", "huggingface_hub.utils",
                     "dvclive")


def test_internal_modules_are_imported_only_from_compat() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent.name == "compat":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in _INTERNAL_IMPORTS):
                    offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert offenders == []
