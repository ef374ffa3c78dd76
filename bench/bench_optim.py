"""Benchmark: one optimizer step of ``PortableAdamW`` (exact square root) vs ``torch.optim.AdamW``, per method.

Usage (the numbers in BENCHMARKS.md come from this exact command)::

    .venv/bin/python bench/bench_optim.py --repeats 7 --steps 200

Each method's model is built with ``params.yaml``'s hyper-parameters (FD001's
window, 14 features), given fixed random gradients, and stepped ``--steps``
times by each optimizer, interleaved, one thread; the median over
``--repeats`` of the time per step is printed, with the ratio. A full training
step (forward, backward, step) of the same model is timed too, so the
optimizer's share of training can be read off.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from seedbench.core.params import load_params
from seedbench.training.methods import build_model
from seedbench.training.optim import PortableAdamW


def _time_steps(optimizer: torch.optim.Optimizer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps


def _time_training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                        steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = load_params(args.params)
    window, n_features = params.window("FD001"), len(params.prepare.sensors)
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    print("| method | parameters | torch AdamW step (ms) | PortableAdamW step (ms) | ratio | training step (ms) |")
    print("|---|---|---|---|---|---|")
    for method in ("mlp", "cnn1d", "bilstm"):
        hp = params.train.hparams(method)
        torch.manual_seed(0)
        model = build_model(method, window=window, n_features=n_features, hparams=hp)
        for p in model.parameters():
            p.grad = torch.randn_like(p) * 1e-2
        theirs = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
        ours = PortableAdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
        times: dict[str, list[float]] = {"torch": [], "portable": [], "train": []}
        x, y = torch.randn(int(hp["batch_size"]), window, n_features), torch.randn(int(hp["batch_size"]))
        for _ in range(args.repeats):
            times["torch"].append(_time_steps(theirs, args.steps))
            times["portable"].append(_time_steps(ours, args.steps))
        model.train()
        train_opt = PortableAdamW(model.parameters(), lr=float(hp["lr"]))
        for _ in range(max(1, args.repeats // 2)):
            times["train"].append(_time_training_step(model, train_opt, x, y, max(1, args.steps // 20)))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        n_params = sum(p.numel() for p in model.parameters())
        print(f"| {method} | {n_params:,} | {med['torch']:.3f} | {med['portable']:.3f} | "
              f"{med['portable'] / med['torch']:.2f}× | {med['train']:.2f} |")


if __name__ == "__main__":
    main()
