"""Plot sources for ``dvc plots show``: tidy, deterministic CSV tables gathered from the runs.

``dvc.yaml``'s top-level ``plots:`` lists fixed paths, while the run matrix
(datasets × methods × replicates) comes from params. The aggregate stage
therefore gathers the files of exactly the runs params list into one long
table per figure, and the vega-lite templates in ``.dvc/plots/`` facet those
tables by dataset and colour them by method:

- ``learning_curves.csv`` — ``dataset,method,replicate,epoch,train_loss,val_loss``
  from each run's DVCLive files (losses in cycles², mean squared error);
- ``predictions_best.csv`` — ``dataset,method,replicate,unit,true_rul,predicted_rul``
  of one run per dataset chosen by :func:`select_best_runs`.

Rows follow params order (dataset, method, replicate, then epoch or unit);
floats are written by Python's repr (``nan`` for a diverged value), so the
same runs give the same bytes and ``dvc.lock`` can pin the tables.

Runs are read below a folder ``root`` holding ``runs/<dataset>/<method>/rep_<r>/``
(the workspace, for the aggregate stage); errors name the missing or malformed file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from seedbench.core.errors import DataFormatError
from seedbench.core.names import RunKey
from seedbench.results.predictions import read_predictions
from seedbench.results.trees import PREDICTIONS_FILENAME, run_path

LIVE_METRICS_DIR = "dvclive/plots/metrics"
"""Where DVCLive writes one ``<metric>.tsv`` per logged metric, relative to a run folder
(``seedbench.training.LIVE_DIRNAME`` + DVCLive's ``plots/metrics``)."""

LEARNING_CURVES_HEADER = "dataset,method,replicate,epoch,train_loss,val_loss"
BEST_PREDICTIONS_HEADER = "dataset,method,replicate,unit,true_rul,predicted_rul"


def read_live_metric(path: str | os.PathLike[str], name: str) -> list[tuple[int, float]]:
    """``[(step, value), …]`` of one DVCLive metric file (``step<TAB><name>`` header, one row per step).

    Raises :class:`DataFormatError` naming the file (and line) when it is
    missing, has another header, or holds a row that is not ``<int><TAB><float>``.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: missing (DVCLive's {name} log); run the train stage first (`dvc repro`)") from None
    header = f"step\t{name}"
    if not lines or lines[0] != header:
        raise DataFormatError(f"{path}:1: expected DVCLive header {header!r}")
    rows: list[tuple[int, float]] = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        try:
            if len(parts) != 2:
                raise ValueError
            rows.append((int(parts[0]), float(parts[1])))
        except ValueError:
            raise DataFormatError(f"{path}:{number}: expected '<step>\\t<{name}>', got {line!r}") from None
    if not rows:
        raise DataFormatError(f"{path}: no rows (the run logged no epoch)")
    return rows


def learning_curves_csv(root: str | os.PathLike[str], runs: Sequence[RunKey]) -> str:
    """CSV text ``dataset,method,replicate,epoch,train_loss,val_loss`` of exactly ``runs``, in that order.

    Parameters
    ----------
    root : path
        Folder holding ``runs/`` (the repository root).
    runs : sequence of (dataset, method, replicate)
        The runs to gather, normally ``resulttrees.expected_runs(params)``;
        folders of other runs are never looked at.

    Raises
    ------
    DataFormatError
        Naming the file, when a run's ``train_loss.tsv`` or ``val_loss.tsv``
        is missing or malformed, or when the two disagree on their steps.
    """
    lines = [LEARNING_CURVES_HEADER]
    for key in runs:
        dataset, method, replicate = key
        train_path = Path(root, run_path(key, f"{LIVE_METRICS_DIR}/train_loss.tsv"))
        val_path = Path(root, run_path(key, f"{LIVE_METRICS_DIR}/val_loss.tsv"))
        train = read_live_metric(train_path, "train_loss")
        val = read_live_metric(val_path, "val_loss")
        if [s for s, _ in train] != [s for s, _ in val]:
            raise DataFormatError(f"{train_path} and {val_path}: different steps (epochs); rerun the train stage")
        for (epoch, train_loss), (_, val_loss) in zip(train, val):
            lines.append(f"{dataset},{method},{int(replicate)},{epoch},{train_loss!r},{val_loss!r}")
    return "\n".join(lines) + "\n"


def select_best_runs(
    values: Mapping[str, Mapping[str, ArrayLike]],
    replicates: Mapping[str, Sequence[int]],
) -> dict[str, RunKey]:
    """Per dataset, the best method's median run: the one whose predictions get plotted.

    Parameters
    ----------
    values : mapping dataset -> mapping method -> array_like, shape (n_replicates,)
        An error metric (lower is better, e.g. test RMSE in cycles) per
        replicate, aligned with ``replicates[dataset]``; NaN/±inf = diverged.
    replicates : mapping dataset -> sequence of int
        Replicate index of each position of the arrays.

    Returns
    -------
    dict dataset -> (dataset, method, replicate)
        The best method has the lowest mean over replicates; a method with a
        diverged replicate is not eligible; ties go to the method listed
        first. Its run is the *median* replicate: replicates sorted by
        (value, replicate index), the one at position ``(n - 1) // 2`` (the
        lower median with an even count) — a typical seed, not the luckiest.
        A dataset where every method diverged somewhere is left out.
    """
    best: dict[str, RunKey] = {}
    for dataset, by_method in values.items():
        reps = [int(r) for r in replicates[dataset]]
        chosen: tuple[float, str, np.ndarray] | None = None
        for method, raw in by_method.items():
            v = np.asarray(raw, dtype=np.float64)
            if v.shape != (len(reps),):
                raise ValueError(
                    f"values[{dataset!r}][{method!r}] has shape {v.shape}, expected ({len(reps)},) like replicates"
                )
            if v.size == 0 or not np.isfinite(v).all():
                continue
            mean = float(np.mean(np.sort(v)))  # sorted: the mean does not depend on replicate order
            if chosen is None or mean < chosen[0]:
                chosen = (mean, method, v)
        if chosen is None:
            continue
        _, method, v = chosen
        ordered = sorted(zip(v.tolist(), reps))
        best[dataset] = (dataset, method, ordered[(len(ordered) - 1) // 2][1])
    return best


def best_predictions_csv(root: str | os.PathLike[str], best: Mapping[str, RunKey]) -> str:
    """CSV text ``dataset,method,replicate,unit,true_rul,predicted_rul`` of the runs ``best`` names.

    ``best`` is :func:`select_best_runs`'s result (dataset order kept); rows
    within a dataset in the order of the run's ``predictions.csv``. Raises
    :class:`DataFormatError` naming a missing or malformed ``predictions.csv``.
    """
    lines = [BEST_PREDICTIONS_HEADER]
    for key in best.values():
        dataset, method, replicate = key
        predictions = read_predictions(Path(root, run_path(key, PREDICTIONS_FILENAME)))
        for unit, true, pred in zip(predictions.unit, predictions.true_rul, predictions.predicted_rul, strict=True):
            lines.append(f"{dataset},{method},{int(replicate)},{int(unit)},{float(true)!r},{float(pred)!r}")
    return "\n".join(lines) + "\n"
