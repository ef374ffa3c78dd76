"""DVC stage `train@<dataset>-<method>-<rep>`: one model, one replicate → model.pt, predictions.csv, dvclive/."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import atomic_write_bytes, staged_directory
from seedbench.core.names import LIVE_DIRNAME, MODEL_FILENAME, PREDICTIONS_FILENAME
from seedbench.core.params import load_params
from seedbench.core.seeds import STREAM_VALIDATION_SPLIT, generator, run_seeds
from seedbench.core.stagetiming import timed_stage
from seedbench.data import cmapss
from seedbench.determinism.modes import require_mode_environment, startup_environment
from seedbench.determinism.seeding import set_global_seeds, set_torch_threads
from seedbench.provenance.environment import cpu_flags_summary
from seedbench.provenance.manifest import write_manifest
from seedbench.provenance.runmanifest import run_manifest
from seedbench.results.predictions import Predictions, write_predictions
from seedbench.training.live import EpochLogger


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--replicate", type=int, required=True)
    parser.add_argument("--prepared", required=True, help="folder with train.npz, test.npz, prepare.json")
    parser.add_argument("--out", required=True, help="run folder, e.g. runs/FD001/mlp/rep_0")
    parser.add_argument("--raw", default="data/raw", help="raw data folder (its SOURCE.json gives the manifest's data_hashes)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = load_params(args.params)
    # train.determinism: portable needs its variables from the command that started Python (seedbench.determinism.launch);
    # checked before anything imports torch, so a missing or late setting is refused rather than ignored.
    require_mode_environment(params.train.determinism, os.environ, startup_environ=startup_environment(),
                             cpu_flags=cpu_flags_summary())
    # torch is imported from here on (CUBLAS_WORKSPACE_CONFIG comes from the launcher, like the mode's variables)
    from seedbench.training.loop import (
        model_bytes,
        select_units,
        test_predictions,
        train_model,
    )
    with timed_stage(f"train@{args.dataset}-{args.method}-{args.replicate}"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        hparams = params.train.hparams(args.method)
        seeds = run_seeds(params.seed, args.replicate)
        threads = set_torch_threads(params.train.torch_threads)
        determinism = set_global_seeds(seeds["seed"], deterministic=params.train.deterministic, warn_only=params.train.warn_only,
                                       determinism=params.train.determinism)
        data = cmapss.load_prepared(args.prepared)
        split_rng = generator(params.seed, STREAM_VALIDATION_SPLIT, args.replicate)
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
                num_workers=params.train.num_workers, on_epoch=on_epoch, determinism=params.train.determinism,
            )
        atomic_write_bytes(out / MODEL_FILENAME, model_bytes(outcome.model))
        predicted = test_predictions(outcome, data.test.X)
        write_predictions(out / PREDICTIONS_FILENAME, Predictions(data.test.unit, data.test.y.astype("float64"), predicted))

        manifest = run_manifest(
            dataset=args.dataset, method=args.method, replicate=args.replicate, params=params, seeds=seeds,
            determinism=determinism, torch_threads=threads, leakage=leakage, training_summary=outcome.summary(),
            raw_dir=args.raw, prepared_dir=args.prepared, wall_clock_seconds=time.perf_counter() - started,
        )
        write_manifest(manifest, out)
        status = "DIVERGED (predictions are NaN)" if outcome.diverged else f"best epoch {outcome.best_epoch}"
        print(f"{label}: {status}, {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="train"))
