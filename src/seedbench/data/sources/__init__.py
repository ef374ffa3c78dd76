"""Raw-data sources: where the C-MAPSS files come from (the record they leave is :mod:`seedbench.data.record`).

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

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedbench.core.errors import DataFormatError, SourceError
from seedbench.data.record import RawFile

if TYPE_CHECKING:  # pragma: no cover - typing only
    from seedbench.core.params import DataParams


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
        from seedbench.data.sources.builtin import fetch_builtin

        b = data_params.builtin
        files = fetch_builtin(datasets, seed=b.seed, scale=b.scale, out_dir=staging_dir)
        return files, {"datasets": datasets, "builtin": asdict(b)}
    if source == "local":
        from seedbench.data.sources.local import fetch_local

        loc = data_params.local
        fetched = fetch_local(
            datasets, path=loc.path, link=loc.link, expected_sha256=dict(loc.expected_sha256), out_dir=staging_dir
        )
        check_cmapss_format(staging_dir, datasets, origin=f"data.local.path {loc.path}")
        return fetched
    if source == "hf":
        from seedbench.data.sources.hf import HubMetadata, fetch_hf

        h = data_params.hf
        fetched = fetch_hf(
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
        check_cmapss_format(staging_dir, datasets, origin=f"data.hf.repo_id {h.repo_id}")
        return fetched
    raise SourceError(f"data.source: unknown source {source!r}; choose from builtin, local, hf")


def check_cmapss_format(staging_dir: str | Path, datasets: list[str], *, origin: str) -> None:
    """Read every fetched subset back with the C-MAPSS reader; a malformed file is a :class:`DataFormatError`.

    The message names the file as fetched (``FD001/train_FD001.txt, line 7``)
    and ``origin`` (where it came from), not the staging folder.
    """
    from seedbench.data.cmapss import read_subset

    staging = Path(staging_dir)
    for dataset in datasets:
        try:
            read_subset(staging / dataset, dataset)
        except DataFormatError as exc:
            message = str(exc).replace(f"{staging}/", "")
            raise DataFormatError(f"fetch from {origin}: {message} (nothing was written to data/raw)") from None
