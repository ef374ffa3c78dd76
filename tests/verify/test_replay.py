"""`seedbench replay`: refusals, level choice, verdicts — and one real replay of the tiny pipeline.

The e2e tests share the session's tiny pipeline (tests/conftest.py). Refusals use altered
*copies* of publish/manifest.json written outside the clone (a copy has no volatile record
beside it, so its code is looked for at HEAD), and the tampered-data test restores the file's
bytes, so the clone stays as published; the full replay (a real `dvc repro --force aggregate`,
in a scratch worktree) runs last.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import run

from seedbench.core.errors import ReplayError
from seedbench.provenance.manifest import config_hash
from seedbench.verify.replay import (
    check_code,
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
    m = {"kind": "experiment", "code_hashes": {"stages/train.py": "1" * 32, "src/seedbench/x.py": "2" * 32},
         "code_versions": dict(VERSIONS), "runs": [{"manifest": run_manifest}],
         "config": {"seed": 42, "stats": {"confidence": 0.95}}, "config_hash": config_hash({"seed": 42, "stats": {"confidence": 0.95}})}
    m.update(changes)
    return m


def here(**changes: Any) -> dict[str, Any]:
    return {**RECORD, "gpus": None, **changes}


def test_run_manifests_and_manifests_without_code_are_refused() -> None:
    check_manifest_replayable(experiment())
    with pytest.raises(ReplayError, match="records no code"):
        check_manifest_replayable(experiment(code_hashes={}))
    with pytest.raises(ReplayError, match="a run manifest"):
        check_manifest_replayable(experiment(kind="run"))


def test_a_manifest_whose_params_do_not_hash_to_its_config_hash_is_refused() -> None:
    """Replay writes the manifest's ``config`` into its checkout: an edited config must not be replayed as published."""
    with pytest.raises(ReplayError, match="does not hash to its config_hash"):
        check_manifest_replayable(experiment(config={"seed": 33, "stats": {"confidence": 0.95}}))
    with pytest.raises(ReplayError, match="does not hash to its config_hash"):
        check_manifest_replayable(experiment(config_hash="sha256:" + "0" * 64))


def test_code_no_commit_holds_is_a_dirty_manifest_naming_the_files() -> None:
    recorded = experiment()["code_hashes"]
    check_code(experiment(), dict(recorded), "c" * 40)
    with pytest.raises(ReplayError, match=r"dirty manifest.*commit cccccccccccc.*src/seedbench/x.py \(changed\)"):
        check_code(experiment(), {**recorded, "src/seedbench/x.py": "3" * 32}, "c" * 40)
    with pytest.raises(ReplayError, match=r"stages/train.py \(not in the checkout\).*uncommitted when it ran: stages/train.py"):
        check_code(experiment(), {"src/seedbench/x.py": "2" * 32}, "c" * 40,
                   volatile={"git": {"dirty_paths": ["stages/train.py", "dvc.lock"]}})


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
def test_replay_refuses_a_manifest_whose_code_no_commit_holds(tiny_pipeline: dict[str, Any], tmp_path: Path) -> None:
    repo = tiny_pipeline["repo"]

    def dirty(m: dict[str, Any]) -> None:
        m["code_hashes"]["src/seedbench/training/models.py"] = "0" * 32

    result = _replay(repo, _altered_manifest(repo, tmp_path, dirty))
    assert result.returncode == 2, result.stderr
    assert "dirty manifest" in result.stderr and "src/seedbench/training/models.py (changed)" in result.stderr
    assert "re-running" not in result.stderr
    assert run(["git", "worktree", "list"], repo).stdout.count("\n") == 1, "the scratch worktree is removed"


@pytest.mark.e2e
def test_replay_refuses_a_published_manifest_whose_params_were_edited(tiny_pipeline: dict[str, Any], tmp_path: Path) -> None:
    repo = tiny_pipeline["repo"]

    def tamper(m: dict[str, Any]) -> None:
        m["config"]["seed"] += 1  # the results stay the published ones; config_hash still names the real params

    result = _replay(repo, _altered_manifest(repo, tmp_path, tamper))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "does not hash to its config_hash" in result.stderr and "re-running" not in result.stderr
    assert run(["git", "worktree", "list"], repo).stdout.count("\n") == 1, "no scratch worktree left"


@pytest.mark.e2e
def test_replay_of_an_unknown_revision_says_what_to_give(tiny_pipeline: dict[str, Any]) -> None:
    result = _replay(tiny_pipeline["repo"], Path("no-such-experiment"))
    assert result.returncode == 2
    assert "'no-such-experiment' is neither a manifest file nor a revision" in result.stderr
    assert "dvc exp list" in result.stderr


@pytest.mark.e2e
def test_replay_in_the_workspace_refuses_a_tampered_raw_file(tiny_pipeline: dict[str, Any]) -> None:
    # (a re-run in a scratch checkout regenerates the raw files and checks them after the re-run instead)
    repo = tiny_pipeline["repo"]
    target = repo / "data/raw/FD001/test_FD001.txt"
    original = target.read_bytes()
    try:
        target.write_bytes(original.replace(b" ", b"  ", 1))
        result = _replay(repo, repo / "publish/manifest.json", "--no-rerun")
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
    workspace = {p: p.read_bytes() for top in ("runs", "publish", "reports") for p in (repo / top).rglob("*") if p.is_file()}
    params_before = (repo / "params.yaml").read_bytes()
    result = _replay(repo, manifest)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "scratch checkout: " in result.stderr
    after = {p: p.read_bytes() for top in ("runs", "publish", "reports") for p in (repo / top).rglob("*") if p.is_file()}
    assert after == workspace and (repo / "params.yaml").read_bytes() == params_before, "the workspace is untouched"
    assert run(["git", "worktree", "list"], repo).stdout.count("\n") == 1, "the scratch worktree is removed"
    assert "Running stage 'train@FD001-mlp-0'" in result.stderr and "Running stage 'fetch'" in result.stderr
    assert "level: " in result.stderr and "libraries: " in result.stderr and "data after the re-run" in result.stderr
    n = len(params.data.datasets) * len(params.methods) * len(params.replicates)
    assert f"PASS ({n} of {n} runs pass)" in result.stdout
    # whatever level the machine allowed, the re-run on the same machine is bit-exact
    forced = _replay(repo, manifest, "--no-rerun", "--level", "bit")
    assert forced.returncode == 0 and f"replay: bit-exact: PASS ({n} of {n} runs pass)" in forced.stdout
