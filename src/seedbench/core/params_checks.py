"""The value checks of the params schema: each takes a parsed value and returns ``None`` or what was expected.

:mod:`seedbench.core.params` attaches them to its dataclass fields (``doc(text, check)``); a check's message
completes ``params.yaml: <key>: expected <message>, got <value>``.
"""

from __future__ import annotations

import re
from typing import Any

from seedbench.core.methodspec import Check, method_name_problem
from seedbench.core.names import KNOWN_DATASETS, RAW_FILE_KINDS, SHA256_PATTERN
from seedbench.core.seeds import SEED_MAX


def doc(text: str, check: Check | None = None) -> dict[str, Any]:
    return {"doc": text, "check": check}


def seed(value: Any) -> str | None:
    return None if 0 <= value <= SEED_MAX else f"an integer in 0..{SEED_MAX}"


def one_of(allowed: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"one of {', '.join(allowed)}"

    return check


def unique_subset_of(allowed: tuple[str, ...]) -> Check:
    def check(values: list[str]) -> str | None:
        if not values:
            return f"a non-empty list of: {', '.join(allowed)}"
        unknown = [v for v in values if v not in allowed]
        if unknown:
            return f"names from: {', '.join(allowed)} (unknown: {', '.join(map(str, unknown))})"
        if len(set(values)) != len(values):
            return "a list without duplicates"
        return None

    return check


def method_names(values: list[str]) -> str | None:
    if not values:
        return "a non-empty list of method names (files methods/<name>.py)"
    for value in values:
        problem = method_name_problem(value)
        if problem:
            return problem
    if len(set(values)) != len(values):
        return "a list without duplicates"
    return None


def replicates(values: list[int]) -> str | None:
    if not values:
        return "a non-empty list of replicate indices (e.g. [0, 1, 2, 3, 4])"
    if any(v < 0 for v in values):
        return "non-negative replicate indices"
    if len(set(values)) != len(values):
        return "a list without duplicates"
    return None


def windows(value: dict[str, int]) -> str | None:
    unknown = [k for k in value if k not in KNOWN_DATASETS]
    if unknown:
        return f"a mapping from dataset ({', '.join(KNOWN_DATASETS)}) to window length (unknown: {', '.join(unknown)})"
    if any(v < 1 for v in value.values()):
        return "positive window lengths (cycles)"
    return None


def non_empty_text(value: str) -> str | None:
    return None if value.strip() else "a non-empty string"


REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def repo_id(value: str) -> str | None:
    if REPO_ID.fullmatch(value) and ".." not in value:
        return None
    return "a Hub repository id `namespace/name` (letters, digits, '-', '_', '.')"


def revision(value: str) -> str | None:
    if value and not any(c.isspace() for c in value):
        return None
    return "a git revision without spaces: a 40-hex commit (pinned), or a branch/tag name (resolved, with a warning)"


def patterns(values: list[str]) -> str | None:
    if not values or any(not v.strip() for v in values):
        return "a non-empty list of non-empty glob patterns (e.g. [\"CMAPSSData/*_FD00?.txt\"])"
    if len(set(values)) != len(values):
        return "a list without duplicates"
    return None


def endpoint(value: str) -> str | None:
    if value == "" or re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
        return None
    return "an http(s) URL such as https://huggingface.co, or \"\" for huggingface_hub's default (HF_ENDPOINT)"


RAW_FILE_NAME = re.compile(rf"^({'|'.join(RAW_FILE_KINDS)})_({'|'.join(KNOWN_DATASETS)})\.txt$")


def expected_hashes(value: dict[str, str]) -> str | None:
    bad_names = [k for k in value if not RAW_FILE_NAME.fullmatch(k)]
    if bad_names:
        return f"C-MAPSS file names such as train_FD001.txt, test_FD001.txt, RUL_FD001.txt as keys (unknown: {bad_names[0]})"
    bad_hashes = [k for k, v in value.items() if not SHA256_PATTERN.fullmatch(v)]
    if bad_hashes:
        return f"values of the form sha256:<64 lowercase hex digits> (bad value for {bad_hashes[0]})"
    return None


SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def iso_date(value: str) -> str | None:
    import datetime

    try:
        ok = re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and datetime.date.fromisoformat(value)
    except ValueError:
        ok = False
    return None if ok else "a date YYYY-MM-DD (e.g. \"2026-11-23\"); fixed, so published files stay byte-deterministic"


def semver(value: str) -> str | None:
    return None if SEMVER.fullmatch(value) else "a semantic version MAJOR.MINOR.PATCH such as \"1.0.0\""


def http_url(value: str) -> str | None:
    return None if re.fullmatch(r"https?://[^\s@]+", value) else "an http(s) URL without credentials"
