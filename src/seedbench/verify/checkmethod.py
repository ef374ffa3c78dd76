"""``seedbench check-method NAME``: does a method file train the same bits twice from the same seed?

Before a benchmark is published, a method must draw randomness only from the
seeds seedbench gives it (torch's generator, seeded with the replicate seed
before ``build``/``fit``; the ``seed`` argument of ``fit``; dropout and the
mini-batch order). :func:`check_method` records the method's first
mini-batches (a ``fit`` method: its whole fit) twice with ``seedbench doctor
record``, each in a fresh process with the same seed, the second with Python's
``random`` and NumPy's global state reseeded to another value, and compares
the two traces op by op (``seedbench.verify.doctor_compare``). So it catches a
method that draws from fresh entropy (an unseeded ``np.random.default_rng``,
``torch.Generator().seed()``, the clock) or from the global NumPy/``random``
state instead of its seed, and says at which op the runs part. A draw from
torch's global generator is seeded (it is the replicate seed's stream, as
dropout's is) and passes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from seedbench.core.methodspec import method_path, read_method_spec
from seedbench.core.names import METHODS_DIR

PERTURB_FLAG = "--perturb-global-streams"
"""``seedbench doctor record`` flag of the second run (hidden from ``--help``)."""


def check_method(params_path: str | os.PathLike[str], name: str, *, dataset: str, steps: int, mode: str,
                 replicate: int = 0, prepared: str | None = None,
                 methods_dir: str | os.PathLike[str] = METHODS_DIR) -> dict[str, Any]:
    """Record ``name`` twice in fresh processes (same seed; the second with perturbed global streams) and compare.

    Returns ``{"method", "file", "kind", "hparams_source", "result"}`` where ``result`` is
    ``seedbench.verify.doctor_compare.compare_traces``'s (``result["identical"]``: bit-identical).
    A broken method file fails first, in this process, with its one-line error.
    """
    from seedbench.verify.doctor import record_in_fresh_process
    from seedbench.verify.doctor_compare import compare_traces

    spec = read_method_spec(method_path(methods_dir, name), name)
    args = ["--params", str(params_path), "--dataset", dataset, "--method", name, "--steps", str(steps),
            "--replicate", str(replicate), "--methods-dir", str(methods_dir)]
    args += ["--prepared", prepared] if prepared else []
    with tempfile.TemporaryDirectory(prefix="seedbench-check-method-") as tmp:
        first = record_in_fresh_process(args, {}, mode, Path(tmp) / "first.json", what="check-method")
        second = record_in_fresh_process([*args, PERTURB_FLAG], {}, mode, Path(tmp) / "second.json",
                                         what="check-method")
    return {"method": name, "file": spec.path.as_posix(), "kind": spec.kind,
            "hparams_source": first.get("hparams_source"), "result": compare_traces(first, second)}
