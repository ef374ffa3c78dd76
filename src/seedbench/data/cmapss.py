"""C-MAPSS turbofan data: the text format (read, write, validate). Preparation is :mod:`seedbench.data.preparation`.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seedbench.core.errors import DataFormatError
from seedbench.core.files import (
    atomic_write_text,
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
