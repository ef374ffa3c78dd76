"""Report figures render headless and deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from seedbench.reporting import plots
from seedbench.stats.ranking import friedman_nemenyi

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCORES = np.array([[10.0, 11.0, 12.5, 13.0], [10.5, 10.9, 12.0, 13.5], [9.8, 11.2, 12.2, 12.9],
                   [10.1, 11.5, 12.8, 13.2], [10.3, 11.1, 12.1, 13.1]])
NAMES = ["bilstm", "cnn1d", "mlp", "linear"]


def test_cd_diagram_is_a_deterministic_png_without_version_metadata():
    fr = friedman_nemenyi(SCORES, NAMES)
    first = plots.png_bytes(plots.cd_diagram(fr))
    second = plots.png_bytes(plots.cd_diagram(fr))
    assert first.startswith(PNG_SIGNATURE) and first == second
    assert b"Software" not in first and b"matplotlib" not in first.lower()


def test_cd_diagram_with_two_methods_explains_instead_of_failing():
    fr = friedman_nemenyi(SCORES[:, :2], NAMES[:2])
    assert plots.png_bytes(plots.cd_diagram(fr)).startswith(PNG_SIGNATURE)


def test_seed_spread_handles_nan_runs_and_one_seed(tmp_path):
    values = {
        "FD001": {"linear": [15.0, 16.0, np.nan, 15.5], "mlp": [14.0, 14.2, 13.9, 14.1]},
        "FD002": {"linear": [20.0], "mlp": [np.nan]},
    }
    path = tmp_path / "reports" / "seed_spread.png"
    plots.save_png(plots.seed_spread(values), path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert data == plots.png_bytes(plots.seed_spread(values))
    assert [p.name for p in path.parent.iterdir()] == ["seed_spread.png"]  # no temp file left behind


@pytest.mark.e2e  # six fresh interpreters importing matplotlib
def test_cd_diagram_bytes_do_not_depend_on_the_string_hash_seed():
    """scikit-posthocs walks each crossbar in set order (PYTHONHASHSEED); the PNG must not follow it."""
    import hashlib
    import os
    import subprocess
    import sys

    scores = np.array([[1.0, 1.1, 1.2, 1.3, 1.4, 1.5]]) + np.array([[0.0], [0.05], [-0.03], [0.02], [0.01], [-0.01]])
    code = (
        "import hashlib, json, sys, numpy as np\n"
        "from seedbench.reporting import plots\nfrom seedbench.stats.ranking import friedman_nemenyi\n"
        f"fr = friedman_nemenyi(np.array({scores.tolist()}), ['a1', 'b22', 'c333', 'd4444', 'e55555', 'f6'])\n"
        "print(hashlib.sha256(plots.png_bytes(plots.cd_diagram(fr))).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2", "3", "4", "5", "6"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                              check=True)
        digests.add(proc.stdout.strip())
    assert len(digests) == 1 and len(hashlib.sha256().hexdigest()) == len(digests.pop())
