"""Train/validation splits by whole units, and the leakage check that no unit id crosses splits.

Units are split whole (every window of a unit on one side), so validation
loss measures generalisation to unseen engines, as the test set does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seedbench.core.errors import DataIntegrityError, ParamsError


def split_units(units: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split whole units into (train, validation), each a sorted int64 array of unit ids.

    ``units`` may repeat ids (e.g. one per window); each distinct id goes to
    exactly one side. The validation side gets ``round(val_fraction * n)``
    units, clamped so that both sides hold at least one. Deterministic given
    the state of ``rng`` (pass ``seeds.generator(seed, STREAM_VALIDATION_SPLIT, r)``).
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
