"""``results.json`` records as run-keyed data: their key, their name, one metric's value, an index.

Shared by the aggregate stage (:mod:`seedbench.stats.aggregate`), the result
trees (:mod:`seedbench.results.trees`) and the comparisons
(:mod:`seedbench.verify.compare`). A malformed record is a
:class:`~seedbench.core.errors.DataFormatError` naming the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from seedbench.core.errors import DataFormatError
from seedbench.core.names import RunKey


def run_key(result: Mapping[str, Any], where: str) -> RunKey:
    """(dataset, method, replicate) of a results.json record; ``where`` names it in errors."""
    try:
        dataset, method, replicate = result["dataset"], result["method"], result["replicate"]
    except (KeyError, TypeError) as exc:
        raise DataFormatError(f"{where}: expected keys dataset, method, replicate (results.json shape)") from exc
    if not isinstance(dataset, str) or not isinstance(method, str):
        raise DataFormatError(f"{where}: dataset and method must be strings, got {dataset!r}, {method!r}")
    if isinstance(replicate, bool) or not isinstance(replicate, (int, np.integer)):
        raise DataFormatError(f"{where}: replicate must be an integer, got {replicate!r}")
    return dataset, method, int(replicate)


def run_name(key: RunKey) -> str:
    """``dataset/method/rep_<r>``."""
    return f"{key[0]}/{key[1]}/rep_{key[2]}"


def metric_value(result: Mapping[str, Any], metric: str, key: RunKey) -> float:
    """``result["metrics"][metric]`` as a float (NaN for a diverged run's null)."""
    metrics = result.get("metrics")
    if not isinstance(metrics, Mapping) or metric not in metrics:
        raise DataFormatError(f"results of {run_name(key)}: metrics.{metric} is missing")
    value = metrics[metric]
    if value is None:
        return math.nan  # results.json writes a diverged run's metric as null
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"results of {run_name(key)}: metrics.{metric} must be a number or null, got {value!r}")
    return float(value)


def index_results(results: Iterable[Mapping[str, Any]], side: str = "results") -> dict[RunKey, Mapping[str, Any]]:
    """``{run key: record}``; a run present twice is an error naming ``side``."""
    index: dict[RunKey, Mapping[str, Any]] = {}
    for i, result in enumerate(results):
        key = run_key(result, f"{side}[{i}]")
        if key in index:
            raise DataFormatError(f"{side}: run {run_name(key)} appears twice")
        index[key] = result
    return index
