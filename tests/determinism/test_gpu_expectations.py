"""What two GPU (or CPU and GPU) runs can promise each other: expected_level's device rules, on synthetic records.

The records are shaped like a train stage's ``determinism`` record (seeding + CPU mode + device record); the GPU
facts are an H200's as the colleague's probe recorded them (REFERENCE.md, "CUDA probe").
"""

from __future__ import annotations

from typing import Any

import pytest

from seedbench.determinism.expectations import device_expectation, expected_level
from seedbench.determinism.modes import DISPATCH_ENV_VARS

H200 = {"name": "NVIDIA H200", "capability": "9.0", "driver_version": "580.65.06", "cuda_version": "13.0",
        "cudnn_version": 91900}
A100 = {"name": "NVIDIA A100-SXM4-80GB", "capability": "8.0", "driver_version": "580.65.06", "cuda_version": "13.0",
        "cudnn_version": 91900}


def _run(device: str = "cuda", precision: str = "fp32", gpu: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A native-mode determinism record of one run on ``device`` (an H200 unless ``gpu`` says otherwise)."""
    record = {
        "mode": "native", "mode_env": {k: None for k in DISPATCH_ENV_VARS}, "torch_settings": {},
        "torch_cpu_capability": "AVX512", "cpu_model": "AMD EPYC", "cpu_flags": {"avx2": True, "avx512f": True},
        "cpu_count": 16, "torch_version": "2.11.0+cu130", "mkl_version": "2024.2", "onednn_version": "3.10.2",
        "numpy_version": "2.4.6", "openblas_version": "0.3.30", "torch_threads": 1,
        "deterministic": True, "cudnn_deterministic": True, "cudnn_benchmark": False, "deterministic_algorithms": True,
        "cublas_workspace_config": ":4096:8", "cuda_available": device == "cuda",
        "device": device, "precision": precision, "gpu": dict(gpu or H200) if device == "cuda" else None,
    }
    record.update(changes)
    return record


def test_two_gpu_runs_with_the_same_gpu_software_precision_and_flags_are_expected_bit_exact() -> None:
    level, reason = expected_level(_run(), _run())
    assert level == "bit"
    assert "NVIDIA H200" in reason and "driver 580.65.06" in reason and "CUDA 13.0" in reason and "fp32" in reason


def test_a_cpu_run_and_a_gpu_run_are_distribution_comparable_only() -> None:
    level, reason = expected_level(_run("cpu"), _run("cuda"))
    assert level == "distribution"
    assert "one run trained on cpu and the other on cuda" in reason


def test_a_record_from_before_train_device_counts_as_a_cpu_run() -> None:
    legacy = {k: v for k, v in _run("cpu").items() if k not in ("device", "precision", "gpu")}
    assert expected_level(legacy, _run("cpu")).level == "bit"
    assert expected_level(legacy, _run("cuda")).level == "distribution"


@pytest.mark.parametrize("other, what", [
    ({"gpu": A100}, "GPU model NVIDIA H200 vs NVIDIA A100-SXM4-80GB"),
    ({"gpu": {**H200, "driver_version": "570.124.06"}}, "driver 580.65.06 vs 570.124.06"),
    ({"gpu": {**H200, "cuda_version": "12.8"}}, "CUDA 13.0 vs 12.8"),
    ({"gpu": {**H200, "cudnn_version": 91000}}, "cuDNN 91900 vs 91000"),
    ({"gpu": {**H200, "driver_version": None}}, "driver 580.65.06 vs None"),
])
def test_gpu_runs_on_other_gpus_or_gpu_software_are_seed_stable_at_best(other: dict[str, Any], what: str) -> None:
    level, reason = expected_level(_run(), _run(**other))
    assert level == "seed"
    assert what in reason and "seed-stable at best" in reason


@pytest.mark.parametrize("change, what", [
    ({"cudnn_deterministic": False}, "cudnn.deterministic"),
    ({"cudnn_benchmark": True}, "cudnn.benchmark off"),
    ({"deterministic_algorithms": False}, "deterministic algorithms"),
    ({"cublas_workspace_config": None}, "CUBLAS_WORKSPACE_CONFIG"),
])
def test_a_gpu_run_without_the_deterministic_settings_is_seed_stable_at_best(change: dict[str, Any], what: str) -> None:
    level, reason = expected_level(_run(), _run(**change))
    assert level == "seed"
    assert "GPU run B ran without" in reason and what in reason


def test_train_deterministic_false_on_a_gpu_is_seed_stable() -> None:
    assert expected_level(_run(deterministic=False), _run()).level == "seed"


def test_runs_in_different_precisions_are_distribution_comparable_only() -> None:
    level, reason = expected_level(_run(precision="fp32"), _run(precision="tf32"))
    assert level == "distribution" and "precisions differ (fp32 vs tf32)" in reason
    assert expected_level(_run("cpu", "fp32"), _run("cpu", "bf16")).level == "distribution"


def test_bf16_on_different_gpu_architectures_is_distribution_and_on_the_same_gpu_bit() -> None:
    level, reason = expected_level(_run(precision="bf16"), _run(precision="bf16", gpu=A100))
    assert level == "distribution" and "compute capability 9.0 vs 8.0" in reason
    assert expected_level(_run(precision="bf16"), _run(precision="bf16")).level == "bit"


def test_tf32_on_different_gpus_of_one_architecture_family_is_seed_stable() -> None:
    other = {**H200, "name": "NVIDIA H100 80GB HBM3"}
    assert expected_level(_run(precision="tf32"), _run(precision="tf32", gpu=other)).level == "seed"


def test_same_gpu_but_another_host_cpu_is_held_to_the_cpu_side() -> None:
    level, reason = expected_level(_run(), _run(cpu_model="Intel Xeon", torch_cpu_capability="AVX2"))
    assert level == "seed"
    assert "CPU side of these GPU runs" in reason and "native runs on different CPUs" in reason


def test_a_torch_upgrade_outranks_the_gpu_rules() -> None:
    level, reason = expected_level(_run(), _run(torch_version="2.13.0+cu130"))
    assert level == "seed" and "library versions differ" in reason


def test_device_rules_leave_two_cpu_runs_to_the_cpu_rules() -> None:
    assert device_expectation(_run("cpu"), _run("cpu")) is None
    assert device_expectation(_run(), _run()) is None


@pytest.mark.parametrize("a, b", [
    (_run("cpu"), _run()), (_run(), _run(gpu=A100)), (_run(precision="bf16"), _run(precision="bf16", gpu=A100)),
    (_run(), _run(cudnn_benchmark=True)), (_run(), _run()),
])
def test_gpu_verdicts_are_symmetric(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert expected_level(a, b).level == expected_level(b, a).level
