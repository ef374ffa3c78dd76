"""Where a result came from: file hashes, code version, environment, hardware.

Environment capture is an allow-list: only the variables named in
:data:`RECORDED_ENV_VARS` are ever read into a record, so tokens, passwords and
keys cannot leak into a manifest. Nothing here imports torch at module level.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HASH_CHUNK_BYTES = 4 * 1024 * 1024
"""Read size of :func:`file_sha256` (large chunks keep hashing at disk/CPU speed)."""

RECORDED_ENV_VARS: tuple[str, ...] = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
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


def file_sha256(path: str | os.PathLike[str], chunk_bytes: int = HASH_CHUNK_BYTES) -> str:
    """``"sha256:<hex>"`` of a file, streamed in ``chunk_bytes`` chunks (never read whole)."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return f"sha256:{digest.hexdigest()}"


def bytes_sha256(data: bytes) -> str:
    """``"sha256:<hex>"`` of in-memory bytes."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


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


def platform_record() -> dict[str, Any]:
    """Python, OS, machine, CPU model and core count."""
    return {
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


def git_state(repo_dir: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """``{"git_sha": str|None, "dirty": bool|None, "dirty_paths": [...]}`` of the checkout at ``repo_dir``.

    Dirty means a tracked file differs from HEAD or an untracked, not-ignored file
    exists (DVC outputs are git-ignored, so a pipeline run does not make a clean
    tree dirty).
    """
    cwd = Path(repo_dir)
    sha = _git(["rev-parse", "HEAD"], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=all"], cwd)
    dirty_paths = [line[3:] for line in status.splitlines()] if status is not None else []
    return {
        "git_sha": sha.strip() if sha else None,
        "dirty": (bool(dirty_paths) if status is not None else None),
        "dirty_paths": sorted(dirty_paths)[:50],
    }


_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@``."""
    return _CREDENTIALS_IN_URL.sub(lambda m: f"{m.group('scheme')}***@", url)


def gpu_record() -> dict[str, Any]:
    """CUDA/cuDNN versions and every visible GPU (name, memory, capability); ``None`` fields without CUDA.

    Imports torch (only the train stage and replay call it).
    """
    import torch

    record: dict[str, Any] = {
        "cuda_available": bool(torch.cuda.is_available()),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpus": None,
        "driver": None,
    }
    if record["cuda_available"]:
        gpus = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append(
                {
                    "index": index,
                    "name": props.name,
                    "total_memory_bytes": int(props.total_memory),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
        record["gpus"] = gpus
        smi = shutil.which("nvidia-smi")
        if smi:
            try:
                out = subprocess.run(
                    [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                    capture_output=True, text=True, check=True, timeout=30,
                )
                record["driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
                record["driver"] = None
    return record
