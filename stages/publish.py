"""DVC stage `publish`: the experiment-level manifest (publish/manifest.json)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from seedbench.cli import run_user_errors_as_messages
from seedbench.manifest import build_manifest, utc_now_iso, write_manifest
from seedbench.params import load_params, params_as_dict
from seedbench.provenance import environment_record, git_state, library_versions
from seedbench.publish import experiment_seeds, read_run_manifests, run_keys
from seedbench.sources import data_hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="publish")
    args = parser.parse_args()

    started = time.perf_counter()
    params = load_params(args.params)
    keys = run_keys(params)
    runs = read_run_manifests(Path(args.runs), keys)
    manifest = build_manifest(
        kind="experiment",
        run_id=f"experiment-seed{params.seed}",
        created_at=utc_now_iso(),
        git=git_state("."),
        code_versions=library_versions(),
        seeds=experiment_seeds(params),
        determinism={"runs": {r["run_id"]: r.get("determinism") for r in runs}},
        data_hashes=data_hashes(args.raw),
        config=params_as_dict(params),
        env=environment_record(),
        wall_clock_seconds=time.perf_counter() - started,
        extra={"runs": runs, "training_wall_clock_seconds": sum(r.get("wall_clock_seconds") or 0.0 for r in runs)},
    )
    path = write_manifest(manifest, args.out)
    print(f"publish: {path} ({len(runs)} runs)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="publish"))
