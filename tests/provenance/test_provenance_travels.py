"""Deterministic provenance is a DVC output: bit-exact forced re-runs, the run-cache, dirty code.

One micro repository (FD001 × linear × 2 seeds, tests/dvc_repo.py) for the module, used in
order: a forced re-run leaves the committed dvc.lock (manifests included) unchanged; a run-cache
round trip (seed 42 → 46 → 42, nothing re-runs on the way back) leaves every manifest describing
the results beside it; an uncommitted code change makes a manifest that replay refuses, naming the file.
Unit tests at the top pin the volatile record's link to its manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dvc_repo import make_repo, micro_params, run

from seedbench.core.seeds import replicate_seed
from seedbench.provenance.volatile import (
    build_volatile_record,
    experiment_from_environ,
    read_volatile,
    write_volatile,
)

RUNS = [("FD001", "linear", 0), ("FD001", "linear", 1)]


def test_a_volatile_record_belongs_only_to_the_manifest_it_was_written_with(tmp_path: Path) -> None:
    manifest = {"kind": "run", "seeds": {"experiment_seed": 42}}
    record = build_volatile_record(kind="run", manifest=manifest, created_at="2026-01-01T00:00:00+00:00",
                                   wall_clock_seconds=1.0, host="h", git={"git_sha": "a" * 40, "dirty": False},
                                   experiment=None)
    write_volatile(record, tmp_path)
    assert read_volatile(tmp_path, manifest) == record
    assert read_volatile(tmp_path, {**manifest, "seeds": {"experiment_seed": 46}}) is None, "stale: another run's"
    assert read_volatile(tmp_path / "absent", manifest) is None


def test_the_experiment_comes_from_dvcs_variables() -> None:
    assert experiment_from_environ({}) is None
    assert experiment_from_environ({"DVC_EXP_NAME": "seed33", "DVC_EXP_BASELINE_REV": "b" * 40}) == {
        "name": "seed33", "baseline_rev": "b" * 40}


# --------------------------------------------------------------------------- on a real pipeline


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("travels") / "repo", micro_params())
    run(["dvc", "repro"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "results"], path)
    return path


def _manifests(repo: Path) -> tuple[dict, list[dict]]:
    runs = [json.loads((repo / f"runs/{d}/{m}/rep_{r}/manifest.json").read_text()) for d, m, r in RUNS]
    return json.loads((repo / "publish/manifest.json").read_text()), runs


def _set_seed(repo: Path, seed: int) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["seed"] = seed
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.e2e
def test_forced_rerun_reproduces_the_lockfile_with_its_manifests_bit_for_bit(repo: Path) -> None:
    lock = (repo / "dvc.lock").read_text()
    assert "path: publish/manifest.json" in lock and "rep_1/manifest.json" in lock and "volatile.json" not in lock
    volatile_before = (repo / "publish/volatile.json").read_text()
    run(["dvc", "repro", "--force"], repo)
    assert run(["git", "diff", "--exit-code", "dvc.lock"], repo, check=False).returncode == 0, \
        run(["git", "diff", "dvc.lock"], repo).stdout
    assert (repo / "publish/volatile.json").read_text() != volatile_before, "the volatile half did change"
    assert run(["git", "status", "--porcelain"], repo).stdout == "", "nothing volatile is tracked"


@pytest.mark.e2e
def test_run_cache_round_trip_leaves_every_manifest_describing_the_results_beside_it(repo: Path) -> None:
    _set_seed(repo, 46)
    run(["dvc", "repro"], repo)
    assert _manifests(repo)[0]["seeds"]["experiment_seed"] == 46
    _set_seed(repo, 42)
    back = run(["dvc", "repro"], repo)
    assert "Running stage" not in back.stdout, "every stage is restored from the run-cache"
    experiment, runs = _manifests(repo)
    for (dataset, method, rep), manifest in zip(RUNS, runs, strict=True):
        folder = repo / f"runs/{dataset}/{method}/rep_{rep}"
        results = json.loads((folder / "results.json").read_text())
        assert manifest["seeds"]["experiment_seed"] == results["experiment_seed"] == 42
        assert manifest["seeds"]["seed"] == results["seed"] == replicate_seed(42, rep)
        assert manifest["config"]["params"]["seed"] == 42
        assert read_volatile(folder, manifest) is None, "seed 46's times and host do not pass for seed 42's"
    assert experiment["seeds"]["experiment_seed"] == 42 and experiment["config"]["seed"] == 42
    for entry, manifest in zip(experiment["runs"], runs, strict=True):
        folder = repo / f"runs/{entry['dataset']}/{entry['method']}/rep_{entry['replicate']}"
        assert entry["results"] == json.loads((folder / "results.json").read_text())
        assert entry["manifest"] == manifest and entry["dvc_lock_matches_run_manifest"] is True
    assert run(["git", "diff", "--exit-code", "dvc.lock"], repo, check=False).returncode == 0


@pytest.mark.e2e
def test_a_manifest_from_uncommitted_code_is_refused_naming_the_file(repo: Path) -> None:
    script = repo / "stages/aggregate.py"
    original = script.read_text()
    try:
        script.write_text(original + "\n# an uncommitted change\n")
        run(["dvc", "repro"], repo)
        volatile = json.loads((repo / "publish/volatile.json").read_text())
        assert volatile["git"]["dirty"] is True and "stages/aggregate.py" in volatile["git"]["dirty_paths"]
        refused = run(["seedbench", "replay", "publish/manifest.json"], repo, check=False)
    finally:
        script.write_text(original)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "dirty manifest" in refused.stderr and "stages/aggregate.py (changed)" in refused.stderr
    assert "re-running" not in refused.stderr
    assert run(["git", "worktree", "list"], repo).stdout.count("\n") == 1, "the scratch worktree is removed"
