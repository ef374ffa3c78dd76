"""Wall time of the whole pipeline: sequential `dvc repro` against `seedbench repro -j N`.

Usage (from the repository root, venv active)::

    python bench/bench_parallel.py --repeats 3 --jobs 2 --out /tmp/bench_parallel.json

The current working tree (tracked + untracked-not-ignored files, with its
params.yaml: the default profile unless you changed it) is committed once into
a scratch repository; every timed run starts from a fresh ``git clone`` of it
with an empty DVC cache, so both contenders do the same work (fetch, prepare,
every run, aggregate, publish). Runs alternate (seq, par, seq, par, …) so that
a change in the machine's load hits both. ``PYTHONPATH`` points at the
snapshot's ``src/``, so edits made to this checkout while the benchmark runs
do not leak into it. After each parallel run its ``dvc.lock`` is compared byte
for byte with the sequential one: the speed-up must not change a result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from scratch import bench_env, loadavg, sh, snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (snapshot, dvc.lock of every run)")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="seedbench-bench-parallel-"))
    work.mkdir(parents=True, exist_ok=True)
    env = bench_env()
    source = work / "snapshot"
    source.mkdir()
    snapshot(source, env)
    env["PYTHONPATH"] = str(source / "src")

    runs: list[dict[str, object]] = []
    reference_lock: bytes | None = None
    for i in range(args.repeats):
        for kind in ("sequential", "parallel"):
            clone = work / f"{kind}-{i}"
            sh(["git", "clone", "-q", str(source), str(clone)], work, env)
            command = ["dvc", "repro"] if kind == "sequential" else ["seedbench", "repro", "-j", str(args.jobs)]
            load_before = loadavg()
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            sh(command, clone, env)
            seconds = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
            lock = (clone / "dvc.lock").read_bytes()
            (work / f"dvc.lock.{kind}-{i}").write_bytes(lock)  # kept with --keep for a diff
            reference_lock = reference_lock or lock
            record = {"kind": kind, "repeat": i, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                      "load_before": load_before,
                      "load_after": loadavg(), "lock_identical_to_first": lock == reference_lock}
            runs.append(record)
            print(json.dumps(record), flush=True)
            shutil.rmtree(clone)

    seq = [r["seconds"] for r in runs if r["kind"] == "sequential"]
    seq_cpu = [r["cpu_seconds"] for r in runs if r["kind"] == "sequential"]
    par_cpu = [r["cpu_seconds"] for r in runs if r["kind"] == "parallel"]
    par = [r["seconds"] for r in runs if r["kind"] == "parallel"]
    summary = {
        "jobs": args.jobs, "repeats": args.repeats, "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "median_sequential_s": statistics.median(seq), "median_parallel_s": statistics.median(par),
        "speedup_of_medians": round(statistics.median(seq) / statistics.median(par), 3),
        "median_sequential_cpu_s": statistics.median(seq_cpu), "median_parallel_cpu_s": statistics.median(par_cpu),
        "all_locks_identical": all(r["lock_identical_to_first"] for r in runs), "runs": runs,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
