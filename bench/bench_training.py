"""Benchmark: training throughput of seedbench's loop against a plain PyTorch loop, and the cost of determinism.

Usage (the final figures come from this exact command)::

    .venv/bin/python bench/bench_training.py --repeats 5 --epochs 5 --json /tmp/bench_training.json

Goals (issue tracker): seedbench's training loop reaches ≥ 0.95× the samples/s of
a plain hand-written PyTorch loop over the same model, data and batch size, with
determinism on; and determinism on costs ≤ 1.05× the time of determinism off, on
CPU. Ratios are measured within one run (the machines are shared and noisy).

What runs. For each method (``mlp``, ``cnn1d``, ``bilstm``) three variants, each
in a fresh child process, because torch's determinism flags and the variables of
``train.determinism: portable`` are process-wide:

``seedbench``
    ``seedbench.training.loop.train_model`` as the train stage calls it (no
    ``on_epoch`` callback: that is the stage's dvclive logger, file I/O).
``plain``
    The same work written out by hand in the style of the PyTorch tutorials
    (:func:`plain_train`): ``torch.manual_seed`` then
    ``seedbench.training.models.build_model`` (same seed, so the same initial weights),
    the same target scaling, ``torch.optim.AdamW`` with the same ``lr`` and
    ``weight_decay``, the same batch size; per epoch a permutation from a
    ``torch.Generator`` seeded like seedbench's data order, batches gathered by
    indexing a ``TensorDataset`` with a slice of that permutation, MSE loss,
    ``backward``, ``step``, the training loss accumulated through
    ``loss.item()``, then a validation forward pass (``no_grad``, chunks of
    ``PREDICT_BATCH_SIZE`` windows, MSE in float64) and a copy of the weights
    when the validation loss improved; the best weights are restored at the end.
``seedbench, determinism off``
    ``seedbench`` with ``torch.use_deterministic_algorithms(False)``.

All children run ``params.yaml`` hyper-parameters except ``max_epochs =
patience = --epochs`` (no early stopping: every run does exactly ``--epochs``
epochs, checked), replicate 0 (seeds, validation split), ``train.torch_threads``,
``train.warn_only``, on ``--prepared`` (default ``data/prepared/FD001``).
``seedbench`` and ``plain`` run with determinism on, whatever ``train.deterministic``
says (``seeding.set_global_seeds(..., deterministic=True)``: cuDNN flags and
``torch.use_deterministic_algorithms(True)``); the third variant sets it off. The
CPU kernels are those of ``--determinism`` (default ``native``; ``portable``
starts every child through ``python -m seedbench.determinism.launch --determinism portable
-- …``, as dvc.yaml starts the train stage).

What is timed. Per child, only training: from the call of ``train_model`` (resp.
the first line of :func:`plain_train`: seeding and building the model) until the
trained model with its best weights restored is returned, so model build,
optimizer, data order, ``--epochs`` epochs of training, the per-epoch validation
pass and best-weights copy, and the final restore. Not timed: interpreter start,
imports, loading params and data, and a warm-up done identically before every
variant (one forward/backward/AdamW step and one no-grad forward of a throwaway
model), which takes torch's lazy one-time costs out of the timer (the first
``torch.optim`` optimizer imports ``torch._dynamo``, ~1 s). The throughput is
``training windows × epochs ÷ seconds`` (the validation windows are work done but
not counted as samples).

How it is summarised. Runs are interleaved: repeat r runs every method in every
variant, the order of the variants rotating from one repeat to the next, so that
a slow spell of the machine hits all alike. Per method: median samples/s of each
variant; seedbench ÷ plain as the median of the per-repeat ratios (the two runs
of one repeat are neighbours in time) and as the ratio of the medians; the cost
of determinism as time(on) ÷ time(off), the same two ways (its "on" runs are the
``seedbench`` runs). The "by CPU time" columns give the same per-repeat ratios
from the children's CPU time (user + system), which a busy machine disturbs
less than wall-clock time; the list of all runs adds the system time and minor
page faults of each, because glibc's malloc may return large freed buffers to
the kernel and fault them in again on every step (seen with ``bilstm``: up to a
third of its CPU time is system time, in both loops, varying from process to process).
Every child prints the sha256 of its final weights
(``training.model_bytes``): every repeat of a variant must give the same bytes
(checked), and the table says whether ``seedbench`` and ``plain`` (and
determinism on/off) give the same weights. They can: the plain loop draws the
same permutations as the ``RandomSampler`` of ``training.make_loader``
(including the second ``randperm`` per epoch that the sampler draws and keeps
none of), dropout draws from the same global generator in the same order, and a
gathered batch holds the same floats as a collated one.

``--profile METHOD`` prints cProfile's top functions of the ``seedbench`` and
``plain`` variants of one method instead (same child set-up, same warm-up).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from seedbench.determinism.modes import MODES, PORTABLE_ENV
from seedbench.provenance.environment import cpu_model

TORCH_METHODS = ("mlp", "cnn1d", "bilstm")
SEEDBENCH, PLAIN, NONDET = "seedbench", "plain", "seedbench, determinism off"
VARIANTS = (SEEDBENCH, PLAIN, NONDET)
_VARIANT_ARG = {SEEDBENCH: "seedbench", PLAIN: "plain", NONDET: "nondet"}


# --------------------------------------------------------------------------- child side


def plain_train(method: str, X: Any, y: Any, Xv: Any, yv: Any, hp: dict[str, Any], *, seed: int,
                data_order_seed: int, epochs: int) -> Any:
    """A hand-written training loop doing the work of ``train_model`` for ``epochs`` epochs; returns the model."""
    import math

    import numpy as np
    import torch
    from torch.utils.data import TensorDataset

    from seedbench.training.loop import PREDICT_BATCH_SIZE
    from seedbench.training.methods import build_model

    torch.manual_seed(seed)
    model = build_model(method, window=X.shape[1], n_features=X.shape[2], hparams=hp)
    y_std = float(np.std(y, dtype=np.float64))
    model.set_target_scaling(float(np.mean(y, dtype=np.float64)), y_std if y_std > 0 else 1.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    Xv_t, yv_t = torch.from_numpy(Xv), torch.from_numpy(yv).to(torch.float64)
    order = torch.Generator()
    order.manual_seed(data_order_seed)
    n, batch_size = len(dataset), int(hp["batch_size"])
    best_val, best_state = math.inf, None
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=order)
        torch.randperm(n, generator=order)  # RandomSampler draws (and drops) a second one per epoch: same stream
        total = 0.0
        for start in range(0, n, batch_size):
            xb, yb = dataset[perm[start : start + batch_size]]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(Xv_t[i : i + PREDICT_BATCH_SIZE]) for i in range(0, len(Xv_t), PREDICT_BATCH_SIZE)])
            val_loss = float(((pred.to(torch.float64) - yv_t) ** 2).mean())
        if val_loss < best_val:
            best_val, best_state = val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model


def _warm_up(method: str, hp: dict[str, Any], X: Any, Xv: Any) -> None:
    """Pay torch's one-time lazy costs outside the timer; the same for every variant."""
    import torch

    from seedbench.training.methods import build_model

    model = build_model(method, window=X.shape[1], n_features=X.shape[2], hparams=hp)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
    model.train()
    xb = torch.from_numpy(X[: int(hp["batch_size"])])
    torch.nn.functional.mse_loss(model(xb), torch.zeros(xb.shape[0])).backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(Xv[:1024]))


def child(args: argparse.Namespace) -> None:
    """Train one method in one variant in this process; print a JSON line (or a profile)."""
    from seedbench.determinism.modes import (
        require_mode_environment,
        startup_environment,
    )
    from seedbench.provenance.environment import cpu_flags_summary

    require_mode_environment(args.determinism, os.environ, startup_environ=startup_environment(),
                             cpu_flags=cpu_flags_summary())  # before torch is imported

    import numpy as np
    import torch

    from seedbench.core.hashing import bytes_sha256
    from seedbench.core.params import load_params
    from seedbench.core.seeds import generator, run_seeds
    from seedbench.data import preparation, splits
    from seedbench.determinism.seeding import set_global_seeds, set_torch_threads
    from seedbench.training.loop import model_bytes, select_units, train_model

    method, variant = args.child, args.variant
    params = load_params(args.params)
    seeds = run_seeds(params.seed, 0)
    threads = set_torch_threads(params.train.torch_threads)
    set_global_seeds(seeds["seed"], deterministic=variant != "nondet", warn_only=params.train.warn_only,
                     determinism=args.determinism)
    data = preparation.load_prepared(args.prepared)
    train_units, val_units = splits.split_units(data.train.unit, params.train.val_fraction,
                                                generator(params.seed, "validation-split", 0))
    train, val = select_units(data.train, train_units), select_units(data.train, val_units)
    hp = {**params.train.hparams(method), "max_epochs": args.epochs, "patience": args.epochs}
    X, y = np.ascontiguousarray(train.X, dtype=np.float32), np.ascontiguousarray(train.y, dtype=np.float32)
    Xv, yv = np.ascontiguousarray(val.X, dtype=np.float32), np.ascontiguousarray(val.y, dtype=np.float32)
    _warm_up(method, hp, X, Xv)

    def run() -> tuple[Any, dict[str, Any]]:
        if variant == "plain":
            model = plain_train(method, X, y, Xv, yv, hp, seed=seeds["seed"], data_order_seed=seeds["data_order_seed"],
                                epochs=args.epochs)
            return model, {}
        outcome = train_model(method, train, val, hparams=hp, seed=seeds["seed"],
                              data_order_seed=seeds["data_order_seed"], num_workers=params.train.num_workers,
                              determinism=args.determinism)
        return outcome.model, outcome.summary()

    if args.child_profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        run()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile_rows)
        return

    usage, start, cpu_start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), time.process_time()
    model, summary = run()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    after = resource.getrusage(resource.RUSAGE_SELF)
    if summary and (summary["epochs_run"] != args.epochs or summary["stopped_early"] or summary["diverged"]):
        raise SystemExit(f"{method}: expected {args.epochs} full epochs, got {summary}")
    print(json.dumps({
        "seconds": seconds, "cpu_seconds": cpu_seconds, "sys_seconds": after.ru_stime - usage.ru_stime,
        "minor_page_faults": after.ru_minflt - usage.ru_minflt, "n_train": int(X.shape[0]), "n_val": int(Xv.shape[0]),
        "epochs": args.epochs, "samples_per_s": X.shape[0] * args.epochs / seconds,
        "model_sha256": bytes_sha256(model_bytes(model)), "best_epoch": summary.get("best_epoch"),
        "torch_threads": threads, "deterministic": bool(torch.are_deterministic_algorithms_enabled()),
        "torch": torch.__version__, "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
    }))


# --------------------------------------------------------------------------- parent side


def run_child(args: argparse.Namespace, method: str, variant: str, profile: bool = False) -> str:
    """Start one child through ``seedbench.determinism.launch`` in mode ``--determinism``; return its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENV and k != "MKL_ENABLE_INSTRUCTIONS"}
    env["PYTHONHASHSEED"] = "0"
    cmd = [sys.executable, "-m", "seedbench.determinism.launch", "--determinism", args.determinism, "--",
           sys.executable, str(Path(__file__).resolve()), "--child", method, "--variant", _VARIANT_ARG[variant],
           "--determinism", args.determinism, "--epochs", str(args.epochs), "--params", args.params,
           "--prepared", args.prepared, "--profile-rows", str(args.profile_rows)]
    cmd += ["--child-profile"] if profile else []
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {method}/{variant} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def _ratio_cell(per_repeat: list[float], of_medians: float) -> tuple[str, str]:
    return f"**{statistics.median(per_repeat):.3f}×**", f"{of_medians:.3f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default="data/prepared/FD001", help="a prepared dataset (`dvc repro prepare`)")
    parser.add_argument("--methods", nargs="+", default=list(TORCH_METHODS), choices=TORCH_METHODS)
    parser.add_argument("--repeats", type=int, default=5, help="runs of every (method, variant); medians over them")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (max_epochs = patience = this)")
    parser.add_argument("--determinism", choices=MODES, default="native",
                        help="CPU kernels of every child (train.determinism); portable goes through seedbench.determinism.launch")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write every figure here")
    parser.add_argument("--profile", metavar="METHOD", choices=TORCH_METHODS,
                        help="print cProfile's top functions of seedbench and plain for METHOD, then exit")
    parser.add_argument("--profile-rows", type=int, default=25, help=argparse.SUPPRESS)
    parser.add_argument("--child", metavar="METHOD", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=tuple(_VARIANT_ARG.values()), default="seedbench", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be >= 1")
    if not Path(args.prepared, "train.npz").is_file():
        raise SystemExit(f"{args.prepared}: no prepared data; run `dvc repro prepare` first")

    if args.profile:
        for variant in (SEEDBENCH, PLAIN):
            print(f"## {args.profile}, {variant}, {args.epochs} epochs, {args.determinism}\n"
                  + run_child(args, args.profile, variant, profile=True))
        return

    command = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv])
    date = time.strftime("%Y-%m-%d %H:%M")
    print(f"# Training throughput, {date}\n\n- command: `{command}`\n- machine: {cpu_model()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, torch {importlib.metadata.version('torch')}, "
          f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)

    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in range(args.repeats):
        order = list(VARIANTS[r % len(VARIANTS):] + VARIANTS[: r % len(VARIANTS)])
        for method in args.methods:
            for variant in order:
                result = json.loads(run_child(args, method, variant).strip().splitlines()[-1])
                result["repeat"] = r
                runs.setdefault((method, variant), []).append(result)
                print(f"  repeat {r + 1}: {method:7s} {variant:28s} {result['seconds']:7.3f} s "
                      f"{result['samples_per_s']:9.0f} samples/s", file=sys.stderr, flush=True)
    unstable = [f"{m}/{v}" for (m, v), rs in runs.items() if len({x["model_sha256"] for x in rs}) != 1]
    if unstable:
        raise SystemExit(f"not bit-exact across repeats: {unstable}")

    first = runs[(args.methods[0], SEEDBENCH)][0]
    print(f"- torch {first['torch']}, ATen CPU capability {first['cpu_capability']}, torch threads "
          f"{first['torch_threads']}, train.determinism {args.determinism}, {args.epochs} epochs per run, "
          f"{args.repeats} repeats, {first['n_train']} training + {first['n_val']} validation windows per epoch "
          f"({args.prepared})\n")
    header = ["method", "seedbench (samples/s)", "plain (samples/s)", "seedbench ÷ plain (median of ratios)",
              "ratio of medians", "by CPU time", "determinism off (samples/s)", "time on ÷ off (median of ratios)",
              "ratio of medians", "by CPU time", "same weights: seedbench = plain, on = off"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    summary: dict[str, Any] = {}
    for method in args.methods:
        sb, pl, nd = (runs[(method, v)] for v in VARIANTS)
        med = {v: statistics.median(x["samples_per_s"] for x in runs[(method, v)]) for v in VARIANTS}
        speed = [a["samples_per_s"] / b["samples_per_s"] for a, b in zip(sb, pl, strict=True)]
        det_cost = [a["seconds"] / b["seconds"] for a, b in zip(sb, nd, strict=True)]
        speed_cpu = [b["cpu_seconds"] / a["cpu_seconds"] for a, b in zip(sb, pl, strict=True)]
        det_cost_cpu = [a["cpu_seconds"] / b["cpu_seconds"] for a, b in zip(sb, nd, strict=True)]
        same_plain = sb[0]["model_sha256"] == pl[0]["model_sha256"]
        same_det = sb[0]["model_sha256"] == nd[0]["model_sha256"]
        summary[method] = {
            "samples_per_s_median": med, "seedbench_over_plain_per_repeat": speed,
            "seedbench_over_plain_median_of_ratios": statistics.median(speed),
            "seedbench_over_plain_ratio_of_medians": med[SEEDBENCH] / med[PLAIN],
            "determinism_on_over_off_time_per_repeat": det_cost,
            "determinism_on_over_off_median_of_ratios": statistics.median(det_cost),
            "determinism_on_over_off_ratio_of_medians": med[NONDET] / med[SEEDBENCH],
            "seedbench_over_plain_cpu_time_median_of_ratios": statistics.median(speed_cpu),
            "determinism_on_over_off_cpu_time_median_of_ratios": statistics.median(det_cost_cpu),
            "same_weights_seedbench_plain": same_plain, "same_weights_determinism_on_off": same_det,
        }
        cells = [method, f"{med[SEEDBENCH]:.0f}", f"{med[PLAIN]:.0f}",
                 *_ratio_cell(speed, med[SEEDBENCH] / med[PLAIN]), f"{statistics.median(speed_cpu):.3f}×",
                 f"{med[NONDET]:.0f}", *_ratio_cell(det_cost, med[NONDET] / med[SEEDBENCH]),
                 f"{statistics.median(det_cost_cpu):.3f}×",
                 f"{'yes' if same_plain else 'NO'}, {'yes' if same_det else 'NO'}"]
        print("| " + " | ".join(cells) + " |")

    print("\nGoals (median of per-repeat ratios): seedbench ÷ plain ≥ 0.95, determinism on ÷ off ≤ 1.05")
    for method, s in summary.items():
        a, b = s["seedbench_over_plain_median_of_ratios"], s["determinism_on_over_off_median_of_ratios"]
        print(f"- {method}: throughput {a:.3f}× {'met' if a >= 0.95 else 'MISSED'}; "
              f"determinism cost {b:.3f}× {'met' if b <= 1.05 else 'MISSED'}")
    print(f"\nAll runs, wall-clock s (CPU s, of which system; minor page faults), load average at the end "
          f"{os.getloadavg()[0]:.2f}:")
    for (method, variant), rs in runs.items():
        pairs = ", ".join(f"{x['seconds']:.3f} ({x['cpu_seconds']:.3f}, {x['sys_seconds']:.3f}; "
                          f"{x['minor_page_faults']})" for x in rs)
        print(f"- {method} {variant}: {pairs}")
    if args.json:
        args.json.write_text(json.dumps({
            "command": command, "date": date, "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "torch": first["torch"], "cpu_capability": first["cpu_capability"],
            "determinism_mode": args.determinism, "epochs": args.epochs, "repeats": args.repeats,
            "prepared": args.prepared, "summary": summary,
            "runs": [{"method": m, "variant": v, **x} for (m, v), rs in runs.items() for x in rs],
        }, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
