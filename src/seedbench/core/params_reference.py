"""The README's params reference, generated from the schema (:mod:`seedbench.core.params`) and the method files."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from seedbench.core.errors import MethodError
from seedbench.core.methodspec import available_methods, method_path, read_method_spec
from seedbench.core.names import METHODS_DIR
from seedbench.core.params import Params, type_name


def _method_rows(prefix: str, methods_dir: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name in available_methods(methods_dir):
        try:
            spec = read_method_spec(method_path(methods_dir, name), name)
        except MethodError:
            continue  # a broken file is an error when a params file uses it, not a hole in the reference
        rows.append((f"{prefix}{name}", "a mapping", f"Hyper-parameters of `{name}` (declared in `{METHODS_DIR}/{name}.py`)."))
        rows.extend((f"{prefix}{name}.{h.name}", type_name(h.tp), f"{h.doc} Default: `{h.default!r}`.") for h in spec.hparams)
    return rows


def _reference_rows(cls: type, prefix: str, methods_dir: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for fld in dataclasses.fields(cls):
        if fld.metadata.get("methods"):
            rows.extend(_method_rows(prefix, methods_dir))
            continue
        key = f"{prefix}{fld.name}"
        tp = hints[fld.name]
        rows.append((key, type_name(tp), fld.metadata.get("doc", "")))
        if dataclasses.is_dataclass(tp):
            rows.extend(_reference_rows(tp, f"{key}.", methods_dir))
    return rows


def reference_markdown(methods_dir: str | Path = METHODS_DIR) -> str:
    """Markdown table of every params.yaml key with its type and meaning (generated, for the README).

    ``train.<method>`` rows come from the declarations of the method files in ``methods_dir``.
    """
    lines = ["| key | type | meaning |", "|---|---|---|"]
    for key, kind, doc in _reference_rows(Params, "", Path(methods_dir)):
        lines.append(f"| `{key}` | {kind} | {doc} |")
    return "\n".join(lines) + "\n"
