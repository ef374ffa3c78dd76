"""Benchmark: training time in ``portable`` mode ÷ ``native`` mode, per method (goal ≤ 1.3×).

Usage (the numbers in BENCHMARKS.md come from this exact command)::

    .venv/bin/python bench/bench_portable.py --repeats 5 --breakdown

Every timing is one fresh process started through the real launcher
(``python -m seedbench.determinism.launch --determinism MODE -- python bench/bench_portable.py --child …``):
the variables of a mode are read once, when torch, MKL, oneDNN and OpenBLAS
start, so modes cannot be switched inside one process. The child trains one
method exactly as the train stage does (``params.yaml`` hyper-parameters,
replicate 0, ``train.torch_threads``, the validation split, early stopping) on
``data/prepared/<dataset>`` and times ``train_model`` plus the test
predictions, i.e. training without interpreter start-up, imports (torch.optim's
lazy ``torch._dynamo`` import is triggered before the timer starts) and file
writes. Runs are interleaved (repeat r runs every method in every variant,
the variant order rotating) so that a slow spell of a shared machine hits all
variants alike; the table gives medians and the ratio of medians.
``--breakdown`` adds native runs with one portable variable at a time, to see
which pin costs what; ``--candidate`` adds portable with ATen's scalar kernels; ``--profile METHOD`` prints torch.profiler's top ops in
both modes. The children also print the model's sha256: every repeat of one
variant must give the same bytes (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from seedbench.determinism.modes import PORTABLE_ENV
from seedbench.provenance.environment import cpu_flags_summary, cpu_model

TORCH_METHODS = ("linear", "mlp", "cnn1d", "bilstm")


def child(args: argparse.Namespace) -> None:
    """Train one method in this process and print ``{"seconds", "model_sha256"}`` (or a profile table)."""
    from seedbench.core.hashing import bytes_sha256
    from seedbench.core.params import load_params
    from seedbench.core.seeds import generator, run_seeds
    from seedbench.data import preparation, splits
    from seedbench.determinism.seeding import set_global_seeds, set_torch_threads
    from seedbench.training.loop import (
        model_bytes,
        select_units,
        test_predictions,
        train_model,
    )

    params = load_params(args.params)
    seeds = run_seeds(params.seed, 0)
    set_torch_threads(params.train.torch_threads)
    set_global_seeds(seeds["seed"], deterministic=params.train.deterministic, warn_only=params.train.warn_only,
                     determinism=args.mode)
    data = preparation.load_prepared(args.prepared)
    train_units, val_units = splits.split_units(data.train.unit, params.train.val_fraction,
                                                generator(params.seed, "validation-split", 0))
    train, val = select_units(data.train, train_units), select_units(data.train, val_units)

    def run() -> bytes:
        outcome = train_model(args.child, train, val, hparams=params.train.hparams(args.child), seed=seeds["seed"],
                              data_order_seed=seeds["data_order_seed"], num_workers=params.train.num_workers,
                              determinism=args.mode)
        test_predictions(outcome, data.test.X)
        return model_bytes(outcome.model)

    if args.child_profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
        return
    # torch.optim imports torch._dynamo (~0.8 s) when the first optimizer is made: outside the timer, in both modes.
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    start, cpu_start = time.perf_counter(), time.process_time()
    model = run()
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
                      "model_sha256": bytes_sha256(model)}))


def variants(breakdown: bool, candidate: bool) -> dict[str, tuple[str, dict[str, str]]]:
    """Name → (launcher mode, extra variables); native and portable first."""
    out = {"native": ("native", {}), "portable": ("portable", {})}
    if breakdown:
        for name, value in PORTABLE_ENV.items():
            out[f"native+{name}={value}"] = ("native", {name: value})
    if candidate:
        # Not the mode: ATen's scalar kernels instead of its AVX2 ones (the first design of portable mode).
        out["portable but ATEN_CPU_CAPABILITY=default"] = ("native", {**PORTABLE_ENV, "ATEN_CPU_CAPABILITY": "default"})
    return out


def run_child(args: argparse.Namespace, method: str, mode: str, extra: dict[str, str], profile: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENV and k != "MKL_ENABLE_INSTRUCTIONS"}
    env.update(extra, PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "seedbench.determinism.launch", "--determinism", mode, "--",
           sys.executable, str(Path(__file__).resolve()), "--child", method, "--mode", mode,
           "--params", args.params, "--prepared", args.prepared] + (["--child-profile"] if profile else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {method}/{mode}/{extra} failed:\n{proc.stderr}")
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default="data/prepared/FD001", help="a prepared dataset (run `dvc repro prepare` first)")
    parser.add_argument("--methods", nargs="+", default=list(TORCH_METHODS), choices=TORCH_METHODS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true", help="also time native + each portable variable alone")
    parser.add_argument("--candidate", action="store_true", help="also time portable with ATEN_CPU_CAPABILITY=default")
    parser.add_argument("--profile", metavar="METHOD", choices=TORCH_METHODS, help="print torch.profiler's top ops per mode")
    parser.add_argument("--child", metavar="METHOD", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="native", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not Path(args.prepared, "train.npz").is_file():
        raise SystemExit(f"{args.prepared}: no prepared data; run `dvc repro prepare` first")

    if args.profile:
        for mode in ("native", "portable"):
            print(f"## {args.profile}, {mode}\n" + run_child(args, args.profile, mode, {}, profile=True))
        return

    flags = cpu_flags_summary()
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_model()} ({', '.join(k for k, v in flags.items() if v)}), "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    names = variants(args.breakdown, args.candidate)
    times: dict[tuple[str, str], list[float]] = {}
    cpu_times: dict[tuple[str, str], list[float]] = {}
    hashes: dict[tuple[str, str], set[str]] = {}
    for r in range(args.repeats):
        order = list(names)[r % len(names):] + list(names)[: r % len(names)]
        for method in args.methods:
            for name in order:
                mode, extra = names[name]
                result = json.loads(run_child(args, method, mode, extra).strip().splitlines()[-1])
                times.setdefault((method, name), []).append(result["seconds"])
                cpu_times.setdefault((method, name), []).append(result["cpu_seconds"])
                hashes.setdefault((method, name), set()).add(result["model_sha256"])
                print(f"  repeat {r + 1}: {method:7s} {name:42s} {result['seconds']:7.3f} s", file=sys.stderr)
    unstable = [k for k, v in hashes.items() if len(v) != 1]
    if unstable:
        raise SystemExit(f"not bit-exact across repeats: {unstable}")

    header = ["method", "native (s)", "portable (s)", "portable ÷ native"]
    extra_names = [n for n in names if n not in ("native", "portable")]
    header += [f"{n.removeprefix('native+')} ÷ native" for n in extra_names]
    header += ["portable, CPU time ÷ native", "ratio of minimums"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for method in args.methods:
        med = {n: statistics.median(times[(method, n)]) for n in names}
        cells = [method, f"{med['native']:.3f}", f"{med['portable']:.3f}", f"**{med['portable'] / med['native']:.2f}×**"]
        cells += [f"{med[n] / med['native']:.2f}×" for n in extra_names]
        cpu = {n: statistics.median(cpu_times[(method, n)]) for n in ("native", "portable")}
        cells.append(f"{cpu['portable'] / cpu['native']:.2f}×")
        cells.append(f"{min(times[(method, 'portable')]) / min(times[(method, 'native')]):.2f}×")
        print("| " + " | ".join(cells) + " |")
    print(f"\nAll runs, wall-clock s (CPU s), {args.repeats} per cell; load average at the end "
          f"{os.getloadavg()[0]:.2f}:")
    for (method, name), values in times.items():
        pairs = zip(values, cpu_times[(method, name)], strict=True)
        print(f"- {method} {name}: {', '.join(f'{v:.3f} ({c:.3f})' for v, c in pairs)}")


if __name__ == "__main__":
    main()
