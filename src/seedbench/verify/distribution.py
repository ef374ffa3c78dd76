"""The distribution-stable check: do two independent seed sets come from the same distribution?

Per cell (dataset × method), three tests, each symmetric in A and B:

* equal means — Welch's t test (uses both sides' spreads);
* equal spread — the F test of the variance ratio (its exact sampling
  distribution at this n, e.g. F(4, 4) at 5 seeds a side);
* equal divergence rates — Fisher's exact test on (diverged, finite) counts,
  left out of the family when its margins cannot reach significance at α
  (nothing diverged, or too few runs: Tarone 1990).

Holm's correction runs over every test of every cell, so the whole verdict
fails a same-distribution pair at most α of the time (familywise). The seed
documents' literal rule ("GRACE rule": mean of B within ±2·SEM_A, std within
±20%) is computed beside it and printed, never used as the verdict: on two
5-seed sets of one distribution it holds for all 8 cells of the default
profile about once in 100,000 tries.

A cell where exactly one side has fewer than 2 finite runs cannot be compared
and fails; a cell where both do is judged on divergence alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seedbench.stats.twosample import (
    detectable_shift,
    divergence_min_p,
    divergence_p,
    holm_adjust,
    variance_ratio_p,
    welch_p,
)

DEFAULT_ALPHA = 0.05
"""Familywise level of the distribution-stable verdict."""

GRACE_SEM_FACTOR = 2.0
"""GRACE rule: mean of B within ±2·SEM_A of A's."""

GRACE_STD_TOLERANCE = 0.2
"""GRACE rule: std of B within ±20% of A's."""

TESTS: tuple[str, ...] = ("mean", "spread", "divergence")
"""The three tests of a cell, in report order."""

Cell = tuple[str, str]
"""``(dataset, method)``."""


def grace_rule(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float) -> bool:
    """The seed's literal rule, A the reference: mean_B within ±2·SEM_A, std_B within ±20% of std_A.

    Neither calibrated nor symmetric in A and B; reported beside the verdict only.
    """
    sem_a = std_a / math.sqrt(n_a)
    return abs(mean_b - mean_a) <= GRACE_SEM_FACTOR * sem_a and abs(std_b - std_a) <= GRACE_STD_TOLERANCE * std_a


def _cell_tests(a: np.ndarray, b: np.ndarray, alpha: float) -> dict[str, Any]:
    """Unadjusted p of each test that applies to one cell, and the cell's descriptive numbers."""
    fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
    row: dict[str, Any] = {
        "n_a": int(fa.size), "n_b": int(fb.size), "n_nan_a": int(a.size - fa.size), "n_nan_b": int(b.size - fb.size),
        "mean_a": None, "mean_b": None, "std_a": None, "std_b": None,
        "grace_within": None, "structural": None, "p": {},
    }
    if fa.size >= 2 and fb.size >= 2:
        row.update(mean_a=float(np.mean(fa)), mean_b=float(np.mean(fb)),
                   std_a=float(np.std(fa, ddof=1)), std_b=float(np.std(fb, ddof=1)))
        row["p"]["mean"] = welch_p(fa, fb)
        row["p"]["spread"] = variance_ratio_p(fa, fb)
        row["grace_within"] = grace_rule(row["mean_a"], row["std_a"], fa.size, row["mean_b"], row["std_b"])
    elif (fa.size >= 2) != (fb.size >= 2):
        row["structural"] = f"{'A' if fa.size < 2 else 'B'} has {min(fa.size, fb.size)} finite run(s): needs ≥ 2 to compare"
    diverged = row["n_nan_a"] + row["n_nan_b"]
    if diverged and divergence_min_p(diverged, int(a.size), int(b.size)) <= alpha:
        row["p"]["divergence"] = divergence_p(row["n_nan_a"], int(a.size), row["n_nan_b"], int(b.size))
    return row


def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _detail(row: Mapping[str, Any], failed: Sequence[str]) -> str:
    """One line: what each test saw, with its Holm-adjusted p; which test rejected."""
    parts: list[str] = []
    if row["structural"]:
        parts.append(row["structural"])
    if "mean" in row["p"]:
        parts.append(f"Δmean {row['mean_b'] - row['mean_a']:+.3g} (Welch p {_fmt_p(row['p']['mean'])}, "
                     f"Holm {_fmt_p(row['p_holm']['mean'])})")
    if "spread" in row["p"]:
        ratio = "∞" if row["std_a"] == 0 else f"{row['std_b'] / row['std_a']:.3g}"
        parts.append(f"std B/A {ratio} (F p {_fmt_p(row['p']['spread'])}, Holm {_fmt_p(row['p_holm']['spread'])})")
    if row["n_nan_a"] or row["n_nan_b"]:
        text = f"diverged {row['n_nan_a']}/{row['n_a'] + row['n_nan_a']} vs {row['n_nan_b']}/{row['n_b'] + row['n_nan_b']}"
        if "divergence" in row["p"]:
            text += f" (Fisher p {_fmt_p(row['p']['divergence'])}, Holm {_fmt_p(row['p_holm']['divergence'])})"
        else:
            text += " (too few runs for any divergence count to be significant: not tested)"
        parts.append(text)
    if row["detectable_shift"] is not None:
        parts.append(f"detects Δmean ≥ {row['detectable_shift']:.3g} with 80% power")
    if failed:
        parts.append("differs: " + ", ".join(failed))
    if row["grace_within"] is not None:
        parts.append("GRACE rule: " + ("within" if row["grace_within"] else "outside"))
    return "; ".join(parts)


def distribution_rows(
    cells_a: Mapping[Cell, np.ndarray],
    cells_b: Mapping[Cell, np.ndarray],
    *,
    metric: str = "rmse",
    alpha: float = DEFAULT_ALPHA,
) -> list[dict[str, Any]]:
    """One row per cell present on both sides, in the order of ``cells_a``.

    Parameters
    ----------
    cells_a, cells_b : mapping (dataset, method) -> array, shape (n_seeds,)
        The metric of every replicate seed (NaN/±inf = a diverged run). The two
        sides are independent seed sets; their sizes may differ.
    metric : str
        Name written into each row.
    alpha : float
        Familywise level: Holm over every test of every cell.

    Returns
    -------
    list of dict
        ``dataset``, ``method``, ``metric``, ``n_a``/``n_b`` (finite runs),
        ``n_nan_a``/``n_nan_b``, ``mean_*``, ``std_*``, ``p`` {test: p} and
        ``p_holm`` {test: adjusted p} for the tests that apply, ``n_tests``
        (family size), ``detectable_shift`` (mean difference detected with 80%
        power at the first Holm step, in the metric's units), ``passed``,
        ``failed_tests``, ``grace_within`` (the seed's rule, or ``None``),
        ``detail``.
    """
    common = [c for c in cells_a if c in cells_b]
    rows = [dict(dataset=c[0], method=c[1], metric=metric, **_cell_tests(
        np.asarray(cells_a[c], dtype=np.float64), np.asarray(cells_b[c], dtype=np.float64), alpha)) for c in common]
    family = [(i, t) for i, row in enumerate(rows) for t in TESTS if t in row["p"]]
    adjusted = holm_adjust([rows[i]["p"][t] for i, t in family])
    for row in rows:
        row["p_holm"] = {}
        row["n_tests"] = len(family)
    for (i, t), p in zip(family, adjusted):
        rows[i]["p_holm"][t] = float(p)
    per_test_alpha = alpha / max(1, len(family))
    for row in rows:
        failed = [t for t in TESTS if row["p_holm"].get(t, 1.0) <= alpha]
        row["detectable_shift"] = None
        if row["std_a"] is not None:
            row["detectable_shift"] = detectable_shift(row["std_a"], row["n_a"], row["std_b"], row["n_b"],
                                                       alpha=per_test_alpha)
        row["failed_tests"] = failed
        row["passed"] = not failed and row["structural"] is None
        row["detail"] = _detail(row, failed)
        del row["structural"]
    return rows


def grace_summary(rows: Sequence[Mapping[str, Any]]) -> str:
    """``"GRACE rule: k of n cells within (…)"``: the seed documents' rule, printed beside the verdict."""
    judged = [r for r in rows if r.get("grace_within") is not None]
    within = sum(bool(r["grace_within"]) for r in judged)
    return (f"GRACE rule: {within} of {len(judged)} cells within (mean ±{GRACE_SEM_FACTOR:g}·SEM_A, "
            f"std ±{GRACE_STD_TOLERANCE:.0%}; the seed documents' rule, uncalibrated: not the verdict)")
