"""DVC stage `train@<dataset>-<method>-<rep>`: one model, one replicate → model.pt, predictions.csv, dvclive/."""

from __future__ import annotations

# cuBLAS reads CUBLAS_WORKSPACE_CONFIG when CUDA starts: set it before anything imports torch.
from seedbench.seeding import ensure_cublas_workspace_config

ensure_cublas_workspace_config()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from seedbench import cmapss  # noqa: E402
from seedbench.cli import run_user_errors_as_messages  # noqa: E402
from seedbench.files import atomic_write_bytes, staged_directory  # noqa: E402
from seedbench.live import LIVE_DIRNAME, EpochLogger  # noqa: E402
from seedbench.manifest import build_manifest, utc_now_iso, write_manifest  # noqa: E402
from seedbench.params import load_params, params_as_dict  # noqa: E402
from seedbench.predictions import Predictions, write_predictions  # noqa: E402
from seedbench.provenance import environment_record, file_sha256, git_state, gpu_record, library_versions  # noqa: E402
from seedbench.seeding import generator, run_seeds, set_global_seeds, set_torch_threads  # noqa: E402
from seedbench.training import model_bytes, select_units, test_predictions, train_model  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--replicate", type=int, required=True)
    parser.add_argument("--prepared", required=True, help="folder with train.npz, test.npz, prepare.json")
    parser.add_argument("--out", required=True, help="run folder, e.g. runs/FD001/mlp/rep_0")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = load_params(args.params)
    hparams = params.train.hparams(args.method)
    seeds = run_seeds(params.seed, args.replicate)
    threads = set_torch_threads(params.train.torch_threads)
    determinism = set_global_seeds(seeds["seed"], deterministic=params.train.deterministic, warn_only=params.train.warn_only)
    data = cmapss.load_prepared(args.prepared)
    split_rng = generator(params.seed, "validation-split", args.replicate)
    train_units, val_units = cmapss.split_units(data.train.unit, params.train.val_fraction, split_rng)
    leakage = cmapss.check_no_leakage(train_units, val_units, data.test.unit)

    out = Path(args.out)
    label = f"train {args.dataset}/{args.method}/rep_{args.replicate}"
    with staged_directory(out / LIVE_DIRNAME) as live_dir, EpochLogger(
        live_dir, label=label, max_epochs=hparams.get("max_epochs")
    ) as on_epoch:
        outcome = train_model(
            args.method, select_units(data.train, train_units), select_units(data.train, val_units),
            hparams=hparams, seed=seeds["seed"], data_order_seed=seeds["data_order_seed"],
            num_workers=params.train.num_workers, on_epoch=on_epoch,
        )
    atomic_write_bytes(out / "model.pt", model_bytes(outcome.model))
    predicted = test_predictions(outcome, data.test.X)
    write_predictions(out / "predictions.csv", Predictions(data.test.unit, data.test.y.astype("float64"), predicted))

    prepared = Path(args.prepared)
    manifest = build_manifest(
        kind="run", run_id=f"{args.dataset}-{args.method}-{args.replicate}", created_at=utc_now_iso(),
        git=git_state("."), code_versions=library_versions(), seeds=seeds,
        determinism={**determinism, "torch_threads_requested": params.train.torch_threads, "torch_threads": threads,
                     "num_workers": params.train.num_workers},
        data_hashes={(prepared / n).as_posix(): file_sha256(prepared / n) for n in ("train.npz", "test.npz", "prepare.json")},
        config={"dataset": args.dataset, "method": args.method, "replicate": args.replicate, "params": params_as_dict(params)},
        env=environment_record(), gpu=gpu_record(), wall_clock_seconds=time.perf_counter() - started,
        leakage=leakage, extra={"training": outcome.summary(), "hparams": hparams},
    )
    write_manifest(manifest, out)
    status = "DIVERGED (predictions are NaN)" if outcome.diverged else f"best epoch {outcome.best_epoch}"
    print(f"{label}: {status}, {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="train"))
