"""CPU determinism modes: the environment check, the launcher, late settings, and what two runs can promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbench.core.errors import DeterminismError, ParamsError
from seedbench.core.params import params_from_dict
from seedbench.determinism.expectations import expected_level
from seedbench.determinism.modes import (
    DISPATCH_ENV_VARS,
    MODES,
    PORTABLE_ENV,
    PORTABLE_TORCH_SETTINGS,
    launch_environment,
    require_mode_environment,
    startup_environment,
)
from seedbench.determinism.settings import apply_mode_settings, numeric_library_versions
from seedbench.provenance.environment import cpu_flags_summary

AVX2 = {"avx2": True, "avx512f": False}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DISPATCH_ENV_VARS and k != "SEEDBENCH_DEBUG"}
    env.update(PYTHONHASHSEED="0", **extra)
    return env


# --------------------------------------------------------------------------- the check before torch loads


def test_portable_environment_in_place_at_startup_is_accepted() -> None:
    env = {**PORTABLE_ENV, "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
    seen = require_mode_environment("portable", env, startup_environ=env, cpu_flags=AVX2, loaded_modules={})
    assert seen == {**{k: None for k in DISPATCH_ENV_VARS}, **env}


@pytest.mark.parametrize("name", list(PORTABLE_ENV))
def test_portable_mode_refuses_a_missing_variable(name: str) -> None:
    env = {k: v for k, v in PORTABLE_ENV.items() if k != name}
    with pytest.raises(DeterminismError, match=rf"{name}=None \(needs '{PORTABLE_ENV[name]}'\).*seedbench.determinism.launch"):
        require_mode_environment("portable", env, startup_environ=env, cpu_flags=AVX2, loaded_modules={})


def test_portable_mode_refuses_a_wrong_value() -> None:
    env = {**PORTABLE_ENV, "MKL_CBWR": "AVX2"}
    with pytest.raises(DeterminismError, match=r"MKL_CBWR='AVX2' \(needs 'COMPATIBLE'\)"):
        require_mode_environment("portable", env, startup_environ=env, cpu_flags=AVX2, loaded_modules={})


def test_variables_set_after_python_started_are_refused_as_late() -> None:
    startup = {"PATH": "/usr/bin"}  # what the process was started with
    with pytest.raises(DeterminismError, match="set after Python started.*silently ignored"):
        require_mode_environment("portable", dict(PORTABLE_ENV), startup_environ=startup, cpu_flags=AVX2, loaded_modules={})


def test_without_a_startup_record_torch_already_imported_counts_as_late() -> None:
    env = dict(PORTABLE_ENV)
    require_mode_environment("portable", env, startup_environ=None, cpu_flags=AVX2, loaded_modules={})
    with pytest.raises(DeterminismError, match="torch was imported before the check"):
        require_mode_environment("portable", env, startup_environ=None, cpu_flags=AVX2, loaded_modules={"torch": object()})


def test_portable_mode_needs_avx2() -> None:
    env = dict(PORTABLE_ENV)
    with pytest.raises(DeterminismError, match="needs an x86-64 CPU with AVX2"):
        require_mode_environment("portable", env, startup_environ=env, cpu_flags={"avx2": False}, loaded_modules={})


def test_native_mode_requires_nothing_and_reports_what_it_sees() -> None:
    env = {"MKL_CBWR": "AVX2"}
    seen = require_mode_environment("native", env, startup_environ={}, cpu_flags={}, loaded_modules={"torch": object()})
    assert seen["MKL_CBWR"] == "AVX2" and seen["ATEN_CPU_CAPABILITY"] is None


def test_unknown_mode_names_the_key() -> None:
    with pytest.raises(DeterminismError, match="train.determinism: expected one of native, portable"):
        require_mode_environment("fast", {}, startup_environ={}, cpu_flags=AVX2)


def test_startup_environment_is_the_environment_the_process_was_started_with() -> None:
    code = "import os, json; from seedbench.determinism.modes import startup_environment as s; os.environ['LATE']='1'; " \
           "e = s(); print(json.dumps([e.get('EARLY'), e.get('LATE')]))"
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(EARLY="yes"), capture_output=True, text=True,
                         check=True, timeout=60).stdout
    if startup_environment() is None:
        pytest.skip("no /proc/self/environ on this platform (the torch-imported rule applies instead)")
    assert json.loads(out) == ["yes", None]


def test_params_schema_takes_only_known_modes(default_params_dict: dict[str, Any]) -> None:
    assert MODES == ("native", "portable")
    for mode in MODES:
        default_params_dict["train"]["determinism"] = mode
        assert params_from_dict(default_params_dict).train.determinism == mode
    default_params_dict["train"]["determinism"] = "fast"
    with pytest.raises(ParamsError, match="train.determinism: expected one of native, portable, got 'fast'"):
        params_from_dict(default_params_dict)


# --------------------------------------------------------------------------- the launcher and the stage


def test_launch_environment_adds_portable_variables_and_leaves_native_alone() -> None:
    base = {"PATH": "/bin", "MKL_CBWR": "AVX2", "CUBLAS_WORKSPACE_CONFIG": ":16:8"}
    assert launch_environment("native", base) == base
    assert launch_environment("portable", base) == {"PATH": "/bin", "CUBLAS_WORKSPACE_CONFIG": ":16:8", **PORTABLE_ENV}


def test_launch_environment_sets_the_cublas_default_only_when_absent() -> None:
    assert launch_environment("native", {"PATH": "/bin"}) == {"PATH": "/bin", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    assert launch_environment("portable", {})["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_launcher_sets_the_variables_before_the_command_starts() -> None:
    code = "import json, os; print(json.dumps({k: os.environ.get(k) for k in %r}))" % (list(PORTABLE_ENV),)
    out = subprocess.run([sys.executable, "-m", "seedbench.determinism.launch", "--determinism", "portable", "--", sys.executable,
                          "-c", code], env=_clean_env(), capture_output=True, text=True, check=True, timeout=60).stdout
    assert json.loads(out) == PORTABLE_ENV


def test_launcher_rejects_an_unknown_mode_and_a_missing_command() -> None:
    for argv in (["--determinism", "fast", "--", "true"], ["--determinism", "portable", "--"]):
        proc = subprocess.run([sys.executable, "-m", "seedbench.determinism.launch", *argv], env=_clean_env(), capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 2, proc.stderr


def _stage_argv(tmp_path: Path, params: Path) -> list[str]:
    return ["--params", str(params), "--dataset", "FD001", "--method", "mlp", "--replicate", "0",
            "--prepared", str(tmp_path / "prepared"), "--out", str(tmp_path / "out")]


@pytest.fixture()
def portable_params(tmp_path: Path, default_params_dict: dict[str, Any]) -> Path:
    default_params_dict["train"]["determinism"] = "portable"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(default_params_dict))
    return path


def test_train_stage_started_without_the_launcher_is_refused(tmp_path: Path, portable_params: Path, repo_root: Path) -> None:
    proc = subprocess.run([sys.executable, str(repo_root / "stages" / "train.py"), *_stage_argv(tmp_path, portable_params)],
                          env=_clean_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("train: error: train.determinism: portable needs ATEN_CPU_CAPABILITY=avx2")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


# Sets the portable variables from inside Python (too late), then runs the stage as its own __main__.
LATE_DRIVER = textwrap.dedent(
    """
    import json, os, runpy, sys
    os.environ.update(json.loads(sys.argv[1]))
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def test_train_stage_refuses_variables_set_after_python_started(tmp_path: Path, portable_params: Path, repo_root: Path) -> None:
    stage = str(repo_root / "stages" / "train.py")
    proc = subprocess.run([sys.executable, "-c", LATE_DRIVER, json.dumps(PORTABLE_ENV), stage,
                           *_stage_argv(tmp_path, portable_params)],
                          env=_clean_env(), capture_output=True, text=True, timeout=120, check=False)
    if startup_environment() is None:
        pytest.skip("no /proc/self/environ on this platform")
    assert proc.returncode == 2, proc.stderr
    assert "set after Python started" in proc.stderr and "seedbench.determinism.launch" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not cpu_flags_summary()["avx512f"], reason="on a CPU without AVX-512 ATen's native kernels are AVX2")
def test_aten_capability_set_after_torch_chose_its_kernels_is_detected() -> None:
    code = textwrap.dedent(
        """
        import os, torch
        from seedbench.determinism.settings import check_effective
        from seedbench.core.errors import DeterminismError
        torch.ones(4).add_(1)                      # ATen has dispatched: its capability is fixed now
        os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
        try:
            check_effective("portable")
        except DeterminismError as exc:
            print("refused:", exc)
        else:
            print("accepted:", torch.backends.cpu.get_cpu_capability())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert out.startswith("refused: train.determinism: portable, but torch runs"), out
    assert "set after torch chose its kernels" in out


# --------------------------------------------------------------------------- what two recorded runs can promise


def _record(mode: str = "portable", **changes: Any) -> dict[str, Any]:
    rec = {
        "mode": mode,
        "mode_env": {k: None for k in DISPATCH_ENV_VARS} | (dict(PORTABLE_ENV) if mode == "portable" else {}),
        "torch_settings": dict(PORTABLE_TORCH_SETTINGS) if mode == "portable" else {},
        "torch_cpu_capability": "AVX2" if mode == "portable" else "AVX512",
        "cpu_model": "AMD EPYC", "cpu_flags": {"avx2": True, "avx512f": True}, "cpu_count": 2,
        "torch_version": "2.13.0+cpu", "mkl_version": "2024.2 build 20240605", "onednn_version": "3.12.0 git 80afa71049cd",
        "numpy_version": "2.4.6", "openblas_version": "scipy-openblas 0.3.31.188.0",
        "torch_threads": 1, "deterministic": True, "cuda_available": False,
    }
    rec.update(changes)
    return rec


INTEL_AVX2 = {"cpu_model": "Intel(R) Core(TM) i7-4770", "cpu_flags": {"avx2": True, "avx512f": False}, "cpu_count": 8}


def test_two_portable_runs_on_different_cpus_are_expected_bit_exact() -> None:
    level, reason = expected_level(_record(), _record(**INTEL_AVX2))
    assert level == "bit"
    assert "even on different CPUs" in reason and "AMD EPYC" in reason and "i7-4770" in reason


def test_two_native_runs_on_different_cpus_are_expected_seed_stable_only() -> None:
    level, reason = expected_level(_record("native"), _record("native", torch_cpu_capability="AVX2", **INTEL_AVX2))
    assert level == "seed"
    assert "native runs on different CPUs" in reason and "portable" in reason


def test_two_native_runs_on_the_same_cpu_are_expected_bit_exact() -> None:
    assert expected_level(_record("native"), _record("native")).level == "bit"


@pytest.mark.parametrize(
    ("a", "b", "level", "why"),
    [
        (_record("native"), _record(), "seed", "one run is native and the other portable"),
        (_record("native"), _record("native", torch_threads=2), "seed", "torch threads differ (1 vs 2)"),
        (_record(), _record(torch_threads=2, torch_settings=None), "seed", "torch threads differ (1 vs 2)"),
        (_record(), _record(torch_settings=None), "seed", "None: recorded before portable mode turned oneDNN"),
        (_record(), _record(mkl_version="2025.0"), "seed", "library versions differ (mkl 2024.2 build 20240605 vs 2025.0)"),
        (_record(), _record(torch_version="3.0.0"), "distribution", "torch major versions differ"),
        (_record(), {"deterministic": True}, "seed", "run B has no CPU determinism record"),
        (None, _record(), "seed", "run A has no CPU determinism record"),
        (_record(), _record(deterministic=False), "seed", "train.deterministic: false"),
        (_record(), _record(cuda_available=True), "seed", "saw CUDA"),
        (_record(), _record(mode_env={**PORTABLE_ENV, "MKL_CBWR": None}), "seed", "MKL_CBWR=None"),
        (_record(), _record(torch_cpu_capability="AVX512"), "seed", "ATen ran AVX512 kernels"),
        (_record(), _record(cpu_flags={"avx2": False, "avx512f": False}), "seed", "without AVX2"),
        (_record("native"), _record("native", cpu_count=16), "seed", "OpenBLAS"),
        (_record("native"), _record("native", mode_env={**{k: None for k in DISPATCH_ENV_VARS}, "MKL_CBWR": "AVX2"}),
         "seed", "different dispatch variables"),
    ],
)
def test_expected_level_says_which_and_why(a: Any, b: Any, level: str, why: str) -> None:
    result = expected_level(a, b)
    assert result.level == level and why in result.reason, result


def test_two_portable_runs_with_different_thread_counts_are_expected_bit_exact() -> None:
    level, reason = expected_level(_record(), _record(torch_threads=2, **INTEL_AVX2))
    assert level == "bit" and "1 and 2 torch threads" in reason and "even on different CPUs" in reason
    # two records from before the torch-side settings were compared with each other: same kernels, same threads
    assert expected_level(_record(torch_settings=None), _record(torch_settings=None)).level == "bit"


def test_portable_settings_are_applied_in_process_and_native_puts_torch_defaults_back() -> None:
    import torch

    before = apply_mode_settings("native")  # torch's defaults, the state every other test expects
    try:
        portable = apply_mode_settings("portable")
        assert not torch.backends.mkldnn.enabled and not torch._C._get_nnpack_enabled()
        assert all(portable[k] in (v, None) for k, v in PORTABLE_TORCH_SETTINGS.items())
        if torch.backends.mkl.is_available():
            assert portable["mkl_num_threads"] == 1
    finally:
        after = apply_mode_settings("native")
    assert after == before and after["mkldnn_enabled"] and after["nnpack_enabled"]
    assert after["mkl_num_threads"] in (None, torch.get_num_threads())


def test_expected_level_is_symmetric_in_its_level() -> None:
    pairs = [(_record(), _record(**INTEL_AVX2)), (_record("native"), _record()), (_record(), _record(torch_threads=2)),
             (_record("native"), _record("native", torch_threads=2)), (_record(), _record(torch_settings=None))]
    for a, b in pairs:
        assert expected_level(a, b).level == expected_level(b, a).level


def test_mkl_and_onednn_versions_are_parsed_from_torch_config() -> None:
    import torch

    versions = numeric_library_versions(torch.__config__.show())
    if torch.backends.mkl.is_available():
        assert versions["mkl_version"] and versions["mkl_version"][0].isdigit()
    if torch.backends.mkldnn.is_available():
        assert versions["onednn_version"] and versions["onednn_version"][0].isdigit()
    assert numeric_library_versions("no such libraries") == {"mkl_version": None, "onednn_version": None}


def test_experiments_are_held_to_the_weakest_level_of_their_shared_runs() -> None:
    from seedbench.determinism.expectations import expected_level_of_experiments

    a = {"FD001-mlp-0": _record(), "FD001-mlp-1": _record()}
    same = expected_level_of_experiments(a, {"FD001-mlp-0": _record(**INTEL_AVX2), "FD001-mlp-1": _record()})
    assert same.level == "bit" and same.reason.startswith("all 2 shared runs")
    mixed = expected_level_of_experiments(a, {"FD001-mlp-0": _record(), "FD001-mlp-1": _record(torch_settings=None)})
    assert mixed.level == "seed" and mixed.reason.startswith("run FD001-mlp-1 (the weakest of 2 shared runs)")
    assert expected_level_of_experiments(a, {"FD002-mlp-0": _record()}).level == "distribution"
