"""DVC stage `prepare@<dataset>`: labels, per-condition scaling (train only), windows."""

from __future__ import annotations

import argparse
import sys

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import staged_directory
from seedbench.core.params import load_params
from seedbench.core.stagetiming import timed_stage
from seedbench.data.cmapss import read_subset
from seedbench.data.preparation import prepare_subset, save_prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--raw", required=True, help="folder with train_/test_/RUL_<dataset>.txt")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with timed_stage(f"prepare@{args.dataset}"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        params = load_params(args.params)
        subset = read_subset(args.raw, args.dataset)
        prepared = prepare_subset(
            subset,
            window=params.window(args.dataset),
            sensors=params.prepare.sensors,
            rul_cap=params.prepare.rul_cap,
            cap_test_labels=params.prepare.cap_test_labels,
        )
        with staged_directory(args.out) as staging:
            save_prepared(prepared, staging)
        print(
            f"prepare {args.dataset}: {len(prepared.train.y)} train windows, {len(prepared.test.y)} test units, "
            f"window {prepared.window}, {len(prepared.features)} features",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="prepare"))
