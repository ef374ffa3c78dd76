"""Reproducibility levels (the GRACE recipe): are two experiments' results the same?

| level | tolerance | controlled |
|---|---|---|
| bit-exact | Δ = 0 | hardware, software, seeds, flags, OS |
| seed-stable | per-run |ΔRMSE| ≤ tolerance (0.01) | seeds, flags, major library versions |
| distribution-stable | per cell: Welch (means), F (spread), Fisher (divergences), Holm over all at α | code, hyper-parameters, n seeds (fresh draws) |

The distribution level is :mod:`seedbench.verify.distribution`; the recipe's own
rule (mean within ±2·SEM, std within ±20%) is printed beside it, not used.

:func:`compare_results` works on lists of ``results.json`` records (with, at
the bit level, each run's bootstrap interval from ``reports/run_intervals.json``);
:func:`compare_trees` loads two result trees (folders or revisions, see
:mod:`seedbench.results.trees`) and compares them; :func:`comparison_table`
prints the verdict for a terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seedbench.core.files import dumps_json
from seedbench.core.names import RunKey
from seedbench.results.index import index_results, metric_value, run_name
from seedbench.stats.bootstrap import finite_or_none
from seedbench.stats.summaries import json_safe
from seedbench.verify.distribution import (
    DEFAULT_ALPHA,
    distribution_rows,
    grace_summary,
)

Level = Literal["bit", "seed", "distribution"]
LEVEL_NAMES: dict[str, str] = {"bit": "bit-exact", "seed": "seed-stable", "distribution": "distribution-stable"}


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare_results`: per-cell rows, one-sided runs and the overall verdict."""

    level: str
    tolerance: float
    rows: tuple[dict[str, Any], ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    alpha: float = DEFAULT_ALPHA

    @property
    def passed(self) -> bool:
        """True when every row passes, no run is one-sided, and there was something to compare."""
        return bool(self.rows) and all(r["passed"] for r in self.rows) and not self.only_in_a and not self.only_in_b

    @property
    def verdict(self) -> str:
        """One line, e.g. ``"seed-stable: PASS (20 of 20 runs within |ΔRMSE| ≤ 0.01)"``."""
        name = LEVEL_NAMES[self.level]
        unit = "cells" if self.level == "distribution" else "runs"
        good = sum(r["passed"] for r in self.rows)
        text = f"{name}: {'PASS' if self.passed else 'FAIL'} ({good} of {len(self.rows)} {unit} pass"
        if self.level == "distribution" and self.rows:
            text += f"; Holm over {self.rows[0]['n_tests']} tests, familywise α = {self.alpha:g}"
        if self.only_in_a or self.only_in_b:
            text += f"; {len(self.only_in_a)} only in A, {len(self.only_in_b)} only in B"
        return text + ")"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return json_safe({
            "level": self.level, "tolerance": self.tolerance, "alpha": self.alpha, "passed": self.passed,
            "verdict": self.verdict, "grace_rule": grace_summary(self.rows) if self.level == "distribution" else None,
            "rows": list(self.rows), "only_in_a": list(self.only_in_a), "only_in_b": list(self.only_in_b),
        })


RunIntervals = Mapping[RunKey, Mapping[str, Any]]
"""``{run key: rmse_ci}``: each run's bootstrap interval of test RMSE (``reports/run_intervals.json``)."""


def _run_interval(key: RunKey, record: Mapping[str, Any], intervals: RunIntervals | None) -> Any:
    """Run ``key``'s interval: from ``intervals`` when given, else the record's own ``rmse_ci``.

    A ``results.json`` written before the interval moved to the aggregate stage
    carries it itself (older revisions and published manifests); a current one has none.
    """
    return intervals.get(key) if intervals is not None else record.get("rmse_ci")


def _compare_bit(
    key: RunKey, ra: Mapping[str, Any], rb: Mapping[str, Any],
    hashes_a: Mapping[RunKey, str] | None, hashes_b: Mapping[RunKey, str] | None,
    intervals_a: RunIntervals | None = None, intervals_b: RunIntervals | None = None,
) -> dict[str, Any]:
    differ = [f for f in ("seed", "n_test_units", "metrics") if dumps_json(ra.get(f)) != dumps_json(rb.get(f))]
    if dumps_json(_run_interval(key, ra, intervals_a)) != dumps_json(_run_interval(key, rb, intervals_b)):
        differ.append("rmse_ci")
    if hashes_a is not None or hashes_b is not None:
        ha, hb = (hashes_a or {}).get(key), (hashes_b or {}).get(key)
        if ha is None or hb is None or ha != hb:
            differ.append("predictions sha256")
    return {
        "dataset": key[0], "method": key[1], "replicate": key[2], "passed": not differ,
        "detail": "identical" if not differ else "differ: " + ", ".join(differ),
    }


def _compare_seed(key: RunKey, ra: Mapping[str, Any], rb: Mapping[str, Any], metric: str, tolerance: float) -> dict[str, Any]:
    va, vb = metric_value(ra, metric, key), metric_value(rb, metric, key)
    row: dict[str, Any] = {
        "dataset": key[0], "method": key[1], "replicate": key[2],
        f"{metric}_a": finite_or_none(va), f"{metric}_b": finite_or_none(vb), "abs_diff": None, "passed": False, "detail": "",
    }
    if ra.get("seed") != rb.get("seed"):
        row["detail"] = f"replicate seeds differ ({ra.get('seed')} vs {rb.get('seed')}): not the same experiment"
    elif math.isnan(va) and math.isnan(vb):
        row.update(passed=True, detail="diverged on both sides")
    elif not (math.isfinite(va) and math.isfinite(vb)):
        row["detail"] = "non-finite on one side only"
    else:
        diff = abs(va - vb)
        row.update(abs_diff=diff, passed=diff <= tolerance, detail=f"|Δ{metric}| = {diff:.3g} (tolerance {tolerance:g})")
    return row


def compare_results(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    level: Level,
    tolerance: float = 0.01,
    *,
    metric: str = "rmse",
    alpha: float = DEFAULT_ALPHA,
    prediction_hashes_a: Mapping[RunKey, str] | None = None,
    prediction_hashes_b: Mapping[RunKey, str] | None = None,
    intervals_a: RunIntervals | None = None,
    intervals_b: RunIntervals | None = None,
) -> Comparison:
    """Check two sets of ``results.json`` records against a reproducibility level (GRACE recipe).

    Levels
    ------
    ``"bit"`` (bit-exact, Δ = 0)
        Runs matched by (dataset, method, replicate); each passes when the
        canonical JSON of its ``seed``, ``n_test_units``, ``metrics`` and
        per-run interval ``rmse_ci`` is identical, and — when hashes are given as
        ``{(dataset, method, replicate): sha256}`` — the predictions' sha256 too.
        A side's intervals come from ``intervals_a`` / ``intervals_b``
        (``{run key: rmse_ci}``, ``reports/run_intervals.json``) when given,
        else from its records (``results.json`` of older revisions held it);
        a run whose interval is missing on one side only differs.
    ``"seed"`` (seed-stable)
        Runs matched by (dataset, method, replicate) with the same replicate
        seed; each passes when ``|metric_A − metric_B| ≤ tolerance`` (default
        0.01 RMSE). Diverged on both sides counts as agreement.
    ``"distribution"`` (distribution-stable, fresh seeds)
        Per (dataset, method): Welch's test of equal means, the F test of equal
        spread and Fisher's test of equal divergence rates, Holm-corrected over
        every test of every cell at familywise level ``alpha``
        (:func:`seedbench.verify.distribution.distribution_rows`). Symmetric in
        A and B; the seed's ±2·SEM / ±20% rule is reported per row
        (``grace_within``), not used.

    Runs (or cells) present on one side only are listed in ``only_in_a`` /
    ``only_in_b`` and make the comparison fail.
    """
    if level not in ("bit", "seed", "distribution"):
        raise ValueError(f"level: expected 'bit', 'seed' or 'distribution', got {level!r}")
    ia, ib = index_results(a, "a"), index_results(b, "b")
    rows: list[dict[str, Any]] = []
    if level in ("bit", "seed"):
        only_a = tuple(run_name(k) for k in sorted(ia.keys() - ib.keys()))
        only_b = tuple(run_name(k) for k in sorted(ib.keys() - ia.keys()))
        for key in sorted(ia.keys() & ib.keys()):
            if level == "bit":
                rows.append(_compare_bit(key, ia[key], ib[key], prediction_hashes_a, prediction_hashes_b,
                                         intervals_a, intervals_b))
            else:
                rows.append(_compare_seed(key, ia[key], ib[key], metric, tolerance))
    else:
        cells_a = sorted({k[:2] for k in ia})
        cells_b = sorted({k[:2] for k in ib})
        only_a = tuple(f"{d}/{m}" for d, m in cells_a if (d, m) not in cells_b)
        only_b = tuple(f"{d}/{m}" for d, m in cells_b if (d, m) not in cells_a)
        values_a = {c: np.array([metric_value(ia[k], metric, k) for k in sorted(ia) if k[:2] == c]) for c in cells_a}
        values_b = {c: np.array([metric_value(ib[k], metric, k) for k in sorted(ib) if k[:2] == c]) for c in cells_b}
        rows = distribution_rows(values_a, values_b, metric=metric, alpha=alpha)
    return Comparison(level=level, tolerance=float(tolerance), rows=tuple(rows), only_in_a=only_a, only_in_b=only_b,
                      alpha=float(alpha))


def compare_trees(
    a: str, b: str, level: Level, *, tolerance: float = 0.01, alpha: float = DEFAULT_ALPHA, repo: str | Path = "."
) -> Comparison:
    """Load result trees ``a`` (the reference) and ``b`` and compare them at ``level``.

    At the bit level each tree's per-run intervals (``reports/run_intervals.json``)
    are compared too; a tree without that file falls back to its records'
    ``rmse_ci`` (none in a current ``results.json``).
    """
    from seedbench.results.trees import load_result_tree

    bit = level == "bit"
    tree_a, tree_b = load_result_tree(a, repo=repo, intervals=bit), load_result_tree(b, repo=repo, intervals=bit)
    return compare_results(
        tree_a.results,
        tree_b.results,
        level,
        tolerance,
        alpha=alpha,
        prediction_hashes_a=tree_a.prediction_hashes if bit else None,
        prediction_hashes_b=tree_b.prediction_hashes if bit else None,
        intervals_a=tree_a.run_intervals,
        intervals_b=tree_b.run_intervals,
    )


def comparison_table(comparison: Comparison, *, name_a: str = "A", name_b: str = "B") -> str:
    """Plain-text table: one line per run (bit, seed) or cell (distribution), then the verdict."""
    lines = [f"{LEVEL_NAMES[comparison.level]} check: A = {name_a}, B = {name_b}"]
    for row in comparison.rows:
        where = f"{row['dataset']}/{row['method']}" + (f"/rep_{row['replicate']}" if "replicate" in row else "")
        lines.append(f"  {'PASS' if row['passed'] else 'FAIL'}  {where:<28} {row['detail']}")
    for label, names in (("only in A", comparison.only_in_a), ("only in B", comparison.only_in_b)):
        if names:
            lines.append(f"  FAIL  {label}: {', '.join(names)}")
    lines.append(comparison.verdict)
    if comparison.level == "distribution":
        lines.append(grace_summary(comparison.rows))
    return "\n".join(lines) + "\n"
