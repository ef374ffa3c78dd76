"""The record of what was fetched: ``data/raw/SOURCE.json``, one entry per raw file with its sha256.

A source (:mod:`seedbench.data.sources`) fills a staging folder with raw files
laid out as ``<dataset>/{train,test,RUL}_<dataset>.txt`` and returns one
:class:`RawFile` per file; :func:`write_source_record` hashes nothing itself,
it writes what the source measured. Stages downstream of fetch (publish,
``seedbench verify-data``) read hashes back from here
without importing any source. (A run manifest takes its data hashes from ``prepare.json``,
which the prepare stage hashes from the raw files it read: training never reads the raw folder.)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seedbench.core.errors import DataFormatError
from seedbench.core.files import read_json, write_json
from seedbench.core.names import RAW_FILE_KINDS, SOURCE_RECORD_NAME

_RAW_FILE_NAME = re.compile(rf"^(?P<kind>{'|'.join(RAW_FILE_KINDS)})_(?P<dataset>FD\d{{3}})\.txt$")


def raw_file_names(dataset: str) -> list[str]:
    """``["train_<dataset>.txt", "test_<dataset>.txt", "RUL_<dataset>.txt"]``."""
    return [f"{kind}_{dataset}.txt" for kind in RAW_FILE_KINDS]


def parse_raw_file_name(name: str) -> tuple[str, str] | None:
    """``(kind, dataset)`` of a C-MAPSS file name such as ``"RUL_FD003.txt"``; ``None`` for any other name."""
    match = _RAW_FILE_NAME.fullmatch(name)
    return (match["kind"], match["dataset"]) if match else None


@dataclass(frozen=True)
class RawFile:
    """One raw file: ``path`` relative to the raw folder (POSIX), ``size`` in bytes, ``sha256`` as ``sha256:<hex>``."""

    path: str
    size: int
    sha256: str
    origin: dict[str, Any]


def write_source_record(raw_dir: str | Path, source: str, files: list[RawFile], details: dict[str, Any]) -> Path:
    """Write ``SOURCE.json`` (sorted by path) into ``raw_dir``; returns its path."""
    record = {
        "source": source,
        "details": details,
        "files": [asdict(f) for f in sorted(files, key=lambda f: f.path)],
    }
    path = Path(raw_dir) / SOURCE_RECORD_NAME
    write_json(path, record)
    return path


def read_source_record(raw_dir: str | Path) -> dict[str, Any]:
    """Read ``raw_dir/SOURCE.json`` (raises :class:`DataFormatError` when missing)."""
    path = Path(raw_dir) / SOURCE_RECORD_NAME
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; run the fetch stage (`dvc repro fetch`) first")
    return read_json(path)


def data_hashes(raw_dir: str | Path) -> dict[str, str]:
    """``{relative path: "sha256:<hex>"}`` of every raw file listed in ``SOURCE.json``."""
    return {f["path"]: f["sha256"] for f in read_source_record(raw_dir)["files"]}
