"""Re-hash ``data/raw`` against ``SOURCE.json``: did anything change since fetch?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seedbench.core.hashing import file_sha256
from seedbench.core.names import SOURCE_RECORD_NAME
from seedbench.data.record import read_source_record


@dataclass(frozen=True)
class RawFileCheck:
    """One file's verdict: ``status`` is ``ok``, ``changed``, ``missing`` or ``unlisted``."""

    path: str
    status: str
    expected: str | None
    actual: str | None


def verify_raw_dir(raw_dir: str | Path) -> list[RawFileCheck]:
    """Hash every file listed in ``raw_dir/SOURCE.json`` and every file present (sorted by path)."""
    root = Path(raw_dir)
    listed = {f["path"]: f["sha256"] for f in read_source_record(root)["files"]}
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != SOURCE_RECORD_NAME
    }
    checks: list[RawFileCheck] = []
    for path in sorted(listed.keys() | present):
        expected = listed.get(path)
        if path not in present:
            checks.append(RawFileCheck(path, "missing", expected, None))
            continue
        actual = file_sha256(root / path)
        if expected is None:
            checks.append(RawFileCheck(path, "unlisted", None, actual))
        else:
            checks.append(RawFileCheck(path, "ok" if actual == expected else "changed", expected, actual))
    return checks
