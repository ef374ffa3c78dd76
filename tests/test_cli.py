"""The `seedbench` command: help, errors as one-line messages, compare, report, verify-data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seedbench.cli import build_parser, main
from seedbench.core.files import write_json
from seedbench.core.hashing import file_sha256
from seedbench.core.seeds import replicate_seed
from seedbench.data.record import RawFile, write_source_record

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "example:" in out and f"seedbench {name}" in out, name


def _tree(root: Path, seed: int, rmse: dict[tuple[str, str, int], float]) -> Path:
    """A minimal result tree: params.yaml (tiny profile with ``seed``) and results.json per run."""
    root.mkdir(parents=True)
    text = (REPO_ROOT / "profiles/tiny.yaml").read_text().replace("seed: 42 ", f"seed: {seed} ", 1)
    (root / "params.yaml").write_text(text)
    for (dataset, method, rep), value in rmse.items():
        run_dir = root / "runs" / dataset / method / f"rep_{rep}"
        write_json(run_dir / "results.json", {
            "dataset": dataset, "method": method, "replicate": rep, "seed": replicate_seed(seed, rep),
            "experiment_seed": seed, "n_test_units": 10, "metrics": {"rmse": value, "mae": value, "nasa_score": value},
        })
        (run_dir / "predictions.csv").write_text("unit,true_rul,predicted_rul\n1,10.0,12.5\n2,20.0,17.0\n3,30.0,31.0\n")
    return root


def _run_intervals(root: Path, confidence: float = 0.95) -> None:
    """``reports/run_intervals.json`` of a tree, as the aggregate stage writes it (200 resamples)."""
    from seedbench.results.intervals import run_intervals_report
    from seedbench.results.trees import collect_predictions, expected_runs, folder_reader, read_tree_params

    read = folder_reader(root)
    params = read_tree_params(read, where="tree")
    write_json(root / "reports" / "run_intervals.json", run_intervals_report(
        collect_predictions(read, params, where="tree"), expected_runs(params), experiment_seed=params.seed,
        confidence=confidence, n_resamples=200))


def _values(offset: float) -> dict[tuple[str, str, int], float]:
    return {(d, m, r): 20.0 + offset + i + 0.5 * r
            for i, (d, m) in enumerate([(d, m) for d in ("FD001", "FD002") for m in ("linear", "mlp")])
            for r in (0, 1)}


def test_compare_bit_and_seed_levels_on_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", 42, _values(0.0))
    b = _tree(tmp_path / "b", 42, _values(0.0))
    assert main(["compare", str(a), str(b), "--level", "bit"]) == 0
    assert "bit-exact: PASS (8 of 8 runs pass)" in capsys.readouterr().out

    shutil.rmtree(b)
    b = _tree(tmp_path / "b", 42, _values(0.005))
    assert main(["compare", str(a), str(b), "--level", "bit"]) == 1
    assert main(["compare", str(a), str(b), "--level", "seed"]) == 0
    assert main(["compare", str(a), str(b), "--level", "seed", "--tolerance", "0.001"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  FD001/linear/rep_0" in out and "seed-stable: FAIL" in out


def test_compare_bit_reports_a_difference_in_the_per_run_intervals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", 42, _values(0.0))
    b = _tree(tmp_path / "b", 42, _values(0.0))
    _run_intervals(a)
    _run_intervals(b)
    assert main(["compare", str(a), str(b), "--level", "bit"]) == 0
    capsys.readouterr()

    _run_intervals(b, confidence=0.9)  # same results and predictions, other per-run intervals
    assert main(["compare", str(a), str(b), "--level", "bit"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  FD001/linear/rep_0" in out and "differ: rmse_ci" in out and "bit-exact: FAIL (0 of 8 runs pass)" in out
    assert main(["compare", str(a), str(b), "--level", "seed"]) == 0  # only the bit level reads the intervals

    (b / "reports" / "run_intervals.json").unlink()  # an interval on one side only
    assert main(["compare", str(a), str(b), "--level", "bit"]) == 1
    assert "differ: rmse_ci" in capsys.readouterr().out


def test_compare_bit_refuses_intervals_of_other_predictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", 42, _values(0.0))
    _run_intervals(a)
    (a / "runs/FD002/mlp/rep_1/predictions.csv").write_text("unit,true_rul,predicted_rul\n1,10.0,11.0\n")
    assert main(["compare", str(a), str(a), "--level", "bit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reports/run_intervals.json" in err and "FD002/mlp/rep_1" in err
    assert "rerun `dvc repro aggregate`" in err


def test_compare_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", 42, _values(0.0))
    assert main(["compare", str(a), str(a), "--level", "distribution", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] is True and payload["level"] == "distribution" and len(payload["rows"]) == 4


def test_compare_refuses_a_tree_with_missing_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", 42, _values(0.0))
    values = _values(0.0)
    del values[("FD002", "mlp", 1)]
    b = _tree(tmp_path / "b", 42, values)
    assert main(["compare", str(a), str(b), "--level", "seed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs/FD002/mlp/rep_1/results.json" in err


def test_report_without_a_run_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--file", str(tmp_path / "summary.md")]) == 2
    assert "no report yet" in capsys.readouterr().err


def test_verify_data_reports_changed_missing_and_unlisted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    files = []
    for name in ("FD001/train_FD001.txt", "FD001/test_FD001.txt", "FD001/RUL_FD001.txt"):
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(f"{name}\n")
        files.append(RawFile(path=name, size=(raw / name).stat().st_size, sha256=file_sha256(raw / name), origin={}))
    write_source_record(raw, "builtin", files, {})
    assert main(["verify-data", "--raw", str(raw)]) == 0
    assert "3 of 3 files match" in capsys.readouterr().out

    (raw / "FD001/train_FD001.txt").write_text("tampered\n")
    (raw / "FD001/RUL_FD001.txt").unlink()
    (raw / "FD001/extra.txt").write_text("?\n")
    assert main(["verify-data", "--raw", str(raw)]) == 1
    out = capsys.readouterr().out
    assert "CHANGED   " in out and "FD001/train_FD001.txt" in out
    assert "MISSING   " in out and "FD001/RUL_FD001.txt" in out
    assert "UNLISTED  " in out and "FD001/extra.txt" in out


def test_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    from seedbench.core.errors import DataFormatError

    with pytest.raises(DataFormatError):
        main(["--debug", "report", "--file", str(tmp_path / "none.md")])
