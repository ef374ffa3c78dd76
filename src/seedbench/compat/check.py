"""Is every private API we rely on still there? One question for all of :mod:`seedbench.compat`.

Each compat module lists what it touches in ``PRIVATE_API`` as ``(module,
dotted attribute)`` pairs; :func:`missing_private_api` imports each module and
walks each attribute path. A library upgrade that removes or renames one then
fails ``tests/compat/test_private_api.py`` by name, in one place, instead of
deep inside a stage.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable


def missing_private_api(symbols: Iterable[tuple[str, str]]) -> list[str]:
    """``["module:attr.path (why)"]`` for every symbol that cannot be imported or reached."""
    missing = []
    for module_name, path in symbols:
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError as exc:
            missing.append(f"{module_name}:{path} (cannot import {module_name}: {exc})")
            continue
        for part in path.split("."):
            if not hasattr(obj, part):
                missing.append(f"{module_name}:{path} (no attribute {part!r})")
                break
            obj = getattr(obj, part)
    return missing
