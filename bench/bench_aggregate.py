"""Benchmark: wall time of the aggregate stage for 2 datasets × 10 methods × 50 seeds, 10,000 bootstrap resamples.

Usage (the final numbers come from this exact command, run from the repository root)::

    .venv/bin/python bench/bench_aggregate.py --repeats 5 --json /tmp/bench_aggregate.json

Goal (issue tracker): "aggregate stage time for 2 datasets × 10 methods × 50 seeds with 10,000
bootstrap resamples; goal ≤ 10 s (vectorize: one bootstrap call per cell, not Python loops over
resamples). Report medians of ≥5 repeats."

What is built
-------------
A synthetic run tree in a temp folder (``--workdir``), laid out exactly as the pipeline leaves it
for the aggregate stage: ``runs/<dataset>/<method>/rep_<r>/`` holding

- ``predictions.csv`` written by ``seedbench.results.predictions.write_predictions`` (NASA's test-unit
  counts: FD001 100, FD002 259 units; true RUL capped at 125 like ``prepare.cap_test_labels``);
- ``results.json`` built by ``seedbench.results.record.build_results`` from that file read back, and
  written by ``seedbench.core.files.write_json`` — the train stage's own code path (metrics only: the
  per-run ``rmse_ci`` bootstrap is the aggregate stage's, ``reports/run_intervals.json``, timed below);
- ``dvclive/plots/metrics/{train,val}_loss.tsv`` (+ ``dvclive/metrics.json``) written by
  ``seedbench.training.live.EpochLogger``, the train stage's logger (``linear``: 1 epoch, the other methods
  between ``patience + 1`` and ``max_epochs`` of their params).

``model.pt`` and ``manifest.json`` are not written: the aggregate stage never reads them.
Every synthetic number comes from ``seedbench.core.seeds.generator(--seed, "bench-aggregate", …)``:
each method has its own error level (FD002 harder), each seed its own bias and scatter, so the
claims, Friedman ranks and the best-run choice look like a real experiment's.

The params schema allows only the 4 real methods (``params.BUILTIN_METHODS``: linear, mlp, cnn1d,
bilstm), so ``stages/aggregate.py`` cannot be given 10 methods through ``params.yaml``. The
tree therefore holds 10 methods (the 4 real ones + ``synth05`` … ``synth10``) and two shapes are
measured:

- **real** — ``params.yaml`` with the 4 real methods × 50 replicates (the biggest grid the schema
  accepts; ``collect_results`` ignores the 6 synthetic folders, as it ignores stale runs);
- **goal** — the same params with ``methods`` replaced by the 10 names *after* validation
  (``dataclasses.replace``): the library functions themselves do not check method names.

What is timed (wall clock, ``time.perf_counter``; CPU time recorded alongside)
-----------------------------------------------------------------------------
1. The whole stage as a subprocess, interpreter start included:
   ``python stages/aggregate.py --params P --root TREE --out OUT`` (shape *real*), and, for shape
   *goal*, the same stage module loaded in a fresh interpreter by a 9-line wrapper script
   (``goal_stage.py`` in the work folder) that wraps its ``load_params`` to swap in the 10
   methods; the stage's code runs unchanged. Also timed: a
   fresh interpreter that only does the stage's imports (its own and the lazy ``scikit_posthocs``
   / ``pandas`` ones), i.e. the fixed start-up cost.
2. In-process breakdown of the stage, step by step, with the stage's own calls in its order:
   ``load_params``, ``collect_results``, the per-run intervals (``collect_predictions`` +
   ``run_intervals_report``: one BCa interval over test units per run, ``stats.n_resamples`` each),
   ``stats.aggregate``, the JSON files, ``summary.md``,
   ``seed_spread.csv``, the CD diagram PNG, the seed-spread PNG, ``learning_curves.csv``,
   ``predictions_best.csv``; plus ``stats.aggregate``'s parts re-run on their own (bootstrap cells,
   Friedman/Nemenyi, pairwise claims). One untimed warm-up pass per shape first (lazy imports,
   matplotlib font cache), reported as "cold".

Each repeat runs everything once, interleaved (so a change of machine load hits every row);
the tables show medians over ``--repeats`` (the goal asks for ≥ 5). Checks: every repeat's
outputs and the in-process outputs are compared byte for byte with the first stage run of their
shape (files that differ are named; ``cd_diagram.png`` can differ between interpreters unless
``PYTHONHASHSEED`` is set, because scikit-posthocs draws crossbar points in ``set`` order and the
stage, like dvc.yaml's command, runs with this environment), and the bootstrap draws its resample
indices in one vectorised call per (dataset, method, metric) cell — ``(n_resamples, n_seeds)`` at
once, not a Python loop over resamples — observed in one extra ``stats.aggregate`` pass through
Generators that record their ``integers``/``choice`` calls. Any row whose median
exceeds ``--profile-threshold`` seconds (default 2) is profiled once more: in-process steps with
cProfile, the subprocess stage with ``python -m cProfile`` and ``-X importtime``; the top entries
are printed (and stored with ``--json``).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seedbench.core import seeds
from seedbench.core.files import atomic_write_text, write_json
from seedbench.core.names import BUILTIN_METHODS, LIVE_DIRNAME, RUN_INTERVALS_FILENAME
from seedbench.core.params import Params, load_params
from seedbench.provenance.environment import cpu_model
from seedbench.reporting import plotdata, plots
from seedbench.reporting.dvcmetrics import exp_show_metrics
from seedbench.reporting.markdown import summary_markdown
from seedbench.reporting.reproducibility import reproducibility_statement
from seedbench.results.intervals import run_intervals_report
from seedbench.results.predictions import (
    Predictions,
    read_predictions,
    write_predictions,
)
from seedbench.results.record import build_results
from seedbench.results.trees import (
    collect_predictions,
    collect_results,
    expected_runs,
    folder_reader,
    run_path,
)
from seedbench.stats.aggregate import Aggregate
from seedbench.stats.aggregate import aggregate as run_aggregate
from seedbench.stats.claims import pairwise_claims
from seedbench.stats.metrics import METRIC_NAMES
from seedbench.stats.ranking import friedman_nemenyi
from seedbench.stats.summaries import describe_over_seeds
from seedbench.training.live import EpochLogger

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "stages" / "aggregate.py"

TEST_UNITS = {"FD001": 100, "FD002": 259, "FD003": 100, "FD004": 248}
"""Test units per C-MAPSS subset in NASA's files (``RUL_FD00X.txt`` rows)."""
RUL_CAP = 125
DATASET_DIFFICULTY = {"FD001": 1.0, "FD002": 1.5, "FD003": 1.1, "FD004": 1.6}
REAL_SKILL = {"linear": 32.0, "mlp": 18.0, "cnn1d": 16.5, "bilstm": 15.5}
"""Typical test RMSE (cycles) on FD001 per real method; synthetic methods draw theirs."""

OUTPUT_FILES = (
    "metrics.json", "summary.json", "statistics.json", RUN_INTERVALS_FILENAME, "claims.json", "summary.md",
    "seed_spread.csv", "cd_diagram.png", "seed_spread.png", "learning_curves.csv", "predictions_best.csv",
)

STEPS = (
    "load_params", "collect_results", "per-run intervals (predictions + bootstrap per run)", "stats.aggregate",
    "write JSON (summary, statistics, run intervals, claims)",
    "summary.md (markdown + reproducibility)", "seed_spread.csv", "plot: CD diagram PNG",
    "plot: seed spread PNG", "learning_curves.csv", "predictions_best.csv",
)
PARTS = ("bootstrap cells (describe_over_seeds)", "Friedman/Nemenyi (per dataset + overall)", "pairwise claims")

# ``work/goal_stage.py STAGE METHODS ARGS…``: a fresh interpreter running stages/aggregate.py unchanged, except
# that the params it loads get the 10 method names after validation (the schema only knows the 4 real methods).
GOAL_STAGE_CODE = """\
import dataclasses, importlib.util, sys
stage, methods, argv = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
spec = importlib.util.spec_from_file_location("aggregate_stage", stage)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
real_load_params = mod.load_params
mod.load_params = lambda path: dataclasses.replace(real_load_params(path), methods=methods)
sys.argv = [stage, *argv]
sys.exit(mod.run_user_errors_as_messages(mod.main, prog="aggregate"))
"""

# A fresh interpreter doing only the stage's imports (module level + the lazy ones of stats/plots).
IMPORTS_ONLY_CODE = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("aggregate_stage", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
import pandas, scikit_posthocs
"""


# --------------------------------------------------------------------------- the synthetic tree


def method_names(n: int) -> list[str]:
    """The 4 real methods first, then ``synth05`` … (``n`` in all)."""
    real = list(BUILTIN_METHODS[: min(n, len(BUILTIN_METHODS))])
    return real + [f"synth{i:02d}" for i in range(len(real) + 1, n + 1)]


def write_params(path: Path, *, datasets: list[str], methods: list[str], replicates: int, n_resamples: int) -> Params:
    """The repository's params.yaml with the benchmark's grid; validated by ``load_params``."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["replicates"] = list(range(replicates))
    raw["methods"] = methods
    raw["data"]["datasets"] = datasets
    raw["data"]["builtin"]["scale"] = 1.0  # NASA's full unit counts, as TEST_UNITS
    raw["stats"]["n_resamples"] = n_resamples
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_params(path)


def epoch_budget(params: Params, method: str) -> tuple[int, int]:
    """(min, max) epochs a run of ``method`` logs: linear is closed form (1 epoch)."""
    if method == "linear":
        return 1, 1
    hp = params.train.hparams(method if method in BUILTIN_METHODS else "mlp")
    return min(hp["patience"] + 1, hp["max_epochs"]), hp["max_epochs"]


def build_tree(root: Path, params: Params, methods: list[str], seed: int) -> int:
    """Write predictions.csv, results.json and DVCLive files of every (dataset, method, replicate); returns run count."""
    n = 0
    for d in params.data.datasets:
        for m in methods:
            skill_rng = seeds.generator(seed, "bench-aggregate", "skill", m)
            skill = REAL_SKILL.get(m, float(skill_rng.uniform(14.0, 30.0))) * DATASET_DIFFICULTY[d]
            lo, hi = epoch_budget(params, m)
            for r in params.replicates:
                rng = seeds.generator(seed, "bench-aggregate", d, m, r)
                run = root / run_path((d, m, r), "")
                run.mkdir(parents=True, exist_ok=True)
                units = TEST_UNITS[d]
                true = np.minimum(rng.integers(5, 200, size=units), RUL_CAP).astype(np.float64)
                sigma = skill * float(np.exp(0.08 * rng.standard_normal()))  # seed-to-seed scatter
                bias = 0.2 * skill * float(rng.standard_normal())
                pred = np.clip(true + bias + sigma * rng.standard_normal(units), 0.0, None)
                write_predictions(run / "predictions.csv", Predictions(np.arange(1, units + 1, dtype=np.int64), true, pred))
                results = build_results(
                    read_predictions(run / "predictions.csv"), dataset=d, method=m, replicate=int(r),
                    experiment_seed=params.seed,
                )
                write_json(run / "results.json", results)
                final = float(results["metrics"]["rmse"]) ** 2
                with EpochLogger(run / LIVE_DIRNAME, label=f"bench {d}/{m}/rep_{r}", stream=io.StringIO()) as log:
                    for epoch in range(1, int(rng.integers(lo, hi + 1)) + 1):
                        decay = 1.0 + 6.0 * np.exp(-(epoch - 1) / 2.5)
                        log({"epoch": epoch,
                             "train_loss": float(0.8 * final * decay * (1 + 0.03 * rng.standard_normal())),
                             "val_loss": float(final * decay * (1 + 0.05 * rng.standard_normal()))})
                n += 1
    return n


# --------------------------------------------------------------------------- timing helpers


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_env() -> dict[str, str]:
    """This environment without ``SEEDBENCH_TIMINGS`` (the stages would append a line to that file)."""
    return {k: v for k, v in os.environ.items() if k != "SEEDBENCH_TIMINGS"}


def run_timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s) of a subprocess; exits with its output when it fails."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=child_env(), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {shlex.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, cpu


def stage_argv(shape: str, params_path: Path, tree: Path, out: Path, methods: list[str], work: Path) -> list[str]:
    """The stage's command line; for shape *goal*, through the wrapper script ``work/goal_stage.py``."""
    args = ["--params", str(params_path), "--root", str(tree), "--out", str(out)]
    if shape == "real":
        return [sys.executable, str(STAGE), *args]
    wrapper = work / "goal_stage.py"
    if not wrapper.exists():
        wrapper.write_text(GOAL_STAGE_CODE, encoding="utf-8")
    return [sys.executable, str(wrapper), str(STAGE), ",".join(methods), *args]


def output_digests(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in OUTPUT_FILES}


def code_state() -> str:
    """``<commit>`` plus the uncommitted files the stage runs (stages/aggregate.py, src/seedbench), if any."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "stages/aggregate.py", "src/seedbench"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {head}" + (f", uncommitted: {', '.join(changed)}" if changed else ", clean")


def loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return None


# --------------------------------------------------------------------------- the stage, step by step


Step = Callable[[dict[str, Any]], None]


def stage_steps(params_path: Path, tree: Path, out: Path, methods: list[str] | None) -> list[tuple[str, Step]]:
    """The calls of ``stages/aggregate.py:main`` in its order, one closure per reported step.

    ``methods`` replaces ``params.methods`` after validation (shape *goal*); ``None`` keeps them.
    State passes between steps through the dict given to each closure.
    """
    root = str(tree)

    def load(s: dict[str, Any]) -> None:
        params = load_params(params_path)
        s["params"] = params if methods is None else dataclasses.replace(params, methods=list(methods))

    def collect(s: dict[str, Any]) -> None:
        s["results"] = collect_results(folder_reader(root), s["params"], where=f"folder {root}")

    def run_intervals(s: dict[str, Any]) -> None:
        p = s["params"]
        s["run_intervals"] = run_intervals_report(
            collect_predictions(folder_reader(root), p, where=f"folder {root}"), expected_runs(p),
            experiment_seed=p.seed, confidence=p.stats.confidence, n_resamples=p.stats.n_resamples,
        )

    def aggregate(s: dict[str, Any]) -> None:
        p = s["params"]
        s["agg"] = run_aggregate(
            s["results"], confidence=p.stats.confidence, n_resamples=p.stats.n_resamples,
            bootstrap_seed=seeds.derive_seed(p.seed, "bootstrap"), datasets=p.data.datasets, methods=p.methods,
        )

    def json_files(s: dict[str, Any]) -> None:
        agg = s["agg"]
        write_json(out / "metrics.json", exp_show_metrics(agg.cells, agg.datasets, agg.methods, agg.rank_metric))
        write_json(out / "summary.json", agg.summary_flat())
        write_json(out / "statistics.json", agg.detail())
        write_json(out / RUN_INTERVALS_FILENAME, s["run_intervals"])
        write_json(out / "claims.json", agg.claims())

    def markdown(s: dict[str, Any]) -> None:
        p = s["params"]
        statement = reproducibility_statement(
            determinism=p.train.determinism, deterministic=p.train.deterministic,
            torch_threads=p.train.torch_threads, n_replicates=len(p.replicates),
            seed_tolerance=p.stats.seed_stable_tolerance,
        )
        atomic_write_text(out / "summary.md", summary_markdown(s["agg"]) + "\n" + statement)

    def spread_csv(s: dict[str, Any]) -> None:
        atomic_write_text(out / "seed_spread.csv", s["agg"].seed_spread_csv("rmse"))

    def cd_png(s: dict[str, Any]) -> None:
        plots.save_png(plots.cd_diagram(s["agg"].friedman, title="RMSE mean ranks (blocks = dataset × seed)"),
                       out / "cd_diagram.png")

    def spread_png(s: dict[str, Any]) -> None:
        agg, ds = s["agg"], s["params"].data.datasets
        plots.save_png(plots.seed_spread({d: agg.values_by_method(d, "rmse") for d in ds}), out / "seed_spread.png")

    def curves(s: dict[str, Any]) -> None:
        atomic_write_text(out / "learning_curves.csv", plotdata.learning_curves_csv(root, expected_runs(s["params"])))

    def best(s: dict[str, Any]) -> None:
        agg, ds = s["agg"], s["params"].data.datasets
        chosen = plotdata.select_best_runs({d: agg.values_by_method(d, "rmse") for d in ds}, agg.replicates)
        atomic_write_text(out / "predictions_best.csv", plotdata.best_predictions_csv(root, chosen))

    fns = (load, collect, run_intervals, aggregate, json_files, markdown, spread_csv, cd_png, spread_png, curves, best)
    return list(zip(STEPS, fns, strict=True))


def aggregate_parts(agg: Aggregate) -> list[tuple[str, Callable[[], Any]]]:
    """``stats.aggregate``'s three costly parts, called as it calls them, on its own values."""
    ds, ms = agg.datasets, agg.methods

    def cells() -> None:
        for d in ds:
            for m in ms:
                for metric in METRIC_NAMES:
                    rng = seeds.generator(agg.bootstrap_seed, "bootstrap", d, m, metric)
                    describe_over_seeds(agg.values[(d, m, metric)], confidence=agg.confidence,
                                              n_resamples=agg.n_resamples, rng=rng)

    def friedman() -> None:
        for d in ds:
            friedman_nemenyi(np.column_stack([agg.values[(d, m, agg.rank_metric)] for m in ms]), ms, alpha=agg.alpha)
        blocks = np.vstack([np.column_stack([agg.values[(d, m, agg.rank_metric)] for m in ms]) for d in ds])
        friedman_nemenyi(blocks, ms, alpha=agg.alpha)

    def claims() -> None:
        for d in ds:
            for metric in METRIC_NAMES:
                pairwise_claims({m: agg.values[(d, m, metric)] for m in ms}, dataset=d, metric=metric, alpha=agg.alpha)

    return list(zip(PARTS, (cells, friedman, claims), strict=True))


def run_in_process(params_path: Path, tree: Path, out: Path, methods: list[str] | None) -> dict[str, tuple[float, float]]:
    """One pass of the stage in this process: ``{step: (wall s, CPU s)}`` plus the aggregate parts."""
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {}
    times: dict[str, tuple[float, float]] = {}
    for name, fn in stage_steps(params_path, tree, out, methods):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(state)
        times[name] = (time.perf_counter() - t0, time.process_time() - c0)
    for name, fn in aggregate_parts(state["agg"]):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times[name] = (time.perf_counter() - t0, time.process_time() - c0)
    return times


class _CountingGenerator(np.random.Generator):
    """A Generator that records the ``size`` of every ``integers``/``choice`` call (resample index draws)."""

    draws: list[Any] = []

    def integers(self, *args: Any, **kwargs: Any) -> Any:
        _CountingGenerator.draws.append(kwargs.get("size", args[2] if len(args) > 2 else None))
        return super().integers(*args, **kwargs)

    def choice(self, *args: Any, **kwargs: Any) -> Any:
        _CountingGenerator.draws.append(kwargs.get("size", args[1] if len(args) > 1 else None))
        return super().choice(*args, **kwargs)


def count_resample_draws(params_path: Path, tree: Path, out: Path, methods: list[str] | None) -> dict[str, Any]:
    """How ``stats.aggregate`` draws its bootstrap resamples: one vectorised draw per cell, or loops?

    ``seeds.generator`` (which ``stats`` calls for each cell's stream) is wrapped for one
    ``stats.aggregate`` call so that every Generator it hands out records its index draws; works
    whichever bootstrap implementation draws through ``Generator.integers`` / ``choice``.
    """
    state: dict[str, Any] = {}
    steps = dict(stage_steps(params_path, tree, out, methods))
    steps["load_params"](state)
    steps["collect_results"](state)
    real = seeds.generator
    streams = 0

    def counting(root_seed: int, *names: Any) -> np.random.Generator:
        nonlocal streams
        streams += 1
        return _CountingGenerator(np.random.PCG64(seeds.seed_sequence(root_seed, *names)))

    _CountingGenerator.draws = []
    seeds.generator = counting
    try:
        steps["stats.aggregate"](state)
    finally:
        seeds.generator = real
    agg = state["agg"]
    draws = [tuple(np.atleast_1d(d).tolist()) if d is not None else None for d in _CountingGenerator.draws]
    return {"cells": len(agg.datasets) * len(agg.methods) * len(agg.metrics), "streams": streams,
            "draw_calls": len(draws), "draw_shapes": sorted({str(d) for d in draws})}


def describe_draws(c: dict[str, Any], n_resamples: int) -> str:
    shapes = ", ".join(c["draw_shapes"]) or "none"
    if c["draw_calls"] == 0:
        verdict = "no draw observed through Generator.integers/choice: cannot tell"
    elif c["draw_calls"] == c["cells"] and all(s.startswith(f"({n_resamples},") for s in c["draw_shapes"]):
        verdict = "one vectorised draw per cell"
    else:
        verdict = "NOT one vectorised draw per cell"
    return (f"{c['draw_calls']} resample-index draws of shape {shapes} for {c['cells']} cells "
            f"({c['streams']} streams) → {verdict}")


# --------------------------------------------------------------------------- profiling


def profile_step(params_path: Path, tree: Path, out: Path, methods: list[str] | None, step: str, top: int) -> str:
    """cProfile of one in-process step (the steps before it run unprofiled); top entries by cumulative time."""
    state: dict[str, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    steps = stage_steps(params_path, tree, out, methods)
    parts = None
    for name, fn in steps:
        if name == step:
            break
        fn(state)
    else:
        parts = dict(aggregate_parts(state["agg"]))
    profiler = cProfile.Profile()
    if parts is not None:
        profiler.runcall(parts[step])
    else:
        profiler.runcall(dict(steps)[step], state)
    return pstats_text(pstats.Stats(profiler), top)


def pstats_text(ps: pstats.Stats, top: int) -> str:
    buffer = io.StringIO()
    ps.stream = buffer
    ps.sort_stats("cumulative").print_stats(top)
    ps.sort_stats("tottime").print_stats(top)
    return "\n".join(line for line in buffer.getvalue().splitlines() if line.strip())


def profile_subprocess(shape: str, params_path: Path, tree: Path, out: Path, methods: list[str], work: Path, top: int) -> str:
    """``python -m cProfile`` of the whole stage (imports included) and the slowest imports by ``-X importtime``."""
    prof = work / f"stage-{shape}.prof"
    argv = stage_argv(shape, params_path, tree, out, methods, work)
    subprocess.run([argv[0], "-m", "cProfile", "-o", str(prof), *argv[1:]], cwd=work, env=child_env(),
                   capture_output=True, check=False)
    text = pstats_text(pstats.Stats(str(prof)), top) if prof.exists() else "(no profile written)"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", IMPORTS_ONLY_CODE, str(STAGE)],
                          cwd=work, env=child_env(), capture_output=True, text=True, check=True)
    top_level: list[tuple[int, str]] = []
    packages: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name, cumulative = parts[2].strip(), int(parts[1])
            if parts[2].startswith(" ") and not parts[2].startswith("  "):  # imported by the stage itself
                top_level.append((cumulative, name))
            if name.count(".") <= 1 and not name.startswith(("seedbench", "_", "encodings")):
                packages.append((cumulative, name))  # third-party packages and their first-level modules
    lines = ["-X importtime: imports of the stage itself (cumulative; a module's cost is charged to its first importer):"]
    lines += [f"  {us / 1e6:7.3f} s  {name}" for us, name in sorted(top_level, reverse=True)[:top] if us >= 1000]
    lines.append("-X importtime: heaviest packages / modules wherever first imported (cumulative, nested):")
    lines += [f"  {us / 1e6:7.3f} s  {name}" for us, name in sorted(packages, reverse=True)[:top]]
    return text + "\n\n" + "\n".join(lines)


# --------------------------------------------------------------------------- report


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_cell(walls: list[float] | None, cpus: list[float] | None = None) -> str:
    if not walls:
        return "—"
    text = f"{med(walls):.3f}"
    if cpus:
        text += f" ({med(cpus):.3f})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes of everything (default 5; the goal asks for >= 5)")
    parser.add_argument("--datasets", nargs="+", default=["FD001", "FD002"], choices=sorted(TEST_UNITS))
    parser.add_argument("--methods", type=int, default=10,
                        help="methods of the goal shape (default 10; the first 4 are the real ones)")
    parser.add_argument("--replicates", type=int, default=50, help="replicate seeds per (dataset, method) (default 50)")
    parser.add_argument("--n-resamples", type=int, default=10_000, help="stats.n_resamples (default 10000)")
    parser.add_argument("--seed", type=int, default=2024, help="root seed of the synthetic metric values")
    parser.add_argument("--goal-s", type=float, default=10.0, help="goal for the whole stage, seconds (default 10)")
    parser.add_argument("--profile-threshold", type=float, default=2.0, help="profile any row whose median exceeds this (s)")
    parser.add_argument("--profile-top", type=int, default=15, help="entries printed per profile")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write every figure as JSON here")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build the tree (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (tree, params, outputs, profiles)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    if args.methods < 3:
        parser.error("--methods: at least 3 (Friedman needs 3)")

    python = sys.executable
    if python.startswith(str(Path.cwd()) + os.sep):
        python = os.path.relpath(python)  # .venv/bin/python, as typed
    command = shlex.join([python, *sys.argv])
    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    code = code_state()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seedbench-bench-aggregate-"))
    work.mkdir(parents=True, exist_ok=True)
    tree = work / "tree"
    goal_methods = method_names(args.methods)
    real_methods = goal_methods[: len(BUILTIN_METHODS)]
    shapes: dict[str, list[str] | None] = {"real": None, "goal": goal_methods}
    shape_label = {
        "real": f"{len(args.datasets)}×{len(real_methods)}×{args.replicates} (real stage)",
        "goal": f"{len(args.datasets)}×{len(goal_methods)}×{args.replicates} (goal)",
    }

    try:
        tree.mkdir(parents=True, exist_ok=True)
        params_path = tree / "params.yaml"
        params = write_params(params_path, datasets=args.datasets, methods=real_methods,
                              replicates=args.replicates, n_resamples=args.n_resamples)
        t0 = time.perf_counter()
        n_runs = build_tree(tree, params, goal_methods, args.seed)
        setup_s = time.perf_counter() - t0
        print(f"tree: {n_runs} runs ({len(args.datasets)} datasets × {len(goal_methods)} methods × {args.replicates} "
              f"replicates) in {tree}, built in {setup_s:.1f} s", file=sys.stderr, flush=True)

        # Warm-up in this process (untimed in the medians, reported as cold) and the bootstrap-call count.
        cold: dict[str, dict[str, tuple[float, float]]] = {}
        draws: dict[str, dict[str, Any]] = {}
        for shape, methods in shapes.items():
            cold[shape] = run_in_process(params_path, tree, work / f"warm-{shape}", methods)
            draws[shape] = count_resample_draws(params_path, tree, work / f"count-{shape}", methods)

        wall: dict[str, dict[str, list[float]]] = {s: {} for s in shapes}
        cpu: dict[str, dict[str, list[float]]] = {s: {} for s in shapes}
        digests: dict[str, dict[str, str]] = {}
        differing: set[str] = set()  # output files whose bytes changed between runs of one shape
        load_before = loadavg()
        for i in range(args.repeats):
            w, c = run_timed([sys.executable, "-c", IMPORTS_ONLY_CODE, str(STAGE)], work)
            wall["real"].setdefault("imports", []).append(w)
            cpu["real"].setdefault("imports", []).append(c)
            for shape, methods in shapes.items():
                out = work / f"stage-{shape}-{i}"
                w, c = run_timed(stage_argv(shape, params_path, tree, out, goal_methods, work), work)
                wall[shape].setdefault("stage", []).append(w)
                cpu[shape].setdefault("stage", []).append(c)
                got = output_digests(out)
                ref = digests.setdefault(shape, got)
                differing |= {f for f in OUTPUT_FILES if ref[f] != got[f]}
                inproc = work / f"inproc-{shape}-{i}"
                for name, (w, c) in run_in_process(params_path, tree, inproc, methods).items():
                    wall[shape].setdefault(name, []).append(w)
                    cpu[shape].setdefault(name, []).append(c)
                got = output_digests(inproc)
                differing |= {f for f in OUTPUT_FILES if ref[f] != got[f]}
                shutil.rmtree(out)
                shutil.rmtree(inproc)
            print(f"repeat {i + 1}/{args.repeats}: stage real {wall['real']['stage'][-1]:.2f} s, "
                  f"goal {wall['goal']['stage'][-1]:.2f} s", file=sys.stderr, flush=True)
        load_after = loadavg()
        for shape in shapes:
            wall[shape]["in-process total"] = [sum(wall[shape][s][i] for s in STEPS) for i in range(args.repeats)]
            cpu[shape]["in-process total"] = [sum(cpu[shape][s][i] for s in STEPS) for i in range(args.repeats)]

        # Profiles of anything slower than the threshold.
        profiles: dict[str, str] = {}
        for shape, methods in shapes.items():
            if med(wall[shape]["stage"]) > args.profile_threshold:
                profiles[f"{shape}: whole stage (subprocess)"] = profile_subprocess(
                    shape, params_path, tree, work / f"prof-{shape}", goal_methods, work, args.profile_top)
            for step in (*STEPS, *PARTS):
                if med(wall[shape][step]) > args.profile_threshold:
                    profiles[f"{shape}: {step}"] = profile_step(params_path, tree, work / f"prof-{shape}", methods,
                                                                step, args.profile_top)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    # ------------------------------------------------------------------ print
    import matplotlib
    import scipy

    machine = (f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, numpy {np.__version__}, "
               f"scipy {scipy.__version__}, matplotlib {matplotlib.__version__}")
    goal_stage = med(wall["goal"]["stage"])
    print("# Aggregate stage benchmark\n")
    print(f"- date: {started_at}")
    print(f"- machine: {machine}; load average {load_before} before, {load_after} after")
    print(f"- command: `{command}`")
    print(f"- code: {code}")
    print(f"- grid: datasets {args.datasets}, {args.replicates} replicates, stats.n_resamples {args.n_resamples}; "
          f"real = methods {real_methods}; goal = {goal_methods} (methods swapped in after params validation: "
          f"the schema allows only {list(BUILTIN_METHODS)})")
    print(f"- tree: {n_runs} runs built in {setup_s:.1f} s (not timed below)")
    print(f"- medians of {args.repeats} repeats, wall s (CPU s in parentheses)"
          + ("" if args.repeats >= 5 else f" — NOTE: only {args.repeats} repeats, the goal asks for >= 5"))
    print()
    print(f"| measurement | {shape_label['real']} | {shape_label['goal']} | goal shape, first call in process (cold) |")
    print("|---|---:|---:|---:|")
    rows = [("**whole stage, subprocess** (interpreter start included)", "stage"),
            ("interpreter start + stage imports only (subprocess)", "imports"),
            ("in-process total (sum of the steps below)", "in-process total")]
    rows += [(f"&nbsp;&nbsp;{s}", s) for s in STEPS]
    rows += [(f"&nbsp;&nbsp;&nbsp;&nbsp;part of stats.aggregate: {p}", p) for p in PARTS]
    for label, key in rows:
        cold_w = sum(cold["goal"][s][0] for s in STEPS) if key == "in-process total" else (
            cold["goal"][key][0] if key in cold["goal"] else None)
        goal_cell = fmt_cell(wall["goal"].get(key), cpu["goal"].get(key)) if key != "imports" else "(same)"
        print(f"| {label} | {fmt_cell(wall['real'].get(key), cpu['real'].get(key))} | {goal_cell} | "
              f"{'—' if cold_w is None else f'{cold_w:.3f}'} |")
    print()
    for shape in shapes:
        print(f"- {shape}: bootstrap in one stats.aggregate: {describe_draws(draws[shape], args.n_resamples)}")
    print("- outputs byte-identical across repeats and between stage and in-process runs: "
          + ("yes" if not differing else f"NO, these differ: {', '.join(sorted(differing))}"))
    if "cd_diagram.png" in differing and os.environ.get("PYTHONHASHSEED") is None:
        print("  (cd_diagram.png depends on the string-hash seed: scikit-posthocs draws each crossbar's points in "
              "set order; the stage runs without PYTHONHASHSEED, as in dvc.yaml)")
    print(f"- goal ≤ {args.goal_s:g} s for {shape_label['goal']}: median {goal_stage:.2f} s → "
          f"{'MET' if goal_stage <= args.goal_s else 'NOT MET'}")
    print(f"- all stage runs (wall s): real {', '.join(f'{t:.2f}' for t in wall['real']['stage'])}; "
          f"goal {', '.join(f'{t:.2f}' for t in wall['goal']['stage'])}")
    for name, text in profiles.items():
        print(f"\n## Profile (> {args.profile_threshold:g} s): {name}\n\n```\n{text}\n```")
    if not profiles:
        print(f"- no row above {args.profile_threshold:g} s: nothing profiled")

    if args.json:
        record = {
            "date": started_at, "command": command, "code": code, "machine": machine,
            "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "load_before": load_before, "load_after": load_after, "repeats": args.repeats, "datasets": args.datasets,
            "replicates": args.replicates, "n_resamples": args.n_resamples,
            "methods": {"real": real_methods, "goal": goal_methods},
            "n_runs_in_tree": n_runs, "tree_build_s": setup_s, "wall_s": wall, "cpu_s": cpu,
            "median_wall_s": {s: {k: med(v) for k, v in wall[s].items()} for s in shapes},
            "cold_first_call_s": {s: {k: v[0] for k, v in cold[s].items()} for s in shapes},
            "resample_draws": draws,
            "outputs_differing": sorted(differing), "pythonhashseed": os.environ.get("PYTHONHASHSEED"),
            "goal_s": args.goal_s, "goal_met": goal_stage <= args.goal_s,
            "profile_threshold_s": args.profile_threshold, "profiles": profiles,
        }
        args.json.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
