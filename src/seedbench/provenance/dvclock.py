"""What DVC pins for a stage, read without importing DVC: its deps' hashes and the pipeline's outputs.

A run manifest records "the dvc.lock hash of the stage deps". A stage writes its
manifest while DVC is running it, *before* DVC writes that stage's entry into
``dvc.lock``, so the entry cannot be read yet. Instead the stage computes its
deps' hashes itself with DVC's scheme (:func:`dvc_md5`: md5 of a file's bytes;
for a folder, md5 of the JSON list of its files' ``{"md5", "relpath"}`` sorted by
path, plus ``.dir``), and the publish stage, which runs after every training
stage has been locked, reads the final ``dvc.lock`` entries
(:func:`lock_stage_entry`) and checks the two agree.

Only plain YAML is read here (``dvc.yaml``, ``dvc.lock``, ``.dvcignore``); the
stage passes the parsed params in, so nothing reads ``params.yaml`` by itself.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from seedbench.core.errors import DataFormatError
from seedbench.core.names import CODE_ROOTS, PARAMS_FILENAME

DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"
DVCIGNORE = ".dvcignore"

_CHUNK = 4 * 1024 * 1024
_INTERPOLATION = re.compile(r"\$\{\s*([^}]+?)\s*\}")


# --------------------------------------------------------------------------- hashes (DVC's md5 scheme)


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_dvcignore(repo_root: str | Path) -> list[str]:
    """Patterns of ``repo_root/.dvcignore`` (comments and blank lines dropped); ``[]`` when absent."""
    path = Path(repo_root) / DVCIGNORE
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relpath: str, patterns: Sequence[str]) -> bool:
    """A small subset of gitignore semantics: a pattern without '/' matches any path component's name."""
    name = relpath.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern.strip("/"):
            if fnmatch.fnmatch(relpath, pattern.strip("/")):
                return True
        elif fnmatch.fnmatch(name, pattern.strip("/")):
            return True
    return False


def dvc_md5(path: str | Path, ignore: Sequence[str] = ()) -> dict[str, Any]:
    """The hash DVC 3 records for ``path``: ``{"md5", "size"}`` for a file, plus ``"nfiles"`` for a folder.

    A folder's md5 is the md5 of ``json.dumps(sorted [{"md5", "relpath"}], sort_keys=True)``
    followed by ``.dir``, over every file below it except those matching ``ignore``
    (``.dvcignore`` patterns). Raises :class:`DataFormatError` when ``path`` is missing.
    """
    p = Path(path)
    if p.is_file():
        return {"md5": _file_md5(p), "size": p.stat().st_size}
    if not p.is_dir():
        raise DataFormatError(f"{p}: stage dependency missing; cannot hash it")
    entries: list[dict[str, str]] = []
    size = 0
    for root, dirs, files in os.walk(p):
        dirs.sort()
        for name in files:
            full = Path(root) / name
            rel = full.relative_to(p).as_posix()
            if _ignored(rel, ignore):
                continue
            entries.append({"md5": _file_md5(full), "relpath": rel})
            size += full.stat().st_size
    entries.sort(key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return {"md5": hashlib.md5(listing, usedforsecurity=False).hexdigest() + ".dir", "size": size, "nfiles": len(entries)}


def deps_hashes(repo_root: str | Path, deps: Iterable[str]) -> dict[str, str]:
    """``{dep path: md5}`` of ``deps`` (repository-relative paths) as DVC would lock them."""
    root = Path(repo_root)
    ignore = read_dvcignore(root)
    return {dep: dvc_md5(root / dep, ignore)["md5"] for dep in sorted(deps)}


# --------------------------------------------------------------------------- dvc.yaml


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping (``dvc.yaml`` / ``dvc.lock``); :class:`DataFormatError` when missing or malformed."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{p}: not found") from None
    except yaml.YAMLError as exc:
        raise DataFormatError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise DataFormatError(f"{p}: expected a YAML mapping")
    return doc


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    value: Any = context
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(dotted)
    return value


def _interpolate(text: str, context: Mapping[str, Any]) -> Any:
    whole = _INTERPOLATION.fullmatch(text)
    if whole:
        return _lookup(context, whole.group(1))
    return _INTERPOLATION.sub(lambda m: str(_lookup(context, m.group(1))), text)


def _item_name(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def resolve_stage(dvc_yaml: Mapping[str, Any], stage: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The definition of ``stage`` (``"train@FD001-mlp-0"``) with ``${item…}`` and ``${param}`` filled in.

    Handles plain stages, ``foreach`` over a list and ``matrix`` (DVC names a
    matrix item by joining its values with ``-``). ``params`` is the parsed
    ``params.yaml``. Raises :class:`DataFormatError` when no such stage exists.
    """
    stages = dvc_yaml.get("stages") or {}
    base, _, suffix = stage.partition("@")
    definition = stages.get(base)
    if not isinstance(definition, Mapping):
        raise DataFormatError(f"{DVC_YAML}: no stage {base!r}")
    context: dict[str, Any] = dict(params)
    body: Any = definition
    if "matrix" in definition:
        keys = list(definition["matrix"])
        values = [
            _interpolate(v, params) if isinstance(v, str) else v for v in (definition["matrix"][k] for k in keys)
        ]
        for combo in itertools.product(*values):
            if "-".join(_item_name(v) for v in combo) == suffix:
                context["item"] = dict(zip(keys, combo, strict=True))
                break
        else:
            raise DataFormatError(f"{DVC_YAML}: stage {stage!r} is not an item of the matrix of {base!r}")
        body = {k: v for k, v in definition.items() if k != "matrix"}
    elif "foreach" in definition:
        items = definition["foreach"]
        items = _interpolate(items, params) if isinstance(items, str) else items
        if isinstance(items, Mapping):
            if suffix not in items:
                raise DataFormatError(f"{DVC_YAML}: stage {stage!r} is not an item of {base!r}")
            context.update(key=suffix, item=items[suffix])
        else:
            matches = [i for i in items if _item_name(i) == suffix]
            if not matches:
                raise DataFormatError(f"{DVC_YAML}: stage {stage!r} is not an item of {base!r}")
            context["item"] = matches[0]
        body = definition["do"]
    elif suffix:
        raise DataFormatError(f"{DVC_YAML}: stage {base!r} has no items, got {stage!r}")

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return _interpolate(node, context)
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, Mapping):
            return {fill(k) if isinstance(k, str) else k: fill(v) for k, v in node.items()}
        return node

    try:
        return fill(body)
    except KeyError as exc:
        raise DataFormatError(f"{DVC_YAML}: stage {stage!r} uses ${{{exc.args[0]}}}, which params.yaml lacks") from None


def _paths(entries: Any) -> list[str]:
    """Paths of a deps/outs/metrics/plots list (entries are strings or one-key mappings)."""
    out: list[str] = []
    for entry in entries or []:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, Mapping):
            out.extend(str(k) for k in entry)
    return out


def stage_deps(dvc_yaml: Mapping[str, Any], stage: str, params: Mapping[str, Any]) -> list[str]:
    """The file/folder deps of ``stage`` as paths (params deps are covered by the config hash)."""
    return sorted(_paths(resolve_stage(dvc_yaml, stage, params).get("deps")))


def output_patterns(dvc_yaml: Mapping[str, Any]) -> list[str]:
    """Glob patterns of everything the pipeline writes that git may see: ``dvc.lock`` and every declared out.

    Templated paths become globs (``runs/${item.dataset}/…`` → ``runs/*/…``). Used
    to tell a dirty *source* tree from one that only holds this pipeline's outputs.
    """
    patterns = {DVC_LOCK}
    for definition in (dvc_yaml.get("stages") or {}).values():
        if not isinstance(definition, Mapping):
            continue
        body = definition.get("do", definition)
        for key in ("outs", "metrics", "plots"):
            for path in _paths(body.get(key)):
                patterns.add(_INTERPOLATION.sub("*", path))
    for key in ("metrics", "plots"):
        for path in _paths(dvc_yaml.get(key)):
            patterns.add(_INTERPOLATION.sub("*", path))
    return sorted(patterns)


def code_deps(deps: Iterable[str]) -> list[str]:
    """The code among ``deps``: paths below :data:`CODE_ROOTS`, sorted.

    A templated one (``methods/${item.method}.py``, unresolved: the whole pipeline's
    deps) stands for the folder above its first ``${`` (``methods``).
    """
    code = set()
    for dep in deps:
        if dep.split("/", 1)[0] in CODE_ROOTS:
            code.add(dep.split("${", 1)[0].rpartition("/")[0] if "${" in dep else dep.rstrip("/"))
    return sorted(code - {""})


def pipeline_code_deps(dvc_yaml: Mapping[str, Any]) -> list[str]:
    """:func:`code_deps` of every stage of ``dvc_yaml`` together: the code the whole pipeline runs."""
    deps: list[str] = []
    for definition in (dvc_yaml.get("stages") or {}).values():
        if isinstance(definition, Mapping):
            deps += _paths(definition.get("do", definition).get("deps"))
    return code_deps(deps)


def code_hashes(repo_root: str | Path, deps: Iterable[str]) -> dict[str, str]:
    """``{file: md5}`` of every file below ``deps`` (folders expanded, ``.dvcignore`` applied), sorted.

    The code version a manifest records: per file, so a checkout that differs
    can be told which files (``seedbench replay``). A dep that does not exist is
    skipped (DVC itself refuses to run a stage whose dep is missing).
    """
    root = Path(repo_root)
    ignore = read_dvcignore(root)
    out: dict[str, str] = {}
    for dep in deps:
        path = root / dep
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        for file in files:
            rel = file.relative_to(root).as_posix()
            if not _ignored(rel, ignore):
                out[rel] = _file_md5(file)
    return dict(sorted(out.items()))


def code_differences(recorded: Mapping[str, str], checkout: Mapping[str, str]) -> list[str]:
    """``["src/x.py (changed)", "src/y.py (missing here)", …]``: recorded code files the checkout does not hold as recorded."""
    out = []
    for path, md5 in sorted(recorded.items()):
        if path not in checkout:
            out.append(f"{path} (not in the checkout)")
        elif checkout[path] != md5:
            out.append(f"{path} (changed)")
    return out


# --------------------------------------------------------------------------- dvc.lock


def lock_stage_entry(dvc_lock: Mapping[str, Any], stage: str) -> dict[str, Any] | None:
    """``{"deps": {path: md5}, "outs": {path: md5}}`` of ``stage`` in a parsed ``dvc.lock``; ``None`` if absent."""
    entry = (dvc_lock.get("stages") or {}).get(stage)
    if not isinstance(entry, Mapping):
        return None

    def hashes(items: Any) -> dict[str, str]:
        return {str(i["path"]): str(i.get("md5")) for i in items or [] if isinstance(i, Mapping) and "path" in i}

    return {"deps": hashes(entry.get("deps")), "outs": hashes(entry.get("outs"))}


# --------------------------------------------------------------------------- what a stage records about itself


def pipeline_git_state(repo_root: str | Path = ".") -> dict[str, Any]:
    """:func:`seedbench.provenance.environment.git_state` of a checkout whose pipeline is running.

    ``dvc.lock``, the outputs ``dvc.yaml`` declares and ``.gitignore`` files do not
    make it dirty: DVC rewrites them during the very run being recorded, and
    none of them can change a result. Nor does ``params.yaml``: every manifest
    records the params exactly (``config``), which is how ``dvc exp run -S …``
    experiments are replayed (baseline commit + those params). Everything else
    that differs from the commit does (``dirty_paths`` lists all changed paths
    either way).
    """
    from seedbench.provenance.environment import git_state

    root = Path(repo_root)
    patterns = output_patterns(read_yaml(root / DVC_YAML)) if (root / DVC_YAML).is_file() else [DVC_LOCK]
    return git_state(root, ignore=[*patterns, PARAMS_FILENAME, ".gitignore", "*/.gitignore"])


def stage_lock_record(repo_root: str | Path, stage: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"stage", "deps": {path: md5}, "recorded"}``: the deps' hashes DVC will lock for ``stage``.

    Computed now, with DVC's scheme, by the stage itself (DVC writes the lock
    entry only after the stage's command returns); the publish stage compares
    them with the final ``dvc.lock``. ``None`` outside a pipeline: no
    ``dvc.yaml``, no such stage, or a dep missing (a stage script run by hand).
    """
    root = Path(repo_root)
    if not (root / DVC_YAML).is_file():
        return None
    try:
        deps = stage_deps(read_yaml(root / DVC_YAML), stage, params)
        hashes = deps_hashes(root, deps)
    except DataFormatError:
        return None
    return {
        "stage": stage,
        "deps": hashes,
        "recorded": "computed by the stage with DVC's md5 scheme before DVC wrote dvc.lock; "
                    "publish/manifest.json checks it against the final dvc.lock",
    }
