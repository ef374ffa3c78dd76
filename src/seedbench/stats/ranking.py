"""Ranking methods over blocks: the Friedman test, Nemenyi's post-hoc test and critical difference.

Every score is an error: lower is better, rank 1 is the best method.

References
----------
Demšar, J. (2006). Statistical comparisons of classifiers over multiple data
sets. JMLR 7, 1–30. (Friedman test, Nemenyi critical difference.)
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats as st
from numpy.typing import ArrayLike

from seedbench.stats.bootstrap import finite_or_none


def nemenyi_critical_value(k: int, alpha: float = 0.05) -> float:
    """Demšar's ``q_α`` for k methods: the studentized range quantile ``q(1−α; k, ∞) / √2``.

    Checks against Demšar (2006), Table 5(a), α = 0.05: k=2 → 1.960, 3 → 2.343,
    4 → 2.569, 5 → 2.728, … 10 → 3.164.
    """
    if k < 2:
        raise ValueError(f"k: expected >= 2 methods, got {k}")
    return float(st.studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of mean ranks: ``CD = q_α·√(k(k+1)/(6N))`` (Demšar 2006, §3.2.2)."""
    if n_blocks < 1:
        raise ValueError(f"n_blocks: expected >= 1, got {n_blocks}")
    return nemenyi_critical_value(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


def mean_ranks(scores: ArrayLike) -> np.ndarray:
    """Mean rank of each method over blocks, shape ``(k,)``: lowest error = rank 1, ties averaged.

    ``scores`` has shape ``(n_blocks, k_methods)`` and must be finite.
    """
    s = np.asarray(scores, dtype=np.float64)
    return st.rankdata(s, method="average", axis=1).mean(axis=0)


def friedman_nemenyi(scores: ArrayLike, method_names: Sequence[str], alpha: float = 0.05) -> dict[str, Any]:
    """Friedman test over blocks and the Nemenyi post-hoc test with its critical difference.

    Parameters
    ----------
    scores : array_like, shape (n_blocks, k_methods)
        Error of each method (column) in each block (row); a block is one
        (dataset, replicate seed). Lower is better: rank 1 = lowest error.
    method_names : sequence of str, length k_methods
        Column names.
    alpha : float
        Significance level of the Nemenyi test and of ``cd``.

    Returns
    -------
    dict
        ``k``, ``N`` (blocks used), ``n_blocks_dropped`` (blocks with a
        non-finite score: dropped whole, counted, named in ``note``),
        ``methods``, ``mean_ranks`` {name: rank}, ``statistic`` and ``p``
        (:func:`scipy.stats.friedmanchisquare`, which applies the tie
        correction; Demšar's printed χ²_F omits it), ``alpha``, ``q_alpha``,
        ``cd`` (critical difference of mean ranks), ``nemenyi_p`` {a: {b: p}}
        (:func:`scikit_posthocs.posthoc_nemenyi_friedman`),
        ``significant_pairs`` ([a, b] with Nemenyi p < α, i.e. |R_a − R_b| > CD),
        ``note``. With k < 3 the test is not run ("Friedman needs ≥ 3
        methods"): statistic, p, cd and nemenyi_p are ``None``.

    Notes
    -----
    Nemenyi's post-hoc comparisons are meaningful only when the Friedman test
    rejects. Blocks that share a dataset are not independent draws of data
    sets: over (dataset × seed) blocks, the test speaks about these data sets.
    """
    s = np.asarray(scores, dtype=np.float64)
    names = [str(n) for n in method_names]
    if s.ndim != 2:
        raise ValueError(f"scores: expected shape (n_blocks, k_methods), got {s.shape}")
    if s.shape[1] != len(names):
        raise ValueError(f"method_names: expected {s.shape[1]} names (columns of scores), got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"method_names: names must be unique, got {names}")
    keep = np.all(np.isfinite(s), axis=1)
    s_ok = s[keep]
    n_blocks, k = int(s_ok.shape[0]), len(names)
    dropped = int(s.shape[0] - n_blocks)
    notes: list[str] = []
    if dropped:
        notes.append(f"{dropped} of {s.shape[0]} blocks dropped: a method had a non-finite score (diverged run)")
    out: dict[str, Any] = {
        "k": k, "N": n_blocks, "n_blocks_dropped": dropped, "methods": names,
        "mean_ranks": None, "statistic": None, "p": None, "alpha": float(alpha),
        "q_alpha": None, "cd": None, "nemenyi_p": None, "significant_pairs": [], "note": None,
    }
    if n_blocks >= 1 and k >= 1:
        out["mean_ranks"] = {n: float(r) for n, r in zip(names, mean_ranks(s_ok))}
    if k < 3:
        notes.append(f"Friedman needs ≥ 3 methods (got {k}); see the pairwise claims")
    elif n_blocks < 2:
        notes.append(f"Friedman needs ≥ 2 complete blocks (got {n_blocks})")
    else:
        import scikit_posthocs  # heavy (pandas, matplotlib): imported only when needed

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = st.friedmanchisquare(*s_ok.T)
        out["statistic"], out["p"] = finite_or_none(res.statistic), finite_or_none(res.pvalue)
        if out["statistic"] is None:
            notes.append("every block ties all methods: the statistic is undefined (no evidence of a difference)")
        out["q_alpha"] = nemenyi_critical_value(k, alpha)
        out["cd"] = critical_difference(k, n_blocks, alpha)
        frame = scikit_posthocs.posthoc_nemenyi_friedman(s_ok)
        p_matrix = frame.to_numpy(dtype=np.float64)
        out["nemenyi_p"] = {a: {b: float(p_matrix[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)}
        out["significant_pairs"] = [
            [names[i], names[j]] for i, j in itertools.combinations(range(k), 2) if p_matrix[i, j] < alpha
        ]
    out["note"] = "; ".join(notes) or None
    return out
