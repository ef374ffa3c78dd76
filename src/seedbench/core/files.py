"""Atomic, deterministic file writing.

Every file a stage writes goes through here: bytes land in a temporary file in
the destination folder and are renamed into place, so a crash never leaves a
half-written output. JSON is written with sorted keys, floats as Python repr
(round-trip exact) and a trailing newline; arrays are written as ``.npz`` with
fixed zip timestamps so the same arrays always give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp creates 0600; outputs are ordinary readable files
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, 2-space indent, trailing newline, NaN allowed.

    Floats are written by Python's repr, which round-trips exactly.
    """
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as canonical JSON (see :func:`dumps_json`) atomically."""
    atomic_write_text(path, dumps_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialise named arrays as an uncompressed ``.npz`` whose bytes depend only on the arrays.

    Entries are written in sorted name order with a fixed timestamp, so
    ``numpy.load`` reads them back and identical arrays give identical bytes
    (``numpy.savez`` stamps the current time into the zip).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays atomically as a deterministic ``.npz`` (see :func:`npz_bytes`)."""
    atomic_write_bytes(path, npz_bytes(arrays))


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file into memory (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@contextmanager
def staged_directory(final_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder that replaces ``final_dir`` only if the block succeeds.

    The temporary folder is a sibling of ``final_dir`` (same filesystem, so the
    swap is a rename). On an exception it is deleted and ``final_dir`` keeps its
    previous content untouched.
    """
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.chmod(0o755)  # mkdtemp creates 0700
    backup = final.with_name(f".{final.name}.previous")
    if backup.exists():
        shutil.rmtree(backup)
    if final.exists():
        os.replace(final, backup)
    os.replace(staging, final)
    shutil.rmtree(backup, ignore_errors=True)
