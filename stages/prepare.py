"""DVC stage `prepare@<dataset>`: labels, per-condition scaling (train only), windows."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import staged_directory
from seedbench.core.hashing import file_sha256
from seedbench.core.names import (
    PREPARED_DIR,
    RAW_DIR,
    STAGE_ENV_VAR,
    item_of_stage,
    methods_dir_of,
)
from seedbench.core.params import load_params
from seedbench.core.stagetiming import timed_stage
from seedbench.data.cmapss import read_subset
from seedbench.data.preparation import prepare_subset, save_prepared
from seedbench.data.record import raw_file_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    # Under DVC the dataset comes from the stage's name ($DVC_STAGE), never from interpolated command text.
    parser.add_argument("--stage", default=os.environ.get(STAGE_ENV_VAR), help="e.g. prepare@FD001 (default: $DVC_STAGE)")
    parser.add_argument("--dataset", help="by hand: the dataset (instead of --stage)")
    parser.add_argument("--raw", help="folder with train_/test_/RUL_<dataset>.txt (default: data/raw/<dataset>)")
    parser.add_argument("--out", help="default: data/prepared/<dataset>")
    args = parser.parse_args()
    params = load_params(args.params, methods_dir_of(__file__))
    if args.dataset is None:
        (args.dataset,) = item_of_stage(args.stage, "prepare", [(d,) for d in params.data.datasets])
    args.raw = args.raw or f"{RAW_DIR}/{args.dataset}"
    args.out = args.out or f"{PREPARED_DIR}/{args.dataset}"
    with timed_stage(f"prepare@{args.dataset}"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        subset = read_subset(args.raw, args.dataset)
        prepared = prepare_subset(
            subset,
            window=params.window(args.dataset),
            sensors=params.prepare.sensors,
            rul_cap=params.prepare.rul_cap,
            cap_test_labels=params.prepare.cap_test_labels,
        )
        # The sha256 of the bytes read here (this stage's deps): train's run manifest takes its data hashes from
        # prepare.json, so a run needs no raw folder (a cluster worker pulls only data/prepared/<dataset>).
        raw_sha256 = {f"{args.dataset}/{name}": file_sha256(os.path.join(args.raw, name)) for name in raw_file_names(args.dataset)}
        prepared = dataclasses.replace(prepared, raw_sha256=raw_sha256)
        with staged_directory(args.out) as staging:
            save_prepared(prepared, staging)
        print(
            f"prepare {args.dataset}: {len(prepared.train.y)} train windows, {len(prepared.test.y)} test units, "
            f"window {prepared.window}, {len(prepared.features)} features",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="prepare"))
