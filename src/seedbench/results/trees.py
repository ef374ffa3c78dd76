"""Result trees: the ``results.json`` files of one experiment, from a folder or a git/DVC revision.

A result tree is what ``seedbench compare`` and the aggregate stage read: the
params of the experiment and, for exactly the runs those params list
(datasets × methods × replicates), each run's ``results.json`` and the sha256
of its ``predictions.csv`` — and, when asked for, every run's bootstrap
interval from ``reports/run_intervals.json`` (:mod:`seedbench.results.intervals`),
checked against those predictions. It can come from

- a folder: a workspace (``.``) or any checkout holding ``params.yaml`` and ``runs/``;
- a revision: an experiment name (``seed33``), a branch, tag or commit, read
  through DVC (``dvc.api.DVCFileSystem``), so outputs come from the DVC cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seedbench.core.errors import DataFormatError, SeedbenchError
from seedbench.core.hashing import bytes_sha256
from seedbench.core.names import (
    PREDICTIONS_FILENAME,
    REPORTS_DIR,
    RESULTS_FILENAME,
    RUN_INTERVALS_FILENAME,
    RunKey,
    run_dir,
)
from seedbench.core.params import Params, params_from_dict
from seedbench.results.index import run_key, run_name
from seedbench.results.intervals import RunPredictions, run_intervals_of
from seedbench.results.predictions import parse_predictions

ReadBytes = Callable[[str], bytes]
"""Reads a repository-relative POSIX path; raises FileNotFoundError when absent."""


RUN_INTERVALS_PATH = f"{REPORTS_DIR}/{RUN_INTERVALS_FILENAME}"
"""``reports/run_intervals.json`` (POSIX, repository-relative): the aggregate stage's per-run intervals."""


@dataclass(frozen=True)
class ResultTree:
    """One experiment's results: ``results`` in params order, ``prediction_hashes`` by run key.

    ``run_intervals`` is ``{run key: rmse_ci}`` from ``reports/run_intervals.json``
    when it was asked for and the tree has that file; ``None`` otherwise.
    """

    name: str
    params: Params
    results: list[dict[str, Any]]
    prediction_hashes: dict[RunKey, str]
    run_intervals: dict[RunKey, dict[str, Any]] | None = None


def run_path(key: RunKey, filename: str) -> str:
    """``runs/<dataset>/<method>/rep_<r>/<filename>`` (POSIX, repository-relative)."""
    return f"{run_dir(key)}/{filename}"


def expected_runs(params: Params) -> list[RunKey]:
    """Every (dataset, method, replicate) the params ask for, in params order."""
    return params.runs()


def collect_results(read: ReadBytes, params: Params, *, where: str) -> list[dict[str, Any]]:
    """Read the ``results.json`` of exactly the runs ``params`` lists (stale folders are ignored).

    Raises :class:`DataFormatError` naming every missing file (``where`` says
    which tree), a file whose identity does not match its folder, or a stale
    file from another experiment seed.
    """
    out: list[dict[str, Any]] = []
    missing: list[str] = []
    for key in expected_runs(params):
        path = run_path(key, RESULTS_FILENAME)
        try:
            raw = read(path)
        except FileNotFoundError:
            missing.append(path)
            continue
        try:
            result = json.loads(raw)
        except ValueError as exc:
            raise DataFormatError(f"{where}: {path}: not valid JSON ({exc})") from None
        found = run_key(result, f"{where}: {path}")
        if found != key:
            raise DataFormatError(f"{where}: {path}: holds run {run_name(found)}, expected {run_name(key)}")
        if result.get("experiment_seed") != params.seed:
            raise DataFormatError(
                f"{where}: {path}: stale result of experiment seed {result.get('experiment_seed')!r}, "
                f"params say seed {params.seed}; rerun the pipeline (`dvc repro`)"
            )
        out.append(result)
    if missing:
        shown = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        raise DataFormatError(
            f"{where}: {len(missing)} expected results.json missing (its params list these runs): {shown}; "
            "run the pipeline (`dvc repro`)"
        )
    return out


def prediction_hashes(read: ReadBytes, params: Params) -> dict[RunKey, str]:
    """``{run key: "sha256:<hex>"}`` of each run's ``predictions.csv`` that exists."""
    hashes: dict[RunKey, str] = {}
    for key in expected_runs(params):
        try:
            hashes[key] = bytes_sha256(read(run_path(key, PREDICTIONS_FILENAME)))
        except FileNotFoundError:
            continue
    return hashes


def collect_predictions(read: ReadBytes, params: Params, *, where: str) -> dict[RunKey, RunPredictions]:
    """Every run's parsed ``predictions.csv`` and its sha256, for exactly the runs ``params`` lists.

    Raises :class:`DataFormatError` naming every missing file (``where`` says
    which tree) or the file and line of a malformed one.
    """
    out: dict[RunKey, RunPredictions] = {}
    missing: list[str] = []
    for key in expected_runs(params):
        path = run_path(key, PREDICTIONS_FILENAME)
        try:
            raw = read(path)
        except FileNotFoundError:
            missing.append(path)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataFormatError(f"{where}: {path}: not UTF-8 text") from None
        out[key] = RunPredictions(parse_predictions(text, where=f"{where}: {path}"), bytes_sha256(raw))
    if missing:
        shown = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        raise DataFormatError(
            f"{where}: {len(missing)} expected predictions.csv missing (its params list these runs): {shown}; "
            "run the train stages (`dvc repro`)"
        )
    return out


def read_run_intervals(
    read: ReadBytes, params: Params, hashes: dict[RunKey, str], *, where: str
) -> dict[RunKey, dict[str, Any]] | None:
    """``{run key: rmse_ci}`` from the tree's ``reports/run_intervals.json``; ``None`` when it has none.

    Every run in ``hashes`` (its predictions' sha256) must have an interval
    computed from those very predictions (:func:`seedbench.results.intervals.run_intervals_of`).
    """
    try:
        raw = read(RUN_INTERVALS_PATH)
    except FileNotFoundError:
        return None
    try:
        report = json.loads(raw)
    except ValueError as exc:
        raise DataFormatError(f"{where}: {RUN_INTERVALS_PATH}: not valid JSON ({exc})") from None
    return run_intervals_of(report, where=f"{where}: {RUN_INTERVALS_PATH}", experiment_seed=params.seed,
                            prediction_hashes=hashes)


def folder_reader(root: str | Path) -> ReadBytes:
    """A reader of files below the folder ``root``."""
    base = Path(root)

    def read(rel: str) -> bytes:
        return (base / rel).read_bytes()

    return read


def revision_reader(repo: str | Path, rev: str) -> ReadBytes:
    """A reader of the files of revision ``rev`` (experiment name, branch, tag or commit) through DVC."""
    from dvc.api import DVCFileSystem  # heavy import: only when a revision is asked for

    try:
        fs = DVCFileSystem(repo=str(repo), rev=rev)
    except Exception as exc:  # dvc/scmrepo raise many types for an unknown revision
        raise SeedbenchError(
            f"{rev!r} is neither a folder nor a revision of {repo} that DVC can open ({type(exc).__name__}: {exc}); "
            "give a workspace folder, an experiment name (`dvc exp list`), a branch, tag or commit"
        ) from None

    def read(rel: str) -> bytes:
        try:
            return fs.read_bytes(rel)
        except FileNotFoundError:
            raise
        except Exception as exc:  # e.g. an output not in the local DVC cache
            raise DataFormatError(
                f"revision {rev}: cannot read {rel} ({type(exc).__name__}: {exc}); "
                "if it is a DVC output, fetch it first (`dvc exp pull` / `dvc pull`)"
            ) from None

    return read


def read_tree_params(read: ReadBytes, *, where: str) -> Params:
    """The validated ``params.yaml`` of a tree."""
    try:
        raw = yaml.safe_load(read("params.yaml"))
    except FileNotFoundError:
        raise DataFormatError(f"{where}: no params.yaml (is it a seedbench checkout?)") from None
    try:
        return params_from_dict(raw)
    except SeedbenchError as exc:
        raise DataFormatError(f"{where}: {exc}") from None


def load_result_tree(spec: str, *, repo: str | Path = ".", intervals: bool = False) -> ResultTree:
    """Load a result tree from a folder path or, failing that, a revision of ``repo``.

    ``intervals=True`` also reads the per-run intervals (``ResultTree.run_intervals``;
    stale reports are a :class:`DataFormatError`), which only a bit-level comparison needs.
    """
    if Path(spec).is_dir():
        read, where = folder_reader(spec), f"folder {spec}"
    else:
        read, where = revision_reader(repo, spec), f"revision {spec}"
    params = read_tree_params(read, where=where)
    hashes = prediction_hashes(read, params)
    return ResultTree(
        name=spec,
        params=params,
        results=collect_results(read, params, where=where),
        prediction_hashes=hashes,
        run_intervals=read_run_intervals(read, params, hashes, where=where) if intervals else None,
    )
