"""Every private torch API seedbench uses still exists: a torch upgrade that drops one fails here, in one place."""

from __future__ import annotations

import importlib

import pytest
import torch

from seedbench.compat import torch as compat


@pytest.mark.parametrize("dotted", compat.PRIVATE_SYMBOLS)
def test_private_torch_attribute_still_exists(dotted: str) -> None:
    module, _, name = dotted.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_torch_cpu_library_exports_the_openmp_and_mkl_symbols() -> None:
    assert compat.torch_cpu_library_path() is not None
    found = compat.threading_c_functions()
    expected = compat.OPENMP_SYMBOLS + (compat.MKL_SYMBOLS if torch.backends.mkl.is_available() else ())
    assert sorted(found) == sorted(expected)
    assert found["omp_get_max_active_levels"]() >= 0


@pytest.mark.parametrize("mode,warn_only", [(True, False), (True, True), (False, False)])
def test_set_deterministic_algorithms_sets_what_torch_reads_back(mode: bool, warn_only: bool) -> None:
    try:
        compat.set_deterministic_algorithms(mode, warn_only=warn_only)
        assert torch.are_deterministic_algorithms_enabled() is mode
        assert torch.is_deterministic_algorithms_warn_only_enabled() is warn_only
    finally:
        compat.set_deterministic_algorithms(False)


def test_nnpack_enabled_reads_the_flag_back() -> None:
    before = compat.nnpack_enabled()
    try:
        torch.backends.nnpack.set_flags(False)
        assert compat.nnpack_enabled() is False
    finally:
        torch.backends.nnpack.set_flags(bool(before))
