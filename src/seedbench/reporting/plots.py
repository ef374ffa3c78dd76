"""Report figures: critical-difference diagram and seed spread, rendered to deterministic PNG bytes.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas
directly — no ``pyplot``, no display, no global backend switch — and saved
with ``metadata={"Software": None}`` so the PNG holds no version string (PNG
from Agg has no timestamp). The same inputs, matplotlib version and fonts give
the same bytes, so DVC can pin the files.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from seedbench.core.files import atomic_write_bytes

PNG_DPI = 100
PNG_METADATA: dict[str, str | None] = {"Software": None}
"""Keeps matplotlib's version string out of the PNG (the only varying text chunk Agg writes)."""


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=PNG_DPI)
    FigureCanvasAgg(fig)
    return fig


def _message_figure(title: str, message: str) -> Figure:
    fig = _figure(6.0, 1.6)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.65, title, ha="center", va="center", fontsize=11, weight="bold", transform=ax.transAxes)
    ax.text(0.5, 0.3, message, ha="center", va="center", fontsize=9, wrap=True, transform=ax.transAxes)
    return fig


def cd_diagram(friedman: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Critical-difference diagram (Demšar 2006, Fig. 1) of a :func:`seedbench.stats.ranking.friedman_nemenyi` result.

    Methods sit at their mean rank (1 = lowest error); methods joined by a bar
    are not significantly different by Nemenyi at ``friedman["alpha"]``; the
    CD bar shows the critical difference. Drawn with
    :func:`scikit_posthocs.critical_difference_diagram`. When the test could
    not run (k < 3, too few blocks) the figure says why instead, so the stage
    always has a file to write.
    """
    ranks = friedman.get("mean_ranks") or {}
    heading = title or f"Mean ranks over {friedman.get('N', 0)} blocks"
    if friedman.get("cd") is None or friedman.get("nemenyi_p") is None or len(ranks) < 3:
        return _message_figure(heading, f"No critical-difference diagram: {friedman.get('note') or 'test not run'}")
    import pandas as pd
    import scikit_posthocs

    names = list(friedman["methods"])
    p = friedman["nemenyi_p"]
    sig = pd.DataFrame([[p[a][b] for b in names] for a in names], index=names, columns=names)
    fig = _figure(7.0, 1.2 + 0.28 * len(names))
    ax = fig.add_subplot()
    drawn = scikit_posthocs.critical_difference_diagram(
        {n: ranks[n] for n in names}, sig, alpha=friedman["alpha"], ax=ax,
        label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}",
    )
    # scikit-posthocs draws each crossbar through its methods in the order of a Python set, which follows
    # PYTHONHASHSEED: the same bar, a different path, different PNG bytes. Left to right, always.
    for lines in drawn["crossbars"]:
        for line in lines:
            x, y = (np.asarray(v, dtype=float) for v in line.get_data())
            order = np.argsort(x, kind="stable")
            line.set_data(x[order], y[order])
    # The CD bar, drawn above the rank axis's tick labels (scikit-posthocs puts it on top of them).
    cd, x0 = float(friedman["cd"]), min(ranks.values())
    ax.set_ylim(ax.get_ylim()[0], 2.2)
    ax.plot([x0, x0 + cd], [1.5, 1.5], color="black", linewidth=2)
    ax.plot([x0, x0], [1.35, 1.65], [x0 + cd, x0 + cd], [1.35, 1.65], color="black", linewidth=1)
    ax.text(x0 + cd / 2, 1.7, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    stat = friedman.get("p")
    p_text = "p undefined" if stat is None else ("p < 0.001" if stat < 0.001 else f"p = {stat:.3g}")
    ax.set_title(f"{heading} — Friedman {p_text}, Nemenyi α = {friedman['alpha']:g}", fontsize=9)
    fig.tight_layout()
    return fig


def seed_spread(
    values: Mapping[str, Mapping[str, ArrayLike]],
    *,
    metric_label: str = "RMSE (cycles)",
) -> Figure:
    """Per-method spread over replicate seeds: one panel per dataset, a box and every seed as a dot.

    Parameters
    ----------
    values : mapping dataset -> mapping method -> array_like, shape (n_seeds,)
        Metric per replicate seed. Non-finite values (diverged runs) are not
        drawn; their count is written above the method.
    metric_label : str
        y-axis label.

    Dots are spread horizontally by replicate index (fixed offsets, no random
    jitter), so the figure is deterministic.
    """
    datasets = list(values)
    if not datasets:
        return _message_figure("Seed spread", "no runs")
    n_methods = max(len(values[d]) for d in datasets)
    fig = _figure(max(4.0, 1.0 + 0.9 * n_methods) * len(datasets), 3.6)
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, d in zip(axes, datasets):
        methods = list(values[d])
        for i, m in enumerate(methods):
            v = np.asarray(values[d][m], dtype=np.float64)
            finite = np.isfinite(v)
            if finite.sum() >= 2:
                ax.boxplot(
                    v[finite], positions=[i], widths=0.5, showfliers=False,
                    medianprops={"color": "black"}, boxprops={"color": "0.5"},
                    whiskerprops={"color": "0.5"}, capprops={"color": "0.5"},
                )
            offsets = np.linspace(-0.18, 0.18, v.size) if v.size > 1 else np.zeros(1)
            ax.scatter(i + offsets[finite], v[finite], s=14, zorder=3, color=f"C{i % 10}")
            if (~finite).any():
                ax.annotate(
                    f"{int((~finite).sum())} NaN", (i, 1.0), xycoords=("data", "axes fraction"),
                    ha="center", va="bottom", fontsize=8, color="red",
                )
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_title(d, pad=12)
        ax.set_ylabel(metric_label)
        ax.grid(axis="y", color="0.9")
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    """Render ``fig`` as PNG bytes with no version or time metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def save_png(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` as a deterministic PNG, atomically."""
    atomic_write_bytes(path, png_bytes(fig))
