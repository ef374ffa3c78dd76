"""Plot sources: the CSV tables behind dvc.yaml's plots, and the vega-lite templates that draw them."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from seedbench.core.errors import DataFormatError
from seedbench.core.names import LIVE_DIRNAME
from seedbench.reporting import plotdata
from seedbench.training.live import EpochLogger

RUNS = [("FD001", "linear", 0), ("FD001", "linear", 1), ("FD001", "mlp", 0), ("FD001", "mlp", 1)]


def _write_live(root: Path, key: tuple[str, str, int], losses: list[tuple[float, float]]) -> Path:
    dataset, method, rep = key
    folder = root / "runs" / dataset / method / f"rep_{rep}" / "dvclive" / "plots" / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    for column, name in enumerate(("train_loss", "val_loss")):
        rows = "".join(f"{epoch}\t{pair[column]!r}\n" for epoch, pair in enumerate(losses, start=1))
        (folder / f"{name}.tsv").write_text(f"step\t{name}\n{rows}")
    return folder


def _write_predictions(root: Path, key: tuple[str, str, int], rows: list[tuple[int, float, float]]) -> None:
    dataset, method, rep = key
    folder = root / "runs" / dataset / method / f"rep_{rep}"
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{u},{t!r},{p!r}\n" for u, t, p in rows)
    (folder / "predictions.csv").write_text("unit,true_rul,predicted_rul\n" + body)


@pytest.fixture()
def runs_root(tmp_path: Path) -> Path:
    for i, key in enumerate(RUNS):
        _write_live(tmp_path, key, [(1000.0 + i, 900.5), (400.25 / 3, 500.0 + i / 7)][: 1 if key[1] == "linear" else 2])
    # A stale run of another experiment: a method and a replicate the params do not list.
    _write_live(tmp_path, ("FD001", "bilstm", 0), [(1.0, 1.0)])
    _write_live(tmp_path, ("FD001", "mlp", 7), [(1.0, 1.0)])
    return tmp_path


def test_learning_curves_hold_exactly_the_given_runs_with_exact_floats(runs_root: Path) -> None:
    text = plotdata.learning_curves_csv(runs_root, RUNS)
    lines = text.splitlines()
    assert lines[0] == "dataset,method,replicate,epoch,train_loss,val_loss"
    assert [tuple(line.split(",")[:4]) for line in lines[1:]] == [
        ("FD001", "linear", "0", "1"), ("FD001", "linear", "1", "1"),
        ("FD001", "mlp", "0", "1"), ("FD001", "mlp", "0", "2"), ("FD001", "mlp", "1", "1"), ("FD001", "mlp", "1", "2"),
    ]
    assert "bilstm" not in text and ",7," not in text
    assert float(lines[4].split(",")[4]) == 400.25 / 3 and float(lines[6].split(",")[5]) == 500.0 + 3 / 7
    assert text.endswith("\n") and plotdata.learning_curves_csv(runs_root, RUNS).encode() == text.encode()


def test_learning_curves_read_what_the_epoch_logger_writes(tmp_path: Path) -> None:
    live_dir = tmp_path / "runs" / "FD002" / "mlp" / "rep_3" / LIVE_DIRNAME
    with EpochLogger(live_dir, label="test", stream=io.StringIO()) as log:
        log({"epoch": 1, "train_loss": 812.5, "val_loss": 640.0625})
        log({"epoch": 2, "train_loss": 402.75, "val_loss": float("nan")})
    text = plotdata.learning_curves_csv(tmp_path, [("FD002", "mlp", 3)])
    assert text.splitlines()[1:] == ["FD002,mlp,3,1,812.5,640.0625", "FD002,mlp,3,2,402.75,nan"]


def test_missing_dvclive_file_is_named_in_the_error(runs_root: Path) -> None:
    missing = runs_root / "runs/FD001/mlp/rep_1/dvclive/plots/metrics/val_loss.tsv"
    missing.unlink()
    with pytest.raises(DataFormatError, match=re.escape(str(missing)) + r".*run the train stage"):
        plotdata.learning_curves_csv(runs_root, RUNS)
    with pytest.raises(DataFormatError, match=r"runs/FD002/linear/rep_0/dvclive/plots/metrics/train_loss\.tsv: missing"):
        plotdata.learning_curves_csv(runs_root, [("FD002", "linear", 0)])


def test_malformed_or_disagreeing_dvclive_files_are_rejected_naming_the_file(runs_root: Path) -> None:
    folder = runs_root / "runs/FD001/mlp/rep_0/dvclive/plots/metrics"
    (folder / "val_loss.tsv").write_text("step\tval_loss\n1\t3.0\n")
    with pytest.raises(DataFormatError, match=r"train_loss\.tsv and .*val_loss\.tsv: different steps"):
        plotdata.learning_curves_csv(runs_root, RUNS)
    (folder / "val_loss.tsv").write_text("step\tloss\n1\t3.0\n")
    with pytest.raises(DataFormatError, match=r"val_loss\.tsv:1: expected DVCLive header"):
        plotdata.learning_curves_csv(runs_root, RUNS)
    (folder / "val_loss.tsv").write_text("step\tval_loss\n1\tthree\n")
    with pytest.raises(DataFormatError, match=r"val_loss\.tsv:2: expected"):
        plotdata.learning_curves_csv(runs_root, RUNS)


def test_best_run_is_lowest_mean_method_at_its_median_replicate() -> None:
    values = {
        "FD001": {"linear": [20.0, 21.0, 22.0, 23.0], "mlp": [15.0, 18.0, 14.0, 17.0], "cnn1d": [1.0, np.nan, 1.0, 1.0]},
        "FD002": {"linear": [30.0, 31.0, 30.0, 31.0], "mlp": [31.0, 30.0, 31.0, 30.0]},  # tie: first listed wins
        "FD003": {"linear": [np.nan, 1.0, 1.0, 1.0]},  # every method diverged somewhere: left out
    }
    reps = {d: (0, 1, 2, 3) for d in values}
    # FD001: mlp sorted (14.0 r2, 15.0 r0, 17.0 r3, 18.0 r1) → lower median = r0; cnn1d diverged once → not eligible.
    # FD002: linear sorted by (value, replicate) (30.0 r0, 30.0 r2, 31.0 r1, 31.0 r3) → r2.
    assert plotdata.select_best_runs(values, reps) == {"FD001": ("FD001", "mlp", 0), "FD002": ("FD002", "linear", 2)}
    assert plotdata.select_best_runs({"FD001": {"mlp": [9.0, 5.0, 7.0]}}, {"FD001": (4, 5, 6)}) == {"FD001": ("FD001", "mlp", 6)}
    with pytest.raises(ValueError, match=r"values\['FD001'\]\['mlp'\] has shape \(2,\)"):
        plotdata.select_best_runs({"FD001": {"mlp": [1.0, 2.0]}}, {"FD001": (0, 1, 2)})


def test_best_predictions_table_has_the_chosen_runs_only(tmp_path: Path) -> None:
    _write_predictions(tmp_path, ("FD001", "mlp", 1), [(1, 30.0, 35.5), (2, 125.0, 0.1 + 0.2)])
    _write_predictions(tmp_path, ("FD001", "mlp", 0), [(1, 30.0, 99.0)])
    _write_predictions(tmp_path, ("FD002", "linear", 0), [(7, 12.0, math.inf)])
    best = {"FD001": ("FD001", "mlp", 1), "FD002": ("FD002", "linear", 0)}
    text = plotdata.best_predictions_csv(tmp_path, best)
    assert text == (
        "dataset,method,replicate,unit,true_rul,predicted_rul\n"
        "FD001,mlp,1,1,30.0,35.5\nFD001,mlp,1,2,125.0,0.30000000000000004\nFD002,linear,0,7,12.0,inf\n"
    )
    with pytest.raises(DataFormatError, match=r"runs/FD003/mlp/rep_0/predictions\.csv: missing"):
        plotdata.best_predictions_csv(tmp_path, {"FD003": ("FD003", "mlp", 0)})


# --------------------------------------------------------------------------- dvc.yaml plots and templates

TEMPLATE_SOURCES = {"learning_curves": plotdata.LEARNING_CURVES_HEADER, "predictions": plotdata.BEST_PREDICTIONS_HEADER,
                    "seed_spread": "dataset,method,replicate,rmse"}


def _fields(node: Any) -> set[str]:
    """Every ``"field"`` a vega-lite spec reads (encodings, facets, sorts)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "field" and isinstance(value, str):
                found.add(value)
            else:
                found |= _fields(value)
    elif isinstance(node, list):
        for value in node:
            found |= _fields(value)
    return found


def _made_by_transforms(spec: dict[str, Any]) -> set[str]:
    made: set[str] = set()
    for step in spec.get("transform", []):
        made |= set(step["as"]) if isinstance(step.get("as"), list) else {step.get("as")}
    return made - {None}


def test_dvc_yaml_plots_use_aggregate_outs_and_templates_that_read_existing_columns(repo_root: Path) -> None:
    dvc_yaml = yaml.safe_load((repo_root / "dvc.yaml").read_text())
    # an out is a path, or {path: {cache: false, ...}}
    aggregate_outs = {out if isinstance(out, str) else next(iter(out)) for out in dvc_yaml["stages"]["aggregate"]["outs"]}
    declared: dict[str, dict[str, Any]] = {}
    for entry in dvc_yaml["plots"]:
        path, props = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        declared[path] = props
        assert path in aggregate_outs, f"plot source {path} is not an out of the aggregate stage"
    assert {"reports/cd_diagram.png", "reports/seed_spread.png"} <= set(declared)
    templates = {props["template"]: path for path, props in declared.items() if "template" in props}
    assert set(templates) == set(TEMPLATE_SOURCES)
    for name, header in TEMPLATE_SOURCES.items():
        spec = json.loads((repo_root / ".dvc" / "plots" / f"{name}.json").read_text())
        assert spec["data"] == {"values": "<DVC_METRIC_DATA>"}, name
        columns = set(header.split(","))
        props = declared[templates[name]]
        assert {props["x"], props["y"]} <= columns, name
        unknown = _fields(spec) - columns - _made_by_transforms(spec) - {"rev"}  # DVC adds `rev` to every row
        assert not unknown, f"template {name} reads fields its CSV lacks: {sorted(unknown)}"
        assert {"dataset", "method"} <= _fields(spec["facet"]) | _fields(spec["spec"]) | _fields(spec["transform"]), name


def test_live_metrics_dir_is_where_the_logger_writes() -> None:
    assert plotdata.LIVE_METRICS_DIR.startswith(LIVE_DIRNAME + "/")
