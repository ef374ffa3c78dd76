"""``reports/metrics.json``: the lean DVC metric, and what the real ``dvc exp show`` makes of it in 120 columns."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
from pathlib import Path

import pytest
from dvc_repo import dvc_env

from seedbench.reporting.dvcmetrics import (
    cell_text,
    exp_show_metrics,
    metric_key,
    parse_metric_value,
)

DEFAULT_KEYS = (["FD001", "FD002"], ["linear", "mlp", "cnn1d", "bilstm"])
"""The default profile's datasets × methods (params.yaml)."""
TINY_KEYS = (["FD001", "FD002"], ["linear", "mlp"])
TUTORIAL = ["dvc", "exp", "show", "--only-changed", "--drop", "Created"]
"""The README tutorial's command (plus --no-pager below: a test has no one to quit the pager)."""


def _cell(mean: float | None, sem: float | None, n_nan: int = 0) -> dict:
    return {"mean": mean, "sem": sem, "n_nan": n_nan}


def test_a_cell_is_mean_and_sem_with_one_decimal_and_marks_divergence():
    assert cell_text(_cell(30.04, 2.449)) == "30.0±2.4"
    assert cell_text(_cell(30.04, None)) == "30.0"  # 1 seed: no SEM
    assert cell_text(_cell(None, None, 5)) == "—*"
    assert cell_text(_cell(18.0, 0.5, 2)) == "18.0±0.5*"


def test_one_key_per_method_naming_the_datasets_in_value_order():
    datasets, methods = DEFAULT_KEYS
    cells = {(d, m, "rmse"): _cell(10.0 * i + j, 0.1 * (j + 1)) for i, d in enumerate(datasets, 1) for j, m in enumerate(methods)}
    metrics = exp_show_metrics(cells, datasets, methods)
    assert list(metrics) == [f"{m} FD001|FD002" for m in methods] == [metric_key(m, datasets) for m in methods]
    assert metrics["mlp FD001|FD002"] == "11.0±0.2|21.0±0.2"
    assert parse_metric_value(metrics["bilstm FD001|FD002"]) == [(13.0, 0.4), (23.0, 0.4)]
    assert parse_metric_value("—*|30.0") == [(None, None), (30.0, None)]


def _render_in_a_terminal(cmd: list[str], cwd: Path, columns: int) -> str:
    """``cmd``'s output as a terminal of ``columns`` columns shows it (a real pty: DVC sizes tables only for a tty)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = dvc_env({"COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"})
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    while select.select([master], [], [], 120)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    text = b"".join(chunks).decode("utf-8", errors="replace").replace("\r", "")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]", "", text)  # colours, cursor codes


MAKE_METRICS = '''\
import json, sys, yaml
import numpy as np
from seedbench.reporting.dvcmetrics import exp_show_metrics
p = yaml.safe_load(open("params.yaml"))
rng = np.random.default_rng(p["seed"])
cells = {(d, m, "rmse"): {"mean": float(rng.uniform(14, 40)), "sem": float(rng.uniform(0.1, 2.5)), "n_nan": 0}
         for d in p["datasets"] for m in p["methods"]}
json.dump(exp_show_metrics(cells, p["datasets"], p["methods"]), open("reports/metrics.json", "w"))
'''


@pytest.mark.e2e
@pytest.mark.parametrize("keys", [DEFAULT_KEYS, TINY_KEYS], ids=["default-profile", "tiny-profile"])
def test_tutorial_exp_show_fits_120_columns_with_seed_and_every_cell(tmp_path, keys):
    """A scratch DVC repo whose stage writes metrics.json (fabricated numbers, the profile's keys); a seed33 experiment."""
    datasets, methods = keys
    env = dvc_env()

    def run(*cmd: str) -> None:
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True, text=True, timeout=120)

    (tmp_path / "reports").mkdir()
    (tmp_path / "make_metrics.py").write_text(MAKE_METRICS)
    (tmp_path / "params.yaml").write_text(f"seed: 42\ndatasets: {datasets}\nmethods: {methods}\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  aggregate:\n    cmd: python make_metrics.py\n    deps: [make_metrics.py]\n"
        "    params: [seed, datasets, methods]\n    metrics:\n      - reports/metrics.json:\n          cache: false\n"
    )
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("dvc", "repro", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "seed 42")
    run("dvc", "exp", "run", "-q", "-n", "seed33", "-S", "seed=33")
    shown = _render_in_a_terminal([*TUTORIAL, "--no-pager"], tmp_path, columns=120)
    lines = [line for line in shown.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 120, shown
    header = next(line for line in lines if "Experiment" in line)
    assert "…" not in shown, shown  # DVC elides the columns that do not fit with "…"
    assert header.split()[-1] == "seed", shown
    for m in methods:
        assert metric_key(m, datasets) in header, (m, shown)
    rows = {name: line for name in ("workspace", "seed33") for line in lines if name in line}
    assert rows["seed33"].split()[-1] == "33", shown
    values = [v for v in rows["seed33"].split() if "±" in v]
    assert len(values) == len(methods)
    assert all(len(parse_metric_value(v)) == len(datasets) and None not in parse_metric_value(v)[0] for v in values)
