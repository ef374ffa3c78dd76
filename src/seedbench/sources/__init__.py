"""Raw-data sources and the record of what was fetched (``data/raw/SOURCE.json``).

A source fills a staging folder with raw files laid out as
``<dataset>/{train,test,RUL}_<dataset>.txt`` and returns one :class:`RawFile`
per file; :func:`write_source_record` hashes nothing itself, it writes what the
source measured. :func:`fetch_source` picks the source named by
``data.source``: ``builtin`` (the simulator, :mod:`.builtin`), ``local`` (a
folder of NASA's files, :mod:`.local`) or ``hf`` (a Hugging Face Hub
repository, :mod:`.hf`). The fetch stage swaps the staging folder into
``data/raw`` only when everything succeeded, so a failed fetch leaves the
previous raw data untouched.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedbench.errors import DataFormatError, SourceError
from seedbench.files import read_json, write_json

if TYPE_CHECKING:  # pragma: no cover - typing only (params imports this module)
    from seedbench.params import DataParams

SOURCE_RECORD_NAME = "SOURCE.json"

RAW_FILE_KINDS: tuple[str, ...] = ("train", "test", "RUL")
"""The three files of a C-MAPSS subset: ``<kind>_<dataset>.txt``."""

SHA256_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
"""How every hash is written: ``sha256:`` and 64 lowercase hex digits."""

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


def dataset_hashes(raw_dir: str | Path, dataset: str) -> dict[str, str]:
    """:func:`data_hashes` of one dataset's files (``<dataset>/…``); ``{}`` when ``SOURCE.json`` is absent.

    For a run manifest: a training stage run by hand, outside the pipeline, has
    no raw folder, and records no raw hashes rather than failing.
    """
    if not (Path(raw_dir) / SOURCE_RECORD_NAME).is_file():
        return {}
    return {p: h for p, h in data_hashes(raw_dir).items() if p.startswith(f"{dataset}/")}


def fetch_source(data_params: DataParams, staging_dir: str | Path) -> tuple[list[RawFile], dict[str, Any]]:
    """Fill ``staging_dir`` from the source named by ``data_params.source``.

    Parameters
    ----------
    data_params
        The validated ``data`` section of params.yaml.
    staging_dir
        An empty folder (the fetch stage's staging copy of ``data/raw``); on
        return it holds ``<dataset>/{train,test,RUL}_<dataset>.txt`` for every
        dataset in ``data_params.datasets``.

    Returns
    -------
    (files, details)
        One :class:`RawFile` per file written, and the source's details for
        ``SOURCE.json`` (JSON-ready; a ``"warnings"`` list, when present, holds
        messages the caller should show).

    Raises
    ------
    SourceError
        Unknown source, or the source cannot deliver (missing folder or file,
        unreachable Hub, no match for a pattern, unknown revision, ...).
    DataIntegrityError
        A file's bytes differ from the hash they are pinned to.
    """
    source = data_params.source
    datasets = list(data_params.datasets)
    if source == "builtin":
        from seedbench.sources.builtin import fetch_builtin

        b = data_params.builtin
        files = fetch_builtin(datasets, seed=b.seed, scale=b.scale, out_dir=staging_dir)
        return files, {"datasets": datasets, "builtin": asdict(b)}
    if source == "local":
        from seedbench.sources.local import fetch_local

        loc = data_params.local
        return fetch_local(
            datasets, path=loc.path, link=loc.link, expected_sha256=dict(loc.expected_sha256), out_dir=staging_dir
        )
    if source == "hf":
        from seedbench.sources.hf import HubMetadata, fetch_hf

        h = data_params.hf
        return fetch_hf(
            datasets,
            repo_id=h.repo_id,
            repo_type=h.repo_type,
            revision=h.revision,
            patterns=list(h.files),
            endpoint=h.endpoint,
            fetch_remote_metadata=h.fetch_remote_metadata,
            metadata=HubMetadata(**asdict(h.metadata)),
            out_dir=staging_dir,
        )
    raise SourceError(f"data.source: unknown source {source!r}; choose from builtin, local, hf")
