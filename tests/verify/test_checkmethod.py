"""``seedbench check-method``: two fresh processes, same seed; randomness outside the given seeds is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MLP = (REPO / "methods" / "mlp.py").read_text()
NOISE = "    net = nn.Sequential(*layers)\n    with torch.no_grad():\n        net[-1].bias.add_({})\n    return net\n"
PLANTS = {
    "clean": MLP,
    # numpy's global state: the pipeline seeds it, but a method must not rely on it (check-method reseeds it)
    "numpy_global": MLP.replace("    return nn.Sequential(*layers)\n", NOISE.format(
        "float(__import__('numpy').random.rand())")),
    # a torch generator seeded from fresh entropy
    "torch_unseeded": MLP.replace("    return nn.Sequential(*layers)\n", NOISE.format(
        "torch.rand(1, generator=torch.Generator().manual_seed(torch.Generator().seed()))")),
}


@pytest.mark.e2e  # two training processes per case (≈6 s each)
@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_check_method_catches_randomness_outside_the_seed(plant: str, tmp_path: Path) -> None:
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "mine.py").write_text(PLANTS[plant])
    for name in ("linear", "mlp"):
        shutil.copy(REPO / "methods" / f"{name}.py", tmp_path / "methods")
    params = (REPO / "profiles" / "tiny.yaml").read_text()
    cut = params.index("  cnn1d:")
    params = params[:cut] + params[params.index("stats:"):]  # linear and mlp sections only: their files are here
    (tmp_path / "params.yaml").write_text(params)
    proc = subprocess.run([sys.executable, "-m", "seedbench.cli", "check-method", "mine", "--steps", "2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    first = proc.stdout.splitlines()[0] if proc.stdout else proc.stderr
    if plant == "clean":
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert first.endswith("same seed: bit-identical") and "hyper-parameters from defaults" in first
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "NOT bit-identical" in first
        assert "draws randomness outside the seeds" in proc.stdout
