"""Benchmark: no-op ``dvc repro`` and ``dvc status`` with everything cached (goals ≤ 3 s on the
default DAG, ≤ 10 s on a 500-stage matrix), and how their time grows from 50 to 500 stages.

Usage (the numbers in BENCHMARKS.md come from this exact command, run from the repository root
of a checkout where ``dvc repro`` has been run and ``dvc status`` is clean)::

    .venv/bin/python bench/bench_noop.py --repo . --repeats 7 --sizes 50 100 200 500 --json /tmp/bench_noop.json

Without ``--repo`` part 1 first ``git clone``s this repository's HEAD into a temporary folder and
runs ``dvc repro`` there (the whole default pipeline: minutes; the build time is reported, not
part of the figures).

Every timing is one fresh ``dvc`` process (the venv's ``dvc`` next to this interpreter), started
as a user would start it, wall-clock from ``subprocess.run`` to its exit, so it includes the
interpreter start-up and DVC's imports. ``DVC_NO_ANALYTICS=1`` is set, so no analytics process
is started; the venv's ``bin/`` goes first on ``PATH`` (stage commands call ``python``).
Each command runs once untimed first (warm page cache, DVC's state database of file hashes),
then ``--repeats`` times, ``dvc repro`` and ``dvc status`` alternating; medians, min and max.
Every run is checked to be a real no-op: ``dvc repro`` must say "Data and pipelines are up to
date.", skip every stage and leave ``dvc.lock`` byte-identical; ``dvc status`` must say the
same and nothing else.

Part 1, the default DAG (``--repo``, default: a fresh clone, built first): the repository's own
pipeline (fetch, prepare, train, aggregate, publish). Its ``dvc status`` must be clean
before anything runs, so a timed ``dvc repro`` never runs a stage; nothing in the repository is
written except DVC's own ``.dvc/tmp`` (locks) and its site cache.

Part 2, a generated matrix (``--sizes``, stage counts; ``--methods`` of them per seed): for each
size, a scratch repository (``git init`` + ``dvc init``) with a ``params.yaml`` (``seed``, the
method and seed lists, ``train.<method>.lr``) and a ``dvc.yaml`` shaped like ours: one
``train`` matrix stage (method × seed), each a ``python train.py`` that reads ``params.yaml`` and
writes one small JSON file, with a code dep (``train.py``, shared), two params
(``seed``, ``train.<method>``) and one out (``out/<method>/<seed>.json``); plus one
``aggregate`` stage depending on the whole ``out`` folder (like our ``aggregate`` on ``runs``).
Total stages = size + 1. The first ``dvc repro`` (building every stage) is timed once and
reported separately. The timed no-op runs then interleave the sizes (rotating their order each
repeat), so that a slow spell of a shared machine hits every size alike. As a fixed-cost
reference, ``dvc status`` is also timed in a repository with no pipeline at all.

Growth: per size the time per stage, the marginal cost per extra stage between consecutive
sizes (constant = linear; rising = worse than linear), the least-squares line
t = a + b·n, and the log-log slope d log t / d log n, of the raw times and of the times minus
the no-pipeline start-up (1 = linear, 2 = quadratic); the ratio t(largest) / t(smallest) is
printed next to the stage ratio (10 for 50 → 500).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from scratch import ROOT, bench_env, sh

from seedbench.provenance.environment import cpu_model

UP_TO_DATE = "Data and pipelines are up to date."
GOAL_DAG_S = 3.0
GOAL_MATRIX_S = 10.0
GOAL_MATRIX_STAGES = 500

TRAIN_PY = '''\
"""One trivially cheap training run: read this method's params, write one small result file."""
import argparse
import json
import random
from pathlib import Path

import yaml

parser = argparse.ArgumentParser()
parser.add_argument("--method", required=True)
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
params = yaml.safe_load(Path("params.yaml").read_text())
rng = random.Random(params["seed"] * 1_000_003 + args.seed)
result = {"method": args.method, "seed": args.seed, "lr": params["train"][args.method]["lr"],
          "rmse": round(20 + rng.random(), 6)}
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
Path(args.out).write_text(json.dumps(result, sort_keys=True) + "\\n")
'''

AGGREGATE_PY = '''\
"""Mean RMSE per method over every result file."""
import json
from collections import defaultdict
from pathlib import Path

rmse = defaultdict(list)
for path in sorted(Path("out").glob("*/*.json")):
    result = json.loads(path.read_text())
    rmse[result["method"]].append(result["rmse"])
summary = {m: {"n": len(v), "mean_rmse": sum(v) / len(v)} for m, v in sorted(rmse.items())}
Path("summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\\n")
'''

DVC_YAML = """\
stages:
  train:
    matrix:
      method: ${methods}
      seed: ${seeds}
    cmd: python train.py --method ${item.method} --seed ${item.seed} --out out/${item.method}/${item.seed}.json
    deps:
      - train.py
    params:
      - seed
      - train.${item.method}
    outs:
      - out/${item.method}/${item.seed}.json

  aggregate:
    cmd: python aggregate.py
    deps:
      - aggregate.py
      - out
    outs:
      - summary.json
"""


@dataclass
class Timings:
    """Wall-clock seconds of the timed runs of one command, plus its untimed warm-up run."""

    warmup: float = math.nan
    runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict[str, object]:
        return {"warmup_s": round(self.warmup, 4), "runs_s": [round(t, 4) for t in self.runs],
                "median_s": round(self.median, 4), "min_s": round(min(self.runs), 4),
                "max_s": round(max(self.runs), 4)}


@dataclass
class Pipeline:
    """One repository under test and the figures measured on it."""

    name: str
    path: Path
    stages: int = 0
    build_s: float | None = None
    repro: Timings = field(default_factory=Timings)
    status: Timings = field(default_factory=Timings)


def dvc_command() -> list[str]:
    """The venv's ``dvc`` script next to this interpreter, else ``python -m dvc``."""
    script = Path(sys.executable).parent / "dvc"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dvc"]


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall-clock seconds of one command and its stdout + stderr."""
    start = time.perf_counter()
    done = sh(args, cwd, env)
    return time.perf_counter() - start, done.stdout + done.stderr


def file_md5(path: Path) -> str | None:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None


def check_status_clean(output: str, where: Path) -> None:
    if output.strip() != UP_TO_DATE:
        raise SystemExit(f"`dvc status` in {where} is not clean (run `dvc repro` there first):\n{output[-3000:]}")


def check_repro_noop(output: str, where: Path, lock_before: str | None) -> int:
    """Raise unless ``dvc repro`` ran nothing; return the number of stages it skipped."""
    ran = [line for line in output.splitlines() if line.startswith("Running stage")]
    if ran or UP_TO_DATE not in output:
        raise SystemExit(f"`dvc repro` in {where} was not a no-op ({len(ran)} stages ran):\n{output[-3000:]}")
    if file_md5(where / "dvc.lock") != lock_before:
        raise SystemExit(f"`dvc repro` in {where} changed dvc.lock")
    return sum(1 for line in output.splitlines() if line.endswith("didn't change, skipping"))


def run_noop(pipe: Pipeline, env: dict[str, str], warmup: bool) -> None:
    """One `dvc repro` and one `dvc status` on ``pipe``, checked to be no-ops; warm-up or timed."""
    dvc = dvc_command()
    lock = file_md5(pipe.path / "dvc.lock")
    seconds, output = timed(dvc + ["repro"], pipe.path, env)
    skipped = check_repro_noop(output, pipe.path, lock)
    if pipe.stages and skipped != pipe.stages:
        raise SystemExit(f"{pipe.name}: `dvc repro` skipped {skipped} stages, expected {pipe.stages}")
    pipe.stages = skipped
    if warmup:
        pipe.repro.warmup = seconds
    else:
        pipe.repro.runs.append(seconds)
    seconds, output = timed(dvc + ["status"], pipe.path, env)
    check_status_clean(output, pipe.path)
    if warmup:
        pipe.status.warmup = seconds
    else:
        pipe.status.runs.append(seconds)


def clone_and_build(work: Path, env: dict[str, str]) -> Pipeline:
    """A fresh clone of this repository's HEAD, fully reproduced (its build time recorded)."""
    clone = work / "default-dag"
    sh(["git", "clone", "-q", str(ROOT), str(clone)], work, env)
    build_env = dict(env, PYTHONPATH=str(clone / "src"))  # the clone's code, not this checkout's
    print(f"part 1: building the default DAG in {clone} (dvc repro, takes minutes) …", file=sys.stderr, flush=True)
    seconds, _ = timed(dvc_command() + ["repro"], clone, build_env)
    return Pipeline("default DAG (fresh clone)", clone, build_s=seconds)


def existing_repo(path: Path, env: dict[str, str]) -> Pipeline:
    """An existing checkout, refused unless its pipeline is fully reproduced (so repro runs nothing)."""
    path = path.resolve()
    if not (path / "dvc.yaml").is_file():
        raise SystemExit(f"--repo {path}: no dvc.yaml there")
    _, output = timed(dvc_command() + ["status"], path, env)
    check_status_clean(output, path)
    return Pipeline(f"default DAG ({path})", path)


def write_matrix_repo(path: Path, n_methods: int, n_seeds: int, env: dict[str, str]) -> None:
    """A scratch DVC repository with an ``n_methods`` × ``n_seeds`` train matrix and one aggregate."""
    path.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], path, env)
    sh(dvc_command() + ["init", "-q"], path, env)
    methods = [f"m{i:02d}" for i in range(n_methods)]
    params = {"seed": 42, "methods": methods, "seeds": list(range(n_seeds)),
              "train": {m: {"lr": round(0.001 * (i + 1), 6)} for i, m in enumerate(methods)}}
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, default_flow_style=None))
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "aggregate.py").write_text(AGGREGATE_PY)
    sh(["git", "add", "-A"], path, env)
    sh(["git", "commit", "-q", "-m", "generated matrix"], path, env)


def build_matrix(work: Path, size: int, n_methods: int, env: dict[str, str]) -> Pipeline:
    """Generate and fully reproduce the ``size``-stage matrix (the first ``dvc repro`` is timed)."""
    path = work / f"matrix-{size}"
    write_matrix_repo(path, n_methods, size // n_methods, env)
    print(f"part 2: first dvc repro of {size} + 1 stages …", file=sys.stderr, flush=True)
    seconds, output = timed(dvc_command() + ["repro"], path, env)
    ran = sum(1 for line in output.splitlines() if line.startswith("Running stage"))
    if ran != size + 1:
        raise SystemExit(f"{path}: the first dvc repro ran {ran} stages, expected {size + 1}")
    print(f"  built in {seconds:.1f} s", file=sys.stderr, flush=True)
    return Pipeline(f"matrix {n_methods}×{size // n_methods}", path, stages=size + 1, build_s=seconds)


def empty_repo_status(work: Path, repeats: int, env: dict[str, str]) -> Timings:
    """`dvc status` in a DVC repository with no pipeline: DVC's fixed start-up cost."""
    path = work / "empty"
    path.mkdir()
    sh(["git", "init", "-q", "-b", "main"], path, env)
    sh(dvc_command() + ["init", "-q"], path, env)
    out = Timings()
    out.warmup = timed(dvc_command() + ["status"], path, env)[0]
    out.runs = [timed(dvc_command() + ["status"], path, env)[0] for _ in range(repeats)]
    return out


def measure(pipes: list[Pipeline], repeats: int, env: dict[str, str]) -> None:
    """Warm up every pipeline once, then ``repeats`` rounds over all of them, order rotating."""
    for pipe in pipes:
        run_noop(pipe, env, warmup=True)
    for r in range(repeats):
        order = pipes[r % len(pipes):] + pipes[: r % len(pipes)]
        for pipe in order:
            run_noop(pipe, env, warmup=False)
            print(f"  repeat {r + 1}: {pipe.name:32s} repro {pipe.repro.runs[-1]:6.3f} s, "
                  f"status {pipe.status.runs[-1]:6.3f} s", file=sys.stderr, flush=True)


def loglog_slope(n1: float, t1: float, n2: float, t2: float) -> float:
    if min(n1, n2, t1, t2) <= 0 or n1 == n2:
        return math.nan
    return math.log(t2 / t1) / math.log(n2 / n1)


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope (nan slope for fewer than 2 distinct x)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, math.nan
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def growth(pipes: list[Pipeline], startup: float | None, command: str) -> dict[str, object]:
    """How the median time of ``command`` grows with the number of stages."""
    ns = [float(p.stages) for p in pipes]
    ts = [getattr(p, command).median for p in pipes]
    intercept, slope = linear_fit(ns, ts)
    steps = []
    for (n1, t1), (n2, t2) in zip(zip(ns, ts), zip(ns[1:], ts[1:]), strict=False):
        step = {"from": int(n1), "to": int(n2), "ms_per_extra_stage": 1000 * (t2 - t1) / (n2 - n1),
                "loglog_slope": loglog_slope(n1, t1, n2, t2)}
        if startup is not None:
            step["loglog_slope_net"] = loglog_slope(n1, t1 - startup, n2, t2 - startup)
        steps.append(step)
    out: dict[str, object] = {"fit_intercept_s": intercept, "fit_ms_per_stage": 1000 * slope, "steps": steps}
    if len(pipes) >= 2:
        out["time_ratio_last_first"] = ts[-1] / ts[0]
        out["stage_ratio_last_first"] = ns[-1] / ns[0]
        out["loglog_slope_first_last"] = loglog_slope(ns[0], ts[0], ns[-1], ts[-1])
        if startup is not None:
            out["loglog_slope_first_last_net"] = loglog_slope(ns[0], ts[0] - startup, ns[-1], ts[-1] - startup)
    return out


def fmt(t: Timings) -> str:
    return f"{t.median:.3f} ({min(t.runs):.3f}–{max(t.runs):.3f})"


def verdict(seconds: float, goal: float) -> str:
    return f"≤ {goal:g} s: {'**met**' if seconds <= goal else '**missed**'}"


def print_dag(pipe: Pipeline, repeats: int) -> None:
    print(f"\n### Default DAG ({pipe.stages} stages, {pipe.path})\n")
    if pipe.build_s is not None:
        print(f"First `dvc repro` (fresh clone, empty cache; not part of the figures): {pipe.build_s:.1f} s\n")
    print(f"| command | median of {repeats} (min–max), s | warm-up run, s | goal |\n|---|---|---|---|")
    for command, t in (("repro", pipe.repro), ("status", pipe.status)):
        print(f"| `dvc {command}` | {fmt(t)} | {t.warmup:.3f} | {verdict(t.median, GOAL_DAG_S)} |")


def print_matrix(pipes: list[Pipeline], repeats: int, startup: Timings, n_methods: int) -> None:
    print(f"\n### Generated matrix ({n_methods} methods × N seeds + 1 aggregate stage)\n")
    print(f"DVC start-up, `dvc status` in a repository with no pipeline: median {fmt(startup)} s\n")
    print(f"| train stages | stages in all | first `dvc repro`, s | no-op `dvc repro`, median of {repeats} "
          f"(min–max), s | ms/stage | `dvc status`, median of {repeats} (min–max), s | ms/stage |")
    print("|---|---|---|---|---|---|---|")
    for p in pipes:
        print(f"| {p.stages - 1} | {p.stages} | {p.build_s:.1f} | {fmt(p.repro)} | "
              f"{1000 * p.repro.median / p.stages:.1f} | {fmt(p.status)} | {1000 * p.status.median / p.stages:.1f} |")
    big = [p for p in pipes if p.stages - 1 == GOAL_MATRIX_STAGES]
    for p in big:
        print(f"\n{p.stages - 1}-stage matrix: `dvc repro` {verdict(p.repro.median, GOAL_MATRIX_S)}, "
              f"`dvc status` {verdict(p.status.median, GOAL_MATRIX_S)}")
    if len(pipes) < 2:
        return
    for command in ("repro", "status"):
        g = growth(pipes, startup.median, command)
        print(f"\n`dvc {command}` growth: fit t = {g['fit_intercept_s']:.3f} s "
              f"+ {g['fit_ms_per_stage']:.2f} ms × stages; "
              f"t({pipes[-1].stages}) / t({pipes[0].stages}) = {g['time_ratio_last_first']:.2f} for "
              f"{g['stage_ratio_last_first']:.1f}× the stages; log-log slope {g['loglog_slope_first_last']:.2f} "
              f"(minus start-up: {g['loglog_slope_first_last_net']:.2f}; 1 = linear, 2 = quadratic)")
        for s in g["steps"]:  # type: ignore[union-attr]
            print(f"- {s['from']} → {s['to']} stages: {s['ms_per_extra_stage']:.2f} ms per extra stage, "
                  f"log-log slope {s['loglog_slope']:.2f} (minus start-up {s['loglog_slope_net']:.2f})")


def machine_info() -> dict[str, object]:
    dvc_version = sh(dvc_command() + ["--version"], ROOT, bench_env()).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "python": platform.python_version(), "dvc": dvc_version, "platform": platform.platform(),
            "loadavg": os.getloadavg()[0]}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=None,
                        help="a fully reproduced checkout for part 1 (default: clone HEAD and dvc repro it first)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command and pipeline (default 5)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 500],
                        help="train stages of the generated matrices (default 50 100 200 500)")
    parser.add_argument("--methods", type=int, default=10, help="methods in the matrix; seeds = size / methods")
    parser.add_argument("--parts", nargs="+", choices=("dag", "matrix"), default=["dag", "matrix"])
    parser.add_argument("--workdir", type=Path, default=None, help="where scratch repositories go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch repositories")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write every figure here")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats: at least 1 (5 or more for reported figures)")
    if args.methods < 1 or any(s < args.methods or s % args.methods for s in args.sizes):
        parser.error(f"--sizes: every size must be a positive multiple of --methods ({args.methods})")
    args.sizes = sorted(set(args.sizes))
    return args


def main() -> None:
    args = parse_args()
    env = bench_env()
    info = machine_info()
    command = shlex.join([os.path.relpath(sys.executable), os.path.relpath(__file__)] + sys.argv[1:])
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="seedbench-bench-noop-", dir=args.workdir))
    dag: Pipeline | None = None
    matrix: list[Pipeline] = []
    startup: Timings | None = None
    try:
        if "dag" in args.parts:
            dag = existing_repo(args.repo, env) if args.repo else clone_and_build(work, env)
            measure([dag], args.repeats, env)
        if "matrix" in args.parts:
            matrix = [build_matrix(work, size, args.methods, env) for size in args.sizes]
            startup = empty_repo_status(work, args.repeats, env)
            measure(matrix, args.repeats, env)
    finally:
        if args.keep:
            print(f"scratch repositories kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n## No-op `dvc repro` / `dvc status`\n\n- **Date:** {info['date']}\n"
          f"- **Machine:** {info['cpu_count']} cores, `{info['cpu_model']}`, {info['platform']}; "
          f"Python {info['python']}, DVC {info['dvc']}; load average {info['loadavg']:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end\n- **Command:** `{command}`")
    if dag:
        print_dag(dag, args.repeats)
    if matrix and startup:
        print_matrix(matrix, args.repeats, startup, args.methods)

    if args.json:
        figures: dict[str, object] = {"machine": info, "command": command, "repeats": args.repeats,
                                      "loadavg_end": os.getloadavg()[0]}
        if dag:
            figures["dag"] = {"repo": str(dag.path), "stages": dag.stages, "build_s": dag.build_s,
                              "repro": dag.repro.as_dict(), "status": dag.status.as_dict()}
        if matrix and startup:
            figures["matrix"] = {
                "methods": args.methods, "startup_status": startup.as_dict(),
                "sizes": [{"train_stages": p.stages - 1, "stages": p.stages, "build_s": round(p.build_s or 0, 3),
                           "repro": p.repro.as_dict(), "status": p.status.as_dict()} for p in matrix],
                "growth": ({c: growth(matrix, startup.median, c) for c in ("repro", "status")}
                           if len(matrix) > 1 else {}),
            }
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"\nraw figures: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
