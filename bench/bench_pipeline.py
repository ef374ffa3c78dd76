"""The whole pipeline, end to end: wall time, bookkeeping overhead, peak memory per stage.

Usage (from the repository root; the numbers in BENCHMARKS.md come from these commands)::

    .venv/bin/python bench/bench_pipeline.py --profile params.yaml --repeats 5 --out /tmp/pipeline-default.json
    .venv/bin/python bench/bench_pipeline.py --profile profiles/tiny.yaml --repeats 5 --out /tmp/pipeline-tiny.json

The working tree is committed once into a scratch repository with the profile
as its ``params.yaml`` (``bench/scratch.py``); each repeat is a fresh ``git
clone`` of it with an empty DVC cache, running ``dvc repro`` (fetch, prepare,
every run, aggregate, publish) from a warm environment (venv installed, files
in the page cache). ``PYTHONPATH`` points at the snapshot's ``src/``, so edits
to this checkout while it runs do not leak in.

Every stage appends its own timing to ``$SEEDBENCH_TIMINGS``
(``seedbench.core.stagetiming``): ``compute_s`` is the stage's work (after its
imports), ``process_s`` its process's age at the end (interpreter start,
imports and work), ``peak_rss_bytes`` its peak memory. From those, per repeat:

- **bookkeeping ratio** = ``dvc repro`` wall time ÷ Σ ``compute_s`` (goal ≤ 1.15);
- **interpreter + imports** = Σ (``process_s`` − ``compute_s``);
- **DVC's own time** = wall − Σ ``process_s`` (hashing, lock files, cache
  links, starting each stage's shell);
- the stage with the largest peak RSS (goal ≤ 2 GiB).

Every repeat's ``dvc.lock`` is compared byte for byte with the first one.
Medians over repeats; the per-stage-kind table (fetch, prepare, train per
method, aggregate, publish) is from the median repeat.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from scratch import ROOT, bench_env, loadavg, sh, snapshot

sys.path.insert(0, str(ROOT / "src"))
from seedbench.core.stagetiming import TIMINGS_ENV, read_timings  # noqa: E402
from seedbench.provenance.environment import cpu_model  # noqa: E402

GIB = 1024**3


def stage_kind(stage: str) -> str:
    """``train@FD001-mlp-3`` → ``train mlp``; ``prepare@FD001`` → ``prepare``; a single stage → its name."""
    name, _, item = stage.partition("@")
    if name == "train":
        return f"train {item.split('-')[1]}"
    return name


def summarise_repeat(wall_s: float, timings: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one ``dvc repro`` from its wall time and its stages' timing records."""
    compute = sum(t["compute_s"] for t in timings)
    process = sum(t["process_s"] for t in timings if t["process_s"] is not None)
    largest = max(timings, key=lambda t: t["peak_rss_bytes"])
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "compute_s": 0.0, "process_s": 0.0, "peak_rss_bytes": 0})
    for t in timings:
        k = kinds[stage_kind(t["stage"])]
        k["n"] += 1
        k["compute_s"] += t["compute_s"]
        k["process_s"] += t["process_s"] or 0.0
        k["peak_rss_bytes"] = max(k["peak_rss_bytes"], t["peak_rss_bytes"])
    return {
        "wall_s": round(wall_s, 2), "stages": len(timings), "compute_s": round(compute, 2),
        "process_s": round(process, 2), "interpreter_and_imports_s": round(process - compute, 2),
        "dvc_own_s": round(wall_s - process, 2), "bookkeeping_ratio": round(wall_s / compute, 3),
        "largest_stage": largest["stage"], "largest_peak_rss_bytes": largest["peak_rss_bytes"],
        "by_kind": {name: {k: round(v, 2) if isinstance(v, float) else v for k, v in fig.items()}
                    for name, fig in sorted(kinds.items())},
    }


def run_once(source: Path, work: Path, i: int, env: dict[str, str],
             command: list[str]) -> tuple[dict[str, Any], bytes]:
    clone = work / f"run-{i}"
    sh(["git", "clone", "-q", str(source), str(clone)], work, env)
    timings_path = work / f"timings-{i}.jsonl"
    load_before = loadavg()
    started = time.perf_counter()
    sh(command, clone, {**env, TIMINGS_ENV: str(timings_path)})
    wall = time.perf_counter() - started
    record = summarise_repeat(wall, read_timings(timings_path))
    record.update(repeat=i, load_before=load_before, load_after=loadavg())
    lock = (clone / "dvc.lock").read_bytes()
    shutil.rmtree(clone)
    return record, lock


def markdown(summary: dict[str, Any]) -> str:
    rows = summary["runs"]
    med = summary["median_run"]
    lines = [
        "| repeat | wall (s) | Σ compute (s) | interpreter + imports (s) | DVC's own (s) | ratio | largest peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['repeat']} | {r['wall_s']} | {r['compute_s']} | {r['interpreter_and_imports_s']} | "
                     f"{r['dvc_own_s']} | {r['bookkeeping_ratio']} | {r['largest_peak_rss_bytes'] / GIB:.2f} GiB "
                     f"({r['largest_stage']}) |")
    lines.append(f"| **median** | **{summary['median_wall_s']}** | {summary['median_compute_s']} | "
                 f"{summary['median_interpreter_and_imports_s']} | {summary['median_dvc_own_s']} | "
                 f"**{summary['median_bookkeeping_ratio']}** | {summary['max_peak_rss_bytes'] / GIB:.2f} GiB |")
    lines += ["", f"Per stage kind (repeat {med['repeat']}, the median by wall time):", "",
              "| stage kind | stages | Σ compute (s) | Σ process (s) | process − compute per stage (s) | peak RSS (MiB) |",
              "|---|---|---|---|---|---|"]
    for name, k in med["by_kind"].items():
        per = (k["process_s"] - k["compute_s"]) / k["n"]
        lines.append(f"| {name} | {k['n']} | {k['compute_s']} | {k['process_s']} | {per:.2f} | "
                     f"{k['peak_rss_bytes'] / 2**20:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", type=Path, default=ROOT / "params.yaml", help="params file to run (default: params.yaml)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--command", default="dvc repro",
                        help="what builds the pipeline (default: dvc repro; e.g. 'seedbench repro -j 2')")
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (snapshot, timings)")
    args = parser.parse_args()
    if not args.profile.is_file():
        raise SystemExit(f"--profile {args.profile}: no such file")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="seedbench-bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    env = bench_env()
    source = work / "snapshot"
    source.mkdir()
    snapshot(source, env, params=args.profile.resolve())
    env["PYTHONPATH"] = str(source / "src")

    runs: list[dict[str, Any]] = []
    reference_lock: bytes | None = None
    for i in range(args.repeats):
        record, lock = run_once(source, work, i, env, args.command.split())
        reference_lock = reference_lock or lock
        record["lock_identical_to_first"] = lock == reference_lock
        runs.append(record)
        print(json.dumps({k: v for k, v in record.items() if k != "by_kind"}), flush=True)

    by_wall = sorted(runs, key=lambda r: r["wall_s"])
    summary: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "profile": str(args.profile), "repeats": args.repeats,
        "pipeline_command": args.command,
        "cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
        "dvc": subprocess.run(["dvc", "--version"], env=env, capture_output=True, text=True, check=False).stdout.strip(),
        "command": " ".join([Path(sys.executable).relative_to(ROOT).as_posix() if Path(sys.executable).is_relative_to(ROOT)
                             else sys.executable, *sys.argv]),
        **{f"median_{key}": round(statistics.median(r[key] for r in runs), 3)
           for key in ("wall_s", "compute_s", "interpreter_and_imports_s", "dvc_own_s", "bookkeeping_ratio")},
        "max_peak_rss_bytes": max(r["largest_peak_rss_bytes"] for r in runs),
        "all_locks_identical": all(r["lock_identical_to_first"] for r in runs),
        "median_run": by_wall[len(by_wall) // 2], "runs": runs,
    }
    print(f"\n{summary['date']}, {summary['cpu_count']} cores, {summary['cpu_model']}, Python {summary['python']}, "
          f"DVC {summary['dvc']}\n{summary['command']}\n")
    print(markdown(summary))
    print(f"\nall dvc.lock files identical: {summary['all_locks_identical']}")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
