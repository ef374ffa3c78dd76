"""The turbofan fleet simulator (seedbench.data.simulate): exact files, determinism, realism, signal."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from seedbench.core.errors import ParamsError
from seedbench.data.cmapss import (
    COLUMNS,
    INFORMATIVE_SENSORS,
    Subset,
    read_subset,
    unit_ids,
    write_subset,
)
from seedbench.data.preparation import condition_ids, prepare_subset
from seedbench.data.simulate import SUBSETS, simulate_subset

_NUM = {0: r"-?\d+", 1: r"-?\d+\.\d", 2: r"-?\d+\.\d{2}", 4: r"-?\d+\.\d{4}"}
_DECIMALS = [0, 0, 4, 4, 1] + [2] * 14 + [4, 2, 0, 0, 2, 2, 4]
ROW_PATTERN = re.compile(" ".join(_NUM[d] for d in _DECIMALS) + "  ")
RUL_PATTERN = re.compile(r"\d+ ")

FD001_TRAIN_STATS = {  # REFERENCE.md: FD001 train mean (std)
    "s2": (642.68, 0.50), "s3": (1590.52, 6.13), "s4": (1408.93, 9.00), "s7": (553.37, 0.89),
    "s8": (2388.10, 0.07), "s9": (9065.24, 22.1), "s11": (47.54, 0.27), "s12": (521.41, 0.74),
    "s13": (2388.10, 0.07), "s14": (8143.75, 19.1), "s15": (8.4421, 0.0375), "s17": (393.2, 1.55),
    "s20": (38.82, 0.18), "s21": (23.290, 0.108),
}


def sha256_of_files(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def unit_lengths(table: np.ndarray) -> np.ndarray:
    return np.unique(table[:, 0], return_counts=True)[1]


@pytest.fixture(scope="module")
def fd001_full() -> Subset:
    return simulate_subset("FD001", seed=2008, scale=1.0)


@pytest.fixture(scope="module")
def fd002_small() -> Subset:
    return simulate_subset("FD002", seed=2008, scale=0.1)


# --------------------------------------------------------------------------- determinism and files


def test_same_parameters_give_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    for run in ("a", "b"):
        write_subset(simulate_subset("FD002", seed=7, scale=0.05), tmp_path / run)
    write_subset(simulate_subset("FD002", seed=8, scale=0.05), tmp_path / "c")
    first, second, other = (sha256_of_files(tmp_path / r) for r in "abc")
    assert set(first) == {"train_FD002.txt", "test_FD002.txt", "RUL_FD002.txt"}
    assert first == second
    assert all(first[name] != other[name] for name in first)


def test_simulation_leaves_the_global_numpy_random_state_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    simulate_subset("FD001", seed=1, scale=0.02)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_every_simulated_line_has_the_exact_nasa_layout(tmp_path: Path, fd002_small: Subset) -> None:
    for subset in (simulate_subset("FD001", seed=3, scale=0.05), fd002_small):
        write_subset(subset, tmp_path)
        for kind in ("train", "test"):
            text = (tmp_path / f"{kind}_{subset.name}.txt").read_text()
            assert text.endswith("  \n") and "\r" not in text
            lines = text.split("\n")[:-1]
            bad = [line for line in lines if not ROW_PATTERN.fullmatch(line)]
            assert not bad, bad[:2]
        rul_lines = (tmp_path / f"RUL_{subset.name}.txt").read_text().split("\n")[:-1]
        assert rul_lines and all(RUL_PATTERN.fullmatch(line) for line in rul_lines)


def test_written_files_read_back_to_the_simulated_values(tmp_path: Path, fd002_small: Subset) -> None:
    write_subset(fd002_small, tmp_path)
    again = read_subset(tmp_path, "FD002")
    np.testing.assert_array_equal(again.train, fd002_small.train)
    np.testing.assert_array_equal(again.test, fd002_small.test)
    np.testing.assert_array_equal(again.rul, fd002_small.rul)


# --------------------------------------------------------------------------- counts and trajectories


@pytest.mark.parametrize(
    ("name", "scale", "n_train", "n_test"),
    [("FD001", 0.25, 25, 25), ("FD002", 0.25, 65, 65), ("FD002", 0.1, 26, 26), ("FD001", 0.001, 2, 2), ("FD004", 0.02, 5, 5)],
)
def test_unit_counts_follow_the_scale(name: str, scale: float, n_train: int, n_test: int) -> None:
    subset = simulate_subset(name, seed=2008, scale=scale)
    assert unit_ids(subset.train).tolist() == list(range(1, n_train + 1))
    assert unit_ids(subset.test).tolist() == list(range(1, n_test + 1))
    assert len(subset.rul) == n_test


def test_full_size_counts_match_nasa_files(fd001_full: Subset) -> None:
    assert (len(unit_ids(fd001_full.train)), len(unit_ids(fd001_full.test))) == (100, 100)
    assert (SUBSETS["FD002"].n_train, SUBSETS["FD002"].n_test) == (260, 259)
    assert (SUBSETS["FD004"].n_train, SUBSETS["FD004"].n_test) == (249, 248)


def test_smaller_scale_gives_a_prefix_of_the_units_of_a_larger_one() -> None:
    small = simulate_subset("FD001", seed=5, scale=0.03)
    large = simulate_subset("FD001", seed=5, scale=0.06)
    np.testing.assert_array_equal(small.train, large.train[: len(small.train)])
    np.testing.assert_array_equal(small.rul, large.rul[: len(small.rul)])


def test_fd001_trajectory_lengths_resemble_nasa(fd001_full: Subset) -> None:
    lengths = unit_lengths(fd001_full.train)
    assert 100 <= lengths.min() <= 150
    assert 300 <= lengths.max() <= 420
    assert 190 <= lengths.mean() <= 225
    assert 18_000 <= len(fd001_full.train) <= 23_000  # NASA: 20,631 rows


def test_test_units_stop_before_failure_with_rul_in_range(fd001_full: Subset) -> None:
    test_lengths = unit_lengths(fd001_full.test)
    assert test_lengths.min() >= SUBSETS["FD001"].min_test_cycles
    assert fd001_full.rul.min() >= 5 and fd001_full.rul.max() <= SUBSETS["FD001"].max_test_rul
    assert 50 <= fd001_full.rul.mean() <= 95
    # observed cycles + RUL = life: test lives look like training lives
    lives = test_lengths + fd001_full.rul
    assert 170 <= lives.mean() <= 240


def test_fd001_constants_are_constant_and_informative_sensors_match_published_statistics(fd001_full: Subset) -> None:
    table = fd001_full.train
    constants = {"setting3": 100.0, "s1": 518.67, "s5": 14.62, "s10": 1.30, "s16": 0.03, "s18": 2388.0, "s19": 100.0}
    for name, value in constants.items():
        assert set(table[:, COLUMNS.index(name)].tolist()) == {value}, name
    assert np.abs(table[:, 2]).max() <= 0.0087 and np.abs(table[:, 3]).max() <= 0.0006
    for name, (mean, std) in FD001_TRAIN_STATS.items():
        column = table[:, COLUMNS.index(name)]
        assert abs(column.mean() - mean) <= 0.5 * std, name
        assert 0.85 <= column.std() / std <= 1.15, name


def test_fd002_flies_the_six_operating_conditions(fd002_small: Subset) -> None:
    conditions = condition_ids(fd002_small.train[:, 2:5])
    counts = np.bincount(conditions, minlength=6)
    assert (counts > 0.1 * len(conditions)).all()
    assert set(fd002_small.train[:, 4].tolist()) == {60.0, 100.0}


def test_two_fault_subsets_simulate() -> None:
    for name in ("FD003", "FD004"):
        subset = simulate_subset(name, seed=11, scale=0.05)
        assert subset.train.shape[1] == 26 and len(subset.rul) == len(unit_ids(subset.test))


# --------------------------------------------------------------------------- signal


def _ridge_rmse(name: str, window: int) -> tuple[float, float]:
    """Test RMSE of ridge on flattened windows and of predicting the training mean."""
    subset = simulate_subset(name, seed=2008, scale=0.2)
    prepared = prepare_subset(subset, window=window, sensors=INFORMATIVE_SENSORS, rul_cap=125, cap_test_labels=True)
    design = lambda X: np.c_[X.reshape(len(X), -1).astype(np.float64), np.ones(len(X))]  # noqa: E731
    A = design(prepared.train.X)
    coef = np.linalg.solve(A.T @ A + np.eye(A.shape[1]), A.T @ prepared.train.y.astype(np.float64))
    y_test = prepared.test.y.astype(np.float64)
    rmse = float(np.sqrt(np.mean((design(prepared.test.X) @ coef - y_test) ** 2)))
    baseline = float(np.sqrt(np.mean((prepared.train.y.mean() - y_test) ** 2)))
    return rmse, baseline


@pytest.mark.parametrize(("name", "window"), [("FD001", 30), ("FD002", 20)])
def test_sensors_carry_signal_a_linear_model_beats_the_mean_clearly(name: str, window: int) -> None:
    rmse, baseline = _ridge_rmse(name, window)
    assert rmse < 0.75 * baseline, (rmse, baseline)


# --------------------------------------------------------------------------- bad input


def test_unknown_dataset_names_the_key_and_lists_allowed_names() -> None:
    with pytest.raises(ParamsError, match=r"data\.datasets: unknown dataset 'FD005'.*FD001, FD002, FD003, FD004"):
        simulate_subset("FD005", seed=1, scale=0.5)


@pytest.mark.parametrize("scale", [0.0, 1.5, -0.1])
def test_scale_outside_unit_interval_names_the_key(scale: float) -> None:
    with pytest.raises(ParamsError, match=r"data\.builtin\.scale"):
        simulate_subset("FD001", seed=1, scale=scale)


def test_bad_seed_names_the_key() -> None:
    with pytest.raises(ParamsError, match=r"data\.builtin\.seed"):
        simulate_subset("FD001", seed=-1, scale=0.5)
