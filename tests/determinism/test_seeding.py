"""Random streams, global seeds and determinism flags."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from seedbench.core.errors import DeterminismError, ParamsError
from seedbench.core.seeds import derive_seed, generator, replicate_seed, run_seeds
from seedbench.determinism.seeding import (
    CUBLAS_DEFAULT,
    dataloader_generator,
    determinism_errors,
    ensure_cublas_workspace_config,
    require_cublas_workspace_config,
    seed_torch,
    seed_worker,
    set_deterministic_algorithms,
    set_global_seeds,
    set_torch_threads,
)

PINNED_ENV = {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


@pytest.fixture()
def restore_torch_flags() -> Iterator[None]:
    """Put torch's process-global determinism flags and thread count back after a test."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.get_num_threads(),
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
    torch.set_num_threads(saved[4])


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.random()), float(torch.rand(1).item())


# --------------------------------------------------------------------------- streams


def test_seeding_global_state_does_not_reseed_a_named_stream() -> None:
    reference = generator(42, "validation-split", 0).random(4)
    np.random.seed(0)
    random.seed(0)
    np.random.random(10)
    assert np.array_equal(generator(42, "validation-split", 0).random(4), reference)
    np.random.seed(12345)
    assert np.array_equal(generator(42, "validation-split", 0).random(4), reference)


def test_named_streams_of_one_replicate_are_distinct() -> None:
    seeds = run_seeds(42, 3)
    assert seeds["seed"] == replicate_seed(42, 3)
    assert seeds["validation_split_seed"] == derive_seed(42, "validation-split", 3)
    assert seeds["data_order_seed"] == derive_seed(42, "data-order", 3)
    assert len({seeds["seed"], seeds["validation_split_seed"], seeds["data_order_seed"]}) == 3
    assert run_seeds(42, 3) == seeds and run_seeds(43, 3) != seeds


def test_set_global_seeds_pins_python_numpy_and_torch(restore_torch_flags: None) -> None:
    set_global_seeds(7, environ=PINNED_ENV)
    first = _draws()
    set_global_seeds(7, environ=PINNED_ENV)
    assert _draws() == first
    set_global_seeds(8, environ=PINNED_ENV)
    other = _draws()
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_set_global_seeds_returns_a_json_record_of_what_it_set(restore_torch_flags: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PYTHONHASHSEED is set in this environ: no warning
        record = set_global_seeds(11, deterministic=True, warn_only=False, environ=PINNED_ENV)
    json.dumps(record)
    assert record["seed"] == record["numpy_global_seed"] == record["torch_manual_seed"] == 11
    assert record["torch_cuda_manual_seed_all"] == 11
    assert record["deterministic_algorithms"] is True
    assert record["deterministic_algorithms_warn_only"] is False
    assert record["cudnn_deterministic"] is True and record["cudnn_benchmark"] is False
    assert record["pythonhashseed"] == "0"
    assert record["cublas_workspace_config"] == ":4096:8"
    assert record["torch_num_threads"] == torch.get_num_threads()
    assert torch.are_deterministic_algorithms_enabled()


def test_non_deterministic_mode_sets_the_permissive_flags_explicitly(restore_torch_flags: None) -> None:
    record = set_global_seeds(1, deterministic=False, environ=PINNED_ENV)
    assert record["deterministic_algorithms"] is False
    assert record["cudnn_deterministic"] is False
    assert not torch.are_deterministic_algorithms_enabled()


def test_unset_pythonhashseed_warns_and_is_recorded_as_null(restore_torch_flags: None) -> None:
    with pytest.warns(UserWarning, match="PYTHONHASHSEED is unset"):
        record = set_global_seeds(1, environ={})
    assert record["pythonhashseed"] is None
    assert record["cublas_workspace_config"] is None


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, True, "7", None])
def test_seed_outside_32_bits_is_a_params_error(bad: object, restore_torch_flags: None) -> None:
    with pytest.raises(ParamsError, match=r"0\.\.4294967295"):
        set_global_seeds(bad, environ=PINNED_ENV)  # type: ignore[arg-type]
    with pytest.raises(ParamsError):
        dataloader_generator(bad)  # type: ignore[arg-type]


def test_negative_replicate_is_a_params_error_naming_replicates() -> None:
    with pytest.raises(ParamsError, match="replicates"):
        replicate_seed(42, -1)
    with pytest.raises(ParamsError, match="replicates"):
        run_seeds(42, -1)


# --------------------------------------------------------------------------- torch streams


def test_dataloader_generator_repeats_and_ignores_the_global_torch_seed() -> None:
    seed_torch(1)
    a = torch.randperm(20, generator=dataloader_generator(5))
    seed_torch(2)
    assert torch.equal(torch.randperm(20, generator=dataloader_generator(5)), a)
    assert not torch.equal(torch.randperm(20, generator=dataloader_generator(6)), a)


def test_seed_worker_seeds_numpy_and_random_from_the_torch_seed() -> None:
    seed_torch(123)
    seed_worker(0)
    got = (random.random(), float(np.random.random()))
    random.seed(123)
    np.random.seed(123)
    assert got == (random.random(), float(np.random.random()))


@pytest.mark.parametrize(("mode", "warn_only"), [(True, False), (True, True), (False, False)])
def test_set_deterministic_algorithms_sets_the_flags_torch_reads(mode: bool, warn_only: bool,
                                                                  restore_torch_flags: None) -> None:
    torch.use_deterministic_algorithms(not mode, warn_only=not warn_only)
    set_deterministic_algorithms(mode, warn_only=warn_only)
    assert torch.are_deterministic_algorithms_enabled() is mode
    assert torch.is_deterministic_algorithms_warn_only_enabled() is warn_only


def test_determinism_flags_do_not_import_the_compiler() -> None:
    """torch.use_deterministic_algorithms imports torch._inductor (~0.8 s a stage); ours must not, and must still work."""
    code = textwrap.dedent(
        """
        import json, sys, torch
        from seedbench.determinism.seeding import set_global_seeds
        set_global_seeds(7, deterministic=True, warn_only=False)
        try:
            torch.zeros(4).put_(torch.tensor([0]), torch.tensor([1.0]), accumulate=False)
            refused = False
        except RuntimeError:
            refused = True
        print(json.dumps({"inductor": "torch._inductor" in sys.modules, "dynamo": "torch._dynamo" in sys.modules,
                          "enabled": torch.are_deterministic_algorithms_enabled(), "refused": refused}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **PINNED_ENV}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"inductor": False, "dynamo": False, "enabled": True,
                                                                "refused": True}


def test_torch_thread_count_is_set_and_reported(restore_torch_flags: None) -> None:
    assert set_torch_threads(1) == 1 == torch.get_num_threads()
    for bad in (0, -2, 1.0, True):
        with pytest.raises(ParamsError, match="train.torch_threads"):
            set_torch_threads(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- determinism errors


def _nondeterministic_cpu_op() -> torch.Tensor:
    """``Tensor.put_`` with ``accumulate=False`` has no deterministic kernel, also on CPU (torch 2.13)."""
    return torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]), accumulate=False)


def test_op_without_deterministic_kernel_raises_a_determinism_error_naming_it(restore_torch_flags: None) -> None:
    set_global_seeds(1, deterministic=True, warn_only=False, environ=PINNED_ENV)
    with pytest.raises(DeterminismError, match=r"^put_ has no deterministic kernel.*train\.warn_only"):
        with determinism_errors():
            _nondeterministic_cpu_op()


def test_warn_only_runs_the_op_with_a_warning_naming_it(restore_torch_flags: None) -> None:
    set_global_seeds(1, deterministic=True, warn_only=True, environ=PINNED_ENV)
    with pytest.warns(UserWarning, match="put_ does not have a deterministic implementation"):
        with determinism_errors():
            out = _nondeterministic_cpu_op()
    assert out.shape == (4,)


def test_other_runtime_errors_pass_through_unchanged() -> None:
    with pytest.raises(RuntimeError, match="shape"):
        with determinism_errors():
            torch.zeros(2, 3) @ torch.zeros(2, 3)


def test_cublas_workspace_config_accepts_only_documented_values() -> None:
    assert require_cublas_workspace_config({"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}) == ":4096:8"
    assert require_cublas_workspace_config({"CUBLAS_WORKSPACE_CONFIG": ":16:8"}) == ":16:8"
    for env in ({}, {"CUBLAS_WORKSPACE_CONFIG": ":4096:2"}):
        with pytest.raises(DeterminismError, match="CUBLAS_WORKSPACE_CONFIG"):
            require_cublas_workspace_config(env)


def test_ensure_cublas_workspace_config_sets_the_default_but_keeps_an_existing_value() -> None:
    env: dict[str, str] = {}
    assert ensure_cublas_workspace_config(env) == CUBLAS_DEFAULT == env["CUBLAS_WORKSPACE_CONFIG"]
    env = {"CUBLAS_WORKSPACE_CONFIG": ":16:8"}
    assert ensure_cublas_workspace_config(env) == ":16:8"


_RECORD_ENV_AT_TORCH_IMPORT = textwrap.dedent(
    """
    import importlib.abc, importlib.util, json, os, sys

    class StopAtTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                print(json.dumps({"at_torch_import": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}))
                sys.stdout.flush()
                os._exit(0)  # stop here: what matters is the state when torch is first imported
            return None

    sys.meta_path.insert(0, StopAtTorch())
    spec = importlib.util.spec_from_file_location("train_stage", sys.argv[1])
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    stage.main(sys.argv[2:])  # torch is first imported inside main(), after the determinism check
    print(json.dumps({"at_torch_import": "torch never imported"}))
    """
)


@pytest.mark.parametrize(("given", "expected"), [(None, ":4096:8"), (":16:8", ":16:8")])
def test_launcher_sets_cublas_config_before_the_train_stage_imports_torch(
    repo_root: Path, tmp_path: Path, default_params_dict: dict[str, Any], given: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    if given is not None:
        env["CUBLAS_WORKSPACE_CONFIG"] = given
    default_params_dict["train"]["determinism"] = "native"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(default_params_dict))
    argv = ["--params", str(tmp_path / "params.yaml"), "--dataset", "FD001", "--method", "mlp", "--replicate", "0",
            "--prepared", str(tmp_path / "prepared"), "--out", str(tmp_path / "out")]
    proc = subprocess.run(
        [sys.executable, "-m", "seedbench.determinism.launch", "--determinism", "native", "--",
         sys.executable, "-c", _RECORD_ENV_AT_TORCH_IMPORT, str(repo_root / "stages" / "train.py"), *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"at_torch_import": expected}


# --------------------------------------------------------------------------- one entry point for randomness

_SEEDING_CALLS = re.compile(r"default_rng\(|manual_seed(_all)?\(|random\.seed\(|RandomState\(")


def test_randomness_enters_the_library_only_through_seeding(repo_root: Path) -> None:
    package = repo_root / "src" / "seedbench"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() in ("core/seeds.py", "determinism/seeding.py"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if _SEEDING_CALLS.search(line):
                offenders.append(f"{path.relative_to(repo_root)}:{number}: {line.strip()}")
    assert offenders == [], "seed random streams through seedbench.core.seeds / seedbench.determinism.seeding only:\n" + "\n".join(offenders)
