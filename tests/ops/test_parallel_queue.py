"""Parallel seeds on one machine: `seedbench repro -j 2` (matrix runs side by side) and DVC's experiment queue.

Both on the micro profile in a temporary git repository; about 45 s on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from dvc_repo import dvc_env, make_repo, micro_params, run

from seedbench.core.errors import ParamsError
from seedbench.ops.parallel import check_thread_budget, make_plan, sort_lockfile
from seedbench.provenance.volatile import read_volatile
from seedbench.reporting.dvcmetrics import metric_key, parse_metric_value

# -- planning (no DVC) ------------------------------------------------------------------------------

DEPS = {
    "fetch": set(),
    "prepare@FD001": {"fetch"},
    "train@FD001-linear-0": {"prepare@FD001"},
    "train@FD001-linear-1": {"prepare@FD001"},
    "aggregate": {"train@FD001-linear-0", "train@FD001-linear-1"},
}

# A pipeline with a second matrix group per run (``score@…`` after ``train@…``): what make_plan's ``groups`` allow.
DEPS_TWO_GROUPS = {
    "prepare@FD001": set(),
    "train@FD001-linear-0": {"prepare@FD001"},
    "train@FD001-linear-1": {"prepare@FD001"},
    "score@FD001-linear-0": {"train@FD001-linear-0"},
    "score@FD001-linear-1": {"train@FD001-linear-1"},
    "aggregate": {"score@FD001-linear-0", "score@FD001-linear-1", "train@FD001-linear-0"},
}


@pytest.mark.parametrize(("jobs", "threads", "cores"), [(2, 1, 2), (1, 2, 2), (4, 1, 4), (8, 1, None)])
def test_thread_budget_allows_workers_times_threads_up_to_the_cores(jobs: int, threads: int, cores: int | None) -> None:
    check_thread_budget(jobs, threads, cores)


def test_oversubscription_is_refused_naming_jobs_and_torch_threads() -> None:
    with pytest.raises(ParamsError, match=r"-j 2 × train.torch_threads 2 = 4 threads > 2 cores.*torch_threads to 1"):
        check_thread_budget(2, 2, 2)


def test_plan_runs_upstream_first_and_each_run_as_one_unit() -> None:
    plan = make_plan(DEPS, None)
    assert plan.upstream == ("fetch", "prepare@FD001")
    assert plan.units == (("train@FD001-linear-0",), ("train@FD001-linear-1",))
    changed = make_plan(DEPS, {"train@FD001-linear-1", "aggregate"})
    assert changed.units == (("train@FD001-linear-1",),) and changed.skipped_units == 1


def test_a_unit_keeps_every_group_of_one_run_together_in_group_order() -> None:
    groups = ("train", "score")
    plan = make_plan(DEPS_TWO_GROUPS, None, groups)
    assert plan.units == (("train@FD001-linear-0", "score@FD001-linear-0"),
                          ("train@FD001-linear-1", "score@FD001-linear-1"))
    changed = make_plan(DEPS_TWO_GROUPS, {"score@FD001-linear-1", "aggregate"}, groups)
    assert changed.units == (("train@FD001-linear-1", "score@FD001-linear-1"),) and changed.skipped_units == 1


def test_lockfile_entries_are_put_in_pipeline_order(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  b:\n    cmd: x\n  a:\n    cmd: y\n")
    assert sort_lockfile(lock, ["a", "b"]) is True
    assert list(yaml.safe_load(lock.read_text())["stages"]) == ["a", "b"]
    assert sort_lockfile(lock, ["a", "b"]) is False


# -- the real thing ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("parallel") / "repo", micro_params(replicates=(0, 1), torch_threads=1))


@pytest.mark.e2e
def test_seedbench_repro_runs_the_matrix_on_a_local_cluster_and_writes_dvc_repros_lock(
        repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    sequential = make_repo(tmp_path_factory.mktemp("sequential") / "repo", micro_params(replicates=(0, 1), torch_threads=1))
    run(["dvc", "repro"], sequential)
    result = run(["seedbench", "repro", "-j", "2"], repo)
    assert "2 runs to reproduce, 0 up to date; 2 workers" in result.stdout
    assert result.stdout.count(" done in ") == 3  # two runs and the whole
    assert "(2 of 2 runs warm)" in result.stdout  # train's command ran in the forking runner, not a fresh Python
    assert (repo / "dvc.lock").read_bytes() == (sequential / "dvc.lock").read_bytes()
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], repo).stdout
    for rep in (0, 1):
        manifest = json.loads((repo / f"runs/FD001/linear/rep_{rep}/manifest.json").read_text())
        assert manifest["determinism"]["torch_threads"] == 1
        volatile = read_volatile(repo / f"runs/FD001/linear/rep_{rep}", manifest)  # brought back from the worker
        assert volatile is not None and volatile["kind"] == "run", volatile
    stages = list(yaml.safe_load((repo / "dvc.lock").read_text())["stages"])
    assert stages.index("train@FD001-linear-0") < stages.index("train@FD001-linear-1") < stages.index("aggregate")


@pytest.mark.e2e
def test_queued_seed_sets_run_two_at_a_time_with_one_thread_each(repo: Path) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--allow-empty", "-m", "baseline"], repo)
    for seed in (33, 34):
        run(["dvc", "exp", "run", "--queue", "-n", f"seeds{seed}", "-S", f"seed={seed}", "-S", "train.torch_threads=1"],
            repo)
    # The workers it starts outlive `dvc queue start` and inherit its stdout: give it a file, not a pipe.
    with open(repo.parent / "queue-start.log", "w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=repo, env=dvc_env(), stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=120)
    most_running, seen = wait_for_queue(repo, timeout=240)
    assert most_running == 2, seen

    rows = exp_rows(json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout))
    key = metric_key("linear", ["FD001"])
    for seed in (33, 34):
        row = rows[f"seeds{seed}"]
        assert row["params"]["seed"] == seed and row["params"]["train"]["torch_threads"] == 1
        assert parse_metric_value(row["metrics"][key])[0][0] > 0
    assert rows["seeds33"]["metrics"][key] != rows["seeds34"]["metrics"][key]


def wait_for_queue(repo: Path, timeout: float) -> tuple[int, str]:
    """Poll `dvc queue status` until nothing is queued or running; return the most tasks seen running at once
    (and every status seen, for messages)."""
    deadline = time.monotonic() + timeout
    most = 0
    seen = []
    while True:
        lines = run(["dvc", "queue", "status"], repo).stdout.splitlines()
        seen.append("\n".join(lines))
        running = sum(1 for line in lines if " Running " in f" {line} ")
        waiting = sum(1 for line in lines if " Queued " in f" {line} ")
        most = max(most, running)
        failed = [line for line in lines if " Failed " in f" {line} "]
        assert not failed, "\n".join(lines) + "\n" + run(["dvc", "queue", "logs", failed[0].split()[0]], repo,
                                                        check=False).stdout[-3000:]
        if running == 0 and waiting == 0:
            run(["dvc", "queue", "stop"], repo, check=False)
            return most, "\n---\n".join(seen)
        assert time.monotonic() < deadline, "\n".join(lines)
        time.sleep(1.0)


def exp_rows(shown: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``dvc exp show --json`` as ``{experiment name: {"params": …, "metrics": …}}``."""
    rows: dict[str, dict[str, Any]] = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                rows[rev.get("name") or rev.get("rev")] = {
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": data.get("metrics", {}).get("reports/metrics.json", {}).get("data", {}),
                }
    return rows
