"""dvc.yaml's code deps are exactly the code each stage runs (its static ``seedbench`` import closure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from seedbench.ops.stagedeps import (
    command_entry_points,
    files_run_by,
    pipeline_dep_problems,
    stage_dep_problems,
)

REPO = Path(__file__).resolve().parents[2]


def _stages(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]


def test_every_stage_depends_on_exactly_the_code_it_runs() -> None:
    assert pipeline_dep_problems(_stages(REPO), REPO) == {}


def test_the_train_command_runs_the_launcher_and_the_stage_script() -> None:
    cmd = _stages(REPO)["train"]["cmd"]
    scripts, modules = command_entry_points(cmd.replace("${", "{"))
    assert scripts == ["stages/train.py"] and modules == ["seedbench.determinism.launch"]
    run = files_run_by(cmd, REPO)
    assert {"src/seedbench/determinism/launch.py", "src/seedbench/training/loop.py",
            "src/seedbench/core/params.py", "src/seedbench/__init__.py"} <= run
    # a lazily imported module runs on some path: it counts
    assert "src/seedbench/training/models.py" in run


def _scratch_copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "stages", repo / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "methods", repo / "methods", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", repo / "dvc.yaml")
    return repo


def test_a_planted_import_of_an_undeclared_module_is_named(tmp_path: Path) -> None:
    repo = _scratch_copy(tmp_path)
    # train's closure gains seedbench.ops.parallel, through a module it already imports (its metrics), inside a function
    metrics = repo / "src/seedbench/stats/metrics.py"
    metrics.write_text(metrics.read_text() + "\n\ndef _planted() -> None:\n    from seedbench.ops import parallel  # noqa: F401\n")
    problems = pipeline_dep_problems(_stages(repo), repo)
    assert "runs src/seedbench/ops/parallel.py but does not depend on it" in problems["train"]
    assert "runs src/seedbench/ops/__init__.py but does not depend on it" in problems["train"]
    # aggregate runs metrics.py too; the stages that never load it are untouched
    assert "runs src/seedbench/ops/parallel.py but does not depend on it" in problems["aggregate"]
    assert set(problems) == {"train", "aggregate"}


def test_a_relative_import_is_followed(tmp_path: Path) -> None:
    repo = _scratch_copy(tmp_path)
    record = repo / "src/seedbench/results/record.py"
    record.write_text(record.read_text() + "\nfrom ..verify import compare  # noqa: E402,F401\n")
    problems = stage_dep_problems(_stages(repo)["train"]["cmd"], _stages(repo)["train"]["deps"], repo)
    assert "runs src/seedbench/verify/compare.py but does not depend on it" in problems


def test_a_dep_on_code_the_stage_never_runs_is_named(tmp_path: Path) -> None:
    # train writes results.json (metrics) but never the bootstrap: a dep on it would retrain on every bootstrap edit
    stage = _stages(REPO)["train"]
    problems = stage_dep_problems(stage["cmd"], [*stage["deps"], "src/seedbench/stats/bootstrap.py"], REPO)
    assert problems == ["depends on src/seedbench/stats/bootstrap.py but runs nothing in it"]


def test_train_runs_its_metrics_but_no_statistics_over_runs() -> None:
    run = files_run_by_stage(REPO, "train")
    assert {"src/seedbench/results/record.py", "src/seedbench/stats/metrics.py"} <= run
    assert not {f for f in run if f.startswith("src/seedbench/stats/") and not f.endswith(("__init__.py", "metrics.py"))}
    assert "src/seedbench/results/intervals.py" not in run


def test_train_runs_every_method_file_and_what_it_imports(tmp_path: Path) -> None:
    assert {"methods/linear.py", "methods/gru.py"} <= files_run_by_stage(REPO, "train")
    repo = _scratch_copy(tmp_path)
    gru = repo / "methods/gru.py"
    gru.write_text(gru.read_text() + "\nfrom seedbench.ops import parallel  # noqa: E402,F401\n")
    problems = pipeline_dep_problems(_stages(repo), repo)
    assert set(problems) == {"train"}  # only the stage that loads method files
    assert "runs src/seedbench/ops/parallel.py but does not depend on it" in problems["train"]


def files_run_by_stage(repo: Path, name: str) -> set[str]:
    """What ``stage_dep_problems`` judges a stage by: its command's closure plus files loaded by path."""
    stage = _stages(repo)[name]
    from seedbench.ops.stagedeps import files_loaded_by_path

    return files_run_by(stage["cmd"], repo) | set(files_loaded_by_path(stage["deps"], repo))
