"""C-MAPSS format, labels, scaling, windows, splits and leakage (seedbench.data.cmapss)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedbench.core.errors import DataFormatError, DataIntegrityError, ParamsError
from seedbench.core.seeds import generator
from seedbench.data import cmapss
from seedbench.data.cmapss import (
    COLUMNS,
    INFORMATIVE_SENSORS,
    Subset,
    format_row,
    format_table,
    read_rul,
    read_subset,
    read_table,
    write_subset,
)
from seedbench.data.preparation import (
    Scaler,
    apply_scaler,
    condition_ids,
    fit_scaler,
    load_prepared,
    prepare_subset,
    rul_labels,
    save_prepared,
)
from seedbench.data.splits import check_no_leakage, leakage_report, split_units

# Rows in the exact layout of NASA's train_FD001.txt (two trailing spaces each).
TRAIN_TEXT = (
    "1 1 -0.0007 -0.0004 100.0 518.67 641.82 1589.70 1400.60 14.62 21.61 554.36 2388.06 9046.19 1.30 47.47 521.66 2388.02 8138.62 8.4195 0.03 392 2388 100.00 39.06 23.4190  \n"
    "1 2 0.0019 -0.0003 100.0 518.67 642.15 1591.82 1403.14 14.62 21.61 553.75 2388.04 9044.07 1.30 47.49 522.28 2388.07 8131.49 8.4318 0.03 392 2388 100.00 39.00 23.4236  \n"
    "1 3 -0.0043 0.0003 100.0 518.67 642.35 1587.99 1404.20 14.62 21.61 554.26 2388.08 9052.94 1.30 47.27 522.42 2388.03 8133.23 8.4178 0.03 390 2388 100.00 38.95 23.3442  \n"
    "2 1 -0.0018 0.0006 100.0 518.67 641.89 1583.84 1391.28 14.62 21.61 554.53 2388.01 9054.72 1.30 47.15 522.26 2388.01 8137.44 8.4152 0.03 391 2388 100.00 38.98 23.3690  \n"
    "2 2 0.0043 -0.0003 100.0 518.67 641.82 1587.05 1393.13 14.62 21.61 554.77 2388.09 9051.70 1.30 47.49 522.22 2388.03 8141.34 8.4160 0.03 392 2388 100.00 38.93 23.4240  \n"
)
TEST_TEXT = (
    "1 1 0.0023 0.0003 100.0 518.67 643.02 1585.29 1398.21 14.62 21.61 553.90 2388.04 9050.17 1.30 47.20 521.72 2388.03 8125.55 8.4052 0.03 392 2388 100.00 38.86 23.3735  \n"
    "1 2 -0.0027 -0.0003 100.0 518.67 641.71 1588.45 1395.42 14.62 21.61 554.85 2388.01 9054.42 1.30 47.50 522.16 2388.06 8139.62 8.3803 0.03 393 2388 100.00 39.02 23.3916  \n"
    "2 1 0.0003 0.0001 100.0 518.67 642.05 1588.32 1398.37 14.62 21.61 554.35 2388.06 9053.99 1.30 47.29 521.88 2388.07 8131.13 8.4233 0.03 392 2388 100.00 38.91 23.3845  \n"
)
RUL_TEXT = "112 \n98 \n"


def write_raw(directory: Path, name: str = "FD001", train: str = TRAIN_TEXT, test: str = TEST_TEXT, rul: str = RUL_TEXT) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"train_{name}.txt").write_text(train, newline="")
    (directory / f"test_{name}.txt").write_text(test, newline="")
    (directory / f"RUL_{name}.txt").write_text(rul, newline="")
    return directory


def make_table(lengths: list[int], start_unit: int = 1, settings: tuple[float, float, float] = (0.0, 0.0, 100.0)) -> np.ndarray:
    """A run-to-failure table whose sensor j of unit u at cycle c is u*1000 + c + j/100 (easy to trace)."""
    rows = []
    for k, length in enumerate(lengths):
        unit = start_unit + k
        for cycle in range(1, length + 1):
            sensors = [unit * 1000 + cycle + j / 100 for j in range(21)]
            rows.append([unit, cycle, *settings, *sensors])
    return np.array(rows, dtype=np.float64)


# --------------------------------------------------------------------------- format and round trip


def test_columns_are_unit_cycle_three_settings_and_21_sensors() -> None:
    assert len(COLUMNS) == 26
    assert COLUMNS[:5] == ("unit", "cycle", "setting1", "setting2", "setting3")
    assert COLUMNS[5] == "s1" and COLUMNS[-1] == "s21"
    assert set(INFORMATIVE_SENSORS) <= set(COLUMNS) and len(INFORMATIVE_SENSORS) == 14


def test_real_format_rows_round_trip_to_identical_text(tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "raw")
    subset = read_subset(raw, "FD001")
    assert subset.train.shape == (5, 26) and subset.test.shape == (3, 26)
    assert subset.train[0, 1] == 1 and subset.train[0, 2] == -0.0007 and subset.train[0, 5] == 518.67
    assert subset.train[0, 19] == 8.4195 and subset.train[0, 21] == 392 and subset.train[0, 25] == 23.4190
    assert subset.rul.tolist() == [112, 98] and subset.rul.dtype == np.int64

    assert format_table(subset.train) == TRAIN_TEXT
    out = tmp_path / "out"
    write_subset(subset, out)
    assert (out / "train_FD001.txt").read_bytes() == TRAIN_TEXT.encode()
    assert (out / "test_FD001.txt").read_bytes() == TEST_TEXT.encode()
    assert (out / "RUL_FD001.txt").read_bytes() == RUL_TEXT.encode()
    again = read_subset(out, "FD001")
    np.testing.assert_array_equal(again.train, subset.train)
    np.testing.assert_array_equal(again.test, subset.test)
    np.testing.assert_array_equal(again.rul, subset.rul)


def test_format_row_rounds_to_the_nasa_decimals_and_ends_with_two_spaces() -> None:
    row = [3, 17, 0.00123, -0.00056, 99.96, 518.671, 642.156, 1589.7, 1400.6, 14.62, 21.61, 554.36, 2388.06, 9046.19,
           1.3, 47.47, 521.66, 2388.02, 8138.62, 8.41954, 0.03, 391.6, 2388, 100, 39.06, 23.41904]
    assert format_row(row) == (
        "3 17 0.0012 -0.0006 100.0 518.67 642.16 1589.70 1400.60 14.62 21.61 554.36 2388.06 9046.19 1.30 47.47 "
        "521.66 2388.02 8138.62 8.4195 0.03 392 2388 100.00 39.06 23.4190  \n"
    )


def test_format_never_writes_negative_zero() -> None:
    row = np.zeros(26)
    row[:2] = 1
    row[2] = -0.00001
    assert format_row(row).split()[2] == "0.0000"


def test_reader_accepts_crlf_line_endings_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    path.write_bytes(TRAIN_TEXT.replace("\n", "\r\n").encode() + b"\r\n")
    table = read_table(path)
    np.testing.assert_array_equal(table, read_table(write_raw(tmp_path / "lf") / "train_FD001.txt"))


# --------------------------------------------------------------------------- reader errors


def test_row_with_wrong_column_count_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    lines = TRAIN_TEXT.splitlines(keepends=True)
    lines[2] = lines[2].replace(" 23.3442", "")
    path = tmp_path / "train_FD001.txt"
    path.write_text("".join(lines))
    with pytest.raises(DataFormatError, match=r"train_FD001\.txt, line 3: expected 26 numbers .* found 25"):
        read_table(path)


def test_non_numeric_value_is_rejected_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "test_FD001.txt"
    path.write_text(TEST_TEXT.replace("1588.45", "15x8.45"))
    with pytest.raises(DataFormatError, match=r"test_FD001\.txt, line 2: column 8 \(s3\) is not a finite number: '15x8\.45'"):
        read_table(path)


def test_nan_value_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "test_FD001.txt"
    path.write_text(TEST_TEXT.replace("38.91", "nan"))
    with pytest.raises(DataFormatError, match=r"line 3: column 25 \(s20\)"):
        read_table(path)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    path.write_text("  \n\n")
    with pytest.raises(DataFormatError, match=r"train_FD001\.txt: file is empty"):
        read_table(path)


def test_fractional_unit_or_cycle_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    path.write_text(TRAIN_TEXT.replace("1 2 0.0019", "1 2.5 0.0019"))
    with pytest.raises(DataFormatError, match=r"line 2: cycle must be a positive whole number, got 2\.5"):
        read_table(path)


def test_cycle_gap_within_a_unit_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    path.write_text(TRAIN_TEXT.replace("1 3 -0.0043", "1 4 -0.0043"))
    with pytest.raises(DataFormatError, match=r"line 3: unit 1 has cycle 4 where cycle 3 was expected"):
        read_table(path)


def test_unit_that_reappears_is_rejected(tmp_path: Path) -> None:
    lines = TRAIN_TEXT.splitlines(keepends=True)
    extra = lines[0]  # unit 1 cycle 1 again after unit 2
    path = tmp_path / "train_FD001.txt"
    path.write_text("".join(lines) + extra)
    with pytest.raises(DataFormatError, match=r"line 6: unit 1 follows unit 2; the rows of each unit must be contiguous"):
        read_table(path)


def test_missing_rul_file_is_named(tmp_path: Path) -> None:
    raw = write_raw(tmp_path)
    (raw / "RUL_FD001.txt").unlink()
    with pytest.raises(DataFormatError, match=r"RUL_FD001\.txt: file not found"):
        read_subset(raw, "FD001")


def test_missing_train_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"train_FD009\.txt: file not found"):
        read_subset(tmp_path, "FD009")


def test_rul_count_mismatch_names_both_counts(tmp_path: Path) -> None:
    raw = write_raw(tmp_path, rul="112 \n98 \n69 \n")
    with pytest.raises(DataFormatError, match=r"RUL_FD001\.txt: holds 3 RUL values but .*test_FD001\.txt has 2 test units"):
        read_subset(raw, "FD001")


def test_non_integer_rul_is_rejected_with_line(tmp_path: Path) -> None:
    path = tmp_path / "RUL_FD001.txt"
    path.write_text("112 \nabc \n")
    with pytest.raises(DataFormatError, match=r"RUL_FD001\.txt, line 2: expected an integer"):
        read_rul(path)


# --------------------------------------------------------------------------- labels and conditions


def test_rul_labels_are_piecewise_linear_zero_at_last_cycle_and_capped() -> None:
    table = make_table([5, 3])
    assert rul_labels(table, None).tolist() == [4, 3, 2, 1, 0, 2, 1, 0]
    assert rul_labels(table, 2).tolist() == [2, 2, 2, 1, 0, 2, 1, 0]


def test_fd001_like_settings_all_map_to_the_sea_level_condition() -> None:
    rng = generator(0, "test")
    settings = np.c_[rng.uniform(-0.0087, 0.0087, 500), rng.uniform(-0.0006, 0.0006, 500), np.full(500, 100.0)]
    assert set(condition_ids(settings).tolist()) == {0}


def test_each_condition_centre_with_noise_maps_to_itself() -> None:
    centres = cmapss.CONDITION_CENTRES
    noisy = centres + np.array([0.008, -0.0008, 0.0])
    assert condition_ids(noisy).tolist() == [0, 1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- scaling


def test_scaler_is_per_condition_min_max_and_constant_columns_scale_to_zero() -> None:
    features = np.array([[0.0, 5.0], [10.0, 5.0], [100.0, 7.0], [300.0, 9.0]])
    conditions = np.array([0, 0, 3, 3])
    scaler = fit_scaler(features, conditions)
    assert scaler.conditions == (0, 3)
    scaled = apply_scaler(scaler, features, conditions)
    np.testing.assert_allclose(scaled, [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    # a value beyond the training range stays beyond [0, 1]; the constant column stays 0
    np.testing.assert_allclose(apply_scaler(scaler, np.array([[20.0, 6.0]]), np.array([0])), [[2.0, 0.0]])


def test_scaler_survives_json_round_trip_exactly() -> None:
    rng = generator(1, "test")
    scaler = fit_scaler(rng.normal(size=(50, 3)), rng.integers(0, 2, 50))
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again == scaler


def test_condition_unseen_in_training_is_a_clear_error() -> None:
    scaler = fit_scaler(np.ones((3, 2)), np.array([0, 0, 0]))
    with pytest.raises(DataFormatError, match=r"test_FD002\.txt: operating condition 4 .* does not occur in the training data"):
        apply_scaler(scaler, np.ones((1, 2)), np.array([4]), what="test_FD002.txt")


# --------------------------------------------------------------------------- windows


def small_subset(train_lengths: list[int], test_lengths: list[int], rul: list[int]) -> Subset:
    return Subset("FD001", make_table(train_lengths), make_table(test_lengths), np.array(rul, dtype=np.int64))


def test_train_windows_cover_every_full_window_labelled_at_its_last_cycle() -> None:
    prepared = prepare_subset(small_subset([6, 4], [5], [40]), window=3, sensors=["s1", "s2"], rul_cap=2, cap_test_labels=False)
    train = prepared.train
    assert train.X.shape == (4 + 2, 3, 2) and train.X.dtype == np.float32
    assert train.unit.tolist() == [1, 1, 1, 1, 2, 2] and train.unit.dtype == np.int64
    assert train.y.tolist() == [2, 2, 1, 0, 1, 0] and train.y.dtype == np.float32
    # features are scaled on train rows (one condition): s1 of unit 1 cycle c is 1000 + c, range 1001..2004
    expected_first = (np.array([1001, 1002, 1003]) - 1001) / (2004 - 1001)
    np.testing.assert_allclose(train.X[0, :, 0], expected_first, rtol=1e-6)
    np.testing.assert_allclose(train.X[-1, -1, 0], 1.0)


def test_test_window_is_last_window_and_short_units_are_front_padded_with_their_first_row() -> None:
    prepared = prepare_subset(small_subset([6, 6], [5, 2], [140, 7]), window=4, sensors=["s1"], rul_cap=125, cap_test_labels=False)
    test = prepared.test
    assert test.X.shape == (2, 4, 1) and test.unit.tolist() == [1, 2]
    raw = lambda unit, cycles: (np.array([unit * 1000 + c for c in cycles]) - 1001) / (2006 - 1001)  # noqa: E731
    np.testing.assert_allclose(test.X[0, :, 0], raw(1, [2, 3, 4, 5]), rtol=1e-6)
    np.testing.assert_allclose(test.X[1, :, 0], raw(2, [1, 1, 1, 2]), rtol=1e-6)
    assert test.y.tolist() == [140, 7] and prepared.test_labels_capped is False


def test_test_labels_are_capped_only_when_asked() -> None:
    subset = small_subset([6], [5, 5], [140, 7])
    capped = prepare_subset(subset, window=3, sensors=["s1"], rul_cap=125, cap_test_labels=True)
    assert capped.test.y.tolist() == [125, 7] and capped.test_labels_capped is True


def test_scaling_is_fitted_on_training_rows_only() -> None:
    subset = Subset("FD001", make_table([5]), make_table([3], start_unit=7), np.array([10]))
    prepared = prepare_subset(subset, window=2, sensors=["s3"], rul_cap=125, cap_test_labels=True)
    assert prepared.scaler.minimum == ((1001.02,),) and prepared.scaler.maximum == ((1005.02,),)
    # test unit 7 sits far above the training range: scaled values are far above 1, not squeezed into [0, 1]
    assert prepared.test.X.min() > 1000
    assert prepared.n_conditions == 1 and prepared.features == ("s3",)


def test_window_longer_than_shortest_training_unit_names_the_key_and_the_unit() -> None:
    with pytest.raises(ParamsError) as info:
        prepare_subset(small_subset([9, 4, 6], [3], [1]), window=5, sensors=["s2"], rul_cap=125, cap_test_labels=True)
    assert str(info.value) == (
        "prepare.windows.FD001: window 5 is longer than the shortest training unit of FD001 "
        "(unit 2 has 4 cycles); choose at most 4"
    )


def test_unknown_sensor_names_prepare_sensors() -> None:
    with pytest.raises(ParamsError, match=r"prepare\.sensors: unknown sensor 's22'"):
        prepare_subset(small_subset([5], [3], [1]), window=2, sensors=["s2", "s22"], rul_cap=125, cap_test_labels=True)


def test_prepared_subset_saves_and_loads_with_deterministic_bytes(tmp_path: Path) -> None:
    prepared = prepare_subset(small_subset([6, 5], [4, 2], [30, 9]), window=3, sensors=["s2", "s7"], rul_cap=125, cap_test_labels=True)
    save_prepared(prepared, tmp_path / "a")
    save_prepared(prepared, tmp_path / "b")
    for name in ("train.npz", "test.npz", "prepare.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    meta = json.loads((tmp_path / "a" / "prepare.json").read_text())
    assert {"features", "window", "rul_cap", "test_labels_capped", "n_conditions", "scaler"} <= set(meta)
    loaded = load_prepared(tmp_path / "a")
    for split in ("train", "test"):
        for key in ("X", "y", "unit"):
            np.testing.assert_array_equal(getattr(getattr(loaded, split), key), getattr(getattr(prepared, split), key))
    assert (loaded.name, loaded.features, loaded.window, loaded.rul_cap, loaded.test_labels_capped, loaded.n_conditions) == (
        "FD001", ("s2", "s7"), 3, 125, True, 1)
    assert loaded.scaler == prepared.scaler
    assert loaded.raw_sha256 == {}


def test_prepared_subset_carries_the_raw_sha256_it_was_made_from(tmp_path: Path) -> None:
    """What a run manifest records as data hashes: train reads them from prepare.json, never from data/raw."""
    import dataclasses

    hashes = {"FD001/train_FD001.txt": "sha256:" + "1" * 64, "FD001/RUL_FD001.txt": "sha256:" + "2" * 64}
    prepared = prepare_subset(small_subset([5], [3], [1]), window=2, sensors=["s2"], rul_cap=125, cap_test_labels=True)
    save_prepared(dataclasses.replace(prepared, raw_sha256=hashes), tmp_path)
    assert json.loads((tmp_path / "prepare.json").read_text())["raw_sha256"] == dict(sorted(hashes.items()))
    assert load_prepared(tmp_path).raw_sha256 == hashes


def test_loading_prepared_data_with_a_missing_file_names_it(tmp_path: Path) -> None:
    prepared = prepare_subset(small_subset([5], [3], [1]), window=2, sensors=["s2"], rul_cap=125, cap_test_labels=True)
    save_prepared(prepared, tmp_path)
    (tmp_path / "test.npz").unlink()
    with pytest.raises(DataFormatError, match=r"test\.npz: file not found"):
        load_prepared(tmp_path)


# --------------------------------------------------------------------------- splits and leakage


def test_split_keeps_whole_units_on_one_side_and_is_reproducible() -> None:
    window_units = np.repeat(np.arange(1, 21), 7)
    train, val = split_units(window_units, 0.2, generator(42, "validation-split", 0))
    assert len(val) == 4 and len(train) == 16
    assert np.intersect1d(train, val).size == 0
    assert sorted(np.r_[train, val].tolist()) == list(range(1, 21))
    assert train.tolist() == sorted(train.tolist()) and val.tolist() == sorted(val.tolist())
    again_train, again_val = split_units(window_units, 0.2, generator(42, "validation-split", 0))
    np.testing.assert_array_equal(again_val, val)
    np.testing.assert_array_equal(again_train, train)
    other = [split_units(window_units, 0.2, generator(42, "validation-split", r))[1].tolist() for r in range(1, 6)]
    assert any(v != val.tolist() for v in other)


def test_split_puts_at_least_one_unit_on_each_side() -> None:
    train, val = split_units(np.array([3, 9]), 0.01, generator(0, "validation-split", 0))
    assert len(train) == 1 and len(val) == 1
    train, val = split_units(np.array([3, 9, 11]), 0.99, generator(0, "validation-split", 0))
    assert len(train) == 1 and len(val) == 2


def test_split_of_a_single_unit_is_impossible() -> None:
    with pytest.raises(ParamsError, match=r"train\.val_fraction: cannot split 1 training unit"):
        split_units(np.array([5, 5, 5]), 0.2, generator(0, "validation-split", 0))


def test_leakage_report_is_json_and_check_names_overlapping_units() -> None:
    report = check_no_leakage(np.array([1, 2, 3]), np.array([4, 5]), np.array([1, 2]))
    assert json.loads(json.dumps(report)) == report
    assert report == {"n_train_units": 3, "n_val_units": 2, "n_test_units": 2, "train_val_overlap": [], "leakage": False}
    assert leakage_report(np.array([1, 2, 3, 7]), np.array([3, 7, 9]))["train_val_overlap"] == [3, 7]
    with pytest.raises(DataIntegrityError, match=r"2 unit\(s\) appear in both .*: 3, 7"):
        check_no_leakage(np.array([1, 2, 3, 7]), np.array([3, 7, 9]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=24, max_size=24), st.integers(1, 999))
def test_any_finite_row_reads_back_as_its_quantized_values(tmp_path_factory: pytest.TempPathFactory, values: list[float], unit: int) -> None:
    table = np.array([[unit, 1, *values]])
    path = tmp_path_factory.mktemp("rt") / "train_X.txt"
    path.write_text(format_table(table))
    np.testing.assert_array_equal(read_table(path), cmapss.quantize_table(table))
    assert format_table(read_table(path)) == path.read_text()
