"""Replay's level choice for GPU runs: the recorded GPU and precision against this machine's (unit, synthetic records)."""

from __future__ import annotations

from typing import Any

from seedbench.verify.replay import choose_level, current_determinism_record

VERSIONS = {"python": "3.11.9", "seedbench": "0.1.0", "torch": "2.11.0+cu130", "numpy": "2.4.6"}
H200 = {"name": "NVIDIA H200", "capability": "9.0", "driver_version": "580.65.06", "cuda_version": "13.0",
        "cudnn_version": 91900}
RECORD = {"mode": "native", "mode_env": {}, "torch_cpu_capability": "AVX512", "cpu_model": "CPU A",
          "cpu_flags": {"avx2": True, "avx512f": True}, "cpu_count": 16, "torch_version": "2.11.0+cu130",
          "mkl_version": "2024.2", "onednn_version": "3.10.2", "numpy_version": "2.4.6", "openblas_version": "0.3.30",
          "deterministic": True, "cudnn_deterministic": True, "cudnn_benchmark": False, "deterministic_algorithms": True,
          "cublas_workspace_config": ":4096:8", "torch_threads": 1}


def _experiment(determinism: dict[str, Any], gpu_info: list[dict[str, Any]] | None) -> dict[str, Any]:
    run = {"run_id": "FD001-mlp-0", "kind": "run", "code_versions": dict(VERSIONS), "determinism": determinism,
           "gpu_info": gpu_info}
    return {"kind": "experiment", "code_versions": dict(VERSIONS), "runs": [{"manifest": run}]}


def _gpu_run(**changes: Any) -> dict[str, Any]:
    return {**RECORD, "cuda_available": True, "device": "cuda", "precision": "fp32", "gpu": dict(H200), **changes}


def _cpu_run(**changes: Any) -> dict[str, Any]:
    return {**RECORD, "cuda_available": False, "device": "cpu", "precision": "fp32", "gpu": None, **changes}


def test_a_gpu_experiment_replayed_on_the_same_gpu_is_held_to_bit() -> None:
    here = {**_gpu_run(), "gpus": ["NVIDIA H200"]}
    choice = choose_level(_experiment(_gpu_run(), [{"index": 0, "name": "NVIDIA H200"}]), dict(VERSIONS), here)
    assert choice.level == "bit", choice
    assert any("NVIDIA H200" in m for m in choice.matched)


def test_a_gpu_experiment_replayed_on_another_gpu_is_seed_and_on_a_cpu_distribution() -> None:
    a100 = {**H200, "name": "NVIDIA A100-SXM4-80GB", "capability": "8.0"}
    other = choose_level(_experiment(_gpu_run(), [{"index": 0, "name": "NVIDIA H200"}]), dict(VERSIONS),
                         {**_gpu_run(gpu=a100), "gpus": ["NVIDIA A100-SXM4-80GB"]})
    assert other.level == "seed" and any("GPU model NVIDIA H200 vs NVIDIA A100-SXM4-80GB" in d for d in other.differs)
    on_cpu = choose_level(_experiment(_gpu_run(), [{"index": 0, "name": "NVIDIA H200"}]), dict(VERSIONS),
                          {**_cpu_run(), "gpus": None})
    assert on_cpu.level == "distribution"


def test_a_cpu_experiment_recorded_on_a_gpu_machine_stays_bit_on_a_machine_without_one() -> None:
    recorded = _experiment(_cpu_run(cuda_available=True), [{"index": 0, "name": "NVIDIA H200"}])
    choice = choose_level(recorded, dict(VERSIONS), {**_cpu_run(), "gpus": None})
    assert choice.level == "bit", choice.differs


def test_this_machines_record_names_device_and_precision() -> None:
    record = current_determinism_record("native", 1, True, "cpu", "bf16")
    assert record["device"] == "cpu" and record["precision"] == "bf16" and record["gpu"] is None
    assert record["autocast_dtype"] == "bfloat16" and record["fp32_precision"]["cuda.matmul"] == "ieee"
    assert record["cudnn_deterministic"] is True and record["cudnn_benchmark"] is False
