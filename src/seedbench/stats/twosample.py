"""Two-sample tests for seed sets, calibrated at small n, and Holm's multiplicity correction.

Each test compares two independent sets of replicate-seed results of one cell
(fresh seeds on both sides) and is symmetric in its two samples: swapping them
gives the same p-value. Every function is pure; arrays hold finite values
(callers drop diverged runs and count them for :func:`divergence_p`).

References
----------
Welch, B. L. (1947). The generalization of "Student's" problem when several
different population variances are involved. Biometrika 34, 28–35.
Snedecor, G. W. & Cochran, W. G. (1989). Statistical Methods, §6.12 (F test of two variances).
Fisher, R. A. (1935). The logic of inductive inference. JRSS 98, 39–82 (exact test of a 2×2 table).
Tarone, R. E. (1990). A modified Bonferroni method for discrete data. Biometrics 46, 515–522.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scand. J. Stat. 6, 65–70.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats as st
from numpy.typing import ArrayLike
from scipy import special


def welch_p(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p of Welch's t test of equal means; uses both samples' spreads (no equal-variance assumption).

    ``a``, ``b``: finite values, shapes ``(n_a,)``, ``(n_b,)``, n ≥ 2 each.
    Degenerate case (both samples constant): p = 1 when the means are equal, 0 otherwise.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    va, vb = float(np.var(x, ddof=1)) / x.size, float(np.var(y, ddof=1)) / y.size
    diff = float(np.mean(x)) - float(np.mean(y))
    if va + vb == 0.0:
        return 1.0 if diff == 0.0 else 0.0
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    # = scipy.stats.ttest_ind(x, y, equal_var=False).pvalue, without its per-call overhead
    return float(2.0 * special.stdtr(df, -abs(diff) / math.sqrt(va + vb)))


def variance_ratio_p(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p of the F test of equal variances: ``F = s_b²/s_a²`` ~ F(n_b−1, n_a−1) under equal spread.

    The exact sampling distribution of the variance ratio for normal samples at
    any n (at n = 5 both sides, a ratio of 1.2² = 1.44 has p ≈ 0.73: the ±20%
    rule's std window holds the ratio only 30% of the time). Symmetric:
    ``p(a, b) == p(b, a)``. A constant sample against a varying one gives p = 0;
    two constant samples p = 1.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    va, vb = float(np.var(x, ddof=1)), float(np.var(y, ddof=1))
    if va == 0.0 and vb == 0.0:
        return 1.0
    if va == 0.0 or vb == 0.0:
        return 0.0
    low = float(special.fdtr(y.size - 1, x.size - 1, vb / va))   # P(F ≤ f)
    high = float(special.fdtrc(y.size - 1, x.size - 1, vb / va))  # P(F > f), accurate in the far tail
    return min(1.0, 2.0 * min(low, high))


def divergence_p(diverged_a: int, n_a: int, diverged_b: int, n_b: int) -> float:
    """Two-sided Fisher exact p that A and B diverge (non-finite runs) equally often.

    ``diverged_*`` of ``n_*`` runs (all runs, finite or not) on each side; the
    table ``[[diverged_a, n_a − diverged_a], [diverged_b, n_b − diverged_b]]``.
    """
    table = [[diverged_a, n_a - diverged_a], [diverged_b, n_b - diverged_b]]
    return float(st.fisher_exact(table, alternative="two-sided").pvalue)


def divergence_min_p(diverged_total: int, n_a: int, n_b: int) -> float:
    """Smallest p :func:`divergence_p` can give for these margins (1 when nothing diverged).

    The test is conditional on the margins, so a table whose best case cannot
    reach significance carries no information and may be left out of the
    multiplicity correction (Tarone 1990). With 5 runs a side, even 0 vs 5
    diverged gives p = 2/252 ≈ 0.0079.
    """
    lo, hi = max(0, diverged_total - n_a), min(diverged_total, n_b)
    return min(divergence_p(diverged_total - x, n_a, x, n_b) for x in range(lo, hi + 1))


def holm_adjust(p_values: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values, shape ``(m,)`` in the input order.

    ``p_adj_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j))`` over the sorted p's;
    rejecting every hypothesis with ``p_adj ≤ α`` keeps the familywise error
    rate at most α under any dependence.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted



def detectable_shift(std_a: float, n_a: int, std_b: float, n_b: int, *, alpha: float, power: float = 0.8) -> float | None:
    """Smallest mean difference Welch's test at two-sided level ``alpha`` detects with probability ≈ ``power``.

    ``(t_{1−α/2, ν} + t_{power, ν})·SE`` with ``SE = √(s_a²/n_a + s_b²/n_b)`` and
    Welch's ν, in the units of the values; pass the per-test level the
    multiplicity correction uses first (``α/m`` for Holm). A planning figure from
    the observed spreads, not a guarantee; ``None`` when it is undefined
    (fewer than 2 values a side, or no spread).
    """
    if n_a < 2 or n_b < 2:
        return None
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    se2 = va + vb
    if not math.isfinite(se2) or se2 == 0.0:
        return None
    df = se2**2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return float((special.stdtrit(df, 1.0 - alpha / 2.0) + special.stdtrit(df, power)) * math.sqrt(se2))
