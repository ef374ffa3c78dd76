"""README promises about what a params change re-runs, checked with DVC's own `dvc status` on a real pipeline.

"changing `stats.*` re-aggregates without retraining; changing `train.mlp` retrains only the `mlp` runs;
changing `train.num_workers` retrains nothing" — and `seedbench repro -j 2` gives the same dvc.lock as
`dvc repro`. Each params test edits the shared tiny pipeline's params.yaml and restores it. The per-run
bootstrap interval (`reports/run_intervals.json`) uses `stats.confidence` and `stats.n_resamples`: it is the
aggregate stage's, so those two rerun aggregate (and publish) and no train stage either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipeline_helpers import files_written_by_pipeline, run, tiny_clone

pytestmark = pytest.mark.e2e


@contextmanager
def params_changed(repo: Path, change: dict[str, Any]) -> Iterator[None]:
    """``params.yaml`` with dotted keys set to new values, restored byte for byte afterwards."""
    path = repo / "params.yaml"
    original = path.read_bytes()
    data = yaml.safe_load(original)
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        yield
    finally:
        path.write_bytes(original)


def stale_stages(repo: Path, env: dict[str, str]) -> set[str]:
    """Names of the stages `dvc status` says would re-run (their own deps or params changed), but `publish`.

    `publish` depends on the whole params file (the checklist carries the hash of the whole config), so any
    params change re-runs it; it trains and aggregates nothing. Every test below asserts that it is there.
    """
    stale = set(json.loads(run(["dvc", "status", "--json"], repo, env=env).stdout or "{}"))
    assert not stale or "publish" in stale, stale
    return stale - {"publish"}


def test_the_shared_pipeline_is_up_to_date(tiny_pipeline: dict[str, Any]) -> None:
    assert json.loads(run(["dvc", "status", "--json"], tiny_pipeline["repo"], env=tiny_pipeline["env"]).stdout) == {}


def test_changing_num_workers_retrains_nothing(tiny_pipeline: dict[str, Any]) -> None:
    repo, env = tiny_pipeline["repo"], tiny_pipeline["env"]
    with params_changed(repo, {"train.num_workers": 2}):
        assert stale_stages(repo, env) == set()  # publish only


def test_changing_stats_reaggregates_without_retraining(tiny_pipeline: dict[str, Any]) -> None:
    repo, env = tiny_pipeline["repo"], tiny_pipeline["env"]
    with params_changed(repo, {"stats.seed_stable_tolerance": 0.02}):
        assert stale_stages(repo, env) == {"aggregate"}
    # the per-run intervals use these two; aggregate computes them, so no train stage reruns
    with params_changed(repo, {"stats.confidence": 0.9}):
        assert stale_stages(repo, env) == {"aggregate"}
    with params_changed(repo, {"stats.n_resamples": 1000}):
        assert stale_stages(repo, env) == {"aggregate"}


def test_changing_n_resamples_reruns_aggregate_and_publish_and_no_train(tiny_pipeline: dict[str, Any]) -> None:
    """`dvc repro` itself (not only `dvc status`): new per-run intervals, no run folder touched; then back again."""
    repo, env = tiny_pipeline["repo"], tiny_pipeline["env"]
    before = {p: p.read_bytes() for p in [repo / "dvc.lock", *files_written_by_pipeline(repo)]}
    try:
        with params_changed(repo, {"stats.n_resamples": 1000}):
            out = run(["dvc", "repro"], repo, env=env).stdout
            ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
            assert ran == {"aggregate", "publish"}, out
            report = json.loads((repo / "reports/run_intervals.json").read_text())
            assert report["n_resamples"] == 1000 and all(r["rmse_ci"]["n_resamples"] == 1000 for r in report["runs"])
            runs = [p for p in before if "runs" in p.relative_to(repo).parts[:1]]
            assert runs and all(p.read_bytes() == before[p] for p in runs)  # results.json, predictions, models as they were
    finally:
        run(["dvc", "repro"], repo, env=env)  # params restored: the run-cache brings aggregate's and publish's outputs back
        after = {p: p.read_bytes() if p.is_file() else None for p in before}
        for path, data in before.items():
            if after[path] != data:
                path.write_bytes(data)  # publish/volatile.json (times, host; no DVC out): the shared run's own again
    assert [p.relative_to(repo).as_posix() for p in before if after[p] != before[p]] == ["publish/volatile.json"]


def test_changing_one_method_retrains_only_that_method(tiny_pipeline: dict[str, Any]) -> None:
    repo, env, params = tiny_pipeline["repo"], tiny_pipeline["env"], tiny_pipeline["params"]
    with params_changed(repo, {"train.mlp.lr": 0.001}):
        stale = stale_stages(repo, env)
    expected = {f"train@{d}-mlp-{r}" for d in params.data.datasets for r in params.replicates}
    assert stale == expected


def test_parallel_repro_writes_the_same_lock_as_dvc_repro(tiny_pipeline: dict[str, Any], tmp_path: Path) -> None:
    repo = tiny_clone(tmp_path / "parallel")
    run(["seedbench", "repro", "-j", "2"], repo, env=tiny_pipeline["env"], timeout=900)
    assert (repo / "dvc.lock").read_text() == (tiny_pipeline["repo"] / "dvc.lock").read_text()
