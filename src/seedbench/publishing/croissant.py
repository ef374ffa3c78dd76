"""Croissant JSON-LD descriptions of the raw C-MAPSS data (``seedbench describe`` reads them: :mod:`.describe`).

For every dataset (C-MAPSS subset) the publish stage writes
``publish/croissant/<dataset>.json``: Croissant 1.1 (``conformsTo``
``http://mlcommons.org/croissant/1.1``) with the dataset's name, description,
citeAs, license, url, creator, datePublished and version, one ``cr:FileObject``
per raw file (sha256, contentSize, encodingFormat, contentUrl) and one
``cr:RecordSet`` per file describing its columns.

How the text files are described so that ``mlcroissant`` can read them: NASA's
files are space-separated with two trailing spaces and no header, which none of
mlcroissant 1.1.1's tabular readers accept (``text/csv`` means commas and a
header). So each file is a ``text/plain`` FileObject read by lines
(``extract: {fileProperty: lines}``), and each column is a field whose
``transform.regex`` captures the k-th whitespace-separated number. The RUL
files hold one integer per line, read as is.

Where ``contentUrl`` points: for Hub data, the Hub's URL of the file at the
pinned commit (``…/resolve/<commit>/<path>``, from SOURCE.json). For builtin
(simulated) and local data, a path *relative to the JSON file* into
``data/raw/`` (``../../data/raw/FD001/train_FD001.txt``): the files are not
copied (the raw data are DVC outputs, restored by ``dvc pull`` or ``dvc
repro``), so the description works offline in any checkout where the data are
present, and the sha256 pins exactly those bytes.

Everything here is deterministic: no clock (``datePublished`` comes from
params), keys sorted, the same input gives the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedbench.core.errors import DataFormatError
from seedbench.core.files import atomic_write_text
from seedbench.core.names import RAW_FILE_KINDS, SOURCE_RECORD_NAME
from seedbench.data.record import parse_raw_file_name, read_source_record

CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"

CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
"""The JSON-LD context mlcroissant 1.1.1 writes for Croissant 1.1 (``Metadata.to_json``)."""

SAXENA_2008 = (
    "@inproceedings{saxena2008damage,\n"
    "  author = {Saxena, Abhinav and Goebel, Kai and Simon, Don and Eklund, Neil},\n"
    "  title = {Damage Propagation Modeling for Aircraft Engine Run-to-Failure Simulation},\n"
    "  booktitle = {2008 International Conference on Prognostics and Health Management (PHM)},\n"
    "  year = {2008},\n"
    "  doi = {10.1109/PHM.2008.4711414}\n"
    "}"
)
"""How to cite the C-MAPSS data and the damage model the simulator follows."""

SUBSETS: dict[str, tuple[int, int]] = {"FD001": (1, 1), "FD002": (6, 1), "FD003": (1, 2), "FD004": (6, 2)}
"""(operating conditions, fault modes) of each C-MAPSS subset."""

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "unit": "Engine unit number",
    "cycle": "Time, in operating cycles since the start of the trajectory",
    "setting1": "Operational setting 1 (altitude-related)",
    "setting2": "Operational setting 2 (Mach-related)",
    "setting3": "Operational setting 3 (throttle resolver angle, TRA)",
    "s1": "T2: total temperature at fan inlet (°R)",
    "s2": "T24: total temperature at LPC outlet (°R)",
    "s3": "T30: total temperature at HPC outlet (°R)",
    "s4": "T50: total temperature at LPT outlet (°R)",
    "s5": "P2: pressure at fan inlet (psia)",
    "s6": "P15: total pressure in bypass duct (psia)",
    "s7": "P30: total pressure at HPC outlet (psia)",
    "s8": "Nf: physical fan speed (rpm)",
    "s9": "Nc: physical core speed (rpm)",
    "s10": "epr: engine pressure ratio (P50/P2)",
    "s11": "Ps30: static pressure at HPC outlet (psia)",
    "s12": "phi: ratio of fuel flow to Ps30 (pps/psi)",
    "s13": "NRf: corrected fan speed (rpm)",
    "s14": "NRc: corrected core speed (rpm)",
    "s15": "BPR: bypass ratio",
    "s16": "farB: burner fuel-air ratio",
    "s17": "htBleed: bleed enthalpy",
    "s18": "Nf_dmd: demanded fan speed (rpm)",
    "s19": "PCNfR_dmd: demanded corrected fan speed (rpm)",
    "s20": "W31: HPT coolant bleed (lbm/s)",
    "s21": "W32: LPT coolant bleed (lbm/s)",
}
"""The 26 columns of a train/test file, in file order (sensor names after Saxena et al. 2008)."""

_INTEGER_COLUMNS = frozenset({"unit", "cycle"})
_FILE_ROLES = {
    "train": "complete run-to-failure trajectories, the last cycle of each unit being its failure",
    "test": "trajectories truncated some cycles before failure",
    "RUL": "true remaining useful life in cycles of each test unit, line i holding unit i",
}


@dataclass(frozen=True)
class DatasetMetadata:
    """Descriptive metadata of one published dataset (Croissant's dataset-level properties)."""

    name: str
    description: str
    license: str
    cite_as: str
    url: str
    creator: dict[str, str]
    date_published: str
    version: str


@dataclass(frozen=True)
class PublishInfo:
    """What params add to every description: ``publish.date_published``, ``version``, ``url``, ``creator``."""

    date_published: str
    version: str
    url: str
    creator: str


def _subset_phrase(dataset: str) -> str:
    conditions, faults = SUBSETS.get(dataset, (None, None))
    if conditions is None:
        return f"subset {dataset}"
    plural = "s" if conditions > 1 else ""
    return f"subset {dataset}: {conditions} operating condition{plural}, {faults} fault mode{'s' if faults > 1 else ''}"


def _files_phrase(dataset: str) -> str:
    return "Files: " + "; ".join(f"{k}_{dataset}.txt, {_FILE_ROLES[k]}" for k in RAW_FILE_KINDS) + "."


def dataset_metadata(dataset: str, record: Mapping[str, Any], info: PublishInfo) -> DatasetMetadata:
    """Metadata of ``dataset`` from the SOURCE.json ``record`` and the publish params (pure).

    builtin: a constant description of the simulator, cited as Saxena et al. (2008)
    for the damage model, licensed like seedbench (Apache-2.0), created by
    ``publish.creator``, ``url`` = ``publish.url``. local: NASA's C-MAPSS data
    (NASA Ames Prognostics Center of Excellence, a U.S. Government work),
    ``url`` = ``publish.url``. hf: name, description, license and citation from
    ``details.metadata`` in SOURCE.json (params ``data.hf.metadata`` win over the
    Hub's Croissant record there), falling back to the local constants; ``url``
    is the repository's Hub page and the creator its namespace.
    """
    source = record.get("source")
    details = record.get("details") or {}
    nasa = {
        "name": f"cmapss-{dataset}",
        "description": (
            f"NASA C-MAPSS turbofan engine degradation simulation data, {_subset_phrase(dataset)}. "
            "Each unit starts with unknown initial wear and develops a fault until failure. "
            f"{_files_phrase(dataset)} Space-separated, no header, 26 columns: "
            "unit, cycle, 3 operational settings, 21 sensors."
        ),
        "license": "https://www.usa.gov/government-works",
        "cite_as": SAXENA_2008,
    }
    common = {"date_published": info.date_published, "version": info.version}
    if source == "builtin":
        builtin = details.get("builtin") or {}
        return DatasetMetadata(
            name=f"seedbench-simulated-cmapss-{dataset}",
            description=(
                f"Simulated turbofan run-to-failure data in NASA's C-MAPSS text format ({_subset_phrase(dataset)}), "
                f"written by seedbench's built-in fleet simulator (simulator seed {builtin.get('seed')}, "
                f"scale {builtin.get('scale')} of NASA's unit counts). Module health follows the exponential "
                "damage model of Saxena et al. (2008) with process and sensor noise; these are not NASA's "
                f"recordings. {_files_phrase(dataset)}"
            ),
            license="https://www.apache.org/licenses/LICENSE-2.0",
            cite_as=SAXENA_2008,
            url=info.url,
            creator={"@type": "sc:Organization", "name": info.creator},
            **common,
        )
    if source == "local":
        return DatasetMetadata(
            **nasa, url=info.url,
            creator={"@type": "sc:Organization", "name": "NASA Ames Research Center, Prognostics Center of Excellence"},
            **common,
        )
    if source == "hf":
        hub = details.get("hf") or {}
        meta = details.get("metadata") or {}
        repo_id = str(hub.get("repo_id", ""))
        endpoint = str(hub.get("endpoint") or "https://huggingface.co").rstrip("/")
        kind = "datasets/" if hub.get("repo_type", "dataset") == "dataset" else ""
        namespace = repo_id.split("/")[0] if "/" in repo_id else repo_id
        return DatasetMetadata(
            name=meta.get("name") or nasa["name"],
            description=(meta.get("description") or nasa["description"]) + (
                f" Subset {dataset}." if meta.get("description") else ""
            ),
            license=meta.get("license") or nasa["license"],
            cite_as=meta.get("citation") or nasa["cite_as"],
            url=f"{endpoint}/{kind}{repo_id}",
            creator={"@type": "sc:Organization", "name": namespace, "url": f"{endpoint}/{namespace}"},
            **common,
        )
    raise DataFormatError(f"{SOURCE_RECORD_NAME}: unknown source {source!r}")


def content_url(entry: Mapping[str, Any], source: str, raw_dir: str | Path, json_dir: str | Path) -> str:
    """Where the FileObject of SOURCE.json ``entry`` is: the Hub URL at the commit, else a path relative to ``json_dir``."""
    if source == "hf":
        url = (entry.get("origin") or {}).get("url")
        if not url:
            raise DataFormatError(f"{SOURCE_RECORD_NAME}: {entry.get('path')}: no Hub URL recorded")
        return str(url)
    target = Path(raw_dir) / str(entry["path"])
    return Path(os.path.relpath(target, Path(json_dir))).as_posix()


def _column_regex(index: int) -> str:
    return r"^\s*(?:\S+\s+){%d}(\S+)" % index if index else r"^\s*(\S+)"


def _fields(record_set: str, file_id: str, kind: str) -> list[dict[str, Any]]:
    def field(name: str, description: str, data_type: str, transform: dict[str, str] | None) -> dict[str, Any]:
        source: dict[str, Any] = {"fileObject": {"@id": file_id}, "extract": {"fileProperty": "lines"}}
        if transform:
            source["transform"] = transform
        return {
            "@type": "cr:Field", "@id": f"{record_set}/{name}", "name": name, "description": description,
            "dataType": data_type, "source": source,
        }

    if kind == "RUL":
        return [field("rul", "True remaining useful life of the test unit, in cycles", "sc:Integer", None)]
    return [
        field(col, desc, "sc:Integer" if col in _INTEGER_COLUMNS else "sc:Float", {"regex": _column_regex(i)})
        for i, (col, desc) in enumerate(COLUMN_DESCRIPTIONS.items())
    ]


def croissant_document(
    dataset: str, files: Sequence[Mapping[str, Any]], metadata: DatasetMetadata, urls: Mapping[str, str]
) -> dict[str, Any]:
    """The Croissant JSON-LD of one dataset (pure).

    ``files`` are SOURCE.json entries (``path``, ``size``, ``sha256``) of this
    dataset; ``urls`` maps each entry's ``path`` to its ``contentUrl``.
    """
    distribution: list[dict[str, Any]] = []
    record_sets: list[dict[str, Any]] = []
    by_kind = {}
    for entry in files:
        parsed = parse_raw_file_name(Path(str(entry["path"])).name)
        if parsed is None or parsed[1] != dataset:
            raise DataFormatError(f"{SOURCE_RECORD_NAME}: {entry['path']} is not a C-MAPSS file of {dataset}")
        by_kind[parsed[0]] = entry
    missing = [k for k in RAW_FILE_KINDS if k not in by_kind]
    if missing:
        raise DataFormatError(f"{SOURCE_RECORD_NAME}: {dataset} lacks {', '.join(f'{k}_{dataset}.txt' for k in missing)}")
    for kind in RAW_FILE_KINDS:
        entry = by_kind[kind]
        name = f"{kind}_{dataset}.txt"
        sha = str(entry["sha256"]).removeprefix("sha256:")
        distribution.append({
            "@type": "cr:FileObject", "@id": name, "name": name,
            "description": f"{_FILE_ROLES[kind][0].upper()}{_FILE_ROLES[kind][1:]}.",
            "contentUrl": urls[str(entry["path"])], "contentSize": f"{int(entry['size'])} B",
            "encodingFormat": "text/plain", "sha256": sha,
        })
        record_set = f"{kind}_{dataset}"
        record_sets.append({
            "@type": "cr:RecordSet", "@id": record_set, "name": record_set,
            "description": f"One record per line of {name}: {_FILE_ROLES[kind]}.",
            "field": _fields(record_set, name, kind),
        })
    return {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_VERSION,
        "name": metadata.name,
        "description": metadata.description,
        "citeAs": metadata.cite_as,
        "license": metadata.license,
        "url": metadata.url,
        "creator": dict(metadata.creator),
        "datePublished": metadata.date_published,
        "version": metadata.version,
        "distribution": distribution,
        "recordSet": record_sets,
    }


def dumps_croissant(doc: Mapping[str, Any]) -> str:
    """Deterministic text of a Croissant document (2-space indent, sorted keys, trailing newline)."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def croissant_documents(raw_dir: str | Path, json_dir: str | Path, info: PublishInfo) -> dict[str, dict[str, Any]]:
    """``{dataset: Croissant document}`` for every dataset in ``raw_dir/SOURCE.json`` (reads only SOURCE.json).

    ``json_dir`` is the folder the documents will be written to (relative
    ``contentUrl``s are computed from it); pass both paths relative to the
    repository root so the documents do not depend on where the checkout lies.
    """
    record = read_source_record(raw_dir)
    source = str(record.get("source"))
    per_dataset: dict[str, list[Mapping[str, Any]]] = {}
    for entry in record.get("files") or []:
        parsed = parse_raw_file_name(Path(str(entry["path"])).name)
        if parsed is not None:
            per_dataset.setdefault(parsed[1], []).append(entry)
    if not per_dataset:
        raise DataFormatError(f"{Path(raw_dir) / SOURCE_RECORD_NAME}: lists no C-MAPSS files")
    docs = {}
    for dataset in sorted(per_dataset):
        files = per_dataset[dataset]
        urls = {str(e["path"]): content_url(e, source, raw_dir, json_dir) for e in files}
        docs[dataset] = croissant_document(dataset, files, dataset_metadata(dataset, record, info), urls)
    return docs


def write_croissant_files(raw_dir: str | Path, out_dir: str | Path, info: PublishInfo,
                          write_to: str | Path | None = None) -> list[Path]:
    """Write ``out_dir/<dataset>.json`` for every dataset (atomic writes); returns the paths.

    Files in ``out_dir`` that are not written now (a dataset no longer in the
    data) are removed, so the folder holds exactly the current descriptions.
    ``write_to``: write into this (staging) folder instead, with the documents
    still describing ``out_dir`` (their relative ``contentUrl``s) and the
    returned paths naming ``out_dir``.
    """
    out = Path(out_dir)
    target = out if write_to is None else Path(write_to)
    target.mkdir(parents=True, exist_ok=True)
    docs = croissant_documents(raw_dir, out, info)
    written = []
    for dataset, doc in docs.items():
        atomic_write_text(target / f"{dataset}.json", dumps_croissant(doc))
        written.append(target / f"{dataset}.json")
    for stale in target.glob("*.json"):
        if stale not in written:
            stale.unlink()
    return [out / path.name for path in written]
