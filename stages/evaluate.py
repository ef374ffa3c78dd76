"""DVC stage `evaluate@<dataset>-<method>-<rep>`: RMSE, MAE, NASA score of one run → results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import write_json
from seedbench.core.names import PREDICTIONS_FILENAME, RESULTS_FILENAME
from seedbench.core.params import load_params
from seedbench.core.stagetiming import timed_stage
from seedbench.results.predictions import read_predictions
from seedbench.results.record import build_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--replicate", type=int, required=True)
    parser.add_argument("--run", required=True, help="run folder holding predictions.csv")
    args = parser.parse_args()
    with timed_stage(f"evaluate@{args.dataset}-{args.method}-{args.replicate}"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        params = load_params(args.params)
        run_dir = Path(args.run)
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
