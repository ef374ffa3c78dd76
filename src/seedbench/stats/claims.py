"""Pairwise claims between methods over replicate seeds ("A has lower RMSE than B").

The claim rule of the GRACE recipe: "A beats B" only when the difference of
means exceeds ``2·√(SEM_A² + SEM_B²)``; otherwise "not distinguishable with
n seeds". Every metric is an error: lower is better.

References
----------
Agarwal, R. et al. (2021). Deep reinforcement learning at the edge of the
statistical precipice. NeurIPS. (rliable: probability of improvement.)
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.stats as st
from numpy.typing import ArrayLike

from seedbench.stats.bootstrap import _as_1d, finite_or_none
from seedbench.stats.metrics import METRIC_LABELS

CLAIM_SEM_FACTOR = 2.0
"""The ``2`` of the claim rule ``|Δ| > 2·√(SEM_A² + SEM_B²)``."""



def probability_of_improvement(errors_a: ArrayLike, errors_b: ArrayLike) -> float | None:
    """P(A < B): chance that a random seed of A has a lower error than a random seed of B.

    ``(1/(n_a·n_b)) Σ_i Σ_j ([a_i < b_j] + ½[a_i = b_j])`` over all seed pairs:
    the Mann-Whitney U statistic of (b, a) scaled to [0, 1], as rliable's
    ``probability_of_improvement`` (Agarwal et al., 2021) for one task, with
    the inequality flipped because lower error is better. Non-finite values are
    dropped; ``None`` when a side has no finite value.
    """
    a = _as_1d(errors_a, "errors_a")
    b = _as_1d(errors_b, "errors_b")
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return None
    less = np.less.outer(a, b).sum()
    ties = np.equal.outer(a, b).sum()
    return float((less + 0.5 * ties) / (a.size * b.size))


def seeds_needed(std_a: float, std_b: float, difference: float, *, power: float = 0.8) -> int | None:
    """Seeds per method for the 2·SEM rule to detect ``difference`` with probability ``power``.

    With n seeds per method, the difference of means D has standard error
    ``SE = √((s_A² + s_B²)/n)``; the rule claims when ``|D| > 2·SE``. For a true
    difference δ and normal D, ``P(claim) ≈ Φ(δ/SE − 2)``, so

        n = ⌈ (2 + z_power)² · (s_A² + s_B²) / δ² ⌉,   z_power = Φ⁻¹(power)

    (≈ 8.07·(s_A² + s_B²)/δ² for 80%). It takes the observed stds and the
    observed difference as if true — a rough planning figure, not a guarantee.
    ``None`` when δ = 0 (no finite number of seeds separates equal means).
    """
    delta = abs(float(difference))
    var = float(std_a) ** 2 + float(std_b) ** 2
    if not (math.isfinite(delta) and math.isfinite(var)) or delta == 0.0:
        return None
    z = float(st.norm.ppf(power))
    return max(2, math.ceil((CLAIM_SEM_FACTOR + z) ** 2 * var / delta**2))


def _fmt_pm(value: float, err: float) -> str:
    """``value ± err`` rounded to the precision of ``err`` (one significant digit, at least)."""
    if err > 0 and math.isfinite(err):
        decimals = max(0, 1 - math.floor(math.log10(err)))
    else:
        decimals = 2
    return f"{value:.{decimals}f} ± {err:.{decimals}f}"


def _seeds_phrase(n_a: int, n_b: int) -> str:
    return f"{n_a} seeds" if n_a == n_b else f"{n_a} and {n_b} seeds"


def _wilcoxon(a: np.ndarray, b: np.ndarray, alpha: float) -> tuple[float | None, int, str | None]:
    """Wilcoxon signed-rank p of A vs B paired by seed index (pairs with a non-finite side dropped)."""
    if a.size != b.size:
        return None, 0, f"not paired: {a.size} vs {b.size} seeds"
    both = np.isfinite(a) & np.isfinite(b)
    d = a[both] - b[both]
    n_pairs = int(d.size)
    nonzero = int(np.count_nonzero(d))
    if n_pairs == 0:
        return None, 0, "no seed with a finite value on both sides"
    if nonzero == 0:
        return None, n_pairs, "all paired differences are zero"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(st.wilcoxon(a[both], b[both]).pvalue)
    note = None
    min_p = 2.0 ** (1 - nonzero)
    if min_p >= alpha:
        note = f"with {nonzero} non-zero pairs the smallest attainable two-sided p is {min_p:.3g} (≥ α = {alpha})"
    return finite_or_none(p), n_pairs, note


def _claim(
    name_a: str, a: np.ndarray, name_b: str, b: np.ndarray, *,
    dataset: str | None, metric: str, alpha: float, power: float,
) -> dict[str, Any]:
    label = METRIC_LABELS.get(metric, metric)
    where = f" on {dataset}" if dataset is not None else ""
    fa, fb = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    n_a, n_b = int(fa.size), int(fb.size)
    out: dict[str, Any] = {
        "dataset": dataset, "metric": metric, "method_a": name_a, "method_b": name_b,
        "n_a": n_a, "n_b": n_b, "n_nan_a": int(a.size - n_a), "n_nan_b": int(b.size - n_b),
        "mean_a": finite_or_none(np.mean(fa)) if n_a else None, "mean_b": finite_or_none(np.mean(fb)) if n_b else None,
        "sem_a": None, "sem_b": None, "difference": None, "se_difference": None, "threshold": None,
        "verdict": "no claim", "better": None, "wilcoxon_p": None, "wilcoxon_n_pairs": 0, "wilcoxon_note": None,
        "prob_improvement": probability_of_improvement(a, b), "seeds_needed": None, "power_at_n": None,
        "statement": "",
    }
    out["wilcoxon_p"], out["wilcoxon_n_pairs"], out["wilcoxon_note"] = _wilcoxon(a, b, alpha)
    if n_a < 2 or n_b < 2:
        out["statement"] = (
            f"no claim for {name_a} vs {name_b}{where}: the rule needs ≥ 2 finite seeds per method "
            f"(have {n_a} and {n_b})"
        )
        return out
    s_a, s_b = float(np.std(fa, ddof=1)), float(np.std(fb, ddof=1))
    sem_a, sem_b = s_a / math.sqrt(n_a), s_b / math.sqrt(n_b)
    diff = float(np.mean(fa) - np.mean(fb))
    se = math.sqrt(sem_a**2 + sem_b**2)
    threshold = CLAIM_SEM_FACTOR * se
    out.update(sem_a=sem_a, sem_b=sem_b, difference=diff, se_difference=se, threshold=threshold)
    seeds = _seeds_phrase(n_a, n_b)
    pm = _fmt_pm(abs(diff), se)
    if abs(diff) > threshold:
        winner, loser = (name_a, name_b) if diff < 0 else (name_b, name_a)
        out["verdict"] = "A better" if diff < 0 else "B better"
        out["better"] = winner
        out["statement"] = f"{winner} has lower {label} than {loser}{where} (Δ = {pm}, {seeds})"
    else:
        out["verdict"] = "not distinguishable"
        if se > 0:
            out["power_at_n"] = float(st.norm.cdf(abs(diff) / se - CLAIM_SEM_FACTOR))
        need = seeds_needed(s_a, s_b, diff, power=power)
        out["seeds_needed"] = need
        if need is None:
            tail = "no observed difference"
        else:
            tail = f"about {need} seeds per method would give {power:.0%} power for this difference"
        out["statement"] = f"{name_a} and {name_b} are not distinguishable with {seeds}{where} ({label} Δ = {pm}; {tail})"
    return out


def pairwise_claims(
    values_by_method: Mapping[str, ArrayLike],
    *,
    dataset: str | None = None,
    metric: str = "rmse",
    alpha: float = 0.05,
    power: float = 0.8,
) -> list[dict[str, Any]]:
    """Claims for every pair of methods on one dataset and metric, by the 2·SEM rule.

    Parameters
    ----------
    values_by_method : mapping name -> array_like, shape (n_seeds,)
        One error value per replicate seed; index i is the same replicate for
        every method (paired blocks). Non-finite values (diverged runs) are
        dropped per method and counted.
    dataset, metric : str
        Only used to label the claims and the statements.
    alpha : float
        Level quoted with the Wilcoxon test (the rule itself has no α).
    power : float
        Target power of the seeds-needed estimate (see :func:`seeds_needed`).

    Returns
    -------
    list of dict, one per pair (A, B) in the order of ``values_by_method``
        ``difference`` = mean_A − mean_B (negative: A has the lower error),
        ``se_difference`` = √(SEM_A² + SEM_B²), ``threshold`` = 2·se_difference,
        ``verdict`` "A better" | "B better" | "not distinguishable" | "no claim"
        (n < 2 on a side), ``better`` (name or None), ``wilcoxon_p`` (paired
        by seed, :func:`scipy.stats.wilcoxon`; ``None`` with ``wilcoxon_note``
        saying why), ``prob_improvement`` = P(A < B), and for undistinguishable
        pairs ``seeds_needed`` and ``power_at_n``; ``statement`` in plain words.
    """
    arrays = {str(k): _as_1d(v, f"values_by_method[{k!r}]") for k, v in values_by_method.items()}
    return [
        _claim(a, arrays[a], b, arrays[b], dataset=dataset, metric=metric, alpha=alpha, power=power)
        for a, b in itertools.combinations(arrays, 2)
    ]

