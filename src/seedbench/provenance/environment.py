"""Where a result came from: code version, environment, hardware.

File hashes and URL redaction live in :mod:`seedbench.core.hashing`.

Environment capture is an allow-list: only the variables named in
:data:`RECORDED_ENV_VARS` are ever read into a record, so tokens, passwords and
keys cannot leak into a manifest. Nothing here imports torch at module level.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RECORDED_ENV_VARS: tuple[str, ...] = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
)
"""The only environment variables a record may contain (they change numerics)."""

LIBRARIES: tuple[str, ...] = (
    "seedbench",
    "torch",
    "numpy",
    "scipy",
    "pandas",
    "dvc",
    "dvclive",
    "huggingface_hub",
    "mlcroissant",
    "scikit-posthocs",
)
"""Distributions whose versions every manifest records."""


def recorded_env(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """The allow-listed environment variables (``None`` when unset)."""
    env = os.environ if environ is None else environ
    return {name: env.get(name) for name in RECORDED_ENV_VARS}


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`LIBRARIES` plus the Python version (``None`` if absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags_summary() -> dict[str, bool]:
    """Which vector instruction sets the CPU reports (avx2, avx512f), from /proc/cpuinfo."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {"avx2": "avx2" in flags, "avx512f": "avx512f" in flags}


def host_name() -> str:
    """This machine's network name (volatile provenance only: a manifest never holds it)."""
    return platform.node() or "unknown"


def cpu_flags() -> list[str]:
    """Every flag the CPU reports in /proc/cpuinfo, sorted (``[]`` where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def os_record() -> dict[str, Any]:
    """The OS and C library: the seed's fifth environment layer (libm and the loader differ between distributions).

    ``{"system", "kernel", "libc": [name, version] (``platform.libc_ver()``;
    empty strings where unknown), "os_release": {"ID", "VERSION_ID",
    "PRETTY_NAME"} (``platform.freedesktop_os_release()``, ``None`` without
    /etc/os-release)}``.
    """
    try:
        release = platform.freedesktop_os_release()
        os_release: dict[str, str] | None = {k: release[k] for k in ("ID", "VERSION_ID", "PRETTY_NAME") if k in release}
    except OSError:
        os_release = None
    libc_name, libc_version = platform.libc_ver()
    return {"system": platform.system(), "kernel": platform.release(), "libc": [libc_name, libc_version],
            "os_release": os_release}


def platform_record() -> dict[str, Any]:
    """Python, OS and C library (:func:`os_record`), machine, CPU model and core count."""
    return {
        "os": os_record(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": cpu_flags_summary(),
    }


def environment_record(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """:func:`platform_record` plus the allow-listed environment variables under ``env_vars``."""
    return {**platform_record(), "env_vars": recorded_env(environ)}


def _git(args: list[str], cwd: Path) -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return None
    return out.stdout


def _matches_any(path: str, patterns: Sequence[str]) -> bool:
    """``path`` equals, lies below, or glob-matches one of ``patterns`` (repository-relative, POSIX)."""
    return any(
        path == pat or path.startswith(pat.rstrip("/") + "/") or fnmatch.fnmatch(path, pat)
        or fnmatch.fnmatch(path, pat.rstrip("/") + "/*")
        for pat in patterns
    )


def git_state(repo_dir: str | os.PathLike[str] = ".", ignore: Sequence[str] = ()) -> dict[str, Any]:
    """``{"git_sha": str|None, "dirty": bool|None, "dirty_paths": [...]}`` of the checkout at ``repo_dir``.

    Dirty means a tracked file differs from HEAD or an untracked, not-ignored file
    exists, *other than* the paths matching ``ignore`` (glob patterns; a pattern
    also covers everything below it). Pipeline stages pass the pipeline's own
    outputs there (``dvc.lock``, declared outs: see
    :func:`seedbench.provenance.dvclock.output_patterns`) plus ``.gitignore`` files, because
    DVC rewrites those while the very run being recorded is in progress; they
    cannot change a result. ``dirty_paths`` lists every changed path, ignored or
    not (first 50).
    """
    cwd = Path(repo_dir)
    sha = _git(["rev-parse", "HEAD"], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=all"], cwd)
    dirty_paths = sorted(_porcelain_path(line) for line in status.splitlines()) if status is not None else []
    counted = [p for p in dirty_paths if not _matches_any(p, ignore)]
    return {
        "git_sha": sha.strip() if sha else None,
        "dirty": (bool(counted) if status is not None else None),
        "dirty_paths": dirty_paths[:50],
    }


def _porcelain_path(line: str) -> str:
    """The (new) path of one ``git status --porcelain`` line (renames: ``old -> new``; quotes dropped)."""
    path = line[3:].split(" -> ")[-1]
    return path[1:-1] if len(path) >= 2 and path[0] == path[-1] == '"' else path


_NVIDIA_SMI_FIELDS = ("index", "name", "memory.total", "driver_version", "compute_cap")


def nvidia_smi_gpus(run: Any = None) -> list[dict[str, Any]] | None:
    """Every GPU ``nvidia-smi`` lists (index, name, memory, driver, compute capability); ``None`` without it.

    ``run`` replaces :func:`subprocess.run` in tests. A failing or absent
    ``nvidia-smi`` gives ``None``, never an exception.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None and run is None:
        return None
    runner = run or subprocess.run
    try:
        out = runner(
            [smi or "nvidia-smi", f"--query-gpu={','.join(_NVIDIA_SMI_FIELDS)}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return None
    gpus = []
    for line in out.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(_NVIDIA_SMI_FIELDS):
            continue
        index, name, memory_mib, driver, capability = cells
        gpus.append({
            "index": int(index) if index.isdigit() else index,
            "name": name,
            "total_memory_bytes": int(float(memory_mib) * 1024 * 1024) if _is_number(memory_mib) else None,
            "driver_version": driver or None,
            "capability": capability if capability and capability != "[N/A]" else None,
        })
    return gpus or None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


PROC_DRIVER_VERSION = Path("/proc/driver/nvidia/version")
"""The NVIDIA kernel module's version file (Linux): the driver version where ``nvidia-smi`` is absent."""

_PROC_DRIVER = re.compile(r"Kernel Module(?: for \S+)?\s+([0-9][0-9.]*)")


def proc_driver_version(path: Path = PROC_DRIVER_VERSION) -> str | None:
    """The NVIDIA driver version from ``/proc/driver/nvidia/version`` (``"580.65.06"``), ``None`` without it."""
    try:
        match = _PROC_DRIVER.search(path.read_text(errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def torch_gpus() -> list[dict[str, Any]]:
    """Every CUDA device torch sees: ``{"index", "name", "total_memory_bytes", "capability"}`` (``[]`` without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append({"index": index, "name": props.name, "total_memory_bytes": int(props.total_memory),
                     "capability": f"{props.major}.{props.minor}"})
    return gpus


def merge_gpu_record(torch_view: list[dict[str, Any]], smi_view: list[dict[str, Any]] | None, *,
                     cuda_version: str | None, cudnn_version: int | None, proc_driver: str | None) -> dict[str, Any]:
    """The GPU record from torch's view, ``nvidia-smi``'s and the driver file's (pure; see :func:`gpu_record`).

    Every GPU entry has the same keys: ``index, name, total_memory_bytes,
    capability, driver_version, cuda_version, cudnn_version, visible_to_torch``
    (``None`` where unknown). torch's devices win; ``nvidia-smi``'s are listed,
    invisible to torch, when torch sees none (a CPU build on a GPU machine).
    The driver comes from ``nvidia-smi`` (paired by position only when the
    counts agree: ``CUDA_VISIBLE_DEVICES`` renumbers devices), else from the
    driver file.
    """
    smi = smi_view or []
    pair = len(smi) == len(torch_view)
    drivers = sorted({g["driver_version"] for g in smi if g.get("driver_version")} | ({proc_driver} if proc_driver else set()))
    one_driver = drivers[0] if len(drivers) == 1 else None
    gpus: list[dict[str, Any]] = []
    for position, gpu in enumerate(torch_view):
        driver = smi[position].get("driver_version") if pair and torch_view else one_driver
        gpus.append({**gpu, "driver_version": driver or one_driver, "cuda_version": cuda_version,
                     "cudnn_version": cudnn_version, "visible_to_torch": True})
    if not torch_view:
        gpus = [{"index": g.get("index"), "name": g.get("name"), "total_memory_bytes": g.get("total_memory_bytes"),
                 "capability": g.get("capability"), "driver_version": g.get("driver_version"),
                 "cuda_version": cuda_version, "cudnn_version": cudnn_version, "visible_to_torch": False} for g in smi]
    return {"cuda_available": bool(torch_view), "cuda_version": cuda_version, "cudnn_version": cudnn_version,
            "gpus": gpus or None, "driver": ", ".join(drivers) or None}


def gpu_record(nvidia_smi: Any = nvidia_smi_gpus, proc_driver: Any = proc_driver_version) -> dict[str, Any]:
    """CUDA/cuDNN versions of torch and every GPU (all of them, not only the first).

    Returns ``{"cuda_available", "cuda_version", "cudnn_version", "gpus", "driver"}``
    (:func:`merge_gpu_record`): ``gpus`` lists each device with its model,
    memory, compute capability, driver, CUDA and cuDNN versions; it is ``None``
    — a clean null — on a machine without GPUs, and ``cuda_version`` /
    ``cudnn_version`` are ``None`` for a CPU build of torch. ``nvidia_smi`` and
    ``proc_driver`` replace the readers in tests. Imports torch (only the train
    stage and replay call it).
    """
    import torch

    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except RuntimeError:
        cudnn = None
    return merge_gpu_record(torch_gpus(), nvidia_smi(), cuda_version=torch.version.cuda, cudnn_version=cudnn,
                            proc_driver=proc_driver())
