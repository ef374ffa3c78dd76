"""A method's declaration, read from its file without running it: names, hyper-parameters, checks.

A method is one file ``methods/<name>.py`` (README, "Benchmark your own
method"). Its hyper-parameters are declared at the top level as a literal::

    HPARAMS = {
        "hidden_size": {"type": "int", "default": 32, "check": "positive", "doc": "GRU hidden units."},
        ...
    }

``type`` is one of :data:`HPARAM_TYPES`, ``check`` (optional) one of
:data:`CHECKS`, ``doc`` one line. :func:`read_method_spec` parses that literal
with :mod:`ast` (the file is never executed here: validating ``params.yaml``
imports no torch and runs no user code), so every stage can validate
``train.<method>`` against it. Every problem is a one-line
:class:`~seedbench.core.errors.MethodError` naming the file and line.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedbench.core.errors import MethodError
from seedbench.core.names import BUILTIN_METHODS

Check = Callable[[Any], str | None]
"""A constraint: returns ``None`` when the value is fine, else what is allowed."""


def positive(value: Any) -> str | None:
    """``value > 0``."""
    return None if value > 0 else "a positive number"


def non_negative(value: Any) -> str | None:
    """``value >= 0``."""
    return None if value >= 0 else "a number >= 0"


def fraction_open(value: Any) -> str | None:
    """``0 < value < 1``."""
    return None if 0 < value < 1 else "a number strictly between 0 and 1"


def dropout(value: Any) -> str | None:
    """``0 <= value < 1`` (a dropout probability)."""
    return None if 0 <= value < 1 else "a number in [0, 1)"


def non_empty_positive_ints(value: list[int]) -> str | None:
    """A non-empty list of positive integers (layer widths)."""
    return None if value and all(v > 0 for v in value) else "a non-empty list of positive integers"


CHECKS: dict[str, Check] = {
    "positive": positive,
    "non_negative": non_negative,
    "fraction": fraction_open,
    "dropout": dropout,
    "non_empty_positive_ints": non_empty_positive_ints,
}
"""Constraints a hyper-parameter may name as ``"check"``."""

HPARAM_TYPES: dict[str, Any] = {
    "int": int, "float": float, "bool": bool, "str": str, "list[int]": list[int], "list[float]": list[float],
}
"""Types a hyper-parameter may declare as ``"type"`` (as the params schema spells them)."""

LOOP_HPARAMS: dict[str, str] = {
    "lr": "float", "weight_decay": "float", "batch_size": "int", "max_epochs": "int", "patience": "int",
}
"""What a ``build`` method must declare: the project's loop reads them (AdamW, mini-batches, early stopping)."""

KINDS: tuple[str, ...] = ("build", "fit")
"""How a method trains: ``build(window, n_features, hparams) -> nn.Module`` (seedbench's loop) or
``fit(train, val, *, seed, hparams) -> nn.Module`` (closed form, boosting, …)."""

DECLARATION = "HPARAMS"
"""The top-level name of a method file's hyper-parameter declaration."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class HParamSpec:
    """One declared hyper-parameter: ``train.<method>.<name>`` of type ``tp`` (``list[int]`` etc.)."""

    name: str
    type_name: str
    tp: Any
    default: Any
    doc: str
    check: Check | None
    line: int


@dataclass(frozen=True)
class MethodSpec:
    """A method file's declaration: its name (the file's stem), path and hyper-parameters in declared order."""

    name: str
    path: Path
    kind: str
    hparams: tuple[HParamSpec, ...]

    def keys(self) -> tuple[str, ...]:
        """The hyper-parameter names, in declared order."""
        return tuple(h.name for h in self.hparams)


def method_name_problem(name: Any) -> str | None:
    """What is wrong with ``name`` as a method name (``None`` when fine).

    A name is a lowercase Python identifier (``[a-z][a-z0-9_]*``, not a keyword):
    it becomes a file name, a params key, a module name and a ``-``-separated part
    of a DVC stage name (``train@FD001-gru-0``), so ``-``, ``.`` and capitals are refused.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or keyword.iskeyword(name):
        return f"a lowercase identifier such as my_method ([a-z][a-z0-9_]*, not a Python keyword), got {name!r}"
    return None


def method_path(methods_dir: str | Path, name: str) -> Path:
    """``<methods_dir>/<name>.py``."""
    return Path(methods_dir) / f"{name}.py"


def available_methods(methods_dir: str | Path) -> list[str]:
    """Method names with a file in ``methods_dir``: the built-in ones first (in :data:`BUILTIN_METHODS` order), then sorted.

    Files starting with ``_`` and names that are not valid method names are not methods.
    """
    folder = Path(methods_dir)
    found = {p.stem for p in folder.glob("*.py") if p.is_file() and method_name_problem(p.stem) is None}
    return [m for m in BUILTIN_METHODS if m in found] + sorted(found - set(BUILTIN_METHODS))


def _declaration(tree: ast.Module, where: str) -> ast.expr:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == DECLARATION for t in targets) and node.value is not None:
            return node.value
    raise MethodError(f"{where}: no {DECLARATION} declaration; expected {DECLARATION} = {{\"<name>\": {{\"type\": …, "
                      "\"default\": …, \"doc\": …}}, …}} at the top level")


def _kind(tree: ast.Module, where: str) -> str:
    """``build`` or ``fit``: whichever of the two the file defines at the top level (exactly one)."""
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    kinds = [k for k in KINDS if k in defined]
    if len(kinds) != 1:
        problem = "defines both build and fit" if kinds else "defines neither build nor fit"
        raise MethodError(f"{where}: {problem}; expected exactly one: build(window, n_features, hparams) -> nn.Module "
                          "(trained by seedbench's loop) or fit(train, val, *, seed, hparams) -> nn.Module")
    return kinds[0]


def _check_loop_keys(specs: list[HParamSpec], kind: str, where: str, line: int) -> None:
    if kind != "build":
        return
    declared = {s.name: s.type_name for s in specs}
    missing = [k for k in LOOP_HPARAMS if k not in declared]
    if missing:
        raise MethodError(f"{where}:{line}: {DECLARATION} lacks {', '.join(missing)}; a build method is trained by "
                          f"seedbench's loop, which reads {', '.join(LOOP_HPARAMS)}")
    wrong = [k for k, t in LOOP_HPARAMS.items() if declared[k] != t]
    if wrong:
        raise MethodError(f"{where}:{line}: {DECLARATION}[{wrong[0]!r}]: the loop needs type {LOOP_HPARAMS[wrong[0]]}")


def _value_matches(value: Any, tp: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    item = tp.__args__[0]
    return isinstance(value, list) and all(_value_matches(v, item) for v in value)


def _hparam(name: Any, value_node: ast.expr, where: str) -> HParamSpec:
    line = value_node.lineno
    at = f"{where}:{line}: {DECLARATION}[{name!r}]"
    if not isinstance(name, str) or not name.isidentifier():
        raise MethodError(f"{at}: a hyper-parameter name must be an identifier string")
    try:
        decl = ast.literal_eval(value_node)
    except ValueError:
        raise MethodError(f"{at}: expected a literal dict {{\"type\", \"default\", \"doc\"[, \"check\"]}}") from None
    if not isinstance(decl, dict):
        raise MethodError(f"{at}: expected a dict {{\"type\", \"default\", \"doc\"[, \"check\"]}}, got {type(decl).__name__}")
    unknown = sorted(str(k) for k in decl if k not in ("type", "default", "doc", "check"))
    if unknown:
        raise MethodError(f"{at}: unknown field {unknown[0]!r}; allowed: type, default, doc, check")
    if "type" not in decl:
        raise MethodError(f"{at}: no type; declare \"type\": one of {', '.join(HPARAM_TYPES)}")
    if decl["type"] not in HPARAM_TYPES:
        raise MethodError(f"{at}: type {decl['type']!r} unknown; expected one of {', '.join(HPARAM_TYPES)}")
    doc = decl.get("doc")
    if not isinstance(doc, str) or not doc.strip() or "\n" in doc:
        raise MethodError(f"{at}: expected \"doc\": one line saying what it does (with units)")
    check_name = decl.get("check")
    if check_name is not None and check_name not in CHECKS:
        raise MethodError(f"{at}: check {check_name!r} unknown; expected one of {', '.join(CHECKS)}")
    tp = HPARAM_TYPES[decl["type"]]
    if "default" not in decl:
        raise MethodError(f"{at}: no default; declare \"default\": a {decl['type']}")
    default = decl["default"]
    problem = None if _value_matches(default, tp) else f"a {decl['type']}"
    if problem is None and check_name is not None:
        problem = CHECKS[check_name](default)
    if problem:
        raise MethodError(f"{at}: default {default!r} is not {problem}")
    return HParamSpec(name, decl["type"], tp, float(default) if tp is float else default, doc.strip(),
                      CHECKS[check_name] if check_name else None, line)


def read_method_spec(path: str | Path, name: str | None = None) -> MethodSpec:
    """Parse the :data:`DECLARATION` of the method file ``path`` (never executed).

    Raises
    ------
    MethodError
        The file is missing, unreadable, not valid Python (file:line), or its
        declaration is not a literal dict of well-formed hyper-parameters (file:line and key).
    """
    path = Path(path)
    where = path.as_posix()
    name = name or path.stem
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MethodError(f"{where}: no such method file; a method `{name}` is the file methods/{name}.py") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MethodError(f"{where}: cannot read the method file ({exc})") from None
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise MethodError(f"{where}:{exc.lineno}: syntax error: {exc.msg}") from None
    kind = _kind(tree, where)
    node = _declaration(tree, where)
    if not isinstance(node, ast.Dict) or any(k is None for k in node.keys):
        raise MethodError(f"{where}:{node.lineno}: {DECLARATION} must be a literal dict of {{\"<name>\": {{…}}}}")
    specs = []
    for key_node, value_node in zip(node.keys, node.values, strict=True):
        key = key_node.value if isinstance(key_node, ast.Constant) else None
        specs.append(_hparam(key, value_node, where))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise MethodError(f"{where}:{node.lineno}: {DECLARATION} declares a hyper-parameter twice")
    _check_loop_keys(specs, kind, where, node.lineno)
    return MethodSpec(name, path, kind, tuple(specs))
