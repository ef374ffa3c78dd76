"""A turbofan fleet simulator that writes exact C-MAPSS files.

It follows the damage-propagation recipe of Saxena et al. (2008) that made
the NASA C-MAPSS data, with a cheap algebraic engine model in place of the
thermodynamic one:

* each unit starts with a random initial wear of its degrading module
  (efficiency ``e0`` and flow ``f0`` drawn in [0.99, 1]);
* wear then grows exponentially: the efficiency and flow losses (percent)
  are ``d + r * (exp(a * t**b) - 1)`` with t in cycles, ``a`` in
  [0.001, 0.003] and ``b`` in [1.4, 1.6] (truncated normals) and a per-unit
  rate ``r`` (log-normal fault severity). The paper writes the health
  parameter as ``h(t) = 1 - d - exp(a t^b)``; since ``exp(a * 0**b) = 1`` we
  subtract 1, so that a new engine has health ``1 - d``, and ``r`` turns the
  exponential into percent of loss;
* ``a`` and ``b`` are centred in the lower part of those ranges
  (0.0015, 1.45): with t in cycles and lives near 206 cycles, the centre of
  the ranges (0.002, 1.5) puts ``a t^b`` near 6 at failure, so wear would
  stay invisible until the last ~50 cycles, whereas NASA's FD001 sensors
  drift visibly from about 100–150 cycles before failure (the reason for the
  usual RUL cap of 125). Here ``a t^b`` is about 3.8 at failure;
* the health index is the smaller of two margins (an exhaust-gas-temperature
  margin and a stall margin), each falling linearly with the losses; the unit
  fails at the first cycle where it reaches 0, and that cycle is the last row
  of a training trajectory;
* the 21 sensors are a condition-dependent baseline plus a linear response to
  the losses (scaled to the condition), plus process noise on the losses (a
  mixture of two normals) and sensor noise.

The constants are calibrated so that FD001-like training trajectories last
about 120–350 cycles (mean ≈ 206, std ≈ 46) and the means and standard
deviations of the 14 informative sensors match the published FD001
statistics within a few percent; FD002–FD004 baselines per operating
condition are approximate. Simulated data are *not* NASA's data: numbers
from a model trained here are not comparable with published RMSEs.

Randomness comes only from :func:`seedbench.core.seeds.generator` with the stream
``(seed, "simulate", name, split, ...)``; unit ``i``'s parameters and noise do
not depend on how many units are simulated, so a smaller ``scale`` gives a
prefix of the units of a larger one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from seedbench.core.errors import ParamsError
from seedbench.core.seeds import STREAM_SIMULATOR, check_seed, generator
from seedbench.data.cmapss import CONDITION_CENTRES, N_COLUMNS, Subset, quantize_table


@dataclass(frozen=True)
class SubsetProfile:
    """What a simulated subset looks like.

    Attributes
    ----------
    name : str
        ``FD001`` … ``FD004``.
    n_train, n_test : int
        Unit counts of NASA's files (at ``scale=1``).
    conditions : tuple of int
        Rows of :data:`seedbench.data.cmapss.CONDITION_CENTRES` the engines fly at.
    condition_weights : tuple of float
        Probability of each condition at each cycle.
    fault_modes : tuple of str
        Degrading module of a unit, drawn uniformly: ``"hpc"`` or ``"fan"``.
    min_test_cycles : int
        Fewest observed cycles of a test unit (the shortest test unit of NASA's file).
    max_test_rul : int
        Largest true RUL of a test unit, in cycles.
    """

    name: str
    n_train: int
    n_test: int
    conditions: tuple[int, ...]
    condition_weights: tuple[float, ...]
    fault_modes: tuple[str, ...]
    min_test_cycles: int
    max_test_rul: int


_SIX = (0, 1, 2, 3, 4, 5)
_SIX_WEIGHTS = (0.15, 0.15, 0.15, 0.15, 0.15, 0.25)  # the 42 kft condition is the most frequent in FD002/FD004

SUBSETS: dict[str, SubsetProfile] = {
    "FD001": SubsetProfile("FD001", 100, 100, (0,), (1.0,), ("hpc",), 31, 145),
    "FD002": SubsetProfile("FD002", 260, 259, _SIX, _SIX_WEIGHTS, ("hpc",), 21, 194),
    "FD003": SubsetProfile("FD003", 100, 100, (0,), (1.0,), ("hpc", "fan"), 38, 145),
    "FD004": SubsetProfile("FD004", 249, 248, _SIX, _SIX_WEIGHTS, ("hpc", "fan"), 19, 195),
}
"""The four C-MAPSS subsets the simulator can make."""

# --------------------------------------------------------------------------- model constants

_A_MEAN, _A_STD, _A_RANGE = 0.0015, 0.0004, (0.001, 0.003)
_B_MEAN, _B_STD, _B_RANGE = 1.45, 0.05, (1.4, 1.6)
_RATE_RANGE = (0.7, 1.3)
"""Per-unit relative speed of efficiency and flow loss."""
_SEVERITY_STD = 0.45
"""Std of the log of a per-unit factor on both loss rates (fault severity)."""
_KAPPA = 0.05
"""Percent of loss per unit of ``exp(a t^b) - 1``."""
_MARGIN_WEIGHTS = np.array([[1.0, 0.5], [0.5, 1.0]])
"""Load on (EGT margin, stall margin) of 1 % efficiency loss (row 0) and 1 % flow loss (row 1)."""
_MARGIN_LIMIT = 4.0
"""Load (percent) at which a margin is used up."""
_PROCESS_STD = 0.08
_PROCESS_WIDE_STD = 0.25
_PROCESS_WIDE_P = 0.1
"""Process noise on the losses (percent): N(0, 0.08²), or N(0, 0.25²) with probability 0.1."""
_SETTING_STD = np.array([0.0022, 0.00029])
_SETTING_LIMIT = np.array([0.0087, 0.0006])
"""Noise of setting1 (kft) and setting2 (Mach) around the condition centre, clipped at ± the limit."""

# Sensor baselines of a new engine (no wear) at each condition, s1 … s21.
_BASE = np.array(
    [
        # s1 … s21 (units of the NASA files)
        [518.67, 642.023, 1583.16, 1396.09, 14.62, 21.61, 554.643, 2388.003, 9050, 1.3, 47.162, 522.445, 2388, 8128.46, 8.39188, 0.03, 391.33, 2388, 100, 39.081, 23.4434],
        [489.05, 603.68, 1492.004, 1295.587, 10.52, 15.49, 395.179, 2318.845, 8766.251, 1.26, 45.1011, 372.238, 2388, 8122.468, 8.5971, 0.03, 368.991, 2319, 100, 28.7537, 17.2514],
        [491.19, 606.478, 1473.055, 1229.913, 9.35, 13.65, 334.29, 2323.845, 8704.305, 1.08, 44.1055, 314.67, 2388, 8052.558, 9.17489, 0.02, 363.008, 2324, 100, 24.5887, 14.7424],
        [462.54, 536.426, 1256.634, 1040.848, 7.05, 9.03, 175.758, 1915.254, 7990.937, 0.94, 36.5388, 164.694, 2028.049, 7861.806, 10.8285, 0.02, 306.163, 1915, 84.93, 14.3719, 8.62067],
        [449.44, 554.914, 1359.359, 1123.44, 5.48, 8, 194.785, 2222.747, 8333.634, 1.02, 41.716, 183.315, 2387.94, 8074.53, 9.28446, 0.02, 333.09, 2223, 100, 14.9037, 8.93177],
        [445, 549.118, 1345.396, 1111.498, 3.91, 5.71, 138.904, 2211.847, 8316.649, 1.02, 41.6164, 130.854, 2387.94, 8073.531, 9.32431, 0.02, 330.097, 2212, 100, 10.6685, 6.40277],
    ]
)
"""Sensor baselines per condition (rows follow ``CONDITION_CENTRES``); FD001 is row 0."""

_NOISE = np.array(
    [0.0, 0.28, 4.0, 4.0, 0.0, 0.002, 0.40, 0.035, 6.0, 0.0, 0.13, 0.36, 0.030, 5.0, 0.020, 0.0, 0.95, 0.0, 0.0, 0.075, 0.050]
)
"""Sensor noise std at sea level (condition 0), same units as the sensor; scaled with the baseline elsewhere."""

_UNIT_OFFSET = np.zeros(21)
_UNIT_OFFSET[[8, 13]] = [15.0, 12.9]
"""Std of a per-unit offset of s9 (Nc) and s14 (NRc): engine-to-engine spread of core speed."""

_GAIN_SPREAD = np.zeros(21)
_GAIN_SPREAD[[8, 13]] = 0.6
"""Std of a per-unit gain (mean 1) on the wear response of s9/s14: their trend goes up or down by engine."""

# Change of each sensor per 1 % of efficiency loss (row 0) and flow loss (row 1) of the degrading module.
_HPC_RESPONSE = np.array(
    [
        [0.0, 0.50, 5.6, 8.8, 0.0, 0.0, -0.60, 0.055, 5.5, 0.0, 0.205, -0.48, 0.057, 4.5, 0.034, 0.0, 1.28, 0.0, 0.0, -0.148, -0.087],
        [0.0, 0.25, 2.8, 5.8, 0.0, 0.0, -0.84, 0.055, 12.5, 0.0, 0.224, -0.69, 0.057, 11.0, 0.023, 0.0, 0.85, 0.0, 0.0, -0.148, -0.087],
    ]
)
_FAN_RESPONSE = np.array(
    [
        [0.0, 0.37, 3.5, 6.4, 0.0, 0.0, 0.54, -0.033, 4.0, 0.0, 0.140, 0.44, -0.034, 3.0, 0.032, 0.0, 0.96, 0.0, 0.0, 0.119, 0.072],
        [0.0, 0.31, 2.9, 5.4, 0.0, 0.0, 0.66, -0.044, 6.0, 0.0, 0.187, 0.52, -0.046, 5.0, 0.038, 0.0, 0.75, 0.0, 0.0, 0.148, 0.087],
    ]
)
_RESPONSE = {"hpc": _HPC_RESPONSE, "fan": _FAN_RESPONSE}
_INTEGER_SENSORS = (16, 17)  # s17, s18 (0-based sensor index)


def profile(name: str) -> SubsetProfile:
    """The profile of subset ``name``; ParamsError naming ``data.datasets`` when unknown."""
    if name not in SUBSETS:
        raise ParamsError(f"data.datasets: unknown dataset {name!r} for the simulator; choose from {', '.join(SUBSETS)}")
    return SUBSETS[name]


def scaled_count(n: int, scale: float) -> int:
    """``round(n * scale)`` (halves up), at least 2: the unit count at ``scale``."""
    return max(2, int(np.floor(n * scale + 0.5)))


# --------------------------------------------------------------------------- per-unit parameters


@dataclass(frozen=True, eq=False)
class _Units:
    """Parameters of ``n`` units (arrays of shape (n,) unless stated)."""

    a: np.ndarray
    b: np.ndarray
    wear0: np.ndarray  # (n, 2) initial efficiency / flow loss, percent
    rate: np.ndarray  # (n, 2) percent of loss per unit of exp(a t^b) - 1
    mode: np.ndarray  # index into profile.fault_modes
    gain: np.ndarray  # (n, 21) gain on the wear response
    offset: np.ndarray  # (n, 21) per-unit sensor offset at sea level
    life: np.ndarray  # int64 cycles to failure (last cycle of a run to failure)
    cut: np.ndarray  # uniform [0, 1) that picks a test unit's truncation


def _truncated_normal(rng: np.random.Generator, mean: float, std: float, bounds: tuple[float, float], n: int) -> np.ndarray:
    """``n`` draws of N(mean, std²) truncated to ``bounds`` (inverse-CDF sampling: no pile-up at the bounds)."""
    lo, hi = ndtr((np.asarray(bounds, dtype=np.float64) - mean) / std)
    return np.clip(mean + std * ndtri(rng.uniform(lo, hi, n)), *bounds)


def _life(a: np.ndarray, b: np.ndarray, wear0: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """First whole cycle at which the health index (smallest margin) reaches 0, int64 (n,).

    Load on margin m at time t is ``wear0 @ W[:, m] + (rate @ W[:, m]) * (exp(a t^b) - 1)``;
    solve ``load = limit`` for ``exp(a t^b) - 1`` and then for ``t``.
    """
    load0 = wear0 @ _MARGIN_WEIGHTS
    slope = rate @ _MARGIN_WEIGHTS
    growth = ((_MARGIN_LIMIT - load0) / slope).min(axis=1)
    t_fail = (np.log1p(growth) / a) ** (1.0 / b)
    return np.maximum(np.ceil(t_fail), 1).astype(np.int64)


def _draw_units(seed: int, prof: SubsetProfile, split: str, n_total: int) -> _Units:
    """Parameters of the ``n_total`` units of the full-size ``split`` (truncate for smaller scales)."""
    rng = generator(seed, STREAM_SIMULATOR, prof.name, split, "units")
    a = _truncated_normal(rng, _A_MEAN, _A_STD, _A_RANGE, n_total)
    b = _truncated_normal(rng, _B_MEAN, _B_STD, _B_RANGE, n_total)
    e0f0 = rng.uniform(0.99, 1.0, (n_total, 2))
    wear0 = 100.0 * (1.0 - e0f0)
    severity = np.exp(_SEVERITY_STD * rng.standard_normal((n_total, 1)))
    rate = _KAPPA * severity * rng.uniform(*_RATE_RANGE, (n_total, 2))
    mode = rng.integers(0, len(prof.fault_modes), n_total)
    gain = 1.0 + _GAIN_SPREAD * rng.standard_normal((n_total, 21))
    offset = _UNIT_OFFSET * rng.standard_normal((n_total, 21))
    cut = rng.uniform(0.0, 1.0, n_total)
    return _Units(a, b, wear0, rate, mode, gain, offset, _life(a, b, wear0, rate), cut)


def _test_rul(life: np.ndarray, cut: np.ndarray, prof: SubsetProfile) -> np.ndarray:
    """True RUL of test units: uniform whole cycles in [5, max_test_rul], leaving >= min_test_cycles observed."""
    high = np.clip(np.minimum(prof.max_test_rul, life - prof.min_test_cycles), 0, None)
    low = np.minimum(5, high)
    return (low + np.floor(cut * (high - low + 1))).astype(np.int64)


# --------------------------------------------------------------------------- trajectories


def _simulate_split(seed: int, prof: SubsetProfile, split: str, n_full: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Table (rows, 26) of ``n`` units of ``split`` (``"train"``: run to failure; ``"test"``: truncated) and their RUL."""
    units = _draw_units(seed, prof, split, n_full)
    life = units.life[:n]
    rul = _test_rul(life, units.cut[:n], prof) if split == "test" else np.zeros(n, np.int64)
    length = life - rul
    unit_of_row = np.repeat(np.arange(n), length)
    cycle = np.concatenate([np.arange(1, k + 1) for k in length]).astype(np.float64)

    cond_choices = np.asarray(prof.conditions)
    weights = np.asarray(prof.condition_weights)
    conds, setting_noise, process, sensor_noise = [], [], [], []
    for i in range(n):  # per-unit streams: unit i does not depend on how many units are simulated
        rng = generator(seed, STREAM_SIMULATOR, prof.name, split, "unit", i)
        k = int(length[i])
        if len(cond_choices) > 1:
            conds.append(cond_choices[rng.choice(len(cond_choices), size=k, p=weights)])
        else:
            conds.append(np.full(k, cond_choices[0]))
        setting_noise.append(rng.standard_normal((k, 2)))
        wide = rng.uniform(size=(k, 1)) < _PROCESS_WIDE_P
        process.append(rng.standard_normal((k, 2)) * np.where(wide, _PROCESS_WIDE_STD, _PROCESS_STD))
        sensor_noise.append(rng.standard_normal((k, 21)))
    cond = np.concatenate(conds)

    settings = CONDITION_CENTRES[cond].copy()
    settings[:, :2] += np.clip(np.concatenate(setting_noise) * _SETTING_STD, -_SETTING_LIMIT, _SETTING_LIMIT)

    a, b = units.a[unit_of_row], units.b[unit_of_row]
    growth = np.expm1(a * cycle**b)[:, None]
    loss = units.wear0[unit_of_row] + units.rate[unit_of_row] * growth + np.concatenate(process)  # (rows, 2) percent
    response_tables = np.stack([_RESPONSE[m] for m in prof.fault_modes])  # (modes, 2, 21)
    response = response_tables[units.mode[unit_of_row]]  # (rows, 2, 21)
    wear_effect = np.einsum("rk,rks->rs", loss, response) * units.gain[unit_of_row]
    ratio = _BASE[cond] / _BASE[0]
    sensors = _BASE[cond] + ratio * (wear_effect + units.offset[unit_of_row] + _NOISE * np.concatenate(sensor_noise))
    sensors[:, list(_INTEGER_SENSORS)] = np.rint(sensors[:, list(_INTEGER_SENSORS)])

    table = np.empty((len(cycle), N_COLUMNS))
    table[:, 0] = unit_of_row + 1
    table[:, 1] = cycle
    table[:, 2:5] = settings
    table[:, 5:] = sensors
    return quantize_table(table), rul


def simulate_subset(name: str, *, seed: int, scale: float) -> Subset:
    """Simulate subset ``name`` (``FD001`` … ``FD004``) as it would be read from NASA's files.

    Parameters
    ----------
    name : str
        A key of :data:`SUBSETS`.
    seed : int
        Simulator seed (``data.builtin.seed``): part of the data's identity.
    scale : float
        In (0, 1]: fraction of NASA's unit counts (rounded, at least 2 train
        and 2 test units).

    Returns
    -------
    Subset
        Tables already rounded to the file's decimals, so writing and reading
        them back gives the same numbers. A pure function of its arguments.
    """
    prof = profile(name)
    seed = check_seed(seed, "data.builtin.seed")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) or not 0 < scale <= 1:
        raise ParamsError(f"data.builtin.scale: expected a number in (0, 1], got {scale!r}")
    train, _ = _simulate_split(seed, prof, "train", prof.n_train, scaled_count(prof.n_train, scale))
    test, rul = _simulate_split(seed, prof, "test", prof.n_test, scaled_count(prof.n_test, scale))
    return Subset(name=name, train=train, test=test, rul=rul)
