"""Is ``dvc.lock`` whole, and are the outputs in the workspace the ones it pins?

DVC rewrites ``dvc.lock`` in place after every stage, so an interrupt (Ctrl-C,
``kill -9``, a power cut) at the wrong moment can leave it cut off mid-entry.
:func:`lockfile_problem` recognises such a file; ``seedbench status`` and
``seedbench report`` refuse it with one line saying how to repair it.
:func:`stale_outputs` tells whether an output such as ``reports/summary.md`` is
still what ``dvc.lock`` recorded, given the deps on disk now (DVC's md5 scheme,
:mod:`seedbench.provenance.dvclock`, without importing DVC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from seedbench.core.errors import DataFormatError
from seedbench.provenance.dvclock import (
    DVC_LOCK,
    deps_hashes,
    dvc_md5,
    lock_stage_entry,
    read_dvcignore,
)

_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")

REPAIR_HINT = ("restore the committed one with `git checkout dvc.lock` (or record the outputs now in the workspace "
               "with `dvc commit`), then run `dvc repro`")
"""What to do about a damaged ``dvc.lock`` (said in the one-line error)."""


def _entries_problem(stage: str, kind: str, entry: Mapping[str, Any]) -> str | None:
    if kind not in entry:
        return None
    items = entry[kind]
    if not isinstance(items, list) or not items:
        return f"stage {stage}: {kind} cut off (not a list of entries)"
    for item in items:
        if not isinstance(item, Mapping) or "path" not in item:
            return f"stage {stage}: a {kind} entry has no path"
        if kind != "params" and not _MD5.match(str(item.get("md5", item.get("hash", "")))):
            return f"stage {stage}: {kind} {item.get('path')}: hash cut off or missing"
    return None


def lockfile_problem(text: str) -> str | None:
    """What is wrong with the text of a ``dvc.lock`` (``None``: whole and well-formed).

    Checks what an interrupted in-place write breaks: the last line, the YAML
    itself, the ``schema``/``stages`` mapping, every stage's ``cmd`` and every
    dep/out's path and full-length md5.
    """
    if not text.strip():
        return "empty"
    if not text.endswith("\n"):
        return "cut off mid-line"
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return "not valid YAML" + (f" at line {mark.line + 1}" if mark is not None else "")
    if not isinstance(doc, Mapping) or "schema" not in doc or not isinstance(doc.get("stages"), Mapping):
        return "no `schema` and `stages` mapping"
    for stage, entry in doc["stages"].items():
        if not isinstance(entry, Mapping) or "cmd" not in entry:
            return f"stage {stage}: entry cut off (no cmd)"
        for kind in ("deps", "outs"):
            problem = _entries_problem(str(stage), kind, entry)
            if problem:
                return problem
    return None


def read_lockfile(repo_root: str | Path) -> dict[str, Any] | None:
    """The parsed ``dvc.lock`` of ``repo_root`` (``None`` when there is none yet).

    Raises :class:`DataFormatError` (one line, with :data:`REPAIR_HINT`) when it is damaged.
    """
    path = Path(repo_root) / DVC_LOCK
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        text = "\0"
    problem = lockfile_problem(text)
    if problem:
        raise DataFormatError(
            f"{path}: damaged ({problem}), probably by an interrupted `dvc repro` (DVC rewrites it in place): {REPAIR_HINT}"
        )
    return yaml.safe_load(text)


def stale_outputs(repo_root: str | Path, lock: Mapping[str, Any], stage: str, outputs: list[str]) -> list[str]:
    """Why ``outputs`` of ``stage`` are not what ``dvc.lock`` pins with today's deps (``[]``: they are current).

    Returns one short reason per changed dep (``"runs changed"``) or output
    (``"reports/summary.md differs from dvc.lock"``); ``stage`` missing from the
    lock is a reason too.
    """
    entry = lock_stage_entry(lock, stage)
    if entry is None:
        return [f"dvc.lock has no {stage} entry (the pipeline has not finished)"]
    root = Path(repo_root)
    now = deps_hashes(root, [d for d in entry["deps"] if (root / d).exists()])
    reasons = [f"{dep} changed" for dep, md5 in sorted(entry["deps"].items()) if now.get(dep) != md5]
    ignore = read_dvcignore(root)
    for out in outputs:
        recorded = entry["outs"].get(out)
        if recorded is None or not (root / out).is_file() or dvc_md5(root / out, ignore)["md5"] != recorded:
            reasons.append(f"{out} differs from dvc.lock")
    return reasons
