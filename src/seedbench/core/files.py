"""Atomic, deterministic file writing.

Every file a stage writes goes through here: bytes land in a temporary file in
the destination folder and are renamed into place, so a crash never leaves a
half-written output. JSON is written with sorted keys, floats as Python repr
(round-trip exact) and a trailing newline; arrays are written as ``.npz`` with
fixed zip timestamps so the same arrays always give the same bytes.

An interrupted write leaves at most a hidden sibling of its target
(``.<name>.<random>.tmp``, ``.<name>.<random>.staging/``, ``.<name>.previous/``):
Python's own cleanup removes it on an exception or Ctrl-C, and the next write
of the same target sweeps what a ``kill -9`` left (:func:`sweep_stale_siblings`).
``.dvcignore`` keeps them all out of DVC's hashes meanwhile.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - numpy is imported where arrays are written (the launcher reads params only)
    import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


_RANDOM = r"[a-z0-9_]{8}"  # tempfile's names: 8 characters of this alphabet


def stale_siblings(target: str | os.PathLike[str]) -> list[Path]:
    """Leftovers of interrupted writes of ``target``: ``.<name>.<8 random>.tmp|.staging`` and ``.<name>.previous``.

    Only exact matches of the patterns :func:`atomic_write_bytes` and
    :func:`staged_directory` create for this very name (``.summary.json.x1y2z3w4.tmp``
    belongs to ``summary.json``, never to ``summary``).
    """
    final = Path(target)
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.({_RANDOM}\.(tmp|staging)|previous)$")
    try:
        names = os.listdir(final.parent)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(final.parent / n for n in names if pattern.match(n))


def sweep_stale_siblings(target: str | os.PathLike[str]) -> list[Path]:
    """Delete :func:`stale_siblings` of ``target`` (one stage writes a target at a time); returns what was removed."""
    removed = stale_siblings(target)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def read_bounded_bytes(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of regular file ``path``, refusing a device, FIFO or folder and anything over ``limit`` bytes.

    Raises ``OSError`` subclasses as ``open`` does (missing file, permission denied)
    and :class:`ValueError` naming the file and the limit otherwise; never reads
    more than ``limit + 1`` bytes (``/dev/zero`` is refused before a read).
    """
    p = Path(path)
    mode = p.stat().st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", str(p))
    if not stat.S_ISREG(mode):
        raise ValueError(f"{p}: not a regular file")
    with open(p, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{p}: larger than {limit} bytes")
    return data


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename (stale temps swept first)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_siblings(target)
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
    import numpy as np

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
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _swap_into_place(staged: Path, final: Path) -> None:
    """Rename ``staged`` (a file or folder on ``final``'s filesystem) to ``final``, replacing what was there.

    A folder cannot be renamed over a non-empty folder, so the old one is first
    renamed to ``.<name>.previous`` (swept by the next write if a crash interrupts).
    """
    backup = final.with_name(f".{final.name}.previous")
    if backup.exists():
        shutil.rmtree(backup)
    if final.is_dir() and not final.is_symlink():
        os.replace(final, backup)
    os.replace(staged, final)
    shutil.rmtree(backup, ignore_errors=True)


@contextmanager
def staged_directory(final_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder that replaces ``final_dir`` only if the block succeeds.

    The temporary folder is a sibling of ``final_dir`` (same filesystem, so the
    swap is a rename). On an exception (Ctrl-C included) it is deleted and
    ``final_dir`` keeps its previous content untouched; staging folders a
    ``kill -9`` left behind are swept first.
    """
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_siblings(final)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.chmod(0o755)  # mkdtemp creates 0700
    _swap_into_place(staging, final)


@contextmanager
def staged_outputs(final_dir: str | os.PathLike[str], names: Sequence[str]) -> Iterator[Path]:
    """Yield an empty staging folder; on success move each of ``names`` from it into ``final_dir``, else none.

    For a stage whose outputs are files of a folder that may hold others it does
    not own (a run folder's outs are declared file by file): write every output under its
    final name into the staging folder; only when the block succeeds and every
    name was written is each renamed into place (files and folders, replacing
    the previous ones). On an exception nothing in ``final_dir`` changes (a
``final_dir`` that did not exist is not created). The
    staging folder is a hidden sibling of ``final_dir`` (``.<dir>.<random>.staging``),
    swept by the next run after a ``kill -9``.

    Raises ``FileNotFoundError`` (nothing moved) when a name was not written.
    """
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)  # final itself only once there is something to put in it
    sweep_stale_siblings(final)
    if final.is_dir():
        for name in names:
            sweep_stale_siblings(final / name)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
    try:
        yield staging
        missing = [name for name in names if not (staging / name).exists()]
        if missing:
            raise FileNotFoundError(f"{final}: outputs not written: {', '.join(missing)} (nothing was replaced)")
        final.mkdir(exist_ok=True)
        for name in names:
            if (staging / name).is_dir():
                (staging / name).chmod(0o755)  # mkdtemp creates 0700
            _swap_into_place(staging / name, final / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
