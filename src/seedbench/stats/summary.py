"""Statistics over replicate seeds: summaries, bootstrap intervals, Friedman/Nemenyi, claims, levels.

Pure, array-in/dict-out functions in the style of rliable (Agarwal et al., 2021):
each documents the shapes it takes, does no I/O, and takes randomness only as
an explicit :class:`numpy.random.Generator` built by :mod:`seedbench.determinism.seeding`.
Returned dicts are JSON-ready: plain ``int``/``float``/``str``, and ``None``
wherever a quantity is undefined (one seed has no SEM, a diverged run has no
interval); they never hold NaN. Bootstrap intervals (BCa) come from
:mod:`seedbench.stats.bootstrap`, which is numpy-only so that the per-run evaluate
stage never imports scipy; the per-run interval
(``bootstrap_interval_over_units``) lives there.

Conventions
-----------
* Every metric is an error (RMSE, MAE, NASA score): **lower is better**, and
  rank 1 is the best method.
* A non-finite value (NaN or ±inf: a diverged run) is *counted* (``n_nan``) and
  reported in notes; statistics are computed over the finite values only.
* The claim rule of the GRACE recipe: "A beats B" only when the difference of
  means exceeds ``2·√(SEM_A² + SEM_B²)``; otherwise "not distinguishable with
  n seeds".

References
----------
Demšar, J. (2006). Statistical comparisons of classifiers over multiple data
sets. JMLR 7, 1–30. (Friedman test, Nemenyi critical difference.)
Efron, B. (1987). Better bootstrap confidence intervals. JASA 82, 171–185. (BCa.)
Agarwal, R. et al. (2021). Deep reinforcement learning at the edge of the
statistical precipice. NeurIPS. (rliable: probability of improvement.)
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats as st
from numpy.typing import ArrayLike

from seedbench.core import seeds
from seedbench.core.errors import DataFormatError
from seedbench.core.names import RunKey
from seedbench.stats.bootstrap import (
    DEFAULT_N_RESAMPLES,
    _as_1d,
    _bootstrap_interval,
    _check_confidence,
    _mean_statistic,
    finite_or_none,
)
from seedbench.stats.metrics import METRIC_LABELS, METRIC_NAMES

CLAIM_SEM_FACTOR = 2.0
"""The ``2`` of the claim rule ``|Δ| > 2·√(SEM_A² + SEM_B²)``."""


# --------------------------------------------------------------------------- helpers


def json_safe(obj: Any) -> Any:
    """Copy of ``obj`` (dicts, lists, tuples, scalars) with every non-finite float replaced by ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj)
    return obj


# --------------------------------------------------------------------------- one cell


def describe_over_seeds(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Summary of one metric of one (dataset, method) cell over replicate seeds.

    Parameters
    ----------
    values : array_like, shape (n_seeds,)
        One value per replicate seed (e.g. test RMSE in cycles). NaN/±inf marks
        a diverged run: counted in ``n_nan``, excluded from the statistics, and
        named in ``note``.
    confidence : float
        Level of both intervals, in (0, 1).
    n_resamples : int
        Bootstrap resamples (one :func:`seedbench.stats.bootstrap.bca_interval` call).
    rng : numpy.random.Generator
        The cell's bootstrap stream, e.g.
        ``seeds.generator(bootstrap_seed, "bootstrap", dataset, method, metric)``.

    Returns
    -------
    dict
        ``n`` (finite values), ``n_nan``, ``mean``, ``std`` (ddof=1), ``sem``
        (``std/√n``), ``t_low``/``t_high`` (Student t interval, n−1 df),
        ``ci_low``/``ci_high`` (bootstrap interval of the mean), ``ci_method``
        (``"BCa"`` or ``"percentile (BCa degenerate: …)"``), ``confidence``,
        ``n_resamples``, ``note`` (``None`` or why something is missing). With
        ``n == 1`` there is no std/SEM/interval (``None``), never a division by
        zero.

    Notes
    -----
    The values are sorted before anything is computed, so the result is a
    function of the multiset of values: permuting (or relabelling) seeds changes
    nothing, bit for bit. With few seeds (n ≲ 10) bootstrap intervals are too
    narrow (the bootstrap cannot see beyond the observed values); the t interval
    is the more honest one there, which is why both are reported.
    """
    _check_confidence(confidence)
    x = _as_1d(values, "values")
    finite = np.isfinite(x)
    xs = np.sort(x[finite])
    n, n_nan = int(xs.size), int(x.size - xs.size)
    notes: list[str] = []
    if n_nan:
        notes.append(f"{n_nan} of {x.size} runs non-finite (NaN/inf: diverged); statistics over the {n} finite runs")
    out: dict[str, Any] = {
        "n": n, "n_nan": n_nan, "mean": None, "std": None, "sem": None,
        "t_low": None, "t_high": None, "ci_low": None, "ci_high": None, "ci_method": None,
        "confidence": float(confidence), "n_resamples": int(n_resamples), "note": None,
    }
    if n == 0:
        notes.append("no finite value: nothing to summarise")
    else:
        out["mean"] = finite_or_none(np.mean(xs))
    if n == 1:
        notes.append("1 finite seed: no std, SEM or interval (they need >= 2 seeds)")
    if n >= 2:
        std = float(np.std(xs, ddof=1))
        sem = std / math.sqrt(n)
        half = float(st.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * sem
        mean = float(np.mean(xs))
        low, high, method = _bootstrap_interval(
            xs, _mean_statistic, confidence=confidence, n_resamples=n_resamples, rng=rng
        )
        out.update(
            std=finite_or_none(std), sem=finite_or_none(sem), t_low=finite_or_none(mean - half), t_high=finite_or_none(mean + half),
            ci_low=finite_or_none(low), ci_high=finite_or_none(high), ci_method=method,
        )
    out["note"] = "; ".join(notes) or None
    return out


# --------------------------------------------------------------------------- Friedman / Nemenyi


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


# --------------------------------------------------------------------------- pairwise claims


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


# --------------------------------------------------------------------------- results.json records




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


# --------------------------------------------------------------------------- aggregate


def _decimals(ref: float) -> int:
    a = abs(ref)
    return 0 if a >= 1000 else 1 if a >= 100 else 2


def _fmt(x: float | None, ref: float | None = None) -> str:
    """Table number: 2 decimals below 100, 1 below 1000, else 0 (precision taken from ``ref`` if given)."""
    if x is None:
        return "—"
    return f"{x:.{_decimals(x if ref is None else ref)}f}"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "p undefined"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


SUMMARY_STATS: tuple[str, ...] = ("mean", "std", "sem", "n", "n_nan")
"""Statistics per cell that go into ``reports/summary.json`` (the DVC metrics)."""


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
        """Flat metrics for ``reports/summary.json`` (DVC metrics; ``None`` instead of NaN).

        Keys ``<dataset>.<method>.<metric>.<stat>`` with stat in :data:`SUMMARY_STATS`
        (kept short so ``dvc exp show`` stays readable; intervals and NaN counts
        are in :meth:`detail`), and ``friedman.<metric>.{statistic,p,cd,N,k}`` with
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

    def _friedman_line(self, fr: Mapping[str, Any], blocks: str) -> str:
        label = METRIC_LABELS.get(self.rank_metric, self.rank_metric)
        ranks = fr["mean_ranks"] or {}
        rank_text = ", ".join(f"{m} {r:.2f}" for m, r in sorted(ranks.items(), key=lambda kv: (kv[1], kv[0])))
        if fr["cd"] is None:
            text = f"Friedman ({label}, {blocks}): not run — {fr['note']}."
            return text + (f" Mean ranks: {rank_text}." if rank_text else "")
        stat = "undefined" if fr["statistic"] is None else f"{fr['statistic']:.2f}"
        pairs = ", ".join(f"{a}–{b}" for a, b in fr["significant_pairs"]) or "none"
        text = (
            f"Friedman ({label}, {blocks}, k = {fr['k']}): χ² = {stat}, {_fmt_p(fr['p'])}. "
            f"Mean ranks (1 = best): {rank_text}. Nemenyi CD = {fr['cd']:.2f} (α = {fr['alpha']:g}); "
            f"pairs further apart than CD: {pairs}."
        )
        if fr["p"] is not None and fr["p"] >= fr["alpha"]:
            text += " (Friedman does not reject: post-hoc differences are not evidence.)"
        if fr["n_blocks_dropped"]:
            text += f" {fr['note']}."
        return text

    def markdown(self) -> str:
        """``reports/summary.md``: per dataset a table, the Friedman line and the claims in plain words."""
        conf = f"{self.confidence:.0%}"
        n_seeds = sorted({len(r) for r in self.replicates.values()})
        lines = [
            "# Results over replicate seeds",
            "",
            f"{len(self.datasets)} dataset(s) × {len(self.methods)} method(s) × "
            f"{'/'.join(str(n) for n in n_seeds)} replicate seed(s). Every metric is an error: lower is better. "
            f"Intervals: {conf}, t (n−1 df) and bootstrap ({self.n_resamples} resamples, BCa unless noted; "
            f"too narrow for few seeds). Claim rule: A beats B only when |Δ| > 2·√(SEM_A² + SEM_B²).",
            "",
        ]
        notes: list[str] = []
        for d in self.datasets:
            lines += [f"## {d}", ""]
            lines.append(
                f"| method | n seeds | RMSE mean ± std | SEM | {conf} CI (t) | {conf} CI (BCa) "
                "| MAE mean ± std | NASA score mean ± std |"
            )
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            for m in self.methods:
                c = {metric: self.cells[(d, m, metric)] for metric in self.metrics}
                r = c["rmse"]
                n_text = str(r["n"]) + (f" (+{r['n_nan']} NaN)" if r["n_nan"] else "")
                cells = [
                    m, n_text, _mean_std(r), _fmt(r["sem"]),
                    _interval(r["t_low"], r["t_high"]), _interval(r["ci_low"], r["ci_high"]),
                    _mean_std(c["mae"]), _mean_std(c["nasa_score"]),
                ]
                lines.append("| " + " | ".join(cells) + " |")
                for metric, cell in c.items():
                    for text in (cell["note"], cell["ci_method"] if cell["ci_method"] not in (None, "BCa") else None):
                        if text:
                            notes.append(f"{d} / {m} / {metric}: {text}")
            lines += ["", self._friedman_line(self.friedman_by_dataset[d], f"blocks = {len(self.replicates[d])} seeds"), ""]
            label = METRIC_LABELS.get(self.rank_metric, self.rank_metric)
            lines.append(f"Claims ({label}; MAE and NASA score claims are in claims.json):")
            lines.append("")
            own = [c for c in self.claim_list if c["dataset"] == d and c["metric"] == self.rank_metric]
            order = {"A better": 0, "B better": 0, "not distinguishable": 1, "no claim": 2}
            for claim in sorted(own, key=lambda c: order[c["verdict"]]):
                extra = []
                if claim["wilcoxon_p"] is not None:
                    extra.append(f"Wilcoxon {_fmt_p(claim['wilcoxon_p'])}")
                if claim["prob_improvement"] is not None:
                    extra.append(f"P({claim['method_a']} < {claim['method_b']}) = {claim['prob_improvement']:.2f}")
                lines.append(f"- {claim['statement']}" + (f" [{'; '.join(extra)}]" if extra else ""))
            lines.append("")
        lines += ["## All datasets", ""]
        n_blocks = sum(len(r) for r in self.replicates.values())
        lines.append(self._friedman_line(self.friedman, f"blocks = dataset × seed, {n_blocks} blocks"))
        lines += [
            "",
            "Blocks that share a dataset are repeated runs, not independent data sets: the test speaks about "
            "these data sets only.",
            "",
        ]
        if notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
        return "\n".join(lines)


def _mean_std(cell: Mapping[str, Any]) -> str:
    if cell["mean"] is None:
        return "—"
    if cell["std"] is None:
        return f"{_fmt(cell['mean'])} (1 seed)"
    return f"{_fmt(cell['mean'])} ± {_fmt(cell['std'], cell['mean'])}"


def _interval(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{_fmt(low, high)}, {_fmt(high)}]"


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
    claims = [
        claim
        for d in ds
        for metric in METRIC_NAMES
        for claim in pairwise_claims(
            {m: values[(d, m, metric)] for m in ms}, dataset=d, metric=metric, alpha=alpha
        )
    ]
    return Aggregate(
        datasets=ds, methods=ms, replicates=replicates, values=values, cells=cells,
        friedman=overall, friedman_by_dataset=by_dataset, claim_list=tuple(claims),
        confidence=float(confidence), n_resamples=int(n_resamples), bootstrap_seed=int(bootstrap_seed),
        alpha=float(alpha), rank_metric=rank_metric,
    )
