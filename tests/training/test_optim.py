"""Portable AdamW: torch's AdamW arithmetic with an IEEE-exact square root; the exact root equals numpy's bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seedbench.core.errors import DeterminismError
from seedbench.core.seeds import generator
from seedbench.training.optim import PortableAdamW, exact_sqrt, make_optimizer


def _edge_floats() -> np.ndarray:
    info = np.finfo(np.float32)
    specials = np.array([0.0, -0.0, np.inf, np.nan, info.tiny, info.max, info.eps, 1.0, 2.0, 4.0, 0.25,
                         np.float32(1.4e-45), np.float32(1e-40), np.nextafter(np.float32(1), np.float32(2)),
                         np.nextafter(np.float32(0), np.float32(1))], dtype=np.float32)
    rng = generator(0, "exact-sqrt-test")
    every_exponent = (rng.random(200_000) * 10.0 ** rng.integers(-45, 39, 200_000)).astype(np.float32)
    bits = rng.integers(0, 0x7F800000, 200_000, dtype=np.uint32).view(np.float32)  # every finite positive pattern
    subnormal = rng.integers(1, 0x00800000, 50_000, dtype=np.uint32).view(np.float32)
    return np.concatenate([specials, every_exponent, bits, subnormal])


def test_exact_sqrt_equals_numpy_bit_for_bit_incl_subnormals_and_edge_cases() -> None:
    x = _edge_floats()
    ours = exact_sqrt(torch.from_numpy(x)).numpy()
    assert ours.dtype == np.float32 and ours.shape == x.shape
    assert np.array_equal(ours.view(np.uint32), np.sqrt(x).view(np.uint32))


def test_exact_sqrt_of_negative_is_nan_and_float64_is_numpys() -> None:
    assert np.isnan(exact_sqrt(torch.tensor([-1.0])).item())
    x = generator(1, "exact-sqrt-test").random(10_000) * 1e10
    assert np.array_equal(exact_sqrt(torch.from_numpy(x)).numpy(), np.sqrt(x))


def test_exact_sqrt_refuses_other_dtypes() -> None:
    with pytest.raises(DeterminismError, match="float32 or float64 CPU tensors, got torch.float16"):
        exact_sqrt(torch.ones(2, dtype=torch.float16))


def _train(optimizer_factory, steps: int = 6) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1))
    optimizer = optimizer_factory(model.parameters())
    x, y = torch.randn(32, 5), torch.randn(32, 1)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def test_portable_adamw_with_torchs_sqrt_is_torchs_adamw_bit_for_bit() -> None:
    ours = _train(lambda p: PortableAdamW(p, lr=1e-2, weight_decay=1e-3, sqrt=torch.sqrt))
    theirs = _train(lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-3, foreach=False))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_portable_adamw_takes_the_exact_root_every_step() -> None:
    exact = _train(lambda p: PortableAdamW(p, lr=1e-2, weight_decay=1e-3))
    numpy_root = _train(lambda p: PortableAdamW(p, lr=1e-2, weight_decay=1e-3,
                                                sqrt=lambda t: torch.from_numpy(np.sqrt(t.numpy()))))
    assert all(torch.equal(a, b) for a, b in zip(exact, numpy_root, strict=True))


def test_make_optimizer_keeps_torchs_adamw_for_native() -> None:
    params = [torch.zeros(2, requires_grad=True)]
    assert type(make_optimizer(params, lr=1e-3, weight_decay=0.0, determinism="native")) is torch.optim.AdamW
    assert type(make_optimizer(params, lr=1e-3, weight_decay=0.0, determinism="portable")) is PortableAdamW
    with pytest.raises(DeterminismError, match="expected native or portable"):
        make_optimizer(params, lr=1e-3, weight_decay=0.0, determinism="fast")


def test_portable_adamw_state_dict_loads_into_torchs_adamw() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    opt = PortableAdamW([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    torch.optim.AdamW([p], lr=0.1).load_state_dict(opt.state_dict())
