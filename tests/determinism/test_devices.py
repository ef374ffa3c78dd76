"""train.device and train.precision on a machine without a GPU: refusals, float32 flags read back, manifest records."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from seedbench.core.errors import DeterminismError, ParamsError
from seedbench.core.params import params_from_dict
from seedbench.determinism.devices import (
    CPU_FP32_KNOBS,
    cuda_unavailable_reason,
    device_record,
    read_fp32_precision,
    require_device,
    set_float_precision,
    used_gpu,
)
from seedbench.determinism.seeding import set_global_seeds
from seedbench.provenance.environment import (
    gpu_record,
    merge_gpu_record,
    proc_driver_version,
)

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(autouse=True)
def restore_precision() -> Iterator[None]:
    yield
    set_float_precision("fp32")


def test_unavailable_reason_tells_a_cpu_build_from_a_hidden_gpu() -> None:
    assert "CPU build" in cuda_unavailable_reason(None, False, 0)
    assert "sees no CUDA device" in cuda_unavailable_reason("13.0", False, 0)
    assert cuda_unavailable_reason("13.0", True, 1) is None


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU: the refusal cannot happen here")
def test_cuda_without_a_gpu_is_refused_naming_the_key_never_a_cpu_fallback() -> None:
    assert require_device("cpu") == "cpu"
    with pytest.raises(ParamsError, match=r"^train.device: cuda, but .*; install a CUDA build of torch .* or set "
                                          r"train.device: cpu$"):
        require_device("cuda")
    with pytest.raises(ParamsError, match="train.device: cuda"):
        set_global_seeds(1, device="cuda", environ={"PYTHONHASHSEED": "0"})


@pytest.mark.parametrize("precision, value", [("fp32", "ieee"), ("tf32", "tf32"), ("bf16", "ieee")])
def test_precision_sets_cublas_and_cudnn_float32_flags_and_reads_them_back(precision: str, value: str) -> None:
    seen = set_float_precision(precision)
    assert {seen[k] for k in ("cuda.matmul", "cudnn.conv", "cudnn.rnn")} == {value}
    assert seen == read_fp32_precision()
    assert all(seen[k] in ("ieee", "none") for k in CPU_FP32_KNOBS)  # oneDNN (CPU) never touched


def test_fp32_turns_off_cudnns_tf32_default() -> None:
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # torch's default for cuDNN convolutions
    assert set_float_precision("fp32")["cudnn.conv"] == "ieee"


def test_a_reduced_cpu_float32_precision_set_elsewhere_is_refused() -> None:
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    try:
        with pytest.raises(DeterminismError, match=r"train.precision: fp32: .*mkldnn.matmul='bf16'"):
            set_float_precision("fp32")
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = "none"


def test_seeding_record_carries_device_and_precision() -> None:
    record = set_global_seeds(1, environ={"PYTHONHASHSEED": "0"}, device="cpu", precision="bf16")
    assert (record["device"], record["precision"], record["autocast_dtype"], record["gpu"]) == ("cpu", "bf16", "bfloat16", None)
    assert record["fp32_precision"]["cuda.matmul"] == "ieee"


def test_device_record_names_the_gpu_trained_on_only_for_cuda() -> None:
    gpu = merge_gpu_record([{"index": 0, "name": "NVIDIA H200", "total_memory_bytes": 1, "capability": "9.0"}],
                           [{"index": 0, "name": "NVIDIA H200", "driver_version": "580.65.06"}],
                           cuda_version="13.0", cudnn_version=91900, proc_driver=None)
    used = used_gpu(gpu, 0)
    assert used == {"name": "NVIDIA H200", "capability": "9.0", "driver_version": "580.65.06", "cuda_version": "13.0",
                    "cudnn_version": 91900}
    assert device_record("cuda", "tf32", {}, used)["gpu"] == used
    assert device_record("cpu", "fp32", {}, used)["gpu"] is None
    assert used_gpu(gpu, 1) is None


def test_gpu_record_on_this_machine_has_explicit_nulls_without_a_gpu() -> None:
    record = gpu_record(nvidia_smi=lambda: None, proc_driver=lambda: None)
    assert set(record) == {"cuda_available", "cuda_version", "cudnn_version", "gpus", "driver"}
    if NO_CUDA:
        assert record["cuda_available"] is False and record["gpus"] is None and record["driver"] is None
    if torch.version.cuda is None:
        assert record["cuda_version"] is None and record["cudnn_version"] is None


def test_every_gpu_entry_has_the_same_keys_and_the_driver_falls_back_to_the_driver_file(tmp_path: Path) -> None:
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder@U16)\n")
    driver = proc_driver_version(version)
    assert driver == "580.65.06" and proc_driver_version(tmp_path / "absent") is None
    two = [{"index": i, "name": "NVIDIA H200", "total_memory_bytes": 150 << 30, "capability": "9.0"} for i in (0, 1)]
    record = merge_gpu_record(two, None, cuda_version="13.0", cudnn_version=91900, proc_driver=driver)
    keys = {"index", "name", "total_memory_bytes", "capability", "driver_version", "cuda_version", "cudnn_version",
            "visible_to_torch"}
    assert [set(g) for g in record["gpus"]] == [keys, keys]
    assert [g["driver_version"] for g in record["gpus"]] == ["580.65.06", "580.65.06"]
    invisible = merge_gpu_record([], [{"index": 0, "name": "NVIDIA H200", "driver_version": "580.65.06"}],
                                 cuda_version=None, cudnn_version=None, proc_driver=None)
    assert set(invisible["gpus"][0]) == keys and invisible["gpus"][0]["visible_to_torch"] is False


@pytest.mark.parametrize("changes, message", [
    ({"device": "cuda", "determinism": "portable"}, "train.determinism: expected native with train.device: cuda"),
    ({"precision": "tf32"}, "train.precision: expected one of fp32, bf16 with train.device: cpu"),
    ({"precision": "bf16", "determinism": "portable"}, "train.precision: expected fp32 with train.determinism: portable"),
    ({"device": "tpu"}, "train.device: expected one of cpu, cuda, got 'tpu'"),
    ({"precision": "fp16"}, "train.precision: expected one of fp32, tf32, bf16, got 'fp16'"),
])
def test_params_refuse_meaningless_device_precision_combinations(default_params_dict: dict[str, Any],
                                                                 changes: dict[str, Any], message: str) -> None:
    default_params_dict["train"].update(changes)
    with pytest.raises(ParamsError, match=message):
        params_from_dict(default_params_dict)


def test_params_accept_cuda_with_native_in_every_precision(default_params_dict: dict[str, Any]) -> None:
    for precision in ("fp32", "tf32", "bf16"):
        default_params_dict["train"].update(device="cuda", determinism="native", precision=precision)
        assert params_from_dict(default_params_dict).train.precision == precision


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU: the refusal cannot happen here")
def test_train_stage_with_cuda_and_no_gpu_exits_2_with_one_line_and_writes_nothing(
        tmp_path: Path, default_params_dict: dict[str, Any], repo_root: Path) -> None:
    default_params_dict["train"].update(device="cuda", determinism="native")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(default_params_dict))
    env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"} | {"PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, str(repo_root / "stages" / "train.py"), "--params", str(params),
                           "--dataset", "FD001", "--method", "mlp", "--replicate", "0",
                           "--prepared", str(tmp_path / "prepared"), "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("train: error: train.device: cuda, but ")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
