"""The local source: NASA's C-MAPSS text files from a folder on disk.

The folder is laid out like the ``CMAPSSData/`` folder of NASA's zip: the
three files of every subset side by side (``train_FD001.txt``,
``test_FD001.txt``, ``RUL_FD001.txt``, ...). Each file needed for
``data.datasets`` is copied (hashed in the same pass) or hard-linked into
``<out_dir>/<dataset>/``; an optional ``sha256:<hex>`` pin per file name turns
a changed file into a :class:`~seedbench.core.errors.DataIntegrityError`.

The folder is not trusted (a zip can carry symbolic links): a file is taken
only when it resolves to a regular file inside the folder, so a link to
``/etc/passwd`` or a device is refused before a byte is read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from seedbench.core.errors import DataIntegrityError, SourceError
from seedbench.core.hashing import HASH_CHUNK_BYTES, file_sha256
from seedbench.data.record import RawFile, raw_file_names


def copy_with_sha256(src: str | os.PathLike[str], dst: str | os.PathLike[str], chunk_bytes: int = HASH_CHUNK_BYTES) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` in ``chunk_bytes`` chunks, hashing while copying (one read of the source).

    Returns ``("sha256:<hex>", size in bytes)`` of the bytes written.
    """
    digest = hashlib.sha256()
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    size = 0
    with open(src, "rb", buffering=0) as reader, open(dst, "wb") as writer:
        while n := reader.readinto(buffer):
            chunk = view[:n]
            digest.update(chunk)
            writer.write(chunk)
            size += n
    return f"sha256:{digest.hexdigest()}", size


def _check_inputs(folder: Path, datasets: list[str]) -> None:
    """Fail before writing anything when the folder or one of the needed files is missing."""
    if not folder.is_dir():
        raise SourceError(
            f"data.local.path: folder {folder} not found; expected NASA's C-MAPSS folder (the zip's CMAPSSData/) "
            "holding train_FD001.txt, test_FD001.txt, RUL_FD001.txt, ...; unzip it there or change data.local.path"
        )
    missing = [name for d in datasets for name in raw_file_names(d) if not (folder / name).exists()]
    if missing:
        raise SourceError(
            f"data.local.path: {folder} has no {', '.join(missing)} (needed for data.datasets: {', '.join(datasets)})"
        )


def contained_file(folder: Path, name: str) -> Path:
    """``folder/name`` resolved (symbolic links followed), refused unless a regular file inside ``folder``.

    Raises :class:`SourceError` naming the file and where it points: a link out of
    the folder (``train_FD001.txt -> /etc/passwd``), a dangling link, or something
    that is not a regular file (a device, a FIFO, a folder).
    """
    path = folder / name
    root = folder.resolve()
    target = path.resolve()
    if not target.is_relative_to(root):
        raise SourceError(
            f"data.local.path: {path} is a link to {target}, outside {folder}; the local source takes only files "
            f"inside its folder: copy the file there instead of linking it"
        )
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        raise SourceError(f"data.local.path: {path}: cannot read it ({exc.strerror}); expected a C-MAPSS text file") from None
    if not stat.S_ISREG(mode):
        raise SourceError(f"data.local.path: {path} is not a regular file; expected a C-MAPSS text file")
    return target


def _place(src: Path, dst: Path, link: bool) -> tuple[str, int]:
    """Copy (hashing in the same pass) or hard-link ``src`` to ``dst``; returns (sha256, size)."""
    if not link:
        return copy_with_sha256(src, dst)
    try:
        os.link(src, dst)
    except OSError as exc:
        raise SourceError(
            f"data.local.link: cannot hard-link {src} into {dst.parent} ({exc.strerror}); hard links need the same "
            "filesystem: set data.local.link: false to copy instead"
        ) from None
    return file_sha256(dst), dst.stat().st_size


def fetch_local(
    datasets: list[str],
    *,
    path: str,
    link: bool,
    expected_sha256: dict[str, str],
    out_dir: str | Path,
) -> tuple[list[RawFile], dict[str, Any]]:
    """Bring the C-MAPSS files of ``datasets`` from folder ``path`` into ``out_dir/<dataset>/``.

    Parameters
    ----------
    datasets
        Subsets to fetch (``"FD001"`` ...); each needs ``train_``, ``test_`` and
        ``RUL_<dataset>.txt`` in ``path``.
    path
        The folder, as written in params (recorded verbatim, so a relative path
        keeps ``SOURCE.json`` identical across machines).
    link
        Hard-link instead of copying. A hard link shares the original's inode:
        when DVC caches ``data/raw`` it may mark the file read-only, and so the
        original too.
    expected_sha256
        ``{file name: "sha256:<hex>"}`` pins; a pin for a file not fetched is
        reported in the returned warnings.
    out_dir
        The (staging) raw folder to fill.

    Returns
    -------
    (files, details)
        One :class:`RawFile` per file, and the details for ``SOURCE.json``.

    Raises
    ------
    SourceError
        Missing folder or file, a file that is a link out of the folder or not a regular
        file, or a hard link that cannot be made.
    DataIntegrityError
        A file's sha256 differs from its pin (message: file, expected, actual).
    """
    folder = Path(path)
    _check_inputs(folder, datasets)
    out = Path(out_dir)
    files: list[RawFile] = []
    for dataset in datasets:
        (out / dataset).mkdir(parents=True, exist_ok=True)
        for name in raw_file_names(dataset):
            src = folder / name
            sha256, size = _place(contained_file(folder, name), out / dataset / name, link)
            expected = expected_sha256.get(name)
            if expected is not None and expected != sha256:
                raise DataIntegrityError(
                    f"{src}: sha256 mismatch: expected {expected} (data.local.expected_sha256.{name}), actual {sha256}"
                )
            origin = {"kind": "local", "path": (Path(path) / name).as_posix(), "link": link}
            files.append(RawFile(path=f"{dataset}/{name}", size=size, sha256=sha256, origin=origin))
    fetched = {name for d in datasets for name in raw_file_names(d)}
    unused = sorted(set(expected_sha256) - fetched)
    details: dict[str, Any] = {
        "datasets": list(datasets),
        "local": {"path": Path(path).as_posix(), "link": link, "expected_sha256": dict(sorted(expected_sha256.items()))},
    }
    if unused:
        details["warnings"] = [
            f"data.local.expected_sha256 pins {', '.join(unused)}, which data.datasets does not fetch (pin unused)"
        ]
    return files, details
