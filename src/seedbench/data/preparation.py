"""C-MAPSS preparation: RUL labels, operating conditions, scaling, windows, splits, prepared arrays.

Pure functions of their arguments except the explicit I/O (``save_prepared``,
``load_prepared``). A *table* is a float64 array of shape ``(n_rows, 26)`` in
the column order of :data:`seedbench.data.cmapss.COLUMNS` (the text format
lives there); cycles and RUL are in engine cycles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seedbench.core.errors import DataFormatError, ParamsError
from seedbench.core.files import read_json, read_npz, write_json, write_npz
from seedbench.core.names import SENSOR_NAMES
from seedbench.data.cmapss import (
    _CONDITION_SPAN,
    COLUMNS,
    CONDITION_CENTRES,
    SETTING_SLICE,
    Subset,
    unit_ids,
)

# --------------------------------------------------------------------------- labels and conditions


def rul_labels(table: np.ndarray, cap: float | None) -> np.ndarray:
    """Piecewise-linear RUL of every row of a run-to-failure table, float64 (n_rows,).

    The last cycle of each unit has RUL 0; earlier rows count the cycles
    left to it, limited to ``cap`` cycles (``None``: no cap).
    """
    if cap is not None and cap <= 0:
        raise ParamsError(f"prepare.rul_cap: expected a positive number of cycles, got {cap}")
    unit, cycle = table[:, 0], table[:, 1]
    starts = np.ones(len(unit), dtype=bool)
    starts[1:] = unit[1:] != unit[:-1]
    ends = np.ones(len(unit), dtype=bool)
    ends[:-1] = starts[1:]
    block = np.cumsum(starts) - 1  # 0-based unit block of each row
    rul = cycle[ends][block] - cycle
    if cap is not None:
        rul = np.minimum(rul, float(cap))
    return rul.astype(np.float64)


def condition_ids(settings: np.ndarray) -> np.ndarray:
    """Nearest operating condition (0–5, rows of :data:`CONDITION_CENTRES`) of each row, int64 (n,).

    ``settings`` is (n, 3): altitude (kft), Mach, throttle resolver angle.
    Distances are measured after dividing each setting by the span of the
    centres (42 kft, 0.84 Mach, 40 degrees), so each setting weighs alike.
    FD001/FD003 rows (settings near (0, 0, 100)) all map to condition 0.
    """
    settings = np.asarray(settings, dtype=np.float64)
    if settings.ndim != 2 or settings.shape[1] != 3:
        raise ValueError(f"condition_ids: expected settings of shape (n, 3), got {settings.shape}")
    scaled = settings / _CONDITION_SPAN
    centres = CONDITION_CENTRES / _CONDITION_SPAN
    distance = ((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return distance.argmin(axis=1).astype(np.int64)


# --------------------------------------------------------------------------- scaling


@dataclass(frozen=True)
class Scaler:
    """Min-max scaling per operating condition, fitted on training rows only.

    Attributes
    ----------
    conditions : tuple of int
        Condition ids seen in training (sorted).
    minimum, maximum : tuple of tuple of float
        ``minimum[k][j]`` is the training minimum of feature ``j`` under
        ``conditions[k]`` (same units as the feature).
    """

    conditions: tuple[int, ...]
    minimum: tuple[tuple[float, ...], ...]
    maximum: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        if list(self.conditions) != sorted(set(self.conditions)):
            raise ValueError(f"scaler: conditions must be distinct and sorted, got {list(self.conditions)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (floats exact under :func:`seedbench.core.files.write_json`)."""
        return {
            "conditions": list(self.conditions),
            "min": [list(row) for row in self.minimum],
            "max": [list(row) for row in self.maximum],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scaler:
        """Inverse of :meth:`to_dict` (raises ValueError on a malformed mapping)."""
        try:
            conditions = tuple(int(c) for c in data["conditions"])
            minimum = tuple(tuple(float(v) for v in row) for row in data["min"])
            maximum = tuple(tuple(float(v) for v in row) for row in data["max"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"scaler: expected keys conditions, min, max with numbers ({exc})") from None
        widths = {len(row) for row in minimum + maximum}
        if len(minimum) != len(conditions) or len(maximum) != len(conditions) or len(widths) > 1:
            raise ValueError("scaler: min and max need one row per condition, all of the same width")
        return cls(conditions=conditions, minimum=minimum, maximum=maximum)


def fit_scaler(features: np.ndarray, conditions: np.ndarray) -> Scaler:
    """Fit per-condition minima and maxima of ``features`` (n, n_features) on rows labelled ``conditions`` (n,)."""
    features = np.asarray(features, dtype=np.float64)
    conditions = np.asarray(conditions)
    if features.ndim != 2 or conditions.shape != (features.shape[0],) or features.shape[0] == 0:
        raise ValueError(
            f"fit_scaler: expected features (n, f) and conditions (n,), got {features.shape} and {conditions.shape}"
        )
    ids = np.unique(conditions)
    minimum = tuple(tuple(features[conditions == c].min(axis=0).tolist()) for c in ids)
    maximum = tuple(tuple(features[conditions == c].max(axis=0).tolist()) for c in ids)
    return Scaler(conditions=tuple(int(c) for c in ids), minimum=minimum, maximum=maximum)


def apply_scaler(scaler: Scaler, features: np.ndarray, conditions: np.ndarray, *, what: str = "features") -> np.ndarray:
    """Scale ``features`` (n, n_features) to [0, 1] with the training range of each row's condition.

    Values outside the training range fall outside [0, 1]; a feature that was
    constant under a condition in training scales to 0. Raises
    :class:`DataFormatError` naming ``what`` when a row's condition was never
    seen in training.
    """
    features = np.asarray(features, dtype=np.float64)
    conditions = np.asarray(conditions)
    lookup = {c: k for k, c in enumerate(scaler.conditions)}
    unseen = sorted(set(np.unique(conditions).tolist()) - set(lookup))
    if unseen:
        centre = CONDITION_CENTRES[unseen[0]].tolist() if 0 <= unseen[0] < len(CONDITION_CENTRES) else "?"
        raise DataFormatError(
            f"{what}: operating condition {unseen[0]} (altitude kft, Mach, TRA = {centre}) does not occur in the "
            f"training data; the scaler knows conditions {list(scaler.conditions)}"
        )
    minimum = np.array(scaler.minimum, dtype=np.float64)
    span = np.array(scaler.maximum, dtype=np.float64) - minimum
    if features.ndim != 2 or features.shape[1] != minimum.shape[1]:
        raise ValueError(f"apply_scaler: expected features (n, {minimum.shape[1]}), got {features.shape}")
    factor = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)
    index = np.searchsorted(np.asarray(scaler.conditions), conditions)  # every condition is known (checked above)
    return (features - minimum[index]) * factor[index]


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, eq=False)
class WindowedSplit:
    """Fixed-length windows of scaled features.

    Attributes
    ----------
    X : ndarray of float32, shape (n, window, n_features)
        Scaled features of ``window`` consecutive cycles, oldest first.
    y : ndarray of float32, shape (n,)
        RUL in cycles at the window's last cycle.
    unit : ndarray of int64, shape (n,)
        Unit id of each window.
    """

    X: np.ndarray
    y: np.ndarray
    unit: np.ndarray

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        if self.X.ndim != 3 or self.y.shape != (n,) or self.unit.shape != (n,):
            raise ValueError(
                "WindowedSplit: expected X (n, window, f), y (n,), unit (n,); "
                f"got {self.X.shape}, {self.y.shape}, {self.unit.shape}"
            )


@dataclass(frozen=True, eq=False)
class PreparedSubset:
    """A subset ready for training: windows, labels and the preprocessing that made them."""

    name: str
    train: WindowedSplit
    test: WindowedSplit
    features: tuple[str, ...]
    window: int
    rul_cap: int
    test_labels_capped: bool
    n_conditions: int
    scaler: Scaler = field(repr=False)
    raw_sha256: dict[str, str] = field(default_factory=dict)
    """``{"<dataset>/<file>": "sha256:<hex>"}`` of the raw files this subset was prepared from, hashed by the
    prepare stage from the bytes it read (its declared deps): what a run manifest records as its data hashes,
    so training never reads the raw folder (not a dep of train). ``{}`` for a subset prepared by hand."""


def _unit_slices(table: np.ndarray) -> list[tuple[int, int, int]]:
    """(unit id, start row, stop row) of every unit block of ``table``."""
    unit = table[:, 0]
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]]) if len(unit) else np.zeros(0, np.int64)
    stops = np.r_[starts[1:], len(unit)]
    return [(int(unit[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def sensor_columns(sensors: Sequence[str]) -> list[int]:
    """Column indices (into :data:`COLUMNS`) of ``sensors``; ParamsError naming ``prepare.sensors`` if unknown."""
    if len(sensors) == 0:
        raise ParamsError("prepare.sensors: expected a non-empty list of sensor names (s1 … s21)")
    unknown = [s for s in sensors if s not in SENSOR_NAMES]
    if unknown:
        raise ParamsError(f"prepare.sensors: unknown sensor {unknown[0]!r}; choose from s1 … s21")
    if len(set(sensors)) != len(sensors):
        raise ParamsError("prepare.sensors: a sensor is listed twice")
    return [COLUMNS.index(s) for s in sensors]


def train_windows(scaled: np.ndarray, table: np.ndarray, window: int, rul_cap: float) -> WindowedSplit:
    """Every full window of every unit; label = capped RUL at the window's last cycle.

    ``scaled`` (n_rows, n_features) are the features of the rows of ``table``
    (n_rows, 26). A unit of L cycles gives ``L - window + 1`` windows (none if
    shorter than ``window``).
    """
    labels = rul_labels(table, rul_cap)
    xs, ys, units = [], [], []
    for unit, start, stop in _unit_slices(table):
        if stop - start < window:
            continue
        view = np.lib.stride_tricks.sliding_window_view(scaled[start:stop], window, axis=0)  # (n, f, window)
        xs.append(view.transpose(0, 2, 1))
        ys.append(labels[start + window - 1 : stop])
        units.append(np.full(stop - start - window + 1, unit, dtype=np.int64))
    n_features = scaled.shape[1]
    X = np.concatenate(xs).astype(np.float32) if xs else np.zeros((0, window, n_features), np.float32)
    y = np.concatenate(ys).astype(np.float32) if ys else np.zeros(0, np.float32)
    unit_arr = np.concatenate(units) if units else np.zeros(0, np.int64)
    return WindowedSplit(X=np.ascontiguousarray(X), y=y, unit=unit_arr)


def last_windows(scaled: np.ndarray, table: np.ndarray, window: int, rul: np.ndarray) -> WindowedSplit:
    """The last ``window`` cycles of each unit, front-padded by repeating its first row when shorter.

    ``rul`` (n_units,) gives the label of each unit (cycles left after its
    last observed cycle), in unit order.
    """
    blocks = _unit_slices(table)
    X = np.empty((len(blocks), window, scaled.shape[1]), dtype=np.float32)
    for k, (_, start, stop) in enumerate(blocks):
        rows = scaled[max(start, stop - window) : stop]
        pad = window - len(rows)
        X[k] = np.concatenate([np.repeat(rows[:1], pad, axis=0), rows]) if pad else rows
    unit = np.array([u for u, _, _ in blocks], dtype=np.int64)
    return WindowedSplit(X=X, y=np.asarray(rul, dtype=np.float32), unit=unit)


def prepare_subset(
    subset: Subset,
    *,
    window: int,
    sensors: Sequence[str],
    rul_cap: int,
    cap_test_labels: bool,
) -> PreparedSubset:
    """Labels, per-condition min-max scaling fitted on train only, and windows of ``subset``.

    Parameters
    ----------
    window : int
        Window length in cycles; at most the length of the shortest training unit.
    sensors : sequence of str
        Feature columns (``s1`` … ``s21``), in feature order.
    rul_cap : int
        Cap of the piecewise-linear training target, in cycles.
    cap_test_labels : bool
        Also cap the true test RUL at ``rul_cap``.

    Raises
    ------
    ParamsError
        ``window`` longer than the shortest training unit (names
        ``prepare.windows.<name>``), unknown sensor (``prepare.sensors``).
    DataFormatError
        A test row under an operating condition absent from training.
    """
    name = subset.name
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ParamsError(f"prepare.windows.{name}: expected a positive whole number of cycles, got {window!r}")
    columns = sensor_columns(sensors)
    blocks = _unit_slices(subset.train)
    if not blocks:
        raise DataFormatError(f"train_{name}.txt: no training rows")
    shortest_unit, shortest = min(((u, b - a) for u, a, b in blocks), key=lambda ul: (ul[1], ul[0]))
    if window > shortest:
        raise ParamsError(
            f"prepare.windows.{name}: window {window} is longer than the shortest training unit of {name} "
            f"(unit {shortest_unit} has {shortest} cycles); choose at most {shortest}"
        )
    if len(subset.rul) != len(unit_ids(subset.test)):
        raise DataFormatError(
            f"RUL_{name}.txt: holds {len(subset.rul)} RUL values but test_{name}.txt has "
            f"{len(unit_ids(subset.test))} test units; expected one value per test unit"
        )
    train_cond = condition_ids(subset.train[:, SETTING_SLICE])
    test_cond = condition_ids(subset.test[:, SETTING_SLICE])
    scaler = fit_scaler(subset.train[:, columns], train_cond)
    train_scaled = apply_scaler(scaler, subset.train[:, columns], train_cond, what=f"train_{name}.txt")
    test_scaled = apply_scaler(scaler, subset.test[:, columns], test_cond, what=f"test_{name}.txt")
    test_rul = subset.rul.astype(np.float64)
    if cap_test_labels:
        test_rul = np.minimum(test_rul, float(rul_cap))
    return PreparedSubset(
        name=name,
        train=train_windows(train_scaled, subset.train, int(window), rul_cap),
        test=last_windows(test_scaled, subset.test, int(window), test_rul),
        features=tuple(sensors),
        window=int(window),
        rul_cap=int(rul_cap),
        test_labels_capped=bool(cap_test_labels),
        n_conditions=len(scaler.conditions),
        scaler=scaler,
    )


def _split_arrays(split: WindowedSplit) -> dict[str, np.ndarray]:
    return {"X": split.X, "y": split.y, "unit": split.unit}


def save_prepared(prepared: PreparedSubset, out_dir: str | os.PathLike[str]) -> None:
    """Write ``train.npz``, ``test.npz`` (keys X, y, unit; deterministic bytes) and ``prepare.json``."""
    out = Path(out_dir)
    write_npz(out / "train.npz", _split_arrays(prepared.train))
    write_npz(out / "test.npz", _split_arrays(prepared.test))
    write_json(
        out / "prepare.json",
        {
            "name": prepared.name,
            "features": list(prepared.features),
            "window": prepared.window,
            "rul_cap": prepared.rul_cap,
            "test_labels_capped": prepared.test_labels_capped,
            "n_conditions": prepared.n_conditions,
            "scaler": prepared.scaler.to_dict(),
            "raw_sha256": dict(sorted(prepared.raw_sha256.items())),
        },
    )


def _load_split(path: Path) -> WindowedSplit:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found (run the prepare stage)")
    try:
        arrays = read_npz(path)
    except Exception as exc:  # zipfile/numpy raise many types for a corrupt file
        raise DataFormatError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [k for k in ("X", "y", "unit") if k not in arrays]
    if missing:
        raise DataFormatError(f"{path}: missing array {missing[0]!r} (expected X, y, unit)")
    try:
        return WindowedSplit(X=arrays["X"], y=arrays["y"], unit=arrays["unit"])
    except ValueError as exc:
        raise DataFormatError(f"{path}: {exc}") from None


def load_prepared(directory: str | os.PathLike[str]) -> PreparedSubset:
    """Read what :func:`save_prepared` wrote (raises :class:`DataFormatError` naming a missing/bad file)."""
    d = Path(directory)
    meta_path = d / "prepare.json"
    if not meta_path.is_file():
        raise DataFormatError(f"{meta_path}: file not found (run the prepare stage)")
    meta = read_json(meta_path)
    try:
        scaler = Scaler.from_dict(meta["scaler"])
        prepared = PreparedSubset(
            name=str(meta["name"]),
            train=_load_split(d / "train.npz"),
            test=_load_split(d / "test.npz"),
            features=tuple(meta["features"]),
            window=int(meta["window"]),
            rul_cap=int(meta["rul_cap"]),
            test_labels_capped=bool(meta["test_labels_capped"]),
            n_conditions=int(meta["n_conditions"]),
            scaler=scaler,
            raw_sha256={str(k): str(v) for k, v in (meta.get("raw_sha256") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataFormatError(f"{meta_path}: malformed ({exc!r})") from None
    return prepared
