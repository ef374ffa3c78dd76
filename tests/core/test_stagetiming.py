"""Stage timings (SEEDBENCH_TIMINGS): what a stage records, and that recording changes no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from seedbench.core.stagetiming import (
    TIMINGS_ENV,
    append_timing,
    process_age_seconds,
    read_timings,
    timed_stage,
)
from seedbench.data.cmapss import write_subset
from seedbench.data.simulate import simulate_subset


def test_without_the_variable_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a default file name would land here
    for environ in ({}, {TIMINGS_ENV: ""}, {"OTHER": "timings.jsonl"}):
        with timed_stage("fetch", environ=environ):
            pass
    assert list(tmp_path.iterdir()) == []
    with timed_stage("fetch", environ={TIMINGS_ENV: "timings.jsonl"}):  # positive control: the same call writes
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["timings.jsonl"]


def test_a_finished_block_appends_one_record_with_its_times_and_memory(tmp_path: Path) -> None:
    target = tmp_path / "timings.jsonl"
    with timed_stage("train@FD001-mlp-0", environ={TIMINGS_ENV: str(target)}):
        time.sleep(0.05)
        busy = np.ones(4_000_000).sum()  # some CPU
    assert busy == 4_000_000
    (record,) = read_timings(target)
    assert record["stage"] == "train@FD001-mlp-0" and record["pid"] == os.getpid()
    assert 0.05 <= record["compute_s"] < 30
    assert 0 < record["cpu_s"] <= record["compute_s"] + 0.05
    assert record["process_s"] >= record["compute_s"]


def test_peak_memory_is_the_processes_peak(tmp_path: Path) -> None:
    """Inside the block a fresh process touches 300 MB more than its peak so far: the record says so.

    (Linux carries the parent's resident size at fork into the child's peak across exec, so "so far" is
    measured, not assumed small.)
    """
    target = tmp_path / "timings.jsonl"
    code = textwrap.dedent(
        f"""
        import numpy as np
        from seedbench.core.stagetiming import peak_rss_bytes, timed_stage
        before = peak_rss_bytes()
        with timed_stage("train@FD001-mlp-0", environ={{"{TIMINGS_ENV}": {str(target)!r}}}):
            block = np.ones((before + 300_000_000) // 8)  # every page touched
        print(before)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    before = int(proc.stdout)
    (record,) = read_timings(target)
    assert record["peak_rss_bytes"] >= before + 290_000_000


def test_a_failed_block_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "timings.jsonl"
    with pytest.raises(ValueError), timed_stage("prepare@FD001", environ={TIMINGS_ENV: str(target)}):
        raise ValueError("bad row")
    assert read_timings(target) == []


def test_process_age_counts_from_interpreter_start() -> None:
    code = "import time; time.sleep(0.3); from seedbench.core.stagetiming import process_age_seconds as a; print(a())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert 0.29 <= float(proc.stdout) < 30
    own = process_age_seconds()
    assert own is not None and own > 0


def test_parallel_writers_never_interleave_lines(tmp_path: Path) -> None:
    target = tmp_path / "timings.jsonl"
    code = textwrap.dedent(
        f"""
        import sys
        from seedbench.core.stagetiming import append_timing
        for i in range(300):
            append_timing({str(target)!r}, {{"stage": sys.argv[1] + "-" + str(i), "pad": "x" * 200}})
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", code, f"w{n}"]) for n in range(3)]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    records = read_timings(target)  # a torn line would fail to parse
    assert sorted(r["stage"] for r in records) == sorted(f"w{n}-{i}" for n in range(3) for i in range(300))
    append_timing(target, {"stage": "last"})
    assert read_timings(target)[-1] == {"stage": "last"}


def test_a_real_stage_records_its_timing_and_writes_the_same_outputs(repo_root: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_subset(simulate_subset("FD001", seed=1, scale=0.05), raw)
    outputs = {}
    for name, extra in (("plain", {}), ("timed", {TIMINGS_ENV: str(tmp_path / "timings.jsonl")})):
        out = tmp_path / name
        env = {k: v for k, v in os.environ.items() if k != TIMINGS_ENV} | extra
        subprocess.run([sys.executable, str(repo_root / "stages" / "prepare.py"), "--params", str(repo_root / "profiles/tiny.yaml"),
                        "--dataset", "FD001", "--raw", str(raw), "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=120, check=True)
        outputs[name] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert outputs["plain"] == outputs["timed"] and "prepare.json" in outputs["timed"]
    (record,) = read_timings(tmp_path / "timings.jsonl")
    assert record["stage"] == "prepare@FD001"
    assert json.loads(outputs["timed"]["prepare.json"])["window"] > 0
