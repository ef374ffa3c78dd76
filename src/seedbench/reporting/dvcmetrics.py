"""``reports/metrics.json``: the lean DVC metric that ``dvc exp show`` renders, one column per method.

``reports/summary.json`` holds every statistic of every cell (≈ 360 numbers in the
default profile); declared as the DVC metric it gave ``dvc exp show`` as many
columns, and even the 16 numbers "RMSE mean and SEM of 2 datasets × 4 methods"
need ≥ 128 terminal columns as numeric metrics (DVC pads each column by 3
characters and names it by its full key path, e.g. ``FD001.linear.rmse.mean``).
So the DVC metric is one short string per method::

    {"linear FD001|FD002": "30.0±2.4|28.8±2.1", "mlp FD001|FD002": "17.9±0.3|24.1±0.5", ...}

the key naming the method and the order of the datasets inside the value, the
value each dataset's RMSE mean ± SEM over seeds (cycles, one decimal). Measured
with ``COLUMNS=120 dvc exp show --only-changed`` (README, "Reports a paper can
use"): the default profile (2 datasets × 4 methods) renders 120 columns wide
with the seed, where numeric keys, nested or flat, show 3–7 of the 16 numbers.
Full-precision numbers stay in ``summary.json`` / ``statistics.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DATASET_SEPARATOR = "|"
"""Separates datasets in a key (``FD001|FD002``) and their cells in a value."""
DIVERGED_MARK = "*"
"""Appended to a cell some of whose seeds diverged (``n_nan`` > 0 in ``summary.json``)."""
NO_VALUE = "—"
"""A cell with no finite run."""


def metric_key(method: str, datasets: Sequence[str]) -> str:
    """The ``reports/metrics.json`` key of ``method``: ``"<method> <d1>|<d2>|…"`` (datasets in report order)."""
    return f"{method} {DATASET_SEPARATOR.join(datasets)}"


def cell_text(cell: Mapping[str, Any]) -> str:
    """One cell as ``"<mean>±<SEM>"`` with one decimal (cycles), e.g. ``"30.0±2.4"``.

    ``cell`` is a :func:`seedbench.stats.summaries.describe_over_seeds` dict.
    One finite seed gives the mean alone (no SEM); no finite seed gives
    :data:`NO_VALUE`; diverged seeds append :data:`DIVERGED_MARK`.
    """
    if cell["mean"] is None:
        text = NO_VALUE
    else:
        text = f"{cell['mean']:.1f}" + ("" if cell["sem"] is None else f"±{cell['sem']:.1f}")
    return text + (DIVERGED_MARK if cell["n_nan"] else "")


def exp_show_metrics(
    cells: Mapping[tuple[str, str, str], Mapping[str, Any]],
    datasets: Sequence[str],
    methods: Sequence[str],
    metric: str = "rmse",
) -> dict[str, str]:
    """The content of ``reports/metrics.json``: ``{metric_key(m, datasets): "c1|c2|…"}``, in method order.

    ``cells[(dataset, method, metric)]`` are the aggregate's cell summaries
    (:attr:`seedbench.stats.aggregate.Aggregate.cells`).
    """
    return {
        metric_key(m, datasets): DATASET_SEPARATOR.join(cell_text(cells[(d, m, metric)]) for d in datasets)
        for m in methods
    }


def parse_metric_value(text: str) -> list[tuple[float | None, float | None]]:
    """``"30.0±2.4|28.8±2.1"`` → ``[(30.0, 2.4), (28.8, 2.1)]``: (mean, SEM) per dataset, ``None`` where absent."""
    out: list[tuple[float | None, float | None]] = []
    for part in text.split(DATASET_SEPARATOR):
        part = part.rstrip(DIVERGED_MARK)
        if part == NO_VALUE:
            out.append((None, None))
            continue
        mean, _, sem = part.partition("±")
        out.append((float(mean), float(sem) if sem else None))
    return out
