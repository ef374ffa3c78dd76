"""Benchmark: bookkeeping of ``seedbench repro`` (the Dask executor) as the matrix grows, against ``dvc repro``.

Usage (the numbers in BENCHMARKS.md come from this exact command, run from the repository root)::

    .venv/bin/python bench/bench_cluster.py --sizes 100 200 400 --jobs 1 2 --dvc-sizes 100 200 --json /tmp/bench_cluster.json

For each size, a scratch repository with the generated matrix of ``bench/bench_noop.py`` (10
methods × size/10 seeds of a trivially cheap ``python train.py`` — what is left is bookkeeping — and
one ``aggregate``) is built from nothing, once per executor:

- ``seedbench repro -j J`` (``seedbench.ops.cluster.driver.repro``, a local Dask cluster of J
  single-threaded workers; the run's wall time includes starting the cluster), reported with its
  steps: upstream (dvc status), the tasks, the merge (one ``dvc.lock`` write, object checks,
  ``dvc checkout``, ``dvc status``), downstream (``dvc repro`` of aggregate);
- ``dvc repro`` (``--dvc-sizes``), the reference: it rewrites the whole ``dvc.lock`` after every
  stage.

After each build ``dvc status`` must be clean and ``dvc.lock`` must hold every stage; the
executor's lock must equal ``dvc repro``'s where both ran. Per-run overhead = wall ÷ runs; "linear"
means it stays roughly constant as the matrix grows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_noop import write_matrix_repo
from scratch import ROOT, bench_env, loadavg, sh

sys.path.insert(0, str(ROOT / "src"))
from seedbench.ops.cluster.driver import repro  # noqa: E402
from seedbench.provenance.environment import cpu_model  # noqa: E402

N_METHODS = 10


def build_with_seedbench(path: Path, jobs: int, env: dict[str, str]) -> dict[str, Any]:
    lines: list[str] = []
    load = loadavg()
    started = time.perf_counter()
    report = repro(path, jobs=jobs, torch_threads=1, cores=os.cpu_count(), env=env, echo=lines.append)
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 2), "upstream_s": round(report.upstream_seconds, 2),
            "tasks_s": round(report.parallel_seconds, 2), "merge_s": round(report.merge_seconds, 2),
            "downstream_s": round(report.downstream_seconds, 2), "warm_runs": report.warm_runs,
            "load_before": load, "load_after": loadavg()}


def build_with_dvc(path: Path, env: dict[str, str]) -> dict[str, Any]:
    load = loadavg()
    started = time.perf_counter()
    sh(["dvc", "repro"], path, env)
    return {"wall_s": round(time.perf_counter() - started, 2), "load_before": load, "load_after": loadavg()}


def check_built(path: Path, stages: int, env: dict[str, str]) -> bytes:
    status = sh(["dvc", "status"], path, env).stdout
    if "Data and pipelines are up to date." not in status:
        raise SystemExit(f"{path}: dvc status is not clean after the build:\n{status[-2000:]}")
    lock = (path / "dvc.lock").read_bytes()
    import yaml

    locked = len(yaml.safe_load(lock)["stages"])
    if locked != stages:
        raise SystemExit(f"{path}: dvc.lock holds {locked} stages, expected {stages}")
    return lock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400], help="runs in the matrix")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="local cluster sizes")
    parser.add_argument("--dvc-sizes", type=int, nargs="*", default=[100, 200], help="sizes also built by dvc repro")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    env = bench_env()
    work = Path(tempfile.mkdtemp(prefix="seedbench-bench-cluster-"))
    rows: list[dict[str, Any]] = []
    try:
        for size in args.sizes:
            locks: dict[str, bytes] = {}
            builds = [("dvc repro", None)] if size in args.dvc_sizes else []
            builds += [(f"seedbench repro -j {j}", j) for j in args.jobs]
            for name, jobs in builds:
                path = work / f"m{size}-{jobs or 'dvc'}"
                write_matrix_repo(path, N_METHODS, size // N_METHODS, env)
                print(f"{size} runs: {name} …", file=sys.stderr, flush=True)
                record = build_with_dvc(path, env) if jobs is None else build_with_seedbench(path, jobs, env)
                locks[name] = check_built(path, size + 1, env)
                record.update(size=size, executor=name, per_run_s=round(record["wall_s"] / size, 3))
                rows.append(record)
                print(json.dumps(record), flush=True)
                shutil.rmtree(path)
            first = next(iter(locks.values()))
            for name, lock in locks.items():
                if lock != first:
                    raise SystemExit(f"{size} runs: {name}'s dvc.lock differs from {next(iter(locks))}'s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}; "
          f"{subprocess.run(['dvc', '--version'], env=env, capture_output=True, text=True, check=False).stdout.strip()}")
    print("\n| runs | executor | wall (s) | per run (s) | tasks (s) | merge (s) | upstream + downstream (s) | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        steps = (f"{r['tasks_s']} | {r['merge_s']} | {round(r['upstream_s'] + r['downstream_s'], 2)}"
                 if "tasks_s" in r else "— | — | —")
        print(f"| {r['size']} | {r['executor']} | {r['wall_s']} | {r['per_run_s']} | {steps} | "
              f"{r['load_before']}→{r['load_after']} |")
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
