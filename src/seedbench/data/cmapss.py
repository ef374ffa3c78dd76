"""C-MAPSS turbofan data: the text format, RUL labels, scaling, windows, splits.

The NASA C-MAPSS files (Saxena et al. 2008) hold one row per engine and
operating cycle: ``unit cycle setting1 setting2 setting3 s1 … s21``
(26 numbers, single spaces, two trailing spaces). Test files stop at a random
cycle before failure; ``RUL_<name>.txt`` gives the remaining cycles of each
test unit, one integer per line.

Everything here is a pure function of its arguments except the explicit I/O
functions (``read_*``, ``write_subset``, ``save_prepared``, ``load_prepared``).
Arrays follow one convention: a *table* is a float64 array of shape
``(n_rows, 26)`` in the column order of :data:`COLUMNS`; cycles and RUL are in
engine cycles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seedbench.core.errors import DataFormatError, DataIntegrityError, ParamsError
from seedbench.core.files import (
    atomic_write_text,
    read_json,
    read_npz,
    write_json,
    write_npz,
)
from seedbench.core.names import SENSOR_NAMES, SETTING_NAMES

# --------------------------------------------------------------------------- format


COLUMNS: tuple[str, ...] = ("unit", "cycle", *SETTING_NAMES, *SENSOR_NAMES)
"""The 26 columns of a train/test file, in file order."""

INFORMATIVE_SENSORS: tuple[str, ...] = (
    "s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20", "s21",
)
"""The usual feature set: the sensors that are not constant in FD001."""

N_COLUMNS = len(COLUMNS)
SETTING_SLICE = slice(2, 5)
"""Columns of the three operating settings (altitude kft, Mach number, throttle resolver angle)."""

_DECIMALS: tuple[int, ...] = (
    0, 0,  # unit, cycle
    4, 4, 1,  # settings
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  # s1..s14
    4, 2, 0, 0, 2, 2, 4,  # s15 s16 s17 s18 s19 s20 s21
)
"""Decimal places of each column in the NASA files (0 = written as an integer)."""

_ROW_FORMAT = " ".join("%d" if d == 0 else f"%.{d}f" for d in _DECIMALS) + "  \n"
_SCALE = np.array([10.0**d for d in _DECIMALS])

CONDITION_CENTRES = np.array(
    [
        [0.0, 0.00, 100.0],
        [10.0, 0.25, 100.0],
        [20.0, 0.70, 100.0],
        [25.0, 0.62, 60.0],
        [35.0, 0.84, 100.0],
        [42.0, 0.84, 100.0],
    ]
)
"""The six operating conditions of FD002/FD004: (altitude kft, Mach, TRA degrees)."""

_CONDITION_SPAN = CONDITION_CENTRES.max(axis=0) - CONDITION_CENTRES.min(axis=0)


@dataclass(frozen=True, eq=False)
class Subset:
    """One C-MAPSS subset in memory.

    Attributes
    ----------
    name : str
        ``FD001`` … ``FD004`` (or any name used in the file names).
    train, test : ndarray of float64, shape (n_rows, 26)
        Tables in :data:`COLUMNS` order; test units stop before failure.
    rul : ndarray of int64, shape (n_test_units,)
        Remaining cycles after the last observed cycle of each test unit, in
        the order of the test units.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    rul: np.ndarray

    def __post_init__(self) -> None:
        for what in ("train", "test"):
            table = getattr(self, what)
            if table.ndim != 2 or table.shape[1] != N_COLUMNS:
                raise ValueError(f"Subset.{what}: expected shape (n_rows, {N_COLUMNS}), got {table.shape}")
        if self.rul.ndim != 1:
            raise ValueError(f"Subset.rul: expected shape (n_test_units,), got {self.rul.shape}")


def quantize_table(table: np.ndarray) -> np.ndarray:
    """Round every column of ``table`` (n_rows, 26) to the decimals of the NASA format.

    The result is exactly what :func:`read_table` returns after
    :func:`write_subset` (negative zeros become ``0.0``).
    """
    table = np.asarray(table, dtype=np.float64)
    return np.round(table * _SCALE) / _SCALE + 0.0


def _check_finite(table: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(table)):
        row = int(np.argwhere(~np.isfinite(table))[0][0])
        raise ValueError(f"{what}: row {row} holds a NaN or infinite value; C-MAPSS files hold finite numbers only")


def format_row(row: Sequence[float] | np.ndarray) -> str:
    """One train/test line: 26 numbers in the NASA formats, single spaces, two trailing spaces, ``\\n``.

    Formats: unit, cycle ``%d``; setting1–2 ``%.4f``; setting3 ``%.1f``;
    s1–s14 ``%.2f``; s15 ``%.4f``; s16 ``%.2f``; s17, s18 ``%d``; s19–s20
    ``%.2f``; s21 ``%.4f``. Values are rounded (not truncated) to those places.
    """
    values = np.asarray(row, dtype=np.float64)
    if values.shape != (N_COLUMNS,):
        raise ValueError(f"format_row: expected {N_COLUMNS} values, got shape {values.shape}")
    return format_table(values[None, :])


def format_table(table: np.ndarray) -> str:
    """The text of a whole train/test file for ``table`` (n_rows, 26): ``format_row`` of each row."""
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != N_COLUMNS:
        raise ValueError(f"format_table: expected shape (n_rows, {N_COLUMNS}), got {table.shape}")
    _check_finite(table, "format_table")
    quantized = quantize_table(table)
    return "".join([_ROW_FORMAT % tuple(r) for r in quantized.tolist()])


def format_rul(rul: np.ndarray) -> str:
    """The text of an RUL file: one integer per line followed by a space (``"112 \\n"``)."""
    values = np.asarray(rul)
    if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise ValueError("format_rul: expected a 1-D array of whole numbers of cycles")
    return "".join(f"{int(v)} \n" for v in values.tolist())


def subset_paths(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path, Path]:
    """Paths of ``train_<name>.txt``, ``test_<name>.txt``, ``RUL_<name>.txt`` in ``directory``."""
    d = Path(directory)
    return d / f"train_{name}.txt", d / f"test_{name}.txt", d / f"RUL_{name}.txt"


def write_subset(subset: Subset, out_dir: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """Write the three files of ``subset`` into ``out_dir`` (created if needed), each atomically.

    Returns the paths (train, test, RUL).
    """
    train_path, test_path, rul_path = subset_paths(out_dir, subset.name)
    atomic_write_text(train_path, format_table(subset.train))
    atomic_write_text(test_path, format_table(subset.test))
    atomic_write_text(rul_path, format_rul(subset.rul))
    return train_path, test_path, rul_path


# --------------------------------------------------------------------------- reading


def _read_lines(path: Path) -> list[str]:
    """The lines of a text file (any of LF, CRLF, CR endings); raises DataFormatError if missing/empty."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: expected a file, found a folder") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(f"{path}, line {line}: not UTF-8/ASCII text") from None
    if not text.strip():
        raise DataFormatError(f"{path}: file is empty (expected C-MAPSS rows)")
    return text.splitlines()


def _locate_bad_number(path: Path, fields: list[list[str]], line_numbers: list[int]) -> DataFormatError:
    """The error for the first token that is not a finite number (slow path, only on bad files)."""
    for tokens, line in zip(fields, line_numbers):
        for col, token in enumerate(tokens):
            try:
                value = float(token)
            except ValueError:
                value = None
            if value is None or not np.isfinite(value):
                return DataFormatError(
                    f"{path}, line {line}: column {col + 1} ({COLUMNS[col]}) is not a finite number: {token!r}"
                )
    return DataFormatError(f"{path}: could not parse numbers")  # pragma: no cover - unreachable


def _check_units_and_cycles(path: Path, table: np.ndarray, line_numbers: np.ndarray) -> None:
    """Units must be positive whole numbers in contiguous, increasing blocks; cycles 1, 2, 3, … within a unit."""
    for col in (0, 1):
        bad = np.flatnonzero((table[:, col] != np.floor(table[:, col])) | (table[:, col] < 1))
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(
                f"{path}, line {line_numbers[i]}: {COLUMNS[col]} must be a positive whole number, got {float(table[i, col])!r}"
            )
    unit, cycle = table[:, 0], table[:, 1]
    new_unit = np.ones(len(table), dtype=bool)
    new_unit[1:] = unit[1:] != unit[:-1]
    backwards = np.flatnonzero(new_unit[1:] & (unit[1:] < unit[:-1])) + 1
    if backwards.size:
        i = int(backwards[0])
        raise DataFormatError(
            f"{path}, line {line_numbers[i]}: unit {int(unit[i])} follows unit {int(unit[i - 1])}; "
            "the rows of each unit must be contiguous and units in increasing order"
        )
    expected = np.ones(len(table))
    expected[1:] = np.where(new_unit[1:], 1.0, cycle[:-1] + 1.0)
    bad = np.flatnonzero(cycle != expected)
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(
            f"{path}, line {line_numbers[i]}: unit {int(unit[i])} has cycle {int(cycle[i])} where cycle "
            f"{int(expected[i])} was expected (cycles start at 1 and increase by 1 within a unit)"
        )


def read_table(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a C-MAPSS train/test file into a float64 array of shape (n_rows, 26).

    Accepts the NASA files as published (trailing spaces, LF or CRLF line
    endings; blank lines are ignored). Raises :class:`DataFormatError` naming
    the file and 1-based line for a missing or empty file, a row without 26
    numbers, a value that is not a finite number, a unit or cycle that is not a
    positive whole number, rows of a unit that are not contiguous, or cycles
    that do not run 1, 2, 3, … within a unit.
    """
    path = Path(path)
    fields: list[list[str]] = []
    line_numbers: list[int] = []
    for number, line in enumerate(_read_lines(path), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != N_COLUMNS:
            raise DataFormatError(
                f"{path}, line {number}: expected {N_COLUMNS} numbers (unit, cycle, 3 settings, 21 sensors), "
                f"found {len(tokens)}"
            )
        fields.append(tokens)
        line_numbers.append(number)
    try:
        table = np.array(fields, dtype=np.float64)
    except ValueError:
        raise _locate_bad_number(path, fields, line_numbers) from None
    if not np.all(np.isfinite(table)):
        raise _locate_bad_number(path, fields, line_numbers)
    _check_units_and_cycles(path, table, np.asarray(line_numbers))
    return table


def read_rul(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an RUL file (one non-negative integer per line, trailing spaces allowed) as int64 (n_test_units,)."""
    path = Path(path)
    values: list[int] = []
    for number, line in enumerate(_read_lines(path), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 1:
            raise DataFormatError(f"{path}, line {number}: expected one integer (remaining cycles), found {len(tokens)} values")
        try:
            value = int(tokens[0])
        except ValueError:
            raise DataFormatError(f"{path}, line {number}: expected an integer number of cycles, got {tokens[0]!r}") from None
        if value < 0:
            raise DataFormatError(f"{path}, line {number}: remaining cycles cannot be negative, got {value}")
        values.append(value)
    return np.array(values, dtype=np.int64)


def unit_ids(table: np.ndarray) -> np.ndarray:
    """The distinct unit ids of ``table`` (n_rows, 26) in file order, int64 (n_units,)."""
    unit = table[:, 0]
    starts = np.ones(len(unit), dtype=bool)
    starts[1:] = unit[1:] != unit[:-1]
    return unit[starts].astype(np.int64)


def read_subset(raw_dir: str | os.PathLike[str], name: str) -> Subset:
    """Read ``train_<name>.txt``, ``test_<name>.txt`` and ``RUL_<name>.txt`` from ``raw_dir``.

    Raises :class:`DataFormatError` for any problem of the three files (see
    :func:`read_table`, :func:`read_rul`) and when the RUL file does not hold
    exactly one value per test unit.
    """
    train_path, test_path, rul_path = subset_paths(raw_dir, name)
    train = read_table(train_path)
    test = read_table(test_path)
    rul = read_rul(rul_path)
    n_test_units = len(unit_ids(test))
    if len(rul) != n_test_units:
        raise DataFormatError(
            f"{rul_path}: holds {len(rul)} RUL values but {test_path} has {n_test_units} test units; "
            "expected one value per test unit"
        )
    return Subset(name=name, train=train, test=test, rul=rul)


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
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{meta_path}: malformed ({exc!r})") from None
    return prepared


# --------------------------------------------------------------------------- splits and leakage


def split_units(units: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split whole units into (train, validation), each a sorted int64 array of unit ids.

    ``units`` may repeat ids (e.g. one per window); each distinct id goes to
    exactly one side. The validation side gets ``round(val_fraction * n)``
    units, clamped so that both sides hold at least one. Deterministic given
    the state of ``rng`` (pass ``seeding.generator(seed, "validation-split", r)``).
    """
    if not 0 < val_fraction < 1:
        raise ParamsError(f"train.val_fraction: expected a number strictly between 0 and 1, got {val_fraction!r}")
    distinct = np.unique(np.asarray(units, dtype=np.int64))
    n = len(distinct)
    if n < 2:
        raise ParamsError(
            f"train.val_fraction: cannot split {n} training unit(s) into non-empty training and validation sets; "
            "need at least 2 units (raise data.builtin.scale or use more data)"
        )
    n_val = min(max(int(np.floor(val_fraction * n + 0.5)), 1), n - 1)
    order = rng.permutation(n)
    val = np.sort(distinct[order[:n_val]])
    train = np.sort(distinct[order[n_val:]])
    return train, val


def leakage_report(
    train_units: np.ndarray, val_units: np.ndarray, test_units: np.ndarray | None = None
) -> dict[str, Any]:
    """JSON-able summary of which unit ids are where, and the ids in both train and validation.

    Train and validation units come from the same training file, so a shared
    id is the same engine on both sides (leakage). Test units are other
    engines numbered from 1 again in the NASA files, so their ids are counted
    but not compared with the training ids.
    """
    train = np.unique(np.asarray(train_units, dtype=np.int64))
    val = np.unique(np.asarray(val_units, dtype=np.int64))
    overlap = np.intersect1d(train, val)
    return {
        "n_train_units": int(len(train)),
        "n_val_units": int(len(val)),
        "n_test_units": None if test_units is None else int(len(np.unique(np.asarray(test_units)))),
        "train_val_overlap": [int(u) for u in overlap],
        "leakage": bool(len(overlap)),
    }


def check_no_leakage(
    train_units: np.ndarray, val_units: np.ndarray, test_units: np.ndarray | None = None
) -> dict[str, Any]:
    """Return :func:`leakage_report`, or raise :class:`DataIntegrityError` naming units on both sides."""
    report = leakage_report(train_units, val_units, test_units)
    if report["leakage"]:
        ids = report["train_val_overlap"]
        shown = ", ".join(map(str, ids[:20])) + (" …" if len(ids) > 20 else "")
        raise DataIntegrityError(
            f"leakage: {len(ids)} unit(s) appear in both the training and the validation split: {shown}"
        )
    return report
