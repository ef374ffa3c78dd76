"""The driver's bookkeeping: returned ``dvc.lock`` entries checked, then written into ``dvc.lock`` once.

``dvc repro`` rewrites the whole ``dvc.lock`` after every stage (quadratic in
the matrix: BENCHMARKS.md, "No-op"); the cluster driver writes it once, with
DVC's own round-trip YAML writer (the formatting ``dvc repro`` gives it), in
pipeline order, atomically (a temporary file renamed over it: an interrupted
driver leaves the old lock or the new one, never a cut-off one).

Before writing, every object an entry names must be in the driver's DVC cache
with content that hashes to its name (:func:`object_problems`; DVC's cache
layout ``files/md5/<2 hex>/<30 hex>``, a directory as a ``.dir`` JSON list of
its files): an entry is only as good as the bytes behind it. And every attempt
of a stage must have produced the same outputs (:func:`attempt_conflicts`): a
task retried after its worker died may run twice; if the two runs hashed
differently, the run is not deterministic and nothing is merged silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seedbench.core.files import atomic_write_text

EMPTY_LOCK = "schema: '2.0'\nstages: {}\n"


def merge_lock_text(current: str | None, entries: Mapping[str, Mapping[str, Any]], order: Sequence[str],
                    path: str = "dvc.lock") -> str:
    """``current`` (a dvc.lock's text, ``None``: none yet) with ``entries`` set and its stages in pipeline ``order``."""
    from seedbench.compat.dvc import dump_yaml_text, load_yaml_for_update

    data = load_yaml_for_update(current or EMPTY_LOCK, path)
    stages = data.get("stages")
    if stages is None:
        data["stages"] = stages = load_yaml_for_update("{}", path)
    for name, entry in entries.items():
        stages[name] = _plain(entry)
    rank = {name: i for i, name in enumerate(order)}
    names = list(stages)
    wanted = sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))
    if wanted != names:
        moved = [(n, stages[n]) for n in wanted]
        for name in names:
            del stages[name]
        for name, entry in moved:
            stages[name] = entry
    return dump_yaml_text(data)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_lock(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one rename."""
    atomic_write_text(path, text)


def cache_object_path(cache_dir: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object ``md5`` (``<hex>`` or ``<hex>.dir``) in a cache or a local remote."""
    return cache_dir / "files" / "md5" / md5[:2] / md5[2:]


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def object_problems(cache_dir: Path, entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per output of ``entries`` whose object is missing from ``cache_dir`` or hashes differently."""
    problems: list[str] = []

    def check(stage: str, out: str, md5: str) -> bool:
        obj = cache_object_path(cache_dir, md5)
        if not obj.is_file():
            problems.append(f"{stage}: {out}: object {md5} missing")
            return False
        actual = _md5_of(obj)
        if actual != md5.removesuffix(".dir"):
            problems.append(f"{stage}: {out}: object {md5} holds other bytes (md5 {actual})")
            return False
        return True

    for stage, entry in entries.items():
        for out in entry.get("outs") or []:
            md5 = str(out.get("md5"))
            if check(stage, str(out["path"]), md5) and md5.endswith(".dir"):
                try:
                    listing = json.loads(cache_object_path(cache_dir, md5).read_text())
                except ValueError:
                    problems.append(f"{stage}: {out['path']}: object {md5} is not a directory listing")
                    continue
                for item in listing:
                    check(stage, f"{out['path']}/{item['relpath']}", str(item["md5"]))
    return problems


def attempt_conflicts(attempts: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{stage: [one line per differing output]}`` over every recorded attempt (``{"worker", "outs": {stage: {path: md5}}}``)."""
    first: dict[str, tuple[str, Mapping[str, str]]] = {}
    conflicts: dict[str, list[str]] = {}
    for attempt in attempts:
        for stage, outs in attempt["outs"].items():
            if stage not in first:
                first[stage] = (str(attempt["worker"]), outs)
                continue
            worker, seen = first[stage]
            differ = sorted(p for p in set(seen) | set(outs) if seen.get(p) != outs.get(p))
            if differ:
                conflicts.setdefault(stage, []).extend(
                    f"{p}: {seen.get(p)} ({worker}) vs {outs.get(p)} ({attempt['worker']})" for p in differ)
    return conflicts
