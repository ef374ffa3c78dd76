"""Stage code deps that cannot drift: each stage's ``deps`` in dvc.yaml against the code it runs.

A stage runs its script (``python stages/<name>.py``) and, for ``train``, the
launcher (``python -m seedbench.determinism.launch``). The code it runs is the
transitive closure of their ``seedbench`` imports, read statically from the
source (every ``import``/``from … import``, including those inside functions,
so a lazily imported module counts as run: it runs on some path). A stale
``dvc.lock`` is the failure this project exists to prevent, so
:func:`stage_dep_problems` reports every module file a stage runs that its deps
do not cover, and every ``src/`` dep that covers nothing the stage runs.

A matrix stage may also load Python files by path: ``train`` runs
``methods/${item.method}.py`` (``seedbench.training.methods``). Such a dep
(a ``.py`` path with an interpolation) names every file it matches
(:func:`files_loaded_by_path`); each is run, and so is its import closure,
which the stage's other deps must cover.

Paths are POSIX and relative to the repository root, as in dvc.yaml.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

PACKAGE = "seedbench"
SRC_DIR = "src"

_SCRIPT = re.compile(r"^stages/[\w-]+\.py$")


def module_file(src_root: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` under ``src_root`` (a package's ``__init__.py``), or ``None``."""
    base = src_root.joinpath(*dotted.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every dotted name an ``import`` statement of ``source`` may load (``from m import x`` gives m and m.x)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] == PACKAGE}


def import_closure(entry: Path, entry_module: str, src_root: Path) -> dict[str, Path]:
    """``{dotted module: file}`` of every ``seedbench`` module ``entry`` loads, directly or not (parents included)."""
    found: dict[str, Path] = {}
    todo = [(entry, entry_module)]
    while todo:
        path, module = todo.pop()
        for name in _imported_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                dotted = ".".join(parts[:i])
                file = module_file(src_root, dotted)
                if file is not None and dotted not in found:
                    found[dotted] = file
                    todo.append((file, dotted))
    return found


def command_entry_points(cmd: str) -> tuple[list[str], list[str]]:
    """``(scripts, modules)`` a stage command starts: ``python stages/x.py`` and ``python -m pkg.mod``."""
    words = shlex.split(cmd)
    scripts = [w for w in words if _SCRIPT.match(w)]
    modules = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "-m" and words[i + 1].startswith(PACKAGE)]
    return scripts, modules


def files_run_by(cmd: str, repo: Path) -> set[str]:
    """Repository-relative paths of every project file that ``cmd`` runs (scripts and ``src/`` modules)."""
    src_root = repo / SRC_DIR
    scripts, modules = command_entry_points(cmd)
    run: set[str] = set(scripts)
    entries = [(repo / s, PurePosixPath(s).stem) for s in scripts]
    for module in modules:
        file = module_file(src_root, module)
        if file is None:
            continue
        entries.append((file, module))
        run.add(file.relative_to(repo).as_posix())
        for i in range(1, len(module.split("."))):
            parent = module_file(src_root, ".".join(module.split(".")[:i]))
            if parent is not None:
                run.add(parent.relative_to(repo).as_posix())
    for path, module in entries:
        run.update(f.relative_to(repo).as_posix() for f in import_closure(path, module, src_root).values())
    return run


_INTERPOLATION = re.compile(r"\$\{[^}]*\}")


def _covers(dep: str, path: str) -> bool:
    if "${" in dep:  # a matrix dep such as methods/${item.method}.py covers every file it can name
        return fnmatch.fnmatchcase(path, _INTERPOLATION.sub("*", dep))
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def files_loaded_by_path(deps: Iterable[str], repo: Path) -> list[str]:
    """Repository-relative ``.py`` files that interpolated deps (``methods/${item.method}.py``) can name, sorted."""
    found: set[str] = set()
    for dep in deps:
        if "${" in dep and dep.endswith(".py"):
            found.update(p.relative_to(repo).as_posix() for p in repo.glob(_INTERPOLATION.sub("*", dep)) if p.is_file())
    return sorted(found)


def stage_dep_problems(cmd: str, deps: Iterable[str], repo: Path) -> list[str]:
    """What is wrong with one stage's code deps: files it runs but does not depend on, and dead ``src/`` deps.

    Empty when the deps cover exactly the code the command runs (data deps are not judged).
    """
    deps = [str(d) for d in deps]
    run = files_run_by(cmd, repo)
    src_root = repo / SRC_DIR
    for loaded in files_loaded_by_path(deps, repo):
        run.add(loaded)
        closure = import_closure(repo / loaded, PurePosixPath(loaded).stem, src_root).values()
        run.update(f.relative_to(repo).as_posix() for f in closure)
    problems = [f"runs {path} but does not depend on it" for path in sorted(run) if not any(_covers(d, path) for d in deps)]
    for dep in deps:
        if dep.startswith(f"{SRC_DIR}/") or _SCRIPT.match(dep):
            if not any(_covers(dep, path) for path in run):
                problems.append(f"depends on {dep} but runs nothing in it")
    return problems


def pipeline_dep_problems(stages: Mapping[str, Mapping[str, object]], repo: Path) -> dict[str, list[str]]:
    """:func:`stage_dep_problems` of every stage of a parsed ``dvc.yaml`` ``stages:`` mapping (foreach/matrix read as one).

    Interpolations (``${…}``) in a command are left in place: they never name code.
    """
    report: dict[str, list[str]] = {}
    for name, stage in stages.items():
        body = stage.get("do", stage) if isinstance(stage, Mapping) else {}
        cmd = body.get("cmd", "") if isinstance(body, Mapping) else ""
        deps = body.get("deps", []) if isinstance(body, Mapping) else []
        cmd_text = " ".join(cmd) if isinstance(cmd, list) else str(cmd)
        problems = stage_dep_problems(cmd_text, [str(d) for d in deps], repo)  # type: ignore[union-attr]
        if problems:
            report[name] = problems
    return report
