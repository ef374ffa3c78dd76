"""``seedbench doctor``: traces of identical runs compare equal; a planted difference is named at its op and module.

The planted differences are what the cross-vendor probe found the hard way: a
step whose output depends on the thread count (as a sum split by thread
would), or on the run. ``vary --determinism native,portable`` runs the real
variations on this machine. The doctor must run on a host with torch and
numpy only, so one test blocks DVC, DVCLive, the Hub client and the other
pipeline libraries while it records and compares.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from seedbench.core.errors import ParamsError
from seedbench.core.params import load_params
from seedbench.data.preparation import save_prepared
from seedbench.verify.doctor import (
    load_windows,
    parse_variations,
    record_trace,
    write_trace,
)
from seedbench.verify.doctor_compare import (
    compare_traces,
    comparison_text,
    describe_divergence,
)


@pytest.fixture(scope="module")
def tiny(repo_root: Path) -> Any:
    return load_params(repo_root / "profiles" / "tiny.yaml")


def _record(params: Any, method: str = "mlp", **kwargs: Any) -> dict[str, Any]:
    return record_trace(params, dataset="FD001", method=method, steps=2, determinism="native", torch_threads=1, **kwargs)


def _plant_on(name: str, noise: Any) -> Any:
    """Make module ``name``'s forward add ``noise()`` (a float) to its output, inside that module."""
    def plant(model: torch.nn.Module) -> None:
        layer = dict(model.named_modules())[name]
        forward = layer.forward
        layer.forward = lambda x: forward(x) + noise()  # type: ignore[method-assign]
    return plant


def test_traces_of_two_identical_runs_compare_equal(tiny: Any, tmp_path: Path, repo_root: Path) -> None:
    a, b = _record(tiny), _record(tiny)
    result = compare_traces(a, b)
    assert result["identical"] and result["first_op"] is None and result["environment"] == []
    assert len(a["ops"]) > 100 and [s["step"] for s in a["steps"]] == [1, 2]
    assert {"cpu_model", "cpu_flags", "torch_cpu_capability", "torch_threads", "mode_env", "torch_version",
            "mkl_version", "numpy_version", "os"} <= set(a["environment"])
    assert a["environment"]["os"]["libc"][0] and "os_release" in a["environment"]["os"]
    phases = {op["phase"] for op in a["ops"]}
    assert {"forward", "backward", "optimizer", "validation"} <= phases
    write_trace(a, tmp_path / "a.json")
    write_trace(b, tmp_path / "b.json")
    proc = subprocess.run([sys.executable, "-m", "seedbench.cli", "doctor", "compare", str(tmp_path / "a.json"),
                           str(tmp_path / "b.json")], capture_output=True, text=True, cwd=repo_root, check=False)
    assert proc.returncode == 0 and "identical" in proc.stdout


def test_thread_dependent_noise_is_named_at_its_op_and_module(tiny: Any) -> None:
    plant = _plant_on("net.4", lambda: 1e-3 * (torch.get_num_threads() - 1))  # like a sum split by thread
    one = record_trace(tiny, dataset="FD001", method="mlp", steps=2, determinism="native", torch_threads=1, plant=plant)
    two = record_trace(tiny, dataset="FD001", method="mlp", steps=2, determinism="native", torch_threads=2, plant=plant)
    torch.set_num_threads(1)
    result = compare_traces(one, two)
    first = result["first_op"]
    assert first["kind"] == "output" and first["a"]["op"] == "aten::add" and first["a"]["module"] == "net.4"
    assert first["a"]["step"] == 1 and first["a"]["phase"] == "forward"
    assert first["size"]["sum_delta"] > 0
    assert result["first_parameters"]["step"] == 1
    text = comparison_text(result)
    assert "first differing op" in text and "aten::add in net.4 (step 1, forward" in text
    assert "environment torch_threads: 1 vs 2" in text


def test_run_dependent_noise_in_a_convolution_is_named_in_that_layer(tiny: Any) -> None:
    a = _record(tiny, "cnn1d", plant=_plant_on("net.convs.1", lambda: 0.0))
    b = _record(tiny, "cnn1d", plant=_plant_on("net.convs.1", lambda: 1e-4))  # this run's noise
    first = compare_traces(a, b)["first_op"]
    assert (first["a"]["op"], first["a"]["module"], first["a"]["step"]) == ("aten::add", "net.convs.1", 1)
    assert "aten::add in net.convs.1" in describe_divergence(first)


@pytest.mark.e2e  # two fresh training processes (native and portable, through the launcher)
def test_vary_determinism_names_the_first_op_that_differs(repo_root: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "seedbench.cli", "doctor", "vary", "--params", "profiles/tiny.yaml",
                           "--dataset", "FD001", "--method", "mlp", "--steps", "1", "--determinism", "native,portable"],
                          capture_output=True, text=True, cwd=repo_root, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "--- {'determinism': 'portable'}: DIFFERENT" in proc.stdout
    assert "first differing op #" in proc.stdout or "op sequences part at #" in proc.stdout
    assert "environment determinism: 'native' vs 'portable'" in proc.stdout


def test_vary_takes_exactly_one_option_with_two_values() -> None:
    assert parse_variations("1,2", None, None) == [{"torch_threads": 1}, {"torch_threads": 2}]
    assert parse_variations(None, "native,portable", None) == [{"determinism": "native"}, {"determinism": "portable"}]
    with pytest.raises(ParamsError, match="exactly one of --threads, --determinism, --workers"):
        parse_variations("1,2", None, "0,2")
    with pytest.raises(ParamsError, match="at least two"):
        parse_variations(None, None, "0")


BLOCKED = ("dvc", "dvclive", "huggingface_hub", "mlcroissant", "scipy", "pandas", "matplotlib", "scikit_posthocs",
           "httpx", "requests")
NO_PIPELINE_LIBRARIES = textwrap.dedent(
    """
    import sys
    blocked = set(sys.argv[1].split(","))
    for name in blocked:
        sys.modules[name] = None  # as if not installed: import raises ModuleNotFoundError, find_spec gives None
    from seedbench.cli import main
    out = sys.argv[2]
    assert main(["doctor", "record", "--params", "profiles/tiny.yaml", "--dataset", "FD001", "--method", "mlp",
                 "--steps", "1", "--determinism", "native", "--prepared", out + "/prepared", "-o", out + "/a.json"]) == 0
    assert main(["doctor", "compare", out + "/a.json", out + "/a.json"]) == 0
    print(sorted(m for m, module in sys.modules.items() if m.split(".")[0] in blocked and module is not None))
    """
)


@pytest.mark.e2e  # a fresh process recording a training step
def test_doctor_runs_without_dvc_dvclive_or_the_hub_client(repo_root: Path, tmp_path: Path, tiny: Any) -> None:
    save_prepared(load_windows(tiny, "FD001", None), tmp_path / "prepared")  # carried along: no simulator (scipy) there
    proc = subprocess.run([sys.executable, "-c", NO_PIPELINE_LIBRARIES, ",".join(BLOCKED), str(tmp_path)],
                          capture_output=True, text=True, cwd=repo_root, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((tmp_path / "a.json").read_text())["method"] == "mlp"


def test_doctor_refuses_a_cuda_params_file_rather_than_trace_the_cpu(repo_root: Path) -> None:
    import yaml

    from seedbench.core.params import params_from_dict

    raw = yaml.safe_load((repo_root / "profiles" / "tiny.yaml").read_text())
    raw["train"].update(device="cuda", determinism="native")
    with pytest.raises(ParamsError, match=r"train\.device: cuda: seedbench doctor traces the CPU kernels"):
        record_trace(params_from_dict(raw, repo_root / "methods"), dataset="FD001", method="mlp", steps=1)
