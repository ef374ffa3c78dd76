"""CPU determinism modes: which kernels torch may pick, and what two runs can promise each other.

torch's CPU results depend on the instruction set that three dispatchers inside
torch pick when the process starts: ATen (``ATEN_CPU_CAPABILITY``: scalar, AVX2 or
AVX-512 kernels), oneDNN (``ONEDNN_MAX_CPU_ISA``: convolutions, LSTM) and MKL
(``MKL_CBWR``: GEMM). numpy's OpenBLAS does the same for the closed-form ridge
fit of ``linear`` (``OPENBLAS_CORETYPE``, and its thread count
``OPENBLAS_NUM_THREADS``, which defaults to the number of cores). Each reads
its variable once, when it first runs, so a variable set from inside Python
after that is silently ignored.

``params.yaml: train.determinism`` picks one of :data:`MODES`:

``native``
    Every dispatcher picks the fastest kernels for this CPU. Two runs are
    bit-exact on the same CPU model with the same library versions and thread
    count; on another CPU only seed-stable.
``portable``
    ``native`` plus :data:`PORTABLE_ENV`, set in the command that starts Python
    (``python -m seedbench.determinism.launch --determinism portable -- python stages/train.py …``):
    ATen's AVX2 kernels, oneDNN capped at AVX2, MKL's SSE2 "compatible" CNR
    branch (the only branch Intel documents as equal on Intel and non-Intel
    CPUs), OpenBLAS's Haswell (AVX2) kernels on one thread. Inside the process,
    :func:`apply_mode_settings` (called by ``seeding.set_global_seeds``) adds
    :data:`PORTABLE_TORCH_SETTINGS`: oneDNN and NNPACK off, so convolutions and
    LSTMs run ATen's own kernels over MKL GEMM, and MKL on one thread. Every
    library then runs the same code on every CPU with AVX2 and with any
    ``train.torch_threads``, so two runs are expected bit-exact on any x86-64
    CPU with AVX2, given the same library versions.

ATen is pinned to ``avx2`` rather than its scalar ``default`` kernels: AVX2 is
the floor anyway (oneDNN and OpenBLAS are pinned there), ATen's AVX2 kernels
use only exactly-rounded arithmetic (division, not ``rcp``/``rsqrt``
estimates; Sleef's 1-ulp functions), and the scalar fallbacks are slow (ReLU
forward 3×, its backward 10×: up to +25% training time for cnn1d; BENCHMARKS.md).

The thread count changes speed, not bits, in portable mode (1 vs 2 threads,
every method: ``tests/determinism/test_portable_determinism.py``). That takes the
in-process settings. MKL's CNR mode is reproducible only for a fixed number of
threads (its thread-independent ``STRICT`` mode exists only for the
AVX2/AVX-512 branches, which fall back to automatic dispatch on non-Intel CPUs;
``MKL_CBWR=COMPATIBLE,STRICT`` still changed ``mlp``'s weight gradients with 2
threads), and torch's own per-thread MKL setting overrides ``MKL_NUM_THREADS``:
so MKL is set to one thread from inside the process, after torch's thread
count, with nested OpenMP parallelism off so that MKL called inside ATen's
parallel loops stays on one thread too. oneDNN splits a convolution's
weight-gradient sum over the batch by thread (``cnn1d``), with no setting to
fix its order: so oneDNN is off. What is left is ATen's own kernels:
element-wise ops and reductions to many values do not depend on the thread
count; a reduction to a single value over more than 32,768 elements (ATen's
grain size) is split by thread, which in training means the loss and the
output bias gradient of a mini-batch larger than 32,768 windows. The cost:
ATen's im2col convolutions and LSTM are slower than oneDNN's (with one thread,
cnn1d and bilstm take ≈1.5× their time before, ≈1.3–1.6× native; mlp and
linear unchanged), and MKL's GEMMs no longer use a second thread.

:func:`require_mode_environment` runs in the train stage *before* torch is
imported and refuses (:class:`~seedbench.core.errors.DeterminismError`) a missing,
wrong or late variable; :func:`check_effective` re-checks from inside torch;
:func:`apply_mode_settings` sets the torch-side part; :func:`determinism_record`
is what manifests record; :func:`expected_level` says which reproducibility
level two recorded runs can be held to, and why. Nothing here imports torch at
module level.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from seedbench.core.errors import DeterminismError
from seedbench.core.names import (
    DETERMINISM_MODES,
    LEVEL_STRENGTH,
)

MODES = DETERMINISM_MODES

PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
}
"""Variables ``portable`` mode sets before Python starts, with their exact values."""

PORTABLE_TORCH_SETTINGS: dict[str, Any] = {
    "mkldnn_enabled": False, "nnpack_enabled": False, "mkl_num_threads": 1, "omp_max_active_levels": 1,
}
"""What ``portable`` mode sets inside the process (:func:`apply_mode_settings`); recorded as ``torch_settings``.

``torch.backends.mkldnn`` off (convolutions and LSTMs run ATen's kernels, not
oneDNN's), ``torch.backends.nnpack`` off (convolution forward by im2col + GEMM,
not NNPACK's transforms), MKL on one thread, and no nested OpenMP parallelism
(ATen's convolution calls MKL inside its own parallel loop over the batch;
with nesting allowed, e.g. ``OMP_NESTED=TRUE``, MKL would take threads there
and change ``cnn1d``'s bits): none of them then depends on ``train.torch_threads``.
"""

PORTABLE_CAPABILITY = "AVX2"
"""What ``torch.backends.cpu.get_cpu_capability()`` reports in portable mode."""

DISPATCH_ENV_VARS: tuple[str, ...] = (*PORTABLE_ENV, "MKL_ENABLE_INSTRUCTIONS")
"""Every variable that changes which CPU kernels run; recorded as seen, in both modes."""

LAUNCH_COMMAND = "python -m seedbench.determinism.launch --determinism portable -- python stages/train.py ..."
"""How to start a stage in portable mode (what dvc.yaml runs), for error messages."""


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise DeterminismError(f"train.determinism: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def mode_environment(mode: str) -> dict[str, str]:
    """The variables ``mode`` requires, with their values (``{}`` for ``native``)."""
    return dict(PORTABLE_ENV) if _check_mode(mode) == "portable" else {}


def launch_environment(mode: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus the variables of ``mode``: the environment to start a stage with.

    ``native`` passes ``environ`` through unchanged (whatever it holds is
    recorded); ``portable`` overrides the variables of :data:`PORTABLE_ENV`.
    """
    return {**environ, **mode_environment(mode)}


def startup_environment() -> dict[str, str] | None:
    """The environment this process was started with (Linux ``/proc/self/environ``), or ``None``.

    Python's ``os.environ`` also shows variables set from inside the process;
    the start-up copy shows only what was in place before the interpreter (and
    so torch, MKL, oneDNN, OpenBLAS) started.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            env[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
    return env


def require_mode_environment(
    mode: str,
    environ: Mapping[str, str],
    *,
    startup_environ: Mapping[str, str] | None,
    cpu_flags: Mapping[str, bool],
    loaded_modules: Mapping[str, Any] | None = None,
) -> dict[str, str | None]:
    """Check, before torch is imported, that the variables of ``mode`` are in place; return them as seen.

    Parameters
    ----------
    mode
        ``params.yaml: train.determinism``.
    environ
        The current environment (``os.environ``).
    startup_environ
        The environment the process started with (:func:`startup_environment`),
        or ``None`` where the platform cannot tell: then a variable counts as
        late when torch is already imported.
    cpu_flags
        :func:`seedbench.provenance.environment.cpu_flags_summary` (``portable`` needs ``avx2``).
    loaded_modules
        ``sys.modules`` (to tell whether torch is already imported).

    Returns
    -------
    dict
        Every variable of :data:`DISPATCH_ENV_VARS` as seen (``None`` when unset).

    Raises
    ------
    DeterminismError
        ``portable`` and a variable is missing or has another value; or it was
        set after Python started (it would be silently ignored by whichever
        library already read it); or the CPU has no AVX2.
    """
    required = mode_environment(mode)
    modules = sys.modules if loaded_modules is None else loaded_modules
    seen = {name: environ.get(name) for name in DISPATCH_ENV_VARS}
    wrong = [f"{k}={seen[k]!r} (needs {v!r})" for k, v in required.items() if seen[k] != v]
    if wrong:
        raise DeterminismError(
            f"train.determinism: {mode} needs {' '.join(f'{k}={v}' for k, v in required.items())} in the "
            f"environment before Python starts, but found {', '.join(wrong)}; start the stage with `{LAUNCH_COMMAND}`"
        )
    if required:
        if startup_environ is not None:
            late = [k for k, v in required.items() if startup_environ.get(k) != v]
            why = "set after Python started"
        else:
            late = list(required) if "torch" in modules else []
            why = "torch was imported before the check"
        if late:
            raise DeterminismError(
                f"train.determinism: {mode}: {', '.join(late)} {why}; torch, MKL, oneDNN and OpenBLAS read "
                f"these once, when they first run, so a late setting would be silently ignored. Set them in the "
                f"command that starts Python: `{LAUNCH_COMMAND}`"
            )
        if not cpu_flags.get("avx2"):
            raise DeterminismError(
                "train.determinism: portable needs an x86-64 CPU with AVX2 (oneDNN and OpenBLAS are pinned to AVX2 "
                "kernels); this CPU reports no avx2 flag: use train.determinism: native"
            )
    return seen


def check_effective(mode: str) -> str:
    """After torch is imported: confirm that ATen runs the kernels ``mode`` asked for; return the capability.

    ``ATEN_CPU_CAPABILITY`` is read when ATen first dispatches a kernel; if it
    was set after that, torch keeps its native capability and the run would not
    be portable. Raises :class:`DeterminismError` then.
    """
    import torch

    capability = str(torch.backends.cpu.get_cpu_capability())
    pinned = PORTABLE_ENV["ATEN_CPU_CAPABILITY"]
    if _check_mode(mode) == "portable" and capability != PORTABLE_CAPABILITY:
        raise DeterminismError(
            f"train.determinism: portable, but torch runs {capability} kernels, not {PORTABLE_CAPABILITY}: "
            f"ATEN_CPU_CAPABILITY={pinned} was set after torch chose its kernels (or this CPU lacks AVX2/FMA); "
            f"set it in the command that starts Python: `{LAUNCH_COMMAND}`"
        )
    return capability


def _torch_c_functions() -> dict[str, Any]:
    """The C functions of MKL and OpenMP that torch links in, by name (``ctypes``); absent ones left out.

    Looked up through torch's CPU library, which also finds a dynamically
    linked MKL or OpenMP among its dependencies. MKL's are left out when torch
    is built without MKL.
    """
    import ctypes

    import torch

    lib_dir = Path(torch.__file__).parent / "lib"
    path = next((lib_dir / n for n in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll") if (lib_dir / n).is_file()),
                None)
    if path is None:
        return {}
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return {}
    wanted = {"omp_set_max_active_levels": ([ctypes.c_int], None), "omp_get_max_active_levels": ([], ctypes.c_int)}
    if torch.backends.mkl.is_available():
        wanted |= {"MKL_Set_Num_Threads_Local": ([ctypes.c_int], ctypes.c_int), "MKL_Get_Max_Threads": ([], ctypes.c_int)}
    found: dict[str, Any] = {}
    for name, (argtypes, restype) in wanted.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            continue
        function.argtypes, function.restype = argtypes, restype
        found[name] = function
    return found


_native_state: dict[str, int] = {}
"""What :func:`apply_mode_settings` changed away from native (to put back): OpenMP's level, MKL pinned."""


def apply_mode_settings(mode: str) -> dict[str, Any]:
    """Set the in-process part of ``mode`` (imports torch); return the settings as torch, MKL and OpenMP report them.

    ``portable``: :data:`PORTABLE_TORCH_SETTINGS` (oneDNN and NNPACK off, MKL
    on one thread for this thread, no nested OpenMP parallelism so that MKL
    called inside one of ATen's parallel loops stays on one thread too).
    ``native``: torch's defaults back (oneDNN and NNPACK on, MKL on torch's
    thread count, OpenMP's nesting level as it was), so the call always leaves
    a known state. Call it *after* ``torch.set_num_threads``
    (``seeding.set_torch_threads``), which resets MKL's thread count:
    ``seeding.set_global_seeds`` calls it, and the train stage sets the thread
    count first.

    Returns
    -------
    dict
        ``{"mkldnn_enabled", "nnpack_enabled", "mkl_num_threads",
        "omp_max_active_levels"}`` read back (the last two ``None`` where torch
        has no MKL / no OpenMP).

    Raises
    ------
    DeterminismError
        ``portable`` with more than one torch thread and MKL's or OpenMP's
        control out of reach (torch without MKL, or an unexpected build):
        sums could then be split by thread.
    """
    import torch

    portable = _check_mode(mode) == "portable"
    threads = torch.get_num_threads()  # also runs torch's lazy per-thread set-up now, which would reset MKL later
    torch.backends.mkldnn.enabled = not portable
    torch.backends.nnpack.set_flags(not portable)
    c = _torch_c_functions()
    has_mkl, has_omp = "MKL_Set_Num_Threads_Local" in c, "omp_set_max_active_levels" in c
    if portable:
        if threads > 1 and not (has_mkl and has_omp):
            raise DeterminismError(
                f"train.determinism: portable runs MKL on one thread whatever train.torch_threads, but MKL's or "
                f"OpenMP's thread control is not reachable in this torch build; with {threads} threads GEMM could "
                "split its sums by thread: set train.torch_threads: 1"
            )
        if has_omp:
            _native_state.setdefault("omp_max_active_levels", int(c["omp_get_max_active_levels"]()))
            c["omp_set_max_active_levels"](1)
        if has_mkl:
            c["MKL_Set_Num_Threads_Local"](1)
            _native_state["mkl_pinned"] = 1
    else:
        if has_omp and "omp_max_active_levels" in _native_state:
            c["omp_set_max_active_levels"](_native_state.pop("omp_max_active_levels"))
        if has_mkl and _native_state.pop("mkl_pinned", None):
            c["MKL_Set_Num_Threads_Local"](threads)
    settings = {
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "nnpack_enabled": getattr(torch._C, "_get_nnpack_enabled", lambda: None)(),
        "mkl_num_threads": int(c["MKL_Get_Max_Threads"]()) if has_mkl else None,
        "omp_max_active_levels": int(c["omp_get_max_active_levels"]()) if has_omp else None,
    }
    off = [f"{k}={settings[k]!r} (needs {v!r})" for k, v in mode_torch_settings(mode).items()
           if settings[k] not in (v, None)]
    if off:
        raise DeterminismError(f"train.determinism: {mode}: could not set {', '.join(off)}")
    return settings


def mode_torch_settings(mode: str) -> dict[str, Any]:
    """The in-process settings ``mode`` prescribes (:data:`PORTABLE_TORCH_SETTINGS`; ``{}`` for ``native``)."""
    return dict(PORTABLE_TORCH_SETTINGS) if _check_mode(mode) == "portable" else {}


_MKL = re.compile(r"Math Kernel Library Version ([0-9][\w.]*)(?:-Product Build (\d+))?")
_ONEDNN = re.compile(r"(?:MKL-DNN|oneDNN)\s+v?([0-9][\w.]*)(?:\s+\(Git Hash ([0-9a-f]+)\))?")


def numeric_library_versions(config_text: str) -> dict[str, str | None]:
    """MKL and oneDNN versions from ``torch.__config__.show()`` text (``None`` when not built in).

    Examples
    --------
    >>> numeric_library_versions("Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for ...\\n"
    ...                          "Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)")
    {'mkl_version': '2024.2 build 20240605', 'onednn_version': '3.12.0 git 80afa71049cd'}
    """
    mkl = _MKL.search(config_text)
    onednn = _ONEDNN.search(config_text)
    return {
        "mkl_version": None if mkl is None else mkl.group(1) + (f" build {mkl.group(2)}" if mkl.group(2) else ""),
        "onednn_version": None if onednn is None
        else onednn.group(1) + (f" git {onednn.group(2)[:12]}" if onednn.group(2) else ""),
    }


def _openblas_version() -> str | None:
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # type: ignore[index]
    except Exception:  # noqa: BLE001 - numpy's config layout is not an API; absent means unknown
        return None
    return f"{blas.get('name')} {blas.get('version')}" if blas.get("version") else None


def determinism_record(
    mode: str,
    mode_env: Mapping[str, str | None],
    *,
    cpu_model: str,
    cpu_flags: Mapping[str, bool],
    cpu_count: int | None,
) -> dict[str, Any]:
    """What a manifest records about CPU determinism (imports torch).

    Returns ``{"mode", "mode_env", "torch_settings", "torch_cpu_capability",
    "cpu_model", "cpu_flags", "cpu_count", "torch_version", "mkl_version",
    "onednn_version", "numpy_version", "openblas_version"}``: everything
    :func:`expected_level` needs, together with the run's ``torch_threads``,
    ``deterministic`` and ``cuda_available``. ``torch_settings`` is what the
    mode prescribes (:func:`mode_torch_settings`), which
    :func:`apply_mode_settings` sets and checks in a training run.
    """
    import numpy as np
    import torch

    return {
        "mode": _check_mode(mode),
        "mode_env": {name: mode_env.get(name) for name in DISPATCH_ENV_VARS},
        "torch_settings": mode_torch_settings(mode),
        "torch_cpu_capability": check_effective(mode),
        "cpu_model": cpu_model,
        "cpu_flags": dict(cpu_flags),
        "cpu_count": cpu_count,
        "torch_version": str(torch.__version__),
        **numeric_library_versions(torch.__config__.show()),
        "numpy_version": str(np.__version__),
        "openblas_version": _openblas_version(),
    }


# --------------------------------------------------------------------------- what two runs can promise


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
