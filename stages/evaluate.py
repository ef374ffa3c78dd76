"""DVC stage `evaluate@<dataset>-<method>-<rep>`: RMSE, MAE, NASA score of one run → results.json."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import write_json
from seedbench.core.names import (
    PREDICTIONS_FILENAME,
    RESULTS_FILENAME,
    STAGE_ENV_VAR,
    item_of_stage,
    methods_dir_of,
)
from seedbench.core.names import run_dir as run_dir_of
from seedbench.core.params import load_params
from seedbench.core.stagetiming import timed_stage
from seedbench.results.predictions import read_predictions
from seedbench.results.record import build_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    # Under DVC the run comes from the stage's name ($DVC_STAGE), never from interpolated command text.
    parser.add_argument("--stage", default=os.environ.get(STAGE_ENV_VAR), help="e.g. evaluate@FD001-mlp-0 (default: $DVC_STAGE)")
    parser.add_argument("--dataset", help="by hand: the run's dataset (with --method and --replicate, instead of --stage)")
    parser.add_argument("--method")
    parser.add_argument("--replicate", type=int)
    parser.add_argument("--run", help="run folder holding predictions.csv (default: runs/<dataset>/<method>/rep_<r>)")
    args = parser.parse_args()
    params = load_params(args.params, methods_dir_of(__file__))
    if args.dataset is None:
        args.dataset, args.method, args.replicate = item_of_stage(args.stage, "evaluate", params.runs())
    with timed_stage(f"evaluate@{args.dataset}-{args.method}-{args.replicate}"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        run_dir = Path(args.run or run_dir_of((args.dataset, args.method, args.replicate)))
        results = build_results(
            read_predictions(run_dir / PREDICTIONS_FILENAME),
            dataset=args.dataset,
            method=args.method,
            replicate=args.replicate,
            experiment_seed=params.seed,
            confidence=params.stats.confidence,
            n_resamples=params.stats.n_resamples,
        )
        write_json(run_dir / RESULTS_FILENAME, results)
        metrics = results["metrics"]
        print(f"evaluate {args.dataset}/{args.method}/rep_{args.replicate}: rmse {metrics['rmse']:.3f}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="evaluate"))
