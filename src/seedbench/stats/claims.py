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
from seedbench.stats.twosample import holm_adjust

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


def _paired_t(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided paired t-test p of A vs B by seed index (pairs with a non-finite side dropped; n−1 df).

    Unlike Wilcoxon (smallest p 2^(1−n) = 0.0625 at 5 pairs), it can reach any
    level at 5 seeds, at the price of assuming roughly normal paired differences.
    """
    if a.size != b.size:
        return None
    both = np.isfinite(a) & np.isfinite(b)
    d = a[both] - b[both]
    if d.size < 2:
        return None
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:
        return 1.0 if float(np.mean(d)) == 0.0 else 0.0
    t_stat = float(np.mean(d)) / (sd / math.sqrt(d.size))
    return float(2.0 * st.t.sf(abs(t_stat), d.size - 1))


def seeds_needed_paired(sd_difference: float, difference: float, *, alpha: float, power: float = 0.8) -> int | None:
    """Seeds per method for a two-sided paired test at level ``alpha`` to detect ``difference`` with ``power``.

    ``n = ⌈((z_{1−α/2} + z_power)·s_d/δ)²⌉ + 1`` (normal approximation plus one
    seed for the t's heavier tails), ``s_d`` the std of the per-seed
    differences, in the metric's units. ``None`` when δ = 0 or s_d is undefined.
    """
    delta = abs(float(difference))
    if not (math.isfinite(delta) and math.isfinite(sd_difference)) or delta == 0.0:
        return None
    z = float(st.norm.ppf(1.0 - alpha / 2.0) + st.norm.ppf(power))
    return max(2, math.ceil((z * sd_difference / delta) ** 2) + 1)


def seeds_needed_range(
    sd_difference: float, diff_low: float, diff_high: float, *, alpha: float, power: float = 0.8
) -> tuple[int | None, int | None]:
    """``(floor, ceiling)`` of :func:`seeds_needed_paired` over the differences an interval allows.

    The plug-in figure at the observed difference is dominated by noise at 5
    seeds; over ``[diff_low, diff_high]`` it ranges from the seeds the largest
    plausible |difference| needs (the floor) to those the smallest needs (the
    ceiling: ``None`` when the interval holds 0, i.e. no number of seeds is
    guaranteed to separate the methods).
    """
    floor = seeds_needed_paired(sd_difference, max(abs(diff_low), abs(diff_high)), alpha=alpha, power=power)
    if diff_low <= 0.0 <= diff_high:
        return floor, None
    return floor, seeds_needed_paired(sd_difference, min(abs(diff_low), abs(diff_high)), alpha=alpha, power=power)


def _claim(
    name_a: str, a: np.ndarray, name_b: str, b: np.ndarray, *,
    dataset: str | None, metric: str, alpha: float, power: float, confidence: float,
) -> dict[str, Any]:
    """The numbers of one pair (no verdict yet: :func:`correct_claims` decides, over the family)."""
    fa, fb = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    n_a, n_b = int(fa.size), int(fb.size)
    out: dict[str, Any] = {
        "dataset": dataset, "metric": metric, "method_a": name_a, "method_b": name_b,
        "n_a": n_a, "n_b": n_b, "n_nan_a": int(a.size - n_a), "n_nan_b": int(b.size - n_b),
        "mean_a": finite_or_none(np.mean(fa)) if n_a else None, "mean_b": finite_or_none(np.mean(fb)) if n_b else None,
        "sem_a": None, "sem_b": None, "difference": None, "se_difference": None, "pm": "SE of the difference",
        "difference_ci": None, "sd_difference": None, "threshold": None, "seed_rule_verdict": "no claim", "paired_t_p": _paired_t(a, b),
        "p_holm": None, "family_size": None, "alpha": float(alpha), "supported": False,
        "verdict": "no claim", "better": None, "wilcoxon_p": None, "wilcoxon_n_pairs": 0, "wilcoxon_note": None,
        "prob_improvement": probability_of_improvement(a, b), "seeds_needed": None, "seeds_needed_range": None,
        "power_at_n": None, "omnibus_p": None, "omnibus_rejects": None, "statement": "",
    }
    out["wilcoxon_p"], out["wilcoxon_n_pairs"], out["wilcoxon_note"] = _wilcoxon(a, b, alpha)
    if n_a < 2 or n_b < 2:
        return out
    s_a, s_b = float(np.std(fa, ddof=1)), float(np.std(fb, ddof=1))
    sem_a, sem_b = s_a / math.sqrt(n_a), s_b / math.sqrt(n_b)
    diff = float(np.mean(fa) - np.mean(fb))
    se = math.sqrt(sem_a**2 + sem_b**2)
    threshold = CLAIM_SEM_FACTOR * se
    out.update(sem_a=sem_a, sem_b=sem_b, difference=diff, se_difference=se, threshold=threshold)
    if abs(diff) > threshold:
        out["seed_rule_verdict"] = "A better" if diff < 0 else "B better"
    else:
        out["seed_rule_verdict"] = "not distinguishable"
    if se > 0:
        out["power_at_n"] = float(st.norm.cdf(abs(diff) / se - CLAIM_SEM_FACTOR))
    both = np.isfinite(a) & np.isfinite(b) if a.size == b.size else np.zeros(0, dtype=bool)
    d = a[both] - b[both] if a.size == b.size else np.zeros(0)
    if d.size >= 2 and float(np.std(d, ddof=1)) > 0.0:
        sd_d = float(np.std(d, ddof=1))
        half = float(st.t.ppf(0.5 + confidence / 2.0, d.size - 1)) * sd_d / math.sqrt(d.size)
        out["sd_difference"] = sd_d
        out["difference_ci"] = [float(np.mean(d)) - half, float(np.mean(d)) + half]
    out["seeds_needed"] = seeds_needed(s_a, s_b, diff, power=power)
    return out


def _need_phrase(claim: Mapping[str, Any], power: float) -> str:
    rng = claim["seeds_needed_range"]
    if not rng or rng[0] is None:
        return "no observed difference"
    floor, ceiling = rng
    if ceiling is None:
        return (f"≥ {floor} seeds per method for {power:.0%} power at this Holm level, and no upper bound: "
                "a zero difference is inside the paired difference's interval")
    return f"{floor}–{ceiling} seeds per method for {power:.0%} power at this Holm level"


def _statement(c: Mapping[str, Any], power: float) -> str:
    """The claim in plain words, every ± labelled, the seed's rule and the omnibus beside the verdict."""
    label = METRIC_LABELS.get(c["metric"], c["metric"])
    where = f" on {c['dataset']}" if c["dataset"] is not None else ""
    a, b = c["method_a"], c["method_b"]
    seeds = _seeds_phrase(c["n_a"], c["n_b"])
    if c["verdict"] == "no claim":
        return f"no claim for {a} vs {b}{where}: a claim needs ≥ 2 finite seeds per method (have {c['n_a']} and {c['n_b']})"
    pm = _fmt_pm(abs(c["difference"]), c["se_difference"]) + " (± = SE of the difference)"
    test = "paired t p undefined" if c["paired_t_p"] is None else (
        f"paired t p = {c['paired_t_p']:.2g}, Holm p = {c['p_holm']:.2g} over {c['family_size']} claims")
    if c["supported"]:
        winner, loser = (a, b) if c["difference"] < 0 else (b, a)
        text = f"{winner} has lower {label} than {loser}{where} (Δ = {pm}, {seeds}; {test})"
        if c["omnibus_rejects"] is False:
            text += f" — but Friedman does not reject on {c['dataset']}: read this pair as exploratory"
        return text
    rule = c["seed_rule_verdict"]
    seed_rule = "also not distinguishable" if rule == "not distinguishable" else (
        f"would claim {a if rule == 'A better' else b} better")
    return (f"{a} and {b} are not distinguishable with {seeds}{where} ({label} Δ = {pm}; {test}; "
            f"the seed's 2·SEM rule {seed_rule}; {_need_phrase(c, power)})")


def correct_claims(
    claims: list[dict[str, Any]], *, alpha: float = 0.05, power: float = 0.8,
    omnibus_p: Mapping[tuple[str | None, str], float | None] | None = None,
) -> list[dict[str, Any]]:
    """Holm over each dataset's claims (every pair × metric), then verdicts and statements; in place, returned.

    A claim is supported ("A better"/"B better") only when its paired t p
    survives Holm at ``alpha`` among the claims of its dataset; the seed's
    2·SEM rule stays in ``seed_rule_verdict``. ``omnibus_p[(dataset, metric)]``
    (Friedman p) flags pairwise claims made where the omnibus test does not reject.
    """
    for dataset in dict.fromkeys(c["dataset"] for c in claims):
        family = [c for c in claims if c["dataset"] == dataset and c["paired_t_p"] is not None and c["difference"] is not None]
        for c, p in zip(family, holm_adjust([c["paired_t_p"] for c in family])):
            c["p_holm"], c["family_size"] = float(p), len(family)
    for c in claims:
        fp = (omnibus_p or {}).get((c["dataset"], c["metric"]))
        c["omnibus_p"] = fp
        if c["difference_ci"] is not None:  # planned for Holm's first step over this family
            level = alpha / (c["family_size"] or 1)
            c["seeds_needed_range"] = list(seeds_needed_range(c["sd_difference"], *c["difference_ci"], alpha=level, power=power))
        c["omnibus_rejects"] = None if fp is None else bool(fp < alpha)
        if c["difference"] is None:
            c["verdict"], c["supported"] = "no claim", False
        elif c["p_holm"] is not None and c["p_holm"] <= alpha and c["difference"] != 0.0:
            c["supported"] = True
            c["verdict"] = "A better" if c["difference"] < 0 else "B better"
        else:
            c["verdict"], c["supported"] = "not distinguishable", False
        c["better"] = None if not c["supported"] else (c["method_a"] if c["difference"] < 0 else c["method_b"])
        c["statement"] = _statement(c, power)
    return claims


def pairwise_claims(
    values_by_method: Mapping[str, ArrayLike],
    *,
    dataset: str | None = None,
    metric: str = "rmse",
    alpha: float = 0.05,
    power: float = 0.8,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """Claims for every pair of methods on one dataset and metric, Holm-corrected over these pairs.

    Parameters
    ----------
    values_by_method : mapping name -> array_like, shape (n_seeds,)
        One error value per replicate seed; index i is the same replicate for
        every method (paired blocks). Non-finite values (diverged runs) are
        dropped per method and counted.
    dataset, metric : str
        Only used to label the claims and the statements.
    alpha : float
        Familywise level of the supported claims (Holm over the pairs; the
        aggregate re-corrects over every metric of a dataset with :func:`correct_claims`).
    power : float
        Target power of the seeds-needed figures (see :func:`seeds_needed`).
    confidence : float
        Level of ``difference_ci``, the interval ``seeds_needed_range`` spans.

    Returns
    -------
    list of dict, one per pair (A, B) in the order of ``values_by_method``
        ``difference`` = mean_A − mean_B (negative: A has the lower error),
        ``se_difference`` = √(SEM_A² + SEM_B²) (the "±" of statements, named in
        ``pm``), ``difference_ci`` (Welch t interval), ``paired_t_p``,
        ``p_holm``, ``family_size``, ``supported``, ``verdict`` "A better" |
        "B better" | "not distinguishable" | "no claim" (n < 2 on a side),
        ``better``, ``seed_rule_verdict`` (the seed's rule ``|Δ| > threshold``
        = 2·se_difference), ``wilcoxon_p`` (paired by seed, with
        ``wilcoxon_note`` saying when 5 pairs cannot reach α),
        ``prob_improvement`` = P(A < B), ``seeds_needed`` (plug-in, for
        reference) and ``seeds_needed_range`` [floor, ceiling or None],
        ``power_at_n``, ``omnibus_p``/``omnibus_rejects``; ``statement``.
    """
    arrays = {str(k): _as_1d(v, f"values_by_method[{k!r}]") for k, v in values_by_method.items()}
    claims = [
        _claim(a, arrays[a], b, arrays[b], dataset=dataset, metric=metric, alpha=alpha, power=power,
               confidence=confidence)
        for a, b in itertools.combinations(arrays, 2)
    ]
    return correct_claims(claims, alpha=alpha, power=power)


def attainable_min_p(n_seeds: int, n_methods: int) -> dict[str, float]:
    """Smallest two-sided p each test can give with ``n_seeds`` paired seeds (what the budget can show).

    ``wilcoxon``: exact signed-rank, ``2^(1−n)`` (0.0625 at n = 5: never below
    α = 0.05); ``sign``: the same bound; ``friedman``: χ² at its maximum
    ``n(k−1)`` with k−1 df (scipy's asymptotic p); ``paired_t`` and ``welch``:
    0 (continuous: any level, assuming normal differences).
    """
    out = {"wilcoxon": 2.0 ** (1 - n_seeds) if n_seeds >= 1 else 1.0, "sign": 2.0 ** (1 - n_seeds) if n_seeds >= 1 else 1.0,
           "paired_t": 0.0, "welch": 0.0}
    out["friedman"] = float(st.chi2.sf(n_seeds * (n_methods - 1), n_methods - 1)) if n_methods >= 3 and n_seeds >= 2 else 1.0
    return out
