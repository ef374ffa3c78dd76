"""Benchmark: are two CUDA trainings of one seed identical, per method, precision and deterministic-flag setting?

Standalone: needs torch, numpy and pyyaml with this repository's ``src/`` on ``PYTHONPATH`` (no DVC, no
scipy), and a prepared dataset folder (``data/prepared/FD001`` from ``dvc repro prepare@FD001``; carry it to
the GPU machine)::

    CUBLAS_WORKSPACE_CONFIG=:4096:8 PYTHONPATH=src python bench/cuda_determinism.py --epochs 3

For every method × ``--precisions`` × deterministic flags on/off, it trains twice in this process with the
library's own ``train_model`` (the train stage's code: weights initialised on the CPU with the replicate seed,
batches drawn by a CPU generator, then moved; ``params.yaml`` hyper-parameters with ``max_epochs`` = ``patience``
= ``--epochs``, so no early stop) and prints whether the two model files are identical, the largest parameter
and test-prediction differences, seconds per epoch (CUDA synchronised), and the largest prediction difference
from a CPU fp32 run of the same seed. ``--cross-process`` repeats every setting in a second process and compares
model hashes across the two. ``--json FILE`` writes every figure.

Without a CUDA device it exits with status 2 and one line saying why; ``--device cpu`` runs the same comparison
on the CPU (precisions fp32 and bf16), which is how the script itself is tested without a GPU.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before torch initialises CUDA (cuBLAS reads it then)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

METHODS = ("mlp", "cnn1d", "bilstm")
FLAGS = {"det": True, "nondet": False}
"""Flag settings: ``det`` = deterministic algorithms + cudnn.deterministic + benchmark off (+ CUBLAS config); ``nondet`` = all off."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml", help="hyper-parameters and experiment seed")
    parser.add_argument("--prepared", default="data/prepared/FD001", help="prepared dataset folder")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--precisions", nargs="+", default=None, choices=("fp32", "tf32", "bf16"),
                        help="default: fp32 tf32 bf16 on cuda, fp32 bf16 on cpu")
    parser.add_argument("--flags", nargs="+", default=list(FLAGS), choices=list(FLAGS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--no-cpu-reference", action="store_true", help="skip the CPU fp32 run per method")
    parser.add_argument("--cross-process", action="store_true", help="repeat every setting in a second process")
    parser.add_argument("--json", help="write every figure to this file ('-' = stdout, no table)")
    args = parser.parse_args(argv)
    if args.precisions is None:
        args.precisions = ["fp32", "tf32", "bf16"] if args.device == "cuda" else ["fp32", "bf16"]
    return args


def require(device: str) -> None:
    """Exit 2 with one line when ``device`` cannot be used (no CUDA, or a CPU build of torch)."""
    from seedbench.core.errors import ParamsError
    from seedbench.determinism.devices import require_device

    try:
        require_device(device)
    except ParamsError as exc:
        reason = str(exc).removeprefix("train.device: cuda, but ").split("; install")[0]
        print(f"cuda_determinism: no CUDA device: {reason}; run it on a machine with an NVIDIA GPU and a CUDA build "
              "of torch (README: \"Training on a GPU\"), or pass --device cpu to check the script itself",
              file=sys.stderr)
        sys.exit(2)


def load_data(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, Any], dict[str, int]]:
    """``(train, val, test, hparams per method, seeds)`` exactly as the train stage cuts them (replicate 0)."""
    from seedbench.core.params import load_params
    from seedbench.core.seeds import STREAM_VALIDATION_SPLIT, generator, run_seeds
    from seedbench.data import preparation, splits
    from seedbench.training.loop import select_units

    params = load_params(args.params)
    data = preparation.load_prepared(args.prepared)
    train_units, val_units = splits.split_units(data.train.unit, params.train.val_fraction,
                                                generator(params.seed, STREAM_VALIDATION_SPLIT, 0))
    hparams = {m: {**params.train.hparams(m), "max_epochs": args.epochs, "patience": args.epochs} for m in args.methods}
    return (select_units(data.train, train_units), select_units(data.train, val_units), data.test, hparams,
            run_seeds(params.seed, 0))


def train_once(method: str, device: str, precision: str, deterministic: bool, data: tuple) -> dict[str, Any]:
    """One training run through the library; parameters, test predictions and seconds per epoch."""
    import torch

    from seedbench.determinism.seeding import set_global_seeds
    from seedbench.training.loop import model_bytes, test_predictions, train_model
    from seedbench.training.placement import Placement

    train, val, test, hparams, seeds = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PYTHONHASHSEED unset: irrelevant to training
        set_global_seeds(seeds["seed"], deterministic=deterministic, determinism="native", device=device,
                         precision=precision)
    started = time.perf_counter()
    outcome = train_model(method, train, val, hparams=hparams[method], seed=seeds["seed"],
                          data_order_seed=seeds["data_order_seed"], placement=Placement(device, precision))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    blob = model_bytes(outcome.model)
    params = np.concatenate([t.detach().cpu().double().numpy().ravel() for t in outcome.model.state_dict().values()])
    predictions = test_predictions(outcome, test.X)
    rmse = float(np.sqrt(np.mean((predictions - test.y.astype(np.float64)) ** 2)))
    return {"sha256": hashlib.sha256(blob).hexdigest(), "params": params, "predictions": predictions,
            "seconds_per_epoch": seconds / max(len(outcome.history), 1), "rmse": rmse}


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def compare(args: argparse.Namespace, data: tuple) -> list[dict[str, Any]]:
    """Every setting trained twice (and a CPU reference per method): the rows of the table."""
    rows = []
    for method in args.methods:
        reference = None if args.no_cpu_reference or args.device == "cpu" else train_once(method, "cpu", "fp32", True, data)
        for precision in args.precisions:
            for flag in args.flags:
                a = train_once(method, args.device, precision, FLAGS[flag], data)
                b = train_once(method, args.device, precision, FLAGS[flag], data)
                rows.append({
                    "method": method, "device": args.device, "precision": precision, "flags": flag,
                    "identical": a["sha256"] == b["sha256"], "sha256": a["sha256"],
                    "max_abs_param_diff": _max_abs(a["params"], b["params"]),
                    "max_abs_prediction_diff": _max_abs(a["predictions"], b["predictions"]),
                    "seconds_per_epoch": [a["seconds_per_epoch"], b["seconds_per_epoch"]],
                    "rmse": a["rmse"],
                    "max_abs_prediction_diff_vs_cpu_fp32": None if reference is None
                    else _max_abs(a["predictions"], reference["predictions"]),
                })
    return rows


def environment() -> dict[str, Any]:
    """torch, CUDA, cuDNN and the GPUs this ran on (the manifest's own GPU record)."""
    import torch

    from seedbench.provenance.environment import gpu_record

    return {"torch": torch.__version__, **gpu_record(), "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as fixed-width text."""
    lines = [f"{'method':7} {'prec':5} {'flags':6} {'2 runs':10} {'max|Δparam|':>12} {'max|Δpred|':>11} "
             f"{'s/epoch':>15} {'RMSE':>7} {'vs CPU fp32':>12}"]
    for r in rows:
        vs_cpu = r["max_abs_prediction_diff_vs_cpu_fp32"]
        same = "identical" if r["identical"] else "DIFFERENT"
        if "identical_across_processes" in r:
            same += "" if r["identical_across_processes"] else "*"
        lines.append(f"{r['method']:7} {r['precision']:5} {r['flags']:6} {same:10} {r['max_abs_param_diff']:12.3g} "
                     f"{r['max_abs_prediction_diff']:11.3g} {r['seconds_per_epoch'][0]:7.3f}/{r['seconds_per_epoch'][1]:<7.3f} "
                     f"{r['rmse']:7.2f} {'—' if vs_cpu is None else format(vs_cpu, '12.3g'):>12}")
    crossed = [r["identical_across_processes"] for r in rows if "identical_across_processes" in r]
    if crossed:
        lines.append(f"across two processes: {sum(crossed)} of {len(crossed)} settings identical (* = other bits)")
    lines.append("s/epoch: first/second run; differences of predictions in cycles")
    return "\n".join(lines)


def cross_process(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Run the same settings in a fresh process and mark each row identical across processes or not."""
    argv = [sys.executable, __file__, "--params", args.params, "--prepared", args.prepared, "--epochs", str(args.epochs),
            "--device", args.device, "--no-cpu-reference", "--json", "-", "--methods", *args.methods,
            "--precisions", *args.precisions, "--flags", *args.flags]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    other = {(r["method"], r["precision"], r["flags"]): r["sha256"] for r in json.loads(proc.stdout)["rows"]}
    for r in rows:
        r["identical_across_processes"] = other[(r["method"], r["precision"], r["flags"])] == r["sha256"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require(args.device)
    data = load_data(args)
    rows = compare(args, data)
    if args.cross_process:
        cross_process(args, rows)
    report = {"environment": environment(), "epochs": args.epochs, "rows": rows}
    if args.json == "-":
        print(json.dumps(report, default=str))
        return 0
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, default=str)
    env = report["environment"]
    gpus = ", ".join(g["name"] for g in env.get("gpus") or []) or "no GPU"
    print(f"torch {env['torch']}, CUDA {env['cuda_version']}, cuDNN {env['cudnn_version']}, driver {env['driver']}, "
          f"{gpus}; {args.epochs} epochs, FD001 from {args.prepared}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    from seedbench.core.errors import SeedbenchError

    try:
        sys.exit(main())
    except SeedbenchError as exc:  # a missing prepared folder, a bad params file: one line
        print(f"cuda_determinism: error: {exc}", file=sys.stderr)
        sys.exit(2)
