"""``reports/summary.md``: an :class:`~seedbench.stats.aggregate.Aggregate` in plain words and tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seedbench.stats.aggregate import Aggregate
from seedbench.stats.claims import attainable_min_p
from seedbench.stats.metrics import METRIC_LABELS


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



def _friedman_line(fr: Mapping[str, Any], blocks: str, rank_metric: str) -> str:
    """One sentence: the Friedman test, mean ranks, Nemenyi CD and which pairs it separates."""
    label = METRIC_LABELS.get(rank_metric, rank_metric)
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

def _budget_lines(agg: Aggregate) -> list[str]:
    """What this seed budget can and cannot make significant (smallest attainable p of each test)."""
    n = min(len(r) for r in agg.replicates.values())
    k = len(agg.methods)
    family = len(agg.metrics) * k * (k - 1) // 2
    low = attainable_min_p(n, k)
    holm_first = agg.alpha / max(1, family)
    lines = [f"What {n} seed(s) per method can show (smallest two-sided p each test can give):", ""]
    verdict = "can" if low["wilcoxon"] <= holm_first else "cannot"
    lines.append(f"- Wilcoxon signed-rank and sign test: {low['wilcoxon']:.3g} — {verdict} be significant "
                 f"(the first Holm step needs p ≤ {holm_first:.2g} over {family} claims); reported, not decisive.")
    if k >= 3 and n >= 2:
        verdict = "can" if low["friedman"] < agg.alpha else "cannot"
        lines.append(f"- Friedman over {k} methods: {low['friedman']:.2g} (every seed ranking the methods alike) — "
                     f"{verdict} reject at α = {agg.alpha:g}.")
    if n >= 2:
        lines.append("- Paired t (claims) and Welch (`seedbench compare --level distribution`): any level, "
                     "assuming roughly normal differences between seeds.")
    return lines


def _mc_lines(agg: Aggregate) -> list[str]:
    """One sentence: the largest Monte-Carlo error of a BCa endpoint (share of its interval's width), and where."""
    shares = [((cell.get("ci_mc") or {}).get("mc_error_of_width"), key) for key, cell in agg.cells.items()]
    shares = [(v, key) for v, key in shares if v is not None]
    if not shares:
        return []
    worst, (d, m, metric) = max(shares)
    flagged = sum(1 for cell in agg.cells.values() if (cell.get("ci_mc") or {}).get("warning"))
    return [
        f"Bootstrap Monte-Carlo error ({agg.n_resamples} resamples): a BCa endpoint moves by up to {worst:.1%} of its "
        f"interval's width between random streams ({d} / {m} / {metric}); {flagged} of {len(agg.cells)} cells have "
        f"an endpoint above 1% of the width or an adjusted level within a few resamples of the end (listed in Notes; "
        f"`ci_mc` in statistics.json).",
        "",
    ]


def summary_markdown(agg: Aggregate) -> str:
    """``reports/summary.md``: per dataset a table, the Friedman line and the claims in plain words."""
    conf = f"{agg.confidence:.0%}"
    n_seeds = sorted({len(r) for r in agg.replicates.values()})
    lines = [
        "# Results over replicate seeds",
        "",
        f"{len(agg.datasets)} dataset(s) × {len(agg.methods)} method(s) × "
        f"{'/'.join(str(n) for n in n_seeds)} replicate seed(s). Every metric is an error: lower is better. "
        f"Intervals: {conf}, t (n−1 df) and bootstrap ({agg.n_resamples} resamples, BCa unless noted; "
        f"too narrow for few seeds). \"±\" in tables is the std over seeds; in claims it is the standard "
        f"error of the difference of means, √(SEM_A² + SEM_B²).",
        "",
        f"A claim \"A has lower error than B\" is supported only when its paired t-test (by seed) survives Holm's "
        f"correction at α = {agg.alpha:g} over all claims of its dataset (every pair × {len(agg.metrics)} metrics). "
        f"The seed recipe's rule (|Δ| > 2·√(SEM_A² + SEM_B²), about 8% false claims per pair of equal methods at "
        f"5 seeds) is reported beside each claim, not used.",
        "",
    ] + _budget_lines(agg) + [""] + _mc_lines(agg)
    notes: list[str] = []
    for d in agg.datasets:
        lines += [f"## {d}", ""]
        lines.append(
            f"| method | n seeds | RMSE mean ± std | SEM | {conf} CI (t) | {conf} CI (BCa) "
            "| MAE mean ± std | NASA score mean ± std |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for m in agg.methods:
            c = {metric: agg.cells[(d, m, metric)] for metric in agg.metrics}
            r = c["rmse"]
            n_text = str(r["n"]) + (f" (+{r['n_nan']} NaN)" if r["n_nan"] else "")
            cells = [
                m, n_text, _mean_std(r), _fmt(r["sem"]),
                _interval(r["t_low"], r["t_high"]), _interval(r["ci_low"], r["ci_high"]),
                _mean_std(c["mae"]), _mean_std(c["nasa_score"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
            for metric, cell in c.items():
                mc_warning = (cell.get("ci_mc") or {}).get("warning")
                for text in (cell["note"], cell["ci_method"] if cell["ci_method"] not in (None, "BCa") else None,
                             f"BCa interval: {mc_warning}" if mc_warning else None):
                    if text:
                        notes.append(f"{d} / {m} / {metric}: {text}")
        lines += ["", _friedman_line(agg.friedman_by_dataset[d], f"blocks = {len(agg.replicates[d])} seeds", agg.rank_metric), ""]
        label = METRIC_LABELS.get(agg.rank_metric, agg.rank_metric)
        lines.append(f"Claims ({label}; MAE and NASA score claims are in claims.json):")
        lines.append("")
        own = [c for c in agg.claim_list if c["dataset"] == d and c["metric"] == agg.rank_metric]
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
    n_blocks = sum(len(r) for r in agg.replicates.values())
    lines.append(_friedman_line(agg.friedman, f"blocks = dataset × seed, {n_blocks} blocks", agg.rank_metric))
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
