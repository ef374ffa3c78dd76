"""DVC stage `fetch`: raw data into data/raw/ with the sha256 of every file in SOURCE.json.

The source is `data.source` in params.yaml: `builtin` (simulator), `local` (a CMAPSSData folder)
or `hf` (a Hugging Face Hub repository; the token, if any, comes from HF_TOKEN and is never recorded).
"""

from __future__ import annotations

import argparse
import sys

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import staged_directory
from seedbench.core.names import methods_dir_of
from seedbench.core.params import load_params
from seedbench.core.stagetiming import timed_stage
from seedbench.data.record import write_source_record
from seedbench.data.sources import fetch_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/raw")
    args = parser.parse_args()
    with timed_stage("fetch"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        data = load_params(args.params, methods_dir_of(__file__)).data
        with staged_directory(args.out) as staging:  # data/raw is replaced only if everything succeeds
            files, details = fetch_source(data, staging)
            write_source_record(staging, data.source, files, details)
        for warning in details.get("warnings", []):
            print(f"fetch: warning: {warning}", file=sys.stderr)
        print(f"fetch: {len(files)} raw files from source '{data.source}' into {args.out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="fetch"))
