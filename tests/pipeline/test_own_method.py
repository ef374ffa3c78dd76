"""Bring your own method: one new file + two params lines put it through the whole pipeline (issue 17).

A temporary clone (tiny profile, FD001, 2 seeds) gains ``methods/mygru.py``; `dvc repro` must carry it into the
reports, claims and manifests; `dvc repro --force` must give the same dvc.lock; editing only that file must make
`dvc status` name only its train stages (aggregate and publish follow from their outputs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import clean_env, run, tiny_clone

pytestmark = pytest.mark.e2e


def test_a_new_method_file_joins_the_benchmark_and_reproduces(tmp_path: Path) -> None:
    repo = tiny_clone(tmp_path / "repo")
    env = clean_env()
    shutil.copy(repo / "methods" / "gru.py", repo / "methods" / "mygru.py")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["datasets"] = ["FD001"]
    params["methods"] = ["linear", "mygru"]
    params["train"]["mygru"] = {**params["train"]["gru"], "max_epochs": 2}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "mygru"], repo)

    run(["dvc", "repro"], repo, env=env)
    summary = json.loads((repo / "reports" / "summary.json").read_text())
    assert summary["FD001.mygru.rmse.n"] == 2 and summary["FD001.mygru.rmse.n_nan"] == 0
    claims = json.dumps(json.loads((repo / "reports" / "claims.json").read_text()))
    assert "mygru" in claims
    run_manifest = json.loads((repo / "runs/FD001/mygru/rep_1/manifest.json").read_text())
    assert "methods/mygru.py" in run_manifest["code_hashes"]  # the method's code is its provenance
    assert run_manifest["dvc_lock"]["deps"]["methods/mygru.py"]
    experiment = json.loads((repo / "publish" / "manifest.json").read_text())
    assert {r["method"] for r in experiment["runs"]} == {"linear", "mygru"}
    assert "mygru" in (repo / "publish" / "CHECKLIST.md").read_text()

    lock = (repo / "dvc.lock").read_bytes()
    run(["dvc", "repro", "--force"], repo, env=env)
    assert (repo / "dvc.lock").read_bytes() == lock  # every output, mygru's included, bit for bit

    assert json.loads(run(["dvc", "status", "--json"], repo, env=env).stdout or "{}") == {}
    method_file = repo / "methods" / "mygru.py"
    method_file.write_text(method_file.read_text().replace("nn.Linear(hidden_size, 1)", "nn.Linear(hidden_size, 1, bias=True)"))
    stale = set(json.loads(run(["dvc", "status", "--json"], repo, env=env).stdout))
    assert stale == {"train@FD001-mygru-0", "train@FD001-mygru-1", "publish"}  # publish records every code file
