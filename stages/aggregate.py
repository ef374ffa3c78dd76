"""DVC stage `aggregate`: every expected results.json → metrics, summary, claims, Friedman/CD diagram, seed spread;
every expected predictions.csv → the per-run bootstrap intervals (run_intervals.json)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seedbench.core import seeds
from seedbench.core.edge import run_user_errors_as_messages
from seedbench.core.files import atomic_write_text, staged_outputs, write_json
from seedbench.core.names import RUN_INTERVALS_FILENAME, methods_dir_of
from seedbench.core.params import Params, load_params
from seedbench.core.stagetiming import timed_stage
from seedbench.reporting import plotdata, plots
from seedbench.reporting.dvcmetrics import exp_show_metrics
from seedbench.reporting.markdown import summary_markdown
from seedbench.reporting.reproducibility import reproducibility_statement
from seedbench.results.intervals import run_intervals_report
from seedbench.results.trees import (
    collect_predictions,
    collect_results,
    expected_runs,
    folder_reader,
)
from seedbench.stats.aggregate import Aggregate, aggregate

AGGREGATE_OUTPUTS = ("metrics.json", "summary.json", "statistics.json", RUN_INTERVALS_FILENAME, "claims.json", "summary.md",
                     "seed_spread.csv", "cd_diagram.png", "seed_spread.png", "learning_curves.csv", "predictions_best.csv")
"""What the stage writes into --out, all or nothing (dvc.yaml's outs and metric)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=".", help="folder holding params' runs/ tree")
    parser.add_argument("--out", default="reports")
    args = parser.parse_args(argv)
    with timed_stage("aggregate"):  # the stage's own work, for $SEEDBENCH_TIMINGS
        params = load_params(args.params, methods_dir_of(__file__))
        datasets, methods = params.data.datasets, params.methods
        # Only the runs these params ask for: stale folders of other experiments are ignored.
        read, where = folder_reader(args.root), f"folder {args.root}"
        results = collect_results(read, params, where=where)
        # Each run's interval over its test units: stats.* params, so here and not in train (results/intervals.py).
        run_intervals = run_intervals_report(
            collect_predictions(read, params, where=where), expected_runs(params), experiment_seed=params.seed,
            confidence=params.stats.confidence, n_resamples=params.stats.n_resamples,
        )
        agg = aggregate(
            results,
            confidence=params.stats.confidence,
            n_resamples=params.stats.n_resamples,
            bootstrap_seed=seeds.derive_seed(params.seed, seeds.STREAM_BOOTSTRAP),
            datasets=datasets,
            methods=methods,
        )
        # Every report is written into `out` = a staging folder, renamed into args.out only when all were written:
        # a failure half-way (a missing DVCLive file, a plot) leaves the previous reports untouched, none mixed in.
        with staged_outputs(args.out, AGGREGATE_OUTPUTS) as out:
            write_json(out / RUN_INTERVALS_FILENAME, run_intervals)
            _write_reports(out, agg, params, args.root)
        print(f"aggregate: {len(results)} runs → {args.out}/metrics.json, summary.json, statistics.json, "
              f"{RUN_INTERVALS_FILENAME}, claims.json, summary.md, plots", file=sys.stderr)


def _write_reports(out: Path, agg: Aggregate, params: Params, root: str) -> None:
    """Write every report of ``agg`` into folder ``out`` (the names of :data:`AGGREGATE_OUTPUTS` but the run intervals)."""
    datasets, methods = params.data.datasets, params.methods
    write_json(out / "metrics.json", exp_show_metrics(agg.cells, datasets, methods, agg.rank_metric))  # DVC metric
    write_json(out / "summary.json", agg.summary_flat())
    write_json(out / "statistics.json", agg.detail())
    write_json(out / "claims.json", agg.claims())
    statement = reproducibility_statement(
        determinism=params.train.determinism, deterministic=params.train.deterministic,
        torch_threads=params.train.torch_threads, n_replicates=len(params.replicates),
        seed_tolerance=params.stats.seed_stable_tolerance, device=params.train.device,
        precision=params.train.precision,
    )
    atomic_write_text(out / "summary.md", summary_markdown(agg) + "\n" + statement)
    atomic_write_text(out / "seed_spread.csv", agg.seed_spread_csv("rmse"))
    plots.save_png(plots.cd_diagram(agg.friedman, title="RMSE mean ranks (blocks = dataset × seed)"), out / "cd_diagram.png")
    plots.save_png(plots.seed_spread({d: agg.values_by_method(d, "rmse") for d in datasets}), out / "seed_spread.png")
    # Sources of dvc.yaml's vega-lite plots: learning curves (DVCLive) and the best method's predictions.
    atomic_write_text(out / "learning_curves.csv", plotdata.learning_curves_csv(root, expected_runs(params)))
    best = plotdata.select_best_runs({d: agg.values_by_method(d, "rmse") for d in datasets}, agg.replicates)
    atomic_write_text(out / "predictions_best.csv", plotdata.best_predictions_csv(root, best))


if __name__ == "__main__":
    sys.exit(run_user_errors_as_messages(main, prog="aggregate"))
