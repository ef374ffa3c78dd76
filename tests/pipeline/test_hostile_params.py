"""Hostile params never reach a shell: a `$(touch PWNED)` payload in every value dvc.yaml used to
interpolate into a stage command, through the real `dvc repro` / `dvc exp run -S` in a scratch clone.

The file is never created and the error names the params key (issue 21, finding 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pipeline_helpers import REPO_ROOT, run, tiny_clone

PAYLOAD = "$(touch PWNED)"


def _stage_commands() -> dict[str, str]:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    return {name: (st.get("do") or st)["cmd"] for name, st in stages.items()}


def test_no_stage_command_interpolates_a_value() -> None:
    """Static half of the guarantee: DVC substitutes nothing into any command a shell runs."""
    assert {name: cmd for name, cmd in _stage_commands().items() if "${" in cmd} == {}


def test_the_stage_item_comes_from_the_validated_params() -> None:
    from seedbench.core.names import item_of_stage, matrix_stage_name

    runs = [("FD001", "mlp", 0), ("FD001", "mlp", 1)]
    assert item_of_stage("train@FD001-mlp-1", "train", runs) == ("FD001", "mlp", 1)
    assert item_of_stage("dvc.yaml:train@FD001-mlp-0", "train", runs) == ("FD001", "mlp", 0)
    assert matrix_stage_name("prepare", ("FD002",)) == "prepare@FD002"


@pytest.mark.parametrize("stage", ["train@FD001-mlp-0$(touch PWNED)", "train@FD001-mlp-7", "prepare@FD001-mlp-0", None])
def test_a_stage_name_outside_the_params_is_refused(stage: str | None) -> None:
    from seedbench.core.errors import ParamsError
    from seedbench.core.names import item_of_stage

    with pytest.raises(ParamsError, match="DVC_STAGE"):
        item_of_stage(stage, "train", [("FD001", "mlp", 0)])


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-profile clone whose fetch and prepare stages already ran (so a payload reaches train)."""
    repo = tiny_clone(tmp_path_factory.mktemp("hostile"))
    run(["dvc", "repro", "prepare"], repo)
    return repo


def _edit(params: dict[str, Any], key: str) -> None:
    """Plant PAYLOAD in ``key``, keeping the params otherwise consistent (what a crafted pull request would do)."""
    if key == "replicates":
        params["replicates"] = [f"0{PAYLOAD}"]
    elif key == "methods":
        name = f"mlp{PAYLOAD}"
        params["methods"] = [name]
        params["train"][name] = params["train"]["mlp"]
    elif key == "data.datasets":
        name = f"FD001{PAYLOAD}"
        params["data"]["datasets"] = [name]
        params["prepare"]["windows"][name] = 30
    elif key == "train.determinism":
        params["train"]["determinism"] = f"portable{PAYLOAD}"


@pytest.mark.e2e
@pytest.mark.parametrize("key", ["replicates", "methods", "data.datasets", "train.determinism"])
def test_a_shell_payload_in_params_runs_nothing_and_names_the_key(clone: Path, key: str) -> None:
    (clone / "PWNED").unlink(missing_ok=True)  # each payload on its own
    params_file = clone / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    _edit(params, key)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        done = run(["dvc", "repro"], clone, check=False)
    finally:
        params_file.write_text(original)
    output = done.stdout + done.stderr
    assert not (clone / "PWNED").exists(), output
    assert done.returncode != 0
    if key == "methods":
        # A method is a file: DVC stops first, on the train stage's dep `methods/<name>.py`, naming the file the
        # payload would be (before any command runs, so before ours could name the key).
        assert "methods/mlp$(touch PWNED).py" in output and "No such file" in output, output
    else:
        assert f"params.yaml: {key}" in output, output


@pytest.mark.e2e
def test_dvc_exp_run_set_param_payload_runs_nothing(clone: Path) -> None:
    """The reported command, verbatim: `dvc exp run -S 'replicates=["0$(touch PWNED)"]'`."""
    (clone / "PWNED").unlink(missing_ok=True)
    done = run(["dvc", "exp", "run", "-S", f'replicates=["0{PAYLOAD}"]'], clone, check=False)
    run(["git", "checkout", "params.yaml"], clone)
    output = done.stdout + done.stderr
    assert not (clone / "PWNED").exists(), output
    assert done.returncode != 0 and "params.yaml: replicates[0]: expected integer" in output, output
