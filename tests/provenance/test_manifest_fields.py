"""The fields of the run and experiment manifests, on manifests written by a real tiny pipeline run.

Every manifest the pipeline writes validates against the shipped schema; each field holds what
the issue asks (hashes from SOURCE.json, deps' hashes equal to dvc.lock, results per run, …);
secrets planted in the pipeline's environment and remotes appear in no file it writes. The
unit tests at the top pin the pieces that need no pipeline (GPU record, dirty flag, checklist).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pipeline_helpers import SECRET_VALUES, files_written_by_pipeline, run

from seedbench.core.hashing import file_sha256
from seedbench.core.params import params_as_dict, params_from_dict
from seedbench.provenance import environment as provenance
from seedbench.provenance.dvclock import lock_stage_entry
from seedbench.provenance.environment import git_state, gpu_record
from seedbench.provenance.manifest import config_hash, manifest_schema
from seedbench.publishing.checklist import checklist_markdown
from seedbench.publishing.experiment import experiment_seeds, run_keys

# --------------------------------------------------------------------------- unit


def test_gpu_record_lists_every_gpu_from_nvidia_smi_and_is_null_without() -> None:
    class Done:
        stdout = "0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, 9.0\n1, NVIDIA H100 80GB HBM3, 81559, 550.54.15, 9.0\n"

    gpus = provenance.nvidia_smi_gpus(run=lambda *a, **k: Done())
    assert [g["index"] for g in gpus] == [0, 1]
    assert gpus[1] == {"index": 1, "name": "NVIDIA H100 80GB HBM3", "total_memory_bytes": 81559 * 1024 * 1024,
                       "driver_version": "550.54.15", "capability": "9.0"}
    record = gpu_record(nvidia_smi=lambda: gpus)
    import torch

    if not torch.cuda.is_available():  # CPU torch on a GPU machine: nvidia-smi's GPUs, marked invisible to torch
        assert [g["visible_to_torch"] for g in record["gpus"]] == [False, False]
        assert record["driver"] == "550.54.15"
    empty = gpu_record(nvidia_smi=lambda: None)
    if not torch.cuda.is_available():
        assert empty["gpus"] is None and empty["driver"] is None


def test_dirty_flag_ignores_pipeline_outputs_but_not_sources(tmp_path: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    (tmp_path / "reports").mkdir()
    for name in ("code.py", "dvc.lock", "reports/summary.json"):
        (tmp_path / name).write_text("v1")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "v1"], cwd=tmp_path, check=True, env=env)
    outputs = ["dvc.lock", "reports/summary.json", "runs/*/*/rep_*/model.pt", ".gitignore", "*/.gitignore"]
    (tmp_path / "dvc.lock").write_text("v2")
    (tmp_path / "reports" / "summary.json").write_text("v2")
    (tmp_path / "reports" / ".gitignore").write_text("/plot.png\n")
    state = git_state(tmp_path, ignore=outputs)
    assert state["dirty"] is False and "dvc.lock" in state["dirty_paths"]
    (tmp_path / "code.py").write_text("v2")
    assert git_state(tmp_path, ignore=outputs)["dirty"] is True


def test_checklist_fills_the_two_manual_items_from_params_and_summary(default_params_dict: dict[str, Any]) -> None:
    raw = copy.deepcopy(default_params_dict)
    raw["publish"]["hparam_search"] = {"train.mlp.lr": "log-uniform [1e-4, 1e-2], 20 trials, validation RMSE"}
    raw["methods"], raw["replicates"] = ["mlp"], [0, 1, 2]
    params = params_from_dict(raw)
    summary = {"FD001.mlp.rmse.mean": 17.25, "FD001.mlp.rmse.std": 0.5, "FD001.mlp.rmse.sem": 0.29, "FD001.mlp.rmse.n": 3}
    text = checklist_markdown(params, seeds=experiment_seeds(params), data_hashes={"FD001/RUL_FD001.txt": "sha256:" + "a" * 64},
                              config_hash=config_hash(params_as_dict(params)), summary=summary, source="builtin")
    assert "| `train.mlp.lr` | 0.003 | log-uniform [1e-4, 1e-2], 20 trials, validation RMSE |" in text
    assert "2 dataset(s) × 1 method(s) × 3 seed(s) = 6 runs" in text
    assert "| FD001 | mlp | 3 | 17.25 ± 0.50 (0.29) |" in text
    assert config_hash(params_as_dict(params)) in text
    raw["publish"]["hparam_search"] = {"train.mlp.learning_rate": "x"}
    with pytest.raises(Exception, match="publish.hparam_search"):
        params_from_dict(raw)


# --------------------------------------------------------------------------- on the real pipeline


def _manifests(repo: Path) -> list[Path]:
    return sorted(repo.glob("runs/*/*/rep_*/manifest.json")) + [repo / "publish" / "manifest.json"]


@pytest.mark.e2e
def test_every_manifest_the_pipeline_writes_validates_against_the_schema(tiny_pipeline: dict[str, Any]) -> None:
    repo = tiny_pipeline["repo"]
    paths = _manifests(repo)
    assert len(paths) == len(run_keys(tiny_pipeline["params"])) + 1
    validator = jsonschema.Draft202012Validator(manifest_schema())
    for path in paths:
        data = json.loads(path.read_text())
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, (path, errors[:5])
        for run_entry in data.get("runs") or []:  # the embedded run manifests too
            assert not list(validator.iter_errors(run_entry["manifest"]))


@pytest.mark.e2e
def test_run_manifest_records_raw_hashes_seeds_env_and_the_locked_deps(tiny_pipeline: dict[str, Any]) -> None:
    repo, params = tiny_pipeline["repo"], tiny_pipeline["params"]
    source = {f["path"]: f["sha256"] for f in json.loads((repo / "data/raw/SOURCE.json").read_text())["files"]}
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    import torch

    from seedbench.provenance.volatile import read_volatile

    for dataset, method, rep in run_keys(params):
        m = json.loads((repo / f"runs/{dataset}/{method}/rep_{rep}/manifest.json").read_text())
        assert m["kind"] == "run" and m["run_id"] == f"{dataset}-{method}-{rep}"
        volatile = read_volatile(repo / f"runs/{dataset}/{method}/rep_{rep}", m)
        assert volatile is not None and volatile["git"]["git_sha"] == head and volatile["git"]["dirty"] is False
        assert volatile["wall_clock_seconds"] > 0 and volatile["created_at"] and volatile["host"]
        assert "stages/train.py" in m["code_hashes"] and "src/seedbench/training/loop.py" in m["code_hashes"]
        assert m["data_hashes"] == {p: h for p, h in source.items() if p.startswith(f"{dataset}/")}
        assert m["seeds"]["experiment_seed"] == params.seed and m["seeds"]["replicate"] == rep
        assert m["config_hash"] == config_hash(m["config"]) and m["config"]["params"] == params_as_dict(params)
        assert m["determinism"]["env_vars"]["PYTHONHASHSEED"] == "0"
        assert m["determinism"]["env_vars"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert "OMP_NUM_THREADS" in m["determinism"]["env_vars"] and m["determinism"]["torch_threads"] == params.train.torch_threads
        for lib in ("python", "seedbench", "torch", "numpy", "scipy", "pandas", "dvc", "huggingface_hub"):
            assert m["code_versions"][lib], lib
        assert m["env"]["cpu_model"] and m["env"]["platform"]
        assert m["cuda_version"] == torch.version.cuda
        assert (m["gpu_info"] is None) == (not torch.cuda.is_available())
        assert m["leakage"]["leakage"] is False
        locked = lock_stage_entry(lock, f"train@{dataset}-{method}-{rep}")
        assert m["dvc_lock"]["stage"] == f"train@{dataset}-{method}-{rep}"
        assert m["dvc_lock"]["deps"] == locked["deps"], "the stage's own deps hashes must equal what DVC locked"


@pytest.mark.e2e
def test_experiment_manifest_aggregates_every_run_with_its_results(tiny_pipeline: dict[str, Any]) -> None:
    repo, params = tiny_pipeline["repo"], tiny_pipeline["params"]
    m = json.loads((repo / "publish/manifest.json").read_text())
    from seedbench.provenance.volatile import read_volatile

    volatile = read_volatile(repo / "publish", m)
    assert m["kind"] == "experiment" and volatile is not None and volatile["git"]["dirty"] is False
    assert volatile["git"]["git_sha"] == run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert {"stages/aggregate.py", "src/seedbench/stats/metrics.py", "src/seedbench/training/loop.py"} <= set(m["code_hashes"])
    assert m["config_hash"] == config_hash(params_as_dict(params))
    assert m["seeds"] == json.loads(json.dumps(experiment_seeds(params)))
    source = json.loads((repo / "data/raw/SOURCE.json").read_text())
    assert m["data_hashes"] == {f["path"]: f["sha256"] for f in source["files"]}
    keys = run_keys(params)
    assert [(r["dataset"], r["method"], r["replicate"]) for r in m["runs"]] == keys
    for entry in m["runs"]:
        folder = repo / f"runs/{entry['dataset']}/{entry['method']}/rep_{entry['replicate']}"
        assert entry["results"] == json.loads((folder / "results.json").read_text())
        assert entry["predictions_sha256"] == file_sha256(folder / "predictions.csv")
        assert entry["model_sha256"] == file_sha256(folder / "model.pt")
        assert entry["dvc_lock_matches_run_manifest"] is True
        assert entry["manifest"] == json.loads((folder / "manifest.json").read_text())
    run_seconds = [read_volatile(repo / f"runs/{r['dataset']}/{r['method']}/rep_{r['replicate']}", r["manifest"])
                   ["wall_clock_seconds"] for r in m["runs"]]
    assert volatile["wall_clock_seconds"] == pytest.approx(sum(run_seconds))
    assert m["leakage"]["runs_checked"] == len(keys) and m["leakage"]["leakage"] is False
    assert m["determinism"]["deterministic"] is True and "seed" in m["determinism"]["varies_between_runs"]
    assert m["dvc_lock"]["stage"] == "publish" and "reports/summary.json" in m["dvc_lock"]["deps"]
    lock = (repo / "dvc.lock").read_text()
    assert "publish/manifest.json" in lock and "volatile.json" not in lock


@pytest.mark.e2e
def test_checklist_is_published_with_runs_and_variation_from_the_aggregate(tiny_pipeline: dict[str, Any]) -> None:
    repo, params = tiny_pipeline["repo"], tiny_pipeline["params"]
    text = (repo / "publish/CHECKLIST.md").read_text()
    n = len(run_keys(params))
    assert f"= {n} runs" in text
    assert "No hyper-parameter search" in text
    summary = json.loads((repo / "reports/summary.json").read_text())
    for dataset in params.data.datasets:
        for method in params.methods:
            assert f"| {dataset} | {method} | {summary[f'{dataset}.{method}.rmse.n']} |" in text
    manifest = json.loads((repo / "publish/manifest.json").read_text())
    assert manifest["config_hash"] in text
    for path, digest in manifest["data_hashes"].items():
        assert f"| {path} | `{digest.removeprefix('sha256:')}` |" in text
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert head not in text, "the checklist is a DVC out: no commit-dependent values"


@pytest.mark.e2e
def test_planted_secrets_appear_in_no_file_the_pipeline_writes(tiny_pipeline: dict[str, Any]) -> None:
    repo = tiny_pipeline["repo"]
    files = [*files_written_by_pipeline(repo), repo / "dvc.lock"]  # dvc.lock: what DVC records, committed to git
    assert len(files) > 30 and (repo / "publish/manifest.json") in files and (repo / "publish/volatile.json") in files
    leaks = [(p.relative_to(repo).as_posix(), s) for p in files for s in SECRET_VALUES if s.encode() in p.read_bytes()]
    assert not leaks, leaks
    output = tiny_pipeline["repro"].stdout + tiny_pipeline["repro"].stderr  # what `dvc repro` printed (CI logs)
    assert "Running stage 'publish'" in output and "train " in output  # DVC's lines and the stages' own
    assert [s for s in SECRET_VALUES if s in output] == []
    # the secrets were really there: in the environment, the git remote and the DVC remote
    assert all(s in (tiny_pipeline["env"].get("HF_TOKEN", "") + tiny_pipeline["env"].get("AWS_SECRET_ACCESS_KEY", "")
                     + tiny_pipeline["env"].get("SEEDBENCH_TEST_REMOTE_URL", "")) for s in SECRET_VALUES)
    assert SECRET_VALUES[-1] in run(["git", "remote", "get-url", "origin"], repo).stdout
    assert SECRET_VALUES[-1] in (repo / ".dvc" / "config.local").read_text()
