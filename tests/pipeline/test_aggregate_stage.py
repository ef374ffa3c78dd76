"""The `aggregate` stage: reads exactly the runs params ask for, writes every report deterministically."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbench.core import seeds
from seedbench.core.edge import run_user_errors_as_messages
from seedbench.reporting.dvcmetrics import parse_metric_value

OUTPUTS = ["metrics.json", "summary.json", "statistics.json", "run_intervals.json", "claims.json", "summary.md", "cd_diagram.png",
           "seed_spread.png", "seed_spread.csv", "learning_curves.csv", "predictions_best.csv"]


def _load_stage(repo_root: Path):
    spec = importlib.util.spec_from_file_location("aggregate_stage", repo_root / "stages" / "aggregate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_run(runs: Path, d: str, m: str, r: int, experiment_seed: int, rmse: float | None) -> None:
    folder = runs / d / m / f"rep_{r}"
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "dataset": d, "method": m, "replicate": r, "seed": seeds.replicate_seed(experiment_seed, r),
        "experiment_seed": experiment_seed, "n_test_units": 20, "diverged": rmse is None,
        "metrics": {"rmse": rmse, "mae": None if rmse is None else 0.8 * rmse,
                    "nasa_score": None if rmse is None else 25.0 * rmse},
    }
    (folder / "results.json").write_text(json.dumps(result))
    live = folder / "dvclive" / "plots" / "metrics"
    live.mkdir(parents=True, exist_ok=True)
    for name in ("train_loss", "val_loss"):
        (live / f"{name}.tsv").write_text(f"step\t{name}\n1\t400.5\n2\t{300.0 + r}\n")
    (folder / "predictions.csv").write_text("unit,true_rul,predicted_rul\n1,30.0,35.5\n2,80.0,71.25\n")


@pytest.fixture()
def workspace(tmp_path: Path, default_params_dict: dict[str, Any]) -> dict[str, Any]:
    params = default_params_dict
    params.update(seed=11, replicates=[0, 1, 2], methods=["linear", "mlp", "cnn1d"])
    params["data"]["datasets"] = ["FD001", "FD002"]
    params["stats"]["n_resamples"] = 200
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    runs = tmp_path / "runs"
    rng = seeds.generator(11, "test-stage")
    for d in params["data"]["datasets"]:
        for i, m in enumerate(params["methods"]):
            for r in params["replicates"]:
                _write_run(runs, d, m, r, 11, 15.0 + i + float(rng.normal()))
    # Stale folders of other experiments: another method and a replicate the params do not list.
    _write_run(runs, "FD001", "bilstm", 0, 11, 1.0)
    _write_run(runs, "FD001", "mlp", 7, 33, 1.0)
    return {"params": params_path, "runs": runs, "out": tmp_path / "reports", "tmp": tmp_path}


def _argv(ws: dict[str, Any]) -> list[str]:
    return ["--params", str(ws["params"]), "--root", str(ws["runs"].parent), "--out", str(ws["out"])]


def test_stage_writes_every_report_and_ignores_stale_runs(repo_root, workspace):
    stage = _load_stage(repo_root)
    stage.main(_argv(workspace))
    assert sorted(p.name for p in workspace["out"].iterdir()) == sorted(OUTPUTS)
    summary = json.loads((workspace["out"] / "summary.json").read_text())
    assert summary["FD001.mlp.rmse.n"] == 3 and "FD001.bilstm.rmse.n" not in summary
    metrics = json.loads((workspace["out"] / "metrics.json").read_text())  # the DVC metric: one string per method
    assert sorted(metrics) == ["cnn1d FD001|FD002", "linear FD001|FD002", "mlp FD001|FD002"]
    mean, sem = parse_metric_value(metrics["mlp FD001|FD002"])[0]
    assert (mean, sem) == (round(summary["FD001.mlp.rmse.mean"], 1), round(summary["FD001.mlp.rmse.sem"], 1))
    csv = (workspace["out"] / "seed_spread.csv").read_text().splitlines()
    assert csv[0] == "dataset,method,replicate,rmse" and len(csv) == 1 + 2 * 3 * 3
    md = (workspace["out"] / "summary.md").read_text()
    assert "## FD002" in md and "bilstm" not in md
    assert "## Reproducibility this run can claim" in md


def test_stage_writes_every_runs_interval_the_evaluate_stage_wrote_before(repo_root, workspace, default_params_dict):
    """The per-run interval moved from evaluate's results.json to reports/run_intervals.json: the same numbers."""
    from run_interval_cases import KNOWN, OLD_RMSE_CI

    from seedbench.core.hashing import file_sha256
    from seedbench.results.predictions import write_predictions

    params = default_params_dict
    params.update(seed=42, replicates=[3], methods=["linear", "mlp"])
    params["data"]["datasets"] = ["FD002"]
    params["stats"].update(confidence=0.9, n_resamples=2000)
    workspace["params"].write_text(yaml.safe_dump(params))
    for method, rmse in (("linear", 30.0), ("mlp", 9.5)):
        _write_run(workspace["runs"], "FD002", method, 3, 42, rmse)
    known = workspace["runs"] / "FD002" / "mlp" / "rep_3" / "predictions.csv"
    write_predictions(known, KNOWN)
    _load_stage(repo_root).main(_argv(workspace))
    report = json.loads((workspace["out"] / "run_intervals.json").read_text())
    assert [(r["dataset"], r["method"], r["replicate"]) for r in report["runs"]] == [("FD002", "linear", 3), ("FD002", "mlp", 3)]
    mlp = report["runs"][1]
    assert mlp["rmse_ci"] == OLD_RMSE_CI and mlp["predictions_sha256"] == file_sha256(known)
    assert (report["experiment_seed"], report["confidence"], report["n_resamples"]) == (42, 0.9, 2000)


def test_missing_predictions_of_an_expected_run_is_one_line_error_naming_the_file(repo_root, workspace, capsys):
    (workspace["runs"] / "FD001" / "cnn1d" / "rep_1" / "predictions.csv").unlink()
    stage = _load_stage(repo_root)
    assert run_user_errors_as_messages(lambda: stage.main(_argv(workspace)), prog="aggregate") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runs/FD001/cnn1d/rep_1/predictions.csv" in err and "run the train stages" in err
    assert not workspace["out"].exists()


def test_stage_outputs_are_byte_identical_on_rerun(repo_root, workspace):
    stage = _load_stage(repo_root)
    stage.main(_argv(workspace))
    first = {name: (workspace["out"] / name).read_bytes() for name in OUTPUTS}
    stage.main(_argv(workspace))
    assert {name: (workspace["out"] / name).read_bytes() for name in OUTPUTS} == first


def test_stage_writes_null_for_a_diverged_run(repo_root, workspace):
    _write_run(workspace["runs"], "FD002", "cnn1d", 1, 11, None)
    _load_stage(repo_root).main(_argv(workspace))
    text = (workspace["out"] / "summary.json").read_text()
    assert "NaN" not in text and json.loads(text)["FD002.cnn1d.rmse.n_nan"] == 1


def test_missing_expected_result_is_one_line_error_naming_the_file(repo_root, workspace, capsys):
    missing = workspace["runs"] / "FD002" / "mlp" / "rep_2" / "results.json"
    missing.unlink()
    stage = _load_stage(repo_root)
    status = run_user_errors_as_messages(lambda: stage.main(_argv(workspace)), prog="aggregate")
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith("aggregate: error:") and "runs/FD002/mlp/rep_2/results.json" in err


def test_stale_result_of_another_experiment_seed_is_refused(repo_root, workspace, capsys):
    _write_run(workspace["runs"], "FD001", "linear", 2, 33, 14.0)
    stage = _load_stage(repo_root)
    assert run_user_errors_as_messages(lambda: stage.main(_argv(workspace)), prog="aggregate") == 2
    assert "stale result of experiment seed 33" in capsys.readouterr().err


def test_failure_after_the_first_report_leaves_the_previous_reports_exactly(repo_root, workspace, capsys):
    """All reports or none: the learning curves are read after metrics.json … seed_spread.png were written."""
    stage = _load_stage(repo_root)
    stage.main(_argv(workspace))
    (workspace["out"] / "notes.txt").write_text("not the stage's: left alone\n")
    before = {p.name: p.read_bytes() for p in workspace["out"].iterdir()}
    _write_run(workspace["runs"], "FD001", "linear", 0, 11, 3.0)  # new results: every report would change
    missing = workspace["runs"] / "FD002" / "mlp" / "rep_1" / "dvclive" / "plots" / "metrics" / "val_loss.tsv"
    missing.unlink()
    status = run_user_errors_as_messages(lambda: stage.main(_argv(workspace)), prog="aggregate")
    assert status == 2 and "runs/FD002/mlp/rep_1/dvclive/plots/metrics/val_loss.tsv" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in workspace["out"].iterdir()} == before
    assert sorted(p.name for p in workspace["tmp"].iterdir()) == ["params.yaml", "reports", "runs"]  # no staging left
    missing.write_text("step\tval_loss\n1\t400.5\n2\t301.0\n")
    stage.main(_argv(workspace))  # and once it can succeed, every report is replaced together
    after = {p.name: p.read_bytes() for p in workspace["out"].iterdir()}
    assert sorted(after) == sorted(before) and all(after[n] != before[n] for n in ("summary.json", "metrics.json"))
    assert after["notes.txt"] == before["notes.txt"]
