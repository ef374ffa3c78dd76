"""`seedbench replay`: refusals, level choice, verdicts — and one real replay of the tiny pipeline.

The e2e tests share the session's tiny pipeline (tests/conftest.py). Refusals use altered
*copies* of publish/manifest.json written outside the clone, and the tampered-data test restores
the file's bytes, so the clone stays as published; the full replay (a real `dvc repro --force
aggregate`) runs last.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import run

from seedbench.core.errors import ReplayError
from seedbench.verify.replay import (
    check_checkout,
    check_manifest_replayable,
    choose_level,
    config_differences,
)

SEEDBENCH = [sys.executable, "-m", "seedbench.cli"]

# --------------------------------------------------------------------------- unit

VERSIONS = {"python": "3.11.9", "seedbench": "0.1.0", "torch": "2.13.0+cpu", "numpy": "2.4.6", "scipy": "1.17.1",
            "pandas": "3.1.1", "dvc": "3.67.1", "huggingface_hub": "2.4.0"}
RECORD = {"mode": "portable", "mode_env": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                           "MKL_CBWR": "COMPATIBLE", "OPENBLAS_CORETYPE": "Haswell",
                                           "OPENBLAS_NUM_THREADS": "1", "MKL_ENABLE_INSTRUCTIONS": None},
          "torch_cpu_capability": "AVX2", "cpu_model": "CPU A", "cpu_flags": {"avx2": True, "avx512f": True},
          "cpu_count": 2, "torch_version": "2.13.0+cpu", "mkl_version": "2024.2", "onednn_version": "3.12.0",
          "numpy_version": "2.4.6", "openblas_version": "0.3.30", "deterministic": True, "torch_threads": 1,
          "cuda_available": False}


def experiment(**changes: Any) -> dict[str, Any]:
    run_manifest = {"run_id": "FD001-mlp-0", "kind": "run", "code_versions": dict(VERSIONS),
                    "determinism": dict(RECORD), "gpu_info": None}
    m = {"kind": "experiment", "git_sha": "a" * 40, "dirty_flag": False, "dirty_paths": [],
         "code_versions": dict(VERSIONS), "runs": [{"manifest": run_manifest}]}
    m.update(changes)
    return m


def here(**changes: Any) -> dict[str, Any]:
    return {**RECORD, "gpus": None, **changes}


def test_dirty_or_unversioned_manifests_are_refused() -> None:
    check_manifest_replayable(experiment())
    with pytest.raises(ReplayError, match="dirty manifest.*src/x.py"):
        check_manifest_replayable(experiment(dirty_flag=True, dirty_paths=["src/x.py"]))
    with pytest.raises(ReplayError, match="no git commit"):
        check_manifest_replayable(experiment(git_sha=None, dirty_flag=None))
    with pytest.raises(ReplayError, match="a run manifest"):
        check_manifest_replayable(experiment(kind="run"))


def test_other_commit_is_told_the_exact_git_checkout() -> None:
    with pytest.raises(ReplayError, match=f"run `git checkout {'a' * 40}`"):
        check_checkout(experiment(), {"git_sha": "b" * 40, "dirty": False})
    with pytest.raises(ReplayError, match="uncommitted changes .*stages/train.py"):
        check_checkout(experiment(), {"git_sha": "a" * 40, "dirty": True, "dirty_paths": ["stages/train.py"]})
    check_checkout(experiment(), {"git_sha": "a" * 40, "dirty": False})


def test_level_is_bit_only_when_everything_matches() -> None:
    choice = choose_level(experiment(), dict(VERSIONS), here())
    assert choice.level == "bit", choice.differs
    assert "bit-exact" in choice.explain()


def test_level_drops_to_seed_on_another_library_version_or_thread_count() -> None:
    choice = choose_level(experiment(), {**VERSIONS, "scipy": "1.18.0"}, here())
    assert choice.level == "seed" and "scipy 1.17.1 → 1.18.0" in choice.explain()
    assert choose_level(experiment(), dict(VERSIONS), here(torch_threads=2)).level == "seed"
    native = experiment()
    native["runs"][0]["manifest"]["determinism"] = {**RECORD, "mode": "native", "torch_cpu_capability": "AVX512"}
    other_cpu = choose_level(native, dict(VERSIONS), here(mode="native", torch_cpu_capability="AVX2", cpu_model="CPU B"))
    assert other_cpu.level == "seed" and "different CPUs" in other_cpu.explain()


def test_level_drops_to_distribution_on_another_major_version() -> None:
    choice = choose_level(experiment(), {**VERSIONS, "torch": "3.0.0"}, here(torch_version="3.0.0"))
    assert choice.level == "distribution"
    assert "torch 2 → 3" in choice.explain()


def test_config_differences_name_dotted_keys() -> None:
    assert config_differences({"train": {"mlp": {"lr": 0.001}}, "seed": 1}, {"train": {"mlp": {"lr": 0.003}}, "seed": 1}) == [
        "train.mlp.lr: 0.001 → 0.003"
    ]


# --------------------------------------------------------------------------- on the real pipeline


def _replay(repo: Path, manifest: Path, *args: str) -> Any:
    return run([*SEEDBENCH, "replay", str(manifest), "--repo", str(repo), *args], repo, check=False)


def _altered_manifest(repo: Path, tmp_path: Path, change: Any) -> Path:
    data = json.loads((repo / "publish/manifest.json").read_text())
    change(data)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.e2e
def test_replay_refuses_a_dirty_manifest(tiny_pipeline: dict[str, Any], tmp_path: Path) -> None:
    repo = tiny_pipeline["repo"]

    def dirty(m: dict[str, Any]) -> None:
        m.update(dirty_flag=True, dirty_paths=["src/seedbench/training/models.py"])

    result = _replay(repo, _altered_manifest(repo, tmp_path, dirty))
    assert result.returncode == 2, result.stderr
    assert "dirty manifest" in result.stderr and "src/seedbench/training/models.py" in result.stderr
    assert "re-running" not in result.stderr


@pytest.mark.e2e
def test_replay_names_the_git_checkout_when_at_another_commit(tiny_pipeline: dict[str, Any], tmp_path: Path) -> None:
    repo = tiny_pipeline["repo"]
    published = json.loads((repo / "publish/manifest.json").read_text())["git_sha"]
    result = _replay(repo, _altered_manifest(repo, tmp_path, lambda m: m.update(git_sha="0" * 40)))
    assert result.returncode == 2
    assert f"the checkout is at {published[:12]}" in result.stderr and f"`git checkout {'0' * 40}`" in result.stderr


@pytest.mark.e2e
def test_replay_refuses_a_tampered_raw_file_before_running_anything(tiny_pipeline: dict[str, Any]) -> None:
    repo = tiny_pipeline["repo"]
    target = repo / "data/raw/FD001/test_FD001.txt"
    original = target.read_bytes()
    try:
        target.write_bytes(original.replace(b" ", b"  ", 1))
        result = _replay(repo, repo / "publish/manifest.json")
    finally:
        target.write_bytes(original)
    assert result.returncode == 2, result.stderr
    assert "data/raw/FD001/test_FD001.txt" in result.stderr and "differ from their sha256" in result.stderr
    assert "re-running" not in result.stderr


@pytest.mark.e2e
def test_replay_fails_with_exit_1_when_results_differ(tiny_pipeline: dict[str, Any], tmp_path: Path) -> None:
    repo = tiny_pipeline["repo"]

    def shift(m: dict[str, Any]) -> None:
        m["runs"][0]["results"]["metrics"]["rmse"] += 0.5

    result = _replay(repo, _altered_manifest(repo, tmp_path, shift), "--no-rerun", "--level", "seed")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "replay: seed-stable: FAIL (7 of 8 runs pass)" in result.stdout


@pytest.mark.e2e
def test_replay_reruns_the_pipeline_and_reproduces_the_published_results(tiny_pipeline: dict[str, Any]) -> None:
    repo, params = tiny_pipeline["repo"], tiny_pipeline["params"]
    manifest = repo / "publish/manifest.json"
    published = manifest.read_bytes()
    run_manifests = {p: p.read_bytes() for p in repo.glob("runs/*/*/rep_*/manifest.json")}
    before = json.loads(run_manifests[repo / "runs/FD001/mlp/rep_0/manifest.json"])["created_at"]
    try:
        result = _replay(repo, manifest)
        after = json.loads((repo / "runs/FD001/mlp/rep_0/manifest.json").read_text())["created_at"]
    finally:  # the re-run rewrote the run manifests (new times): put the published ones back for other tests
        for path, data in run_manifests.items():
            path.write_bytes(data)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Running stage 'train@FD001-mlp-0'" in result.stderr and "Running stage 'fetch'" in result.stderr
    assert "level: " in result.stderr and "libraries: " in result.stderr and "data after the re-run" in result.stderr
    n = len(params.data.datasets) * len(params.methods) * len(params.replicates)
    assert f"PASS ({n} of {n} runs pass)" in result.stdout
    assert manifest.read_bytes() == published, "replay must not overwrite the published manifest"
    assert after > before, "the training stages ran again"
    # whatever level the machine allowed, the re-run on the same machine is bit-exact
    forced = _replay(repo, manifest, "--no-rerun", "--level", "bit")
    assert forced.returncode == 0 and f"replay: bit-exact: PASS ({n} of {n} runs pass)" in forced.stdout
