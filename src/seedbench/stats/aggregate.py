"""The aggregate stage's computation: every cell summarised, methods ranked, pairs claimed, once.

:func:`aggregate` takes ``results.json`` records of a complete grid
(datasets × methods × replicates) and returns an :class:`Aggregate`, whose
methods give each report its JSON-ready content; the Markdown rendering is
:mod:`seedbench.reporting.markdown`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seedbench.core import seeds
from seedbench.core.errors import DataFormatError
from seedbench.results.index import index_results, metric_value, run_name
from seedbench.stats.bootstrap import DEFAULT_N_RESAMPLES
from seedbench.stats.claims import correct_claims, pairwise_claims
from seedbench.stats.metrics import METRIC_NAMES
from seedbench.stats.ranking import friedman_nemenyi
from seedbench.stats.summaries import describe_over_seeds, json_safe

SUMMARY_STATS: tuple[str, ...] = ("mean", "std", "sem", "n", "n_nan")
"""Statistics per cell that go into ``reports/summary.json`` (flat keys; the DVC metric is ``reports/metrics.json``)."""


@dataclass(frozen=True)
class Aggregate:
    """Everything the aggregate stage reports, computed once by :func:`aggregate`.

    ``values[(dataset, method, metric)]`` is a float64 array of shape
    ``(n_replicates,)`` aligned with ``replicates[dataset]`` (NaN = diverged
    run); ``cells`` holds :func:`describe_over_seeds` of each;
    ``friedman`` is :func:`friedman_nemenyi` of ``rank_metric`` over blocks
    (dataset × replicate); ``friedman_by_dataset`` the same per dataset
    (blocks = replicates); ``claim_list`` the :func:`pairwise_claims` of every
    dataset and metric.
    """

    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    replicates: dict[str, tuple[int, ...]]
    values: dict[tuple[str, str, str], np.ndarray]
    cells: dict[tuple[str, str, str], dict[str, Any]]
    friedman: dict[str, Any]
    friedman_by_dataset: dict[str, dict[str, Any]]
    claim_list: tuple[dict[str, Any], ...]
    confidence: float
    n_resamples: int
    bootstrap_seed: int
    alpha: float = 0.05
    rank_metric: str = "rmse"
    metrics: tuple[str, ...] = field(default=METRIC_NAMES)

    def values_by_method(self, dataset: str, metric: str = "rmse") -> dict[str, np.ndarray]:
        """``{method: (n_replicates,) array}`` of one dataset and metric, in method order."""
        return {m: self.values[(dataset, m, metric)] for m in self.methods}

    def summary_flat(self) -> dict[str, float | int | None]:
        """Flat statistics for ``reports/summary.json`` (``None`` instead of NaN).

        Keys ``<dataset>.<method>.<metric>.<stat>`` with stat in :data:`SUMMARY_STATS`
        (intervals are in :meth:`detail`), and ``friedman.<metric>.{statistic,p,cd,N,k}`` with
        ``friedman.<metric>.mean_rank.<method>``.
        """
        flat: dict[str, float | int | None] = {}
        for (d, m, metric), cell in self.cells.items():
            for s in SUMMARY_STATS:
                flat[f"{d}.{m}.{metric}.{s}"] = cell[s]
        prefix = f"friedman.{self.rank_metric}"
        for s in ("statistic", "p", "cd", "N", "k"):
            flat[f"{prefix}.{s}"] = self.friedman[s]
        for m, r in (self.friedman["mean_ranks"] or {}).items():
            flat[f"{prefix}.mean_rank.{m}"] = r
        return dict(sorted(json_safe(flat).items()))

    def detail(self) -> dict[str, Any]:
        """Every statistic of every cell, nested ``{dataset: {method: {metric: {...}}}}``, plus Friedman (JSON-ready)."""
        cells: dict[str, Any] = {}
        for (d, m, metric), cell in self.cells.items():
            cells.setdefault(d, {}).setdefault(m, {})[metric] = dict(cell)
        return json_safe({"cells": cells, "friedman": self.friedman, "friedman_by_dataset": self.friedman_by_dataset})

    def claims(self) -> list[dict[str, Any]]:
        """The list for ``reports/claims.json``: every pair × dataset × metric (JSON-ready)."""
        return json_safe(list(self.claim_list))

    def seed_spread_csv(self, metric: str = "rmse") -> str:
        """``dataset,method,replicate,<metric>`` rows (DVC plot source); floats as repr, ``nan`` if diverged."""
        lines = [f"dataset,method,replicate,{metric}"]
        for d in self.datasets:
            for m in self.methods:
                for r, v in zip(self.replicates[d], self.values[(d, m, metric)]):
                    lines.append(f"{d},{m},{r},{float(v)!r}")
        return "\n".join(lines) + "\n"


def _ordered(found: Iterable[str], given: Sequence[str] | None, what: str) -> tuple[str, ...]:
    found_set = set(found)
    if given is None:
        return tuple(sorted(found_set))
    unexpected = sorted(found_set - set(given))
    absent = [g for g in given if g not in found_set]
    if unexpected:
        raise DataFormatError(f"results: unexpected {what} {unexpected} (expected only {list(given)})")
    if absent:
        raise DataFormatError(f"results: no run for {what} {absent}")
    return tuple(given)


def aggregate(
    results: Sequence[Mapping[str, Any]],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    bootstrap_seed: int,
    alpha: float = 0.05,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    rank_metric: str = "rmse",
) -> Aggregate:
    """Summaries, Friedman/Nemenyi and claims of a complete grid of runs.

    Parameters
    ----------
    results : sequence of dict
        ``results.json`` records (``dataset``, ``method``, ``replicate``,
        ``metrics: {rmse, mae, nasa_score}``; a null metric = diverged run).
        Their order does not matter. Every method must have the same
        replicates within a dataset (paired blocks), else
        :class:`DataFormatError` names the missing runs.
    confidence, n_resamples
        As in :func:`describe_over_seeds`.
    bootstrap_seed : int
        Root of the bootstrap streams; the stage passes
        ``seeds.derive_seed(experiment_seed, "bootstrap")``. The cell
        (dataset, method, metric) uses
        ``seeds.generator(bootstrap_seed, "bootstrap", dataset, method, metric)``.
    alpha : float
        Level of the Nemenyi test / critical difference and Wilcoxon notes.
    datasets, methods : sequence of str, optional
        Report order (params order); default sorted. When given, results must
        cover exactly these.
    rank_metric : str
        Metric of the Friedman test and of the Markdown claims.
    """
    index = index_results(results)
    if not index:
        raise DataFormatError("results: no run to aggregate")
    ds = _ordered((k[0] for k in index), datasets, "dataset(s)")
    ms = _ordered((k[1] for k in index), methods, "method(s)")
    replicates: dict[str, tuple[int, ...]] = {}
    missing: list[str] = []
    for d in ds:
        reps = tuple(sorted({k[2] for k in index if k[0] == d}))
        replicates[d] = reps
        missing += [run_name((d, m, r)) for m in ms for r in reps if (d, m, r) not in index]
    if missing:
        raise DataFormatError(f"results: incomplete grid, missing runs {missing[:10]}" + (" …" if len(missing) > 10 else ""))
    values: dict[tuple[str, str, str], np.ndarray] = {}
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in ds:
        for m in ms:
            for metric in METRIC_NAMES:
                v = np.array([metric_value(index[(d, m, r)], metric, (d, m, r)) for r in replicates[d]])
                values[(d, m, metric)] = v
                rng = seeds.generator(bootstrap_seed, seeds.STREAM_BOOTSTRAP, d, m, metric)
                cells[(d, m, metric)] = describe_over_seeds(v, confidence=confidence, n_resamples=n_resamples, rng=rng)
    by_dataset = {
        d: friedman_nemenyi(np.column_stack([values[(d, m, rank_metric)] for m in ms]), ms, alpha=alpha) for d in ds
    }
    blocks = np.vstack([np.column_stack([values[(d, m, rank_metric)] for m in ms]) for d in ds])
    overall = friedman_nemenyi(blocks, ms, alpha=alpha)
    omnibus = {
        (d, metric): friedman_nemenyi(np.column_stack([values[(d, m, metric)] for m in ms]), ms, alpha=alpha)["p"]
        for d in ds for metric in METRIC_NAMES
    }
    claims = [
        claim
        for d in ds
        for metric in METRIC_NAMES
        for claim in pairwise_claims(
            {m: values[(d, m, metric)] for m in ms}, dataset=d, metric=metric, alpha=alpha, confidence=confidence
        )
    ]
    claims = correct_claims(claims, alpha=alpha, omnibus_p=omnibus)  # Holm over each dataset's pairs × metrics
    return Aggregate(
        datasets=ds, methods=ms, replicates=replicates, values=values, cells=cells,
        friedman=overall, friedman_by_dataset=by_dataset, claim_list=tuple(claims),
        confidence=float(confidence), n_resamples=int(n_resamples), bootstrap_seed=int(bootstrap_seed),
        alpha=float(alpha), rank_metric=rank_metric,
    )
