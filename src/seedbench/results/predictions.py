"""``predictions.csv``: one row per test unit, ``unit,true_rul,predicted_rul``.

Floats are written by Python's repr (round-trip exact), so identical
predictions give identical bytes and the file can be pinned in ``dvc.lock``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seedbench.core.errors import DataFormatError
from seedbench.core.files import atomic_write_text

HEADER = "unit,true_rul,predicted_rul"


@dataclass(frozen=True)
class Predictions:
    """Test-set predictions: ``unit`` int64 (n,), ``true_rul`` and ``predicted_rul`` float64 (n,), cycles."""

    unit: np.ndarray
    true_rul: np.ndarray
    predicted_rul: np.ndarray


def predictions_text(predictions: Predictions) -> str:
    """CSV text of ``predictions`` (header + one line per unit, trailing newline)."""
    lines = [HEADER]
    for unit, true, pred in zip(predictions.unit, predictions.true_rul, predictions.predicted_rul, strict=True):
        lines.append(f"{int(unit)},{float(true)!r},{float(pred)!r}")
    return "\n".join(lines) + "\n"


def write_predictions(path: str | Path, predictions: Predictions) -> None:
    """Write ``predictions.csv`` atomically."""
    atomic_write_text(path, predictions_text(predictions))


def read_predictions(path: str | Path) -> Predictions:
    """Read ``predictions.csv`` (raises :class:`DataFormatError` naming file and line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: missing; run the train stage first") from None
    return parse_predictions(text, where=str(path))


def parse_predictions(text: str, *, where: str) -> Predictions:
    """The :class:`Predictions` of ``predictions.csv`` text; ``where`` names the file in errors (file:line)."""
    lines = text.splitlines()
    if not lines or lines[0] != HEADER:
        raise DataFormatError(f"{where}:1: expected header {HEADER!r}")
    units, trues, preds = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if len(parts) != 3:
            raise DataFormatError(f"{where}:{number}: expected 3 comma-separated values, got {len(parts)}")
        try:
            units.append(int(parts[0]))
            trues.append(float(parts[1]))
            preds.append(float(parts[2]))
        except ValueError:
            raise DataFormatError(f"{where}:{number}: not a number in {line!r}") from None
        if math.isnan(trues[-1]):
            raise DataFormatError(f"{where}:{number}: true_rul is NaN")
    if not units:
        raise DataFormatError(f"{where}: no prediction rows")
    return Predictions(np.asarray(units, dtype=np.int64), np.asarray(trues), np.asarray(preds))
