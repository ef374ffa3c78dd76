"""``seedbench describe PATH``: what a raw C-MAPSS file, a prepared folder or a Croissant description holds.

Read-only and size-bounded: files larger than :data:`MAX_DESCRIBE_BYTES` and
anything that is not a regular file or folder are refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from seedbench.core.errors import DataFormatError
from seedbench.core.names import SOURCE_RECORD_NAME
from seedbench.data.record import parse_raw_file_name, read_source_record
from seedbench.publishing.croissant import PublishInfo, dataset_metadata


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


MAX_DESCRIBE_BYTES = 64 << 20
"""Largest file ``seedbench describe`` reads (64 MiB; NASA's largest C-MAPSS file is about 10 MiB)."""


def _check_describable_file(path: Path) -> None:
    """Refuse a file over :data:`MAX_DESCRIBE_BYTES` before reading it (messages never echo file content)."""
    size = path.stat().st_size
    if size > MAX_DESCRIBE_BYTES:
        raise DataFormatError(f"{path}: {size} bytes, more than the {MAX_DESCRIBE_BYTES} bytes describe reads")


def _describe_croissant(path: Path) -> list[str]:
    from seedbench.core.files import read_bounded_bytes

    try:
        doc = json.loads(read_bounded_bytes(path, MAX_DESCRIBE_BYTES).decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included; messages give positions only
        raise DataFormatError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(doc, dict) or "distribution" not in doc:
        raise DataFormatError(f"{path}: not a Croissant dataset description (no distribution)")
    lines = [
        f"{path}: Croissant dataset {doc.get('name')!r} ({doc.get('conformsTo', 'no conformsTo')})",
        f"  {doc.get('description', '')}",
        f"  license: {doc.get('license')}   version: {doc.get('version')}   published: {doc.get('datePublished')}",
        f"  url: {doc.get('url')}",
    ]
    for obj in doc.get("distribution") or []:
        lines.append(f"  file {obj.get('name')}: {obj.get('contentSize')}, sha256 {obj.get('sha256')}, at {obj.get('contentUrl')}")
    for rs in doc.get("recordSet") or []:
        names = [f.get("name") for f in rs.get("field") or []]
        lines.append(f"  record set {rs.get('name')}: {len(names)} fields ({', '.join(map(str, names[:6]))}{', …' if len(names) > 6 else ''})")
    return lines


def _describe_cmapss_file(path: Path) -> str:
    from seedbench.data import cmapss

    kind = (parse_raw_file_name(path.name) or ("?", "?"))[0]
    if kind == "RUL":
        rul = cmapss.read_rul(path)
        return f"  {path.name}: {len(rul)} test units, RUL {int(rul.min())}–{int(rul.max())} cycles (mean {rul.mean():.1f})"
    table = cmapss.read_table(path)
    units = cmapss.unit_ids(table)
    lengths = [int((table[:, 0] == u).sum()) for u in units]
    return (
        f"  {path.name}: {len(table)} rows, {len(units)} units, {min(lengths)}–{max(lengths)} cycles per unit "
        f"(mean {sum(lengths) / len(lengths):.1f}); 26 columns: unit, cycle, setting1–3, s1–s21"
    )


def describe_path(path: str | Path) -> str:
    """A plain-text description of a data folder or file (what ``seedbench describe`` prints).

    Understands: a raw folder with ``SOURCE.json`` (source, files, hashes and the
    metadata the Croissant files carry), a folder of C-MAPSS text files (rows,
    units, cycles), a prepared folder (``prepare.json``, arrays), a Croissant
    JSON file or a folder of them. Any other folder: its files and sizes.
    """
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file or folder")
    if not (p.is_file() or p.is_dir()):
        raise DataFormatError(f"{p}: not a regular file or folder; expected a data folder, a C-MAPSS file or a Croissant JSON file")
    lines: list[str] = []
    if p.is_file():
        _check_describable_file(p)
        if p.suffix == ".json":
            return "\n".join(_describe_croissant(p)) + "\n"
        if parse_raw_file_name(p.name):
            return f"{p}: C-MAPSS file\n" + _describe_cmapss_file(p) + "\n"
        raise DataFormatError(f"{p}: not a data folder, a C-MAPSS file or a Croissant JSON file")
    if (p / SOURCE_RECORD_NAME).is_file():
        record = read_source_record(p)
        details = record.get("details") or {}
        lines.append(f"{p}: raw data from source {record.get('source')!r} ({len(record.get('files') or [])} files, see {SOURCE_RECORD_NAME})")
        for key in ("builtin", "hf"):
            if key in details:
                lines.append(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in sorted(details[key].items())))
        info = PublishInfo(date_published="(publish.date_published)", version="(publish.version)",
                           url="(publish.url)", creator="(publish.creator)")
        datasets = sorted({parsed[1] for e in record.get("files") or [] if (parsed := parse_raw_file_name(Path(e["path"]).name))})
        for dataset in datasets:
            meta = dataset_metadata(dataset, record, info)
            lines.append(f"{dataset}: {meta.name}")
            lines.append(f"  {meta.description}")
            lines.append(f"  license: {meta.license}")
            for e in record.get("files") or []:
                if Path(e["path"]).parent.name == dataset or Path(e["path"]).name.endswith(f"_{dataset}.txt"):
                    present = (p / e["path"]).is_file()
                    lines.append(f"  {e['path']}: {_human_size(int(e['size']))}, {e['sha256']}{'' if present else ' (MISSING)'}")
        return "\n".join(lines) + "\n"
    if (p / "prepare.json").is_file():
        import numpy as np

        prep = json.loads((p / "prepare.json").read_text(encoding="utf-8"))
        lines.append(f"{p}: prepared {prep.get('name', p.name)} (window {prep.get('window')}, RUL cap {prep.get('rul_cap')}, "
                     f"test labels capped: {prep.get('test_labels_capped')}, {prep.get('n_conditions')} condition(s))")
        lines.append(f"  features: {', '.join(prep.get('features') or [])}")
        for split in ("train", "test"):
            f = p / f"{split}.npz"
            if f.is_file():
                with np.load(f) as arrays:
                    shapes = ", ".join(f"{k} {arrays[k].dtype}{list(arrays[k].shape)}" for k in sorted(arrays.files))
                lines.append(f"  {split}.npz: {shapes}")
        return "\n".join(lines) + "\n"
    cmapss_files = sorted(f for f in p.iterdir() if f.is_file() and parse_raw_file_name(f.name))
    croissant_files = sorted(f for f in p.glob("*.json"))
    if cmapss_files:
        lines.append(f"{p}: C-MAPSS text files")
        lines.extend(_describe_cmapss_file(f) for f in cmapss_files)
    elif croissant_files:
        for f in croissant_files:
            lines.extend(_describe_croissant(f))
    else:
        entries = sorted(f for f in p.rglob("*") if f.is_file())
        lines.append(f"{p}: {len(entries)} files (not a recognised data folder)")
        lines.extend(f"  {f.relative_to(p).as_posix()}: {_human_size(f.stat().st_size)}" for f in entries[:50])
    return "\n".join(lines) + "\n"
