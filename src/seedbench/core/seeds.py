"""Every random stream of an experiment, derived from one experiment seed.

This module is where randomness is created: it derives named, independent
seeds with :class:`numpy.random.SeedSequence` and builds
:class:`numpy.random.Generator` objects from them. Nothing here reads the
global NumPy state, and importing it does not import torch (process-global
seeding of a training run lives in :mod:`seedbench.determinism.seeding`).

A stream is named by a path of parts, e.g. ``(STREAM_REPLICATE, 3)`` or
``(STREAM_VALIDATION_SPLIT, 3)``. The seed of a stream is a pure function of
the experiment seed and that path: adding a new stream never changes an
existing one, and replicate ``r`` gets the same seed for every method and
dataset (paired blocks). The stream names below are the only spelling of each
stream: renaming one changes every result derived from it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from seedbench.core.errors import ParamsError

STREAM_REPLICATE = "replicate"
"""Replicate ``r``'s seed: weights, dropout and the process-global streams of its runs."""
STREAM_VALIDATION_SPLIT = "validation-split"
"""Which whole training units replicate ``r`` holds out for early stopping."""
STREAM_DATA_ORDER = "data-order"
"""The order of mini-batches of replicate ``r`` (the DataLoader's generator)."""
STREAM_WORKERS = "workers"
"""Under the data-order seed: the DataLoader workers' base seed."""
STREAM_BOOTSTRAP = "bootstrap"
"""Bootstrap resampling of the statistics (per dataset, method, metric below it)."""
STREAM_BOOTSTRAP_RUN = "bootstrap-run"
"""The per-run bootstrap interval of a test metric over units (aggregate stage, ``reports/run_intervals.json``)."""
STREAM_SIMULATOR = "simulate"
"""Under ``data.builtin.seed``: the fleet simulator (part of the data's identity, not the experiment's)."""

SEED_MAX = 2**32 - 1
"""Largest seed accepted anywhere (NumPy's legacy global seed is limited to 32 bits)."""

StreamPart = str | int


def check_seed(seed: object, what: str = "seed") -> int:
    """Return ``seed`` if it is an int in ``0..2**32-1``, else raise :class:`ParamsError` naming ``what``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParamsError(f"{what}: expected an integer in 0..{SEED_MAX}, got {seed!r}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise ParamsError(f"{what}: expected an integer in 0..{SEED_MAX}, got {seed}")
    return int(seed)


def _part_to_int(part: StreamPart) -> int:
    """Map one stream-name part to a non-negative integer, stably across runs and platforms."""
    if isinstance(part, bool):
        raise TypeError(f"stream name part must be str or int, got {part!r}")
    if isinstance(part, (int, np.integer)):
        if part < 0:
            raise ValueError(f"stream name part must be non-negative, got {part}")
        return int(part)
    if isinstance(part, str):
        # Strings are hashed with sha256 (not hash(): PYTHONHASHSEED must not matter).
        # The high bit keeps string parts disjoint from small integer parts.
        return int.from_bytes(hashlib.sha256(part.encode("utf-8")).digest()[:8], "big") | (1 << 64)
    raise TypeError(f"stream name part must be str or int, got {type(part).__name__}")


def seed_sequence(root_seed: int, *names: StreamPart) -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` of the stream ``names`` under ``root_seed``."""
    root = check_seed(root_seed, "root seed")
    return np.random.SeedSequence(entropy=root, spawn_key=tuple(_part_to_int(p) for p in names))


def derive_seed(root_seed: int, *names: StreamPart) -> int:
    """A 32-bit seed (``0..2**32-1``) for the stream ``names`` under ``root_seed``.

    Examples
    --------
    >>> derive_seed(42, "replicate", 0) == derive_seed(42, "replicate", 0)
    True
    >>> derive_seed(42, "replicate", 0) != derive_seed(42, "replicate", 1)
    True
    """
    return int(seed_sequence(root_seed, *names).generate_state(1, dtype=np.uint32)[0])


def generator(root_seed: int, *names: StreamPart) -> np.random.Generator:
    """A fresh :class:`numpy.random.Generator` (PCG64) for the stream ``names`` under ``root_seed``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(root_seed, *names)))


def replicate_seed(experiment_seed: int, replicate: int) -> int:
    """The seed of replicate ``replicate``: the same for every method and dataset (paired blocks)."""
    if isinstance(replicate, bool) or not isinstance(replicate, (int, np.integer)) or replicate < 0:
        raise ParamsError(f"replicates: expected non-negative integers, got {replicate!r}")
    return derive_seed(experiment_seed, STREAM_REPLICATE, int(replicate))


def run_seeds(experiment_seed: int, replicate: int) -> dict[str, int]:
    """Every seed one training run uses, as integers for ``results.json`` and the run manifest.

    ``seed`` (replicate seed: weights, dropout, global streams),
    ``validation_split_seed`` (stream ``("validation-split", r)``, which whole
    units are held out) and ``data_order_seed`` (stream ``("data-order", r)``,
    the DataLoader's generator). None depends on the method or dataset, so runs
    of one replicate are paired.
    """
    seed = replicate_seed(experiment_seed, replicate)
    return {
        "experiment_seed": check_seed(experiment_seed, "seed"),
        "replicate": int(replicate),
        "seed": seed,
        "validation_split_seed": derive_seed(experiment_seed, STREAM_VALIDATION_SPLIT, int(replicate)),
        "data_order_seed": derive_seed(experiment_seed, STREAM_DATA_ORDER, int(replicate)),
    }
