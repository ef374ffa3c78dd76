"""What two recorded runs can promise each other: the reproducibility level their determinism records allow.

:func:`expected_level` compares two manifests' ``determinism`` records
(:func:`seedbench.determinism.settings.determinism_record` plus the seeding
record); :func:`expected_level_of_experiments` takes the weakest over the runs
two experiments share. Pure functions: no torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from seedbench.core.names import LEVEL_STRENGTH
from seedbench.determinism.modes import (
    DISPATCH_ENV_VARS,
    PORTABLE_CAPABILITY,
    PORTABLE_ENV,
    PORTABLE_TORCH_SETTINGS,
)


class Expectation(NamedTuple):
    """:func:`expected_level`'s answer: ``level`` (``"bit"``, ``"seed"``, ``"distribution"``) and why."""

    level: str
    reason: str


_VERSION_KEYS = ("torch_version", "mkl_version", "onednn_version", "numpy_version", "openblas_version")


def _major(version: Any) -> str:
    return str(version).split(".")[0]


def _threads(record: Mapping[str, Any]) -> Any:
    return record.get("torch_threads", record.get("torch_num_threads"))


def _describe_cpu(record: Mapping[str, Any]) -> str:
    return f"{record.get('cpu_model') or 'unknown CPU'} ({record.get('torch_cpu_capability') or '?'})"


def expected_level(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> Expectation:
    """The reproducibility level two runs can be held to, from their manifests' ``determinism`` records.

    Pure: compares the two records only (see :func:`determinism_record`, plus
    ``torch_threads``, ``deterministic`` and ``cuda_available`` from
    ``seeding.set_global_seeds``). Rules, first match wins:

    1. a record without ``mode`` (written before determinism modes) → ``seed``;
    2. a different torch major version → ``distribution``; any other library
       version differs (torch, MKL, oneDNN, numpy, OpenBLAS) → ``seed``;
    3. ``deterministic`` off, CUDA used → ``seed``; a different thread count →
       ``seed``, unless both runs are portable with :data:`PORTABLE_TORCH_SETTINGS`
       recorded (thread-count independent; see the module docstring for the
       one limit: single-value reductions over more than 32,768 elements);
    4. one native and one portable run → ``seed`` (different kernels by design);
    5. both portable, the variables as pinned, the same ``torch_settings``
       (a record without them predates oneDNN/NNPACK off and MKL on one thread),
       both CPUs with AVX2 → ``bit``, *even on different CPUs and thread counts*;
    6. both native on the same CPU model (same ATen capability, flags and core
       count) with the same dispatch variables → ``bit``; on different CPUs →
       ``seed``.

    Returns
    -------
    Expectation
        ``(level, reason)``; ``level`` uses the names of ``seedbench.verify.compare``.
    """
    records = {"A": a or {}, "B": b or {}}
    for name, rec in records.items():
        if "mode" not in rec:
            return Expectation("seed", f"run {name} has no CPU determinism record (train.determinism predates it, "
                                       "or not a training run): bit-exactness cannot be promised")
    ra, rb = records["A"], records["B"]
    if _major(ra.get("torch_version")) != _major(rb.get("torch_version")):
        return Expectation("distribution", f"torch major versions differ ({ra.get('torch_version')} vs "
                                           f"{rb.get('torch_version')}): only distribution-stable is expected")
    differ = [f"{k.removesuffix('_version')} {ra.get(k)} vs {rb.get(k)}" for k in _VERSION_KEYS if ra.get(k) != rb.get(k)]
    if differ:
        return Expectation("seed", f"library versions differ ({'; '.join(differ)}): kernels change between "
                                   "versions, so only seed-stable is expected")
    for name, rec in records.items():
        if rec.get("deterministic") is False:
            return Expectation("seed", f"run {name} ran with train.deterministic: false")
        if rec.get("cuda_available"):
            return Expectation("seed", f"run {name} saw CUDA: the determinism modes cover CPU kernels only, and GPU "
                                       "results are bit-exact only on the same GPU model, driver and CUDA/cuDNN")
    threads_a, threads_b = _threads(ra), _threads(rb)
    thread_independent = all(rec["mode"] == "portable" and rec.get("torch_settings") == PORTABLE_TORCH_SETTINGS
                             for rec in (ra, rb))
    if threads_a != threads_b and not thread_independent:
        return Expectation("seed", f"torch threads differ ({threads_a} vs {threads_b}): the thread count changes "
                                   "the order of float reductions (MKL, oneDNN)")
    if ra["mode"] != rb["mode"]:
        return Expectation("seed", f"one run is {ra['mode']} and the other {rb['mode']}: they run different kernels "
                                   "by design, so only seed-stable is expected")
    if ra["mode"] == "portable":
        for name, rec in records.items():
            env = rec.get("mode_env") or {}
            off = [f"{k}={env.get(k)!r}" for k, v in PORTABLE_ENV.items() if env.get(k) != v]
            if off:
                return Expectation("seed", f"run {name} is marked portable but recorded {', '.join(off)}: "
                                           "not pinned, so only seed-stable is expected")
            if rec.get("torch_cpu_capability") != PORTABLE_CAPABILITY:
                return Expectation("seed", f"run {name} is marked portable but ATen ran "
                                           f"{rec.get('torch_cpu_capability')} kernels")
            if not (rec.get("cpu_flags") or {}).get("avx2"):
                return Expectation("seed", f"run {name} ran on a CPU without AVX2, below portable mode's floor")
        if ra.get("torch_settings") != rb.get("torch_settings"):
            return Expectation("seed", f"portable runs with different torch settings ({ra.get('torch_settings')} vs "
                                       f"{rb.get('torch_settings')}; None: recorded before portable mode turned "
                                       "oneDNN and NNPACK off and ran MKL on one thread): convolutions and LSTMs "
                                       "ran other kernels, so only seed-stable is expected")
        same_cpu = ra.get("cpu_model") == rb.get("cpu_model")
        where = f"on the same CPU model ({ra.get('cpu_model')})" if same_cpu else \
            f"even on different CPUs ({_describe_cpu(ra)} vs {_describe_cpu(rb)})"
        threads = f"{threads_a} torch thread(s)" if threads_a == threads_b else \
            f"{threads_a} and {threads_b} torch threads (portable mode does not depend on the thread count)"
        return Expectation("bit", f"both portable ({' '.join(f'{k}={v}' for k, v in PORTABLE_ENV.items())}) with the "
                                  f"same library versions and {threads}: bit-exact expected {where}")
    same = (ra.get("cpu_model") == rb.get("cpu_model")
            and ra.get("torch_cpu_capability") == rb.get("torch_cpu_capability")
            and (ra.get("cpu_flags") or {}) == (rb.get("cpu_flags") or {}))
    env_a, env_b = ra.get("mode_env") or {}, rb.get("mode_env") or {}
    if same and ra.get("cpu_count") != rb.get("cpu_count") and not env_a.get("OPENBLAS_NUM_THREADS"):
        return Expectation("seed", f"native runs on machines with {ra.get('cpu_count')} and {rb.get('cpu_count')} "
                                   "cores: OpenBLAS (the ridge fit) uses one thread per core, which changes its sums")
    if not same:
        return Expectation("seed", f"native runs on different CPUs ({_describe_cpu(ra)} vs {_describe_cpu(rb)}): "
                                   "ATen, oneDNN, MKL and OpenBLAS pick kernels by instruction set at run time, so "
                                   "only seed-stable is expected (train.determinism: portable makes them bit-exact)")
    env_differ = [f"{k} {env_a.get(k)!r} vs {env_b.get(k)!r}" for k in DISPATCH_ENV_VARS if env_a.get(k) != env_b.get(k)]
    if env_differ:
        return Expectation("seed", f"native runs with different dispatch variables ({'; '.join(env_differ)}): "
                                   "only seed-stable is expected")
    return Expectation("bit", f"both native on the same CPU model ({_describe_cpu(ra)}) with the same library versions "
                              f"and {threads_a} torch thread(s): bit-exact expected")


_STRENGTH = LEVEL_STRENGTH


def expected_level_of_experiments(
    runs_a: Mapping[str, Mapping[str, Any] | None], runs_b: Mapping[str, Mapping[str, Any] | None]
) -> Expectation:
    """The weakest :func:`expected_level` over the runs two experiments share (``{run_id: determinism}``).

    For experiment manifests (publish/manifest.json keeps every run's record).
    The reason names the run that decided; no run in common gives
    ``distribution`` (only fresh-draw statistics can be compared then).
    """
    common = sorted(set(runs_a) & set(runs_b))
    if not common:
        return Expectation("distribution", "the two experiments share no run: only distribution-stable is expected")
    verdicts = {run: expected_level(runs_a[run], runs_b[run]) for run in common}
    weakest = min(common, key=lambda run: (_STRENGTH[verdicts[run].level], run))
    level, reason = verdicts[weakest]
    if all(v.level == level for v in verdicts.values()):
        return Expectation(level, f"all {len(common)} shared runs: {reason}" if len(common) > 1 else reason)
    return Expectation(level, f"run {weakest} (the weakest of {len(common)} shared runs): {reason}")
