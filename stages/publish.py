"""DVC stage `publish`: Croissant descriptions, the checklist, and the experiment manifest.

Writes publish/croissant/<dataset>.json, publish/CHECKLIST.md and publish/manifest.json (deterministic
DVC outs) and publish/volatile.json (times, host, git state: neither git- nor DVC-tracked).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import atomic_write_text, read_json, staged_outputs
from seedbench.core.names import MANIFEST_FILENAME, VOLATILE_FILENAME, methods_dir_of
from seedbench.core.params import load_params, params_as_dict
from seedbench.core.stagetiming import timed_stage
from seedbench.data.record import data_hashes, read_source_record
from seedbench.provenance.dvclock import (
    DVC_LOCK,
    DVC_YAML,
    code_hashes,
    pipeline_code_deps,
    read_yaml,
    stage_lock_record,
)
from seedbench.provenance.environment import environment_record, library_versions
from seedbench.provenance.manifest import build_manifest, config_hash, write_manifest
from seedbench.provenance.runmanifest import volatile_record
from seedbench.provenance.volatile import experiment_from_environ, write_volatile
from seedbench.publishing.checklist import checklist_markdown
from seedbench.publishing.croissant import PublishInfo, write_croissant_files
from seedbench.publishing.experiment import (
    experiment_seeds,
    leakage_summary,
    merged_determinism,
    merged_gpu_record,
    read_run_intervals,
    read_run_manifests,
    run_entries,
    run_keys,
    training_seconds,
)

PUBLISH_OUTPUTS = ("croissant", "CHECKLIST.md", MANIFEST_FILENAME, VOLATILE_FILENAME)
"""What the stage writes into --out, all or nothing."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--reports", default="reports")
    parser.add_argument("--out", default="publish")
    args = parser.parse_args()
    # Every file is written into `staging` and renamed into --out only when all were written (paths recorded in
    # the manifest name --out): a failure half-way leaves the previous publish/ untouched.
    with timed_stage("publish"), staged_outputs(args.out, PUBLISH_OUTPUTS) as staging:  # timed: for $SEEDBENCH_TIMINGS
        params = load_params(args.params, methods_dir_of(__file__))
        config = params_as_dict(params)
        out = Path(args.out)
        p = params.publish
        croissant = write_croissant_files(args.raw, out / "croissant", PublishInfo(p.date_published, p.version, p.url, p.creator),
                                          write_to=staging / "croissant")
        seeds, hashes = experiment_seeds(params), data_hashes(args.raw)
        checklist = checklist_markdown(
            params, seeds=seeds, data_hashes=hashes, config_hash=config_hash(config),
            summary=read_json(Path(args.reports) / "summary.json"), source=str(read_source_record(args.raw).get("source")),
        )
        atomic_write_text(staging / "CHECKLIST.md", checklist)

        keys = run_keys(params)
        run_manifests = read_run_manifests(Path(args.runs), keys)
        lock = read_yaml(DVC_LOCK) if Path(DVC_LOCK).is_file() else {}
        intervals = read_run_intervals(Path(args.reports), Path(args.runs), keys, params.seed)  # aggregate's, per run
        runs = run_entries(Path(args.runs), keys, run_manifests, lock, intervals)
        manifest = build_manifest(
            kind="experiment", run_id=f"experiment-seed{params.seed}", code_hashes=code_hashes(".", pipeline_code_deps(read_yaml(DVC_YAML))),
            code_versions=library_versions(), seeds=seeds, determinism=merged_determinism(run_manifests),
            data_hashes=hashes, config=config, env=environment_record(), gpu=merged_gpu_record(run_manifests),
            leakage=leakage_summary(run_manifests), dvc_lock=stage_lock_record(".", "publish", config), runs=runs,
            extra={"croissant": [c.as_posix() for c in croissant], "checklist": (out / "CHECKLIST.md").as_posix()},
        )
        write_manifest(manifest, staging)  # deterministic: a DVC out (travels with dvc exp push, checkout)
        write_volatile(volatile_record(manifest, kind="experiment",
                                       wall_clock_seconds=training_seconds(Path(args.runs), keys, run_manifests),
                                       experiment=experiment_from_environ(os.environ)), staging)
        stale = [r["run_id"] for r in runs if r["dvc_lock_matches_run_manifest"] is False]
        note = f"; run manifests older than dvc.lock: {', '.join(stale)}" if stale else ""
        print(f"publish: {out / MANIFEST_FILENAME}, {len(croissant)} Croissant file(s), {out / 'CHECKLIST.md'} ({len(runs)} runs{note})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="publish"))
