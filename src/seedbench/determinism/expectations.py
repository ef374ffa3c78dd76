"""What two recorded runs can promise each other: the reproducibility level their determinism records allow.

:func:`expected_level` compares two manifests' ``determinism`` records
(:func:`seedbench.determinism.settings.determinism_record` plus the seeding
record and :func:`seedbench.determinism.devices.device_record`);
:func:`expected_level_of_experiments` takes the weakest over the runs two
experiments share. Pure functions: no torch, no I/O.

The GPU rules (:func:`device_expectation`) make the seed's "different GPU
architecture → statistical, not bit" mechanical, from what was measured on an
H200 (REFERENCE.md, "CUDA probe"): with the deterministic flags and TF32 off,
two runs on one GPU were bit-identical; without the flags cnn1d differed; TF32
gave other bits; CPU and GPU predictions of one seed were up to 8.5 cycles apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from seedbench.core.names import CUBLAS_WORKSPACE_CONFIGS, LEVEL_STRENGTH
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


GPU_FACTS: tuple[tuple[str, str], ...] = (("name", "GPU model"), ("driver_version", "driver"),
                                         ("cuda_version", "CUDA"), ("cudnn_version", "cuDNN"))
"""The facts of a run's GPU (``determinism.gpu``) that must be equal, and known, for a bit-exact promise."""

_GPU_FLAGS: tuple[tuple[str, bool, str], ...] = (
    ("deterministic", True, "train.deterministic"), ("cudnn_deterministic", True, "cudnn.deterministic"),
    ("cudnn_benchmark", False, "cudnn.benchmark off"), ("deterministic_algorithms", True, "deterministic algorithms"),
)

_VERSION_KEYS = ("torch_version", "mkl_version", "onednn_version", "numpy_version", "openblas_version")


def _major(version: Any) -> str:
    return str(version).split(".")[0]


def _threads(record: Mapping[str, Any]) -> Any:
    return record.get("torch_threads", record.get("torch_num_threads"))


def _describe_cpu(record: Mapping[str, Any]) -> str:
    return f"{record.get('cpu_model') or 'unknown CPU'} ({record.get('torch_cpu_capability') or '?'})"


def _device(record: Mapping[str, Any]) -> str:
    return str(record.get("device") or "cpu")  # records before train.device trained on the CPU


def _precision(record: Mapping[str, Any]) -> str:
    return str(record.get("precision") or "fp32")


def _missing_gpu_flags(record: Mapping[str, Any]) -> list[str]:
    """The deterministic settings a GPU run lacked (flags, ``CUBLAS_WORKSPACE_CONFIG``)."""
    missing = [label for key, wanted, label in _GPU_FLAGS if record.get(key) is not wanted]
    if record.get("cublas_workspace_config") not in CUBLAS_WORKSPACE_CONFIGS:
        missing.append(f"CUBLAS_WORKSPACE_CONFIG in {', '.join(CUBLAS_WORKSPACE_CONFIGS)} "
                       f"(was {record.get('cublas_workspace_config')!r})")
    return missing


def device_expectation(a: Mapping[str, Any], b: Mapping[str, Any]) -> Expectation | None:
    """What the devices and precisions of two runs allow; ``None`` when they leave it to the CPU rules (pure).

    First match wins: devices differ (CPU vs GPU) → ``distribution``; precisions
    differ → ``distribution``; both ``bf16`` on GPUs of different compute
    capability → ``distribution``; GPU model, driver, CUDA or cuDNN differ (or
    are unknown) → ``seed``; either GPU run without the deterministic flags and
    ``CUBLAS_WORKSPACE_CONFIG`` → ``seed``. Two CPU runs, or two GPU runs that
    pass, return ``None``: the CPU rules then decide (a GPU run still initialises
    its weights, draws its batches and fits ``linear``'s ridge on the CPU).
    """
    device_a, device_b = _device(a), _device(b)
    if device_a != device_b:
        return Expectation("distribution", f"one run trained on {device_a} and the other on {device_b}: different kernels "
                                           "and rounding compound over training (measured on an H200: predictions up to "
                                           "8.5 cycles apart after 3 epochs), so only distribution-stable is expected")
    precision_a, precision_b = _precision(a), _precision(b)
    if precision_a != precision_b:
        return Expectation("distribution", f"precisions differ ({precision_a} vs {precision_b}): another float format "
                                           "changes every product, so only distribution-stable is expected")
    if device_a != "cuda":
        return None
    gpu_a, gpu_b = a.get("gpu") or {}, b.get("gpu") or {}
    if precision_a == "bf16" and (gpu_a.get("capability") != gpu_b.get("capability") or gpu_a.get("capability") is None):
        return Expectation("distribution", f"bf16 on different GPU architectures (compute capability "
                                           f"{gpu_a.get('capability')} vs {gpu_b.get('capability')}): bfloat16 kernels "
                                           "and their accumulation differ by architecture, so only distribution-stable "
                                           "is expected")
    differ = [f"{label} {gpu_a.get(key)} vs {gpu_b.get(key)}" for key, label in GPU_FACTS
              if gpu_a.get(key) != gpu_b.get(key) or gpu_a.get(key) is None]
    if differ:
        return Expectation("seed", f"GPU runs with other GPU hardware or software ({'; '.join(differ)}; None = not "
                                   "recorded): cuBLAS and cuDNN choose kernels per GPU and version, so seed-stable at best")
    for name, record in (("A", a), ("B", b)):
        missing = _missing_gpu_flags(record)
        if missing:
            return Expectation("seed", f"GPU run {name} ran without {', '.join(missing)}: cuDNN and cuBLAS may pick "
                                       "non-deterministic kernels (measured on an H200: cnn1d differed between two runs)")
    return None


def expected_level(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> Expectation:
    """The reproducibility level two runs can be held to, from their manifests' ``determinism`` records.

    Pure: compares the two records only (see :func:`determinism_record`, plus
    ``torch_threads``, ``deterministic`` and ``cuda_available`` from
    ``seeding.set_global_seeds``). Rules, first match wins:

    1. a record without ``mode`` (written before determinism modes) → ``seed``;
    2. a different torch major version → ``distribution``; any other library
       version differs (torch, MKL, oneDNN, numpy, OpenBLAS) → ``seed``;
       then the device rules (:func:`device_expectation`: CPU vs GPU, precision,
       GPU model, driver, CUDA, cuDNN, GPU deterministic flags);
    3. ``deterministic`` off, CUDA seen by a record without ``device`` → ``seed``; a different thread count →
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
    on_device = device_expectation(ra, rb)
    if on_device is not None:
        return on_device
    cpu_side = _cpu_expectation(ra, rb)
    if _device(ra) != "cuda":
        return cpu_side
    gpu = ra.get("gpu") or {}
    if cpu_side.level != "bit":
        return Expectation(cpu_side.level, "same GPU and GPU software, but the CPU side of these GPU runs (weight "
                                           f"initialisation, data order, linear's ridge fit) differs: {cpu_side.reason}")
    return Expectation("bit", f"both on {gpu.get('name')} (driver {gpu.get('driver_version')}, CUDA "
                              f"{gpu.get('cuda_version')}, cuDNN {gpu.get('cudnn_version')}) in {_precision(ra)} with the "
                              f"deterministic flags and the same torch, and on the CPU side: {cpu_side.reason}")


def _cpu_expectation(ra: Mapping[str, Any], rb: Mapping[str, Any]) -> Expectation:
    """Rules 3–6 of :func:`expected_level`: what the CPU side of two runs allows."""
    records = {"A": ra, "B": rb}
    for name, rec in records.items():
        if rec.get("deterministic") is False:
            return Expectation("seed", f"run {name} ran with train.deterministic: false")
        if "device" not in rec and rec.get("cuda_available"):
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
