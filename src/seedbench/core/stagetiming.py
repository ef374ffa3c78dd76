"""How long a stage's own work took, and its peak memory: the denominator of the bookkeeping ratio.

``bench/bench_pipeline.py`` divides the wall time of a whole ``dvc repro`` by
the sum of the stages' own compute. Only a stage knows where its work starts
(after the interpreter started and its libraries were imported), so each stage
wraps its work in :func:`timed_stage`. When the environment variable
:data:`TIMINGS_ENV` names a file, one JSON line is appended to it per stage
run that finished without an error; otherwise nothing is written, so outputs,
``dvc.lock`` and manifests are the same with or without it.

One line (all times in seconds, memory in bytes)::

    {"stage": "train@FD001-mlp-0", "compute_s": 2.31, "cpu_s": 2.25,
     "process_s": 3.40, "peak_rss_bytes": 398458880, "pid": 4242}

``compute_s``: wall time inside the ``with`` block; ``cpu_s``: this process's
CPU time in it; ``process_s``: the process's age when the block ended
(interpreter start, imports and work, from ``/proc``; ``null`` where there is
no ``/proc``); ``peak_rss_bytes``: the process's peak resident memory so far.
Lines are written with one ``write`` to a file opened for appending, so stages
that run in parallel do not interleave them.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TIMINGS_ENV = "SEEDBENCH_TIMINGS"
"""Environment variable naming the JSON-lines file stages append their timings to (unset: no timings)."""


def process_age_seconds() -> float | None:
    """Seconds since this process started (Linux ``/proc``, 10 ms resolution), or ``None`` without ``/proc``.

    An ``exec`` keeps the process, so a stage started through ``seedbench.determinism.launch``
    counts the launcher's interpreter start too.
    """
    try:
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        stat = Path("/proc/self/stat").read_text()
    except (OSError, ValueError, IndexError):
        return None
    # Field 22 (starttime, clock ticks since boot); the command name (field 2) may hold spaces: split after ")".
    fields_after_name = stat.rsplit(")", 1)[1].split()
    start_ticks = int(fields_after_name[19])
    return max(0.0, uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far, in bytes (``getrusage``: KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def append_timing(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``path`` with a single ``write`` (safe for parallel stages)."""
    line = (json.dumps(dict(record), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@contextmanager
def timed_stage(stage: str, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Time the block as ``stage``'s own work; append a line to ``$SEEDBENCH_TIMINGS`` if it finishes.

    A block that raises writes nothing (its stage failed; there is no compute
    to compare with).
    """
    target = (os.environ if environ is None else environ).get(TIMINGS_ENV)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    yield
    if not target:
        return
    append_timing(target, {
        "stage": stage,
        "compute_s": round(time.perf_counter() - wall_start, 6),
        "cpu_s": round(time.process_time() - cpu_start, 6),
        "process_s": process_age_seconds(),
        "peak_rss_bytes": peak_rss_bytes(),
        "pid": os.getpid(),
    })


def read_timings(path: str | Path) -> list[dict[str, Any]]:
    """The records of a timings file, in the order written (a missing file: ``[]``)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
