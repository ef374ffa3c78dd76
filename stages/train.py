"""DVC stage `train@<dataset>-<method>-<rep>`: one model, one replicate → model.pt, predictions.csv, results.json, dvclive/."""

from __future__ import annotations

from seedbench.core.edge import one_line_interrupts

one_line_interrupts("train")  # a Ctrl-C while torch imports (a second or more): one line too

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from seedbench.core.edge import run_user_errors_as_messages  # noqa: E402
from seedbench.core.files import atomic_write_bytes, staged_outputs, write_json  # noqa: E402
from seedbench.core.names import (  # noqa: E402
    LIVE_DIRNAME,
    MANIFEST_FILENAME,
    MODEL_FILENAME,
    PREDICTIONS_FILENAME,
    PREPARED_DIR,
    RESULTS_FILENAME,
    STAGE_ENV_VAR,
    VOLATILE_FILENAME,
    item_of_stage,
    methods_dir_of,
    run_dir,
)
from seedbench.core.params import load_params  # noqa: E402
from seedbench.core.seeds import STREAM_VALIDATION_SPLIT, generator, run_seeds  # noqa: E402
from seedbench.core.stagetiming import timed_stage  # noqa: E402
from seedbench.data import preparation, splits  # noqa: E402
from seedbench.determinism.modes import require_mode_environment, startup_environment  # noqa: E402
from seedbench.determinism.seeding import set_global_seeds, set_torch_threads  # noqa: E402
from seedbench.provenance.environment import cpu_flags_summary  # noqa: E402
from seedbench.provenance.manifest import write_manifest  # noqa: E402
from seedbench.provenance.runmanifest import run_manifest, volatile_record  # noqa: E402
from seedbench.provenance.volatile import experiment_from_environ, write_volatile  # noqa: E402
from seedbench.results.predictions import Predictions, write_predictions  # noqa: E402
from seedbench.results.record import build_results  # noqa: E402
from seedbench.training.live import EpochLogger  # noqa: E402

TRAIN_OUTPUTS = (MODEL_FILENAME, PREDICTIONS_FILENAME, RESULTS_FILENAME, LIVE_DIRNAME, MANIFEST_FILENAME, VOLATILE_FILENAME)
"""What one run writes into its folder, all or nothing (results.json: its metrics; the bootstrap interval is aggregate's)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    # Under DVC the run comes from the stage's name ($DVC_STAGE), never from interpolated command text.
    parser.add_argument("--stage", default=os.environ.get(STAGE_ENV_VAR), help="e.g. train@FD001-mlp-0 (default: $DVC_STAGE)")
    parser.add_argument("--dataset", help="by hand: the run's dataset (with --method and --replicate, instead of --stage)")
    parser.add_argument("--method")
    parser.add_argument("--replicate", type=int)
    parser.add_argument("--prepared", help="folder with train.npz, test.npz, prepare.json (default: data/prepared/<dataset>)")
    parser.add_argument("--out", help="run folder (default: runs/<dataset>/<method>/rep_<r>)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = load_params(args.params, methods_dir_of(__file__))
    if args.dataset is None:
        args.dataset, args.method, args.replicate = item_of_stage(args.stage, "train", params.runs())
    args.prepared = args.prepared or f"{PREPARED_DIR}/{args.dataset}"
    args.out = args.out or run_dir((args.dataset, args.method, args.replicate))
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
    from seedbench.training.methods import load_method
    from seedbench.training.placement import Placement
    # Every output is written into `staging` and renamed into args.out only when all were written: a failure
    # anywhere (training, predictions, manifest) leaves the run folder as it was.
    with timed_stage(f"train@{args.dataset}-{args.method}-{args.replicate}"), \
            staged_outputs(args.out, TRAIN_OUTPUTS) as staging:  # timed: the stage's own work, for $SEEDBENCH_TIMINGS
        hparams = params.train.hparams(args.method)
        method = load_method(args.method, methods_dir_of(__file__))  # methods/<method>.py, a dep of this stage in dvc.yaml
        seeds = run_seeds(params.seed, args.replicate)
        threads = set_torch_threads(params.train.torch_threads)
        # train.device: cuda without a GPU is refused here, before any data is read or anything trained
        determinism = set_global_seeds(seeds["seed"], deterministic=params.train.deterministic, warn_only=params.train.warn_only,
                                       determinism=params.train.determinism, device=params.train.device,
                                       precision=params.train.precision)
        data = preparation.load_prepared(args.prepared)
        split_rng = generator(params.seed, STREAM_VALIDATION_SPLIT, args.replicate)
        train_units, val_units = splits.split_units(data.train.unit, params.train.val_fraction, split_rng)
        leakage = splits.check_no_leakage(train_units, val_units, data.test.unit)

        label = f"train {args.dataset}/{args.method}/rep_{args.replicate}"
        with EpochLogger(
            staging / LIVE_DIRNAME, label=label, max_epochs=hparams.get("max_epochs")
        ) as on_epoch:
            outcome = train_model(
                method, select_units(data.train, train_units), select_units(data.train, val_units),
                hparams=hparams, seed=seeds["seed"], data_order_seed=seeds["data_order_seed"],
                num_workers=params.train.num_workers, on_epoch=on_epoch, determinism=params.train.determinism,
                placement=Placement(params.train.device, params.train.precision),
            )
        atomic_write_bytes(staging / MODEL_FILENAME, model_bytes(outcome.model))
        predictions = Predictions(data.test.unit, data.test.y.astype("float64"), test_predictions(outcome, data.test.X))
        write_predictions(staging / PREDICTIONS_FILENAME, predictions)
        # metrics only: no stats.* param (the per-run interval is aggregate's), so changing stats.* retrains nothing
        results = build_results(predictions, dataset=args.dataset, method=args.method, replicate=args.replicate,
                                experiment_seed=params.seed)
        write_json(staging / RESULTS_FILENAME, results)

        manifest = run_manifest(
            dataset=args.dataset, method=args.method, replicate=args.replicate, params=params, seeds=seeds,
            determinism=determinism, torch_threads=threads, leakage=leakage, training_summary=outcome.summary(),
            data_hashes=data.raw_sha256, prepared_dir=args.prepared,
        )
        write_manifest(manifest, staging)  # deterministic: a DVC out, restored with the results by the run-cache
        write_volatile(volatile_record(manifest, kind="run", wall_clock_seconds=time.perf_counter() - started,
                                       experiment=experiment_from_environ(os.environ)), staging)
        status = "DIVERGED (predictions are NaN)" if outcome.diverged else f"best epoch {outcome.best_epoch}"
        test_rmse = results["metrics"]["rmse"]
        status += "" if test_rmse is None else f", test rmse {test_rmse:.3f}"
        print(f"{label}: {status}, {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="train"))
