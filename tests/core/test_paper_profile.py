"""profiles/paper.yaml: the GPU-sized profile validates and is what the README says it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from seedbench.core.params import load_params


def test_paper_profile_passes_check_params(repo_root: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "seedbench.cli", "check-params", "profiles/paper.yaml"], cwd=repo_root,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "profiles/paper.yaml: ok"


def test_paper_profile_is_full_scale_on_a_gpu_with_literature_like_epoch_budgets(repo_root: Path) -> None:
    params = load_params(repo_root / "profiles" / "paper.yaml")
    assert params.data.builtin.scale == 1.0 and params.data.datasets == ["FD001", "FD002", "FD003", "FD004"]
    assert (params.train.device, params.train.determinism, params.train.precision) == ("cuda", "native", "fp32")
    assert params.train.deterministic is True and len(params.replicates) >= 5
    assert min(params.train.hparams(m)["max_epochs"] for m in ("mlp", "cnn1d", "bilstm")) >= 100
    default = load_params(repo_root / "params.yaml")
    assert default.train.hparams("bilstm")["max_epochs"] < params.train.hparams("bilstm")["max_epochs"]
