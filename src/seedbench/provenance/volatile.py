"""The volatile half of provenance: when, where, how long, and on which git state a manifest was written.

A manifest (:mod:`seedbench.provenance.manifest`) is a DVC output and must be
the same bytes when its stage re-runs on the same machine. Everything that
changes from one run to the next lives here instead, in ``volatile.json`` beside
the manifest (git- and DVC-ignored, so ``dvc.lock`` never sees it):
``created_at``, ``wall_clock_seconds``, ``host``, the checkout's git state
(``git_sha``, ``dirty``, ``dirty_paths``) and the DVC experiment being run
(``experiment``: its name and baseline commit, from DVC's ``DVC_EXP_NAME`` and
``DVC_EXP_BASELINE_REV``, passed in by the stage).

The record names the manifest it was written with (``manifest_sha256``):
when DVC restores a manifest from its run-cache without running the stage, the
volatile record beside it belongs to another run, and :func:`read_volatile`
says so instead of pairing them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seedbench.core.files import write_json
from seedbench.core.names import VOLATILE_FILENAME
from seedbench.provenance.manifest import manifest_digest

VOLATILE_SCHEMA_VERSION = "1.0"
VOLATILE_KEYS: tuple[str, ...] = ("schema_version", "kind", "manifest_sha256", "created_at", "wall_clock_seconds",
                                  "host", "git", "experiment")
"""Every key of a volatile record."""


DVC_EXP_NAME_VAR = "DVC_EXP_NAME"
DVC_EXP_BASELINE_VAR = "DVC_EXP_BASELINE_REV"
"""Variables ``dvc exp run`` sets for every stage it runs (dvc.env)."""


def experiment_from_environ(environ: Mapping[str, str]) -> dict[str, str] | None:
    """:func:`experiment_identity` from a stage's environment mapping (passed in; nothing is read here)."""
    return experiment_identity(environ.get(DVC_EXP_NAME_VAR), environ.get(DVC_EXP_BASELINE_VAR))


def experiment_identity(name: str | None, baseline_rev: str | None) -> dict[str, str] | None:
    """``{"name", "baseline_rev"}`` of the DVC experiment being run, or ``None`` outside ``dvc exp run``.

    ``name``/``baseline_rev`` are the values of ``DVC_EXP_NAME`` and
    ``DVC_EXP_BASELINE_REV`` that ``dvc exp run`` gives every stage (the stage reads
    them; the library never reads the environment).
    """
    if not name and not baseline_rev:
        return None
    return {"name": name or "", "baseline_rev": baseline_rev or ""}


def build_volatile_record(
    *,
    kind: str,
    manifest: dict[str, Any],
    created_at: str,
    wall_clock_seconds: float | None,
    host: str,
    git: dict[str, Any],
    experiment: dict[str, str] | None,
) -> dict[str, Any]:
    """The volatile record of ``manifest`` (pure).

    Parameters
    ----------
    manifest
        The manifest written beside it, as a dict (its canonical-JSON sha256 links the two).
    wall_clock_seconds
        Seconds the stage took (the run's training; for an experiment, the sum over the runs
        whose volatile records belong to their manifests), ``None`` when unknown.
    git
        :func:`seedbench.provenance.dvclock.pipeline_git_state` (``git_sha``, ``dirty``, ``dirty_paths``).
    experiment
        :func:`experiment_identity`.
    """
    return {
        "schema_version": VOLATILE_SCHEMA_VERSION,
        "kind": kind,
        "manifest_sha256": manifest_digest(manifest),
        "created_at": created_at,
        "wall_clock_seconds": wall_clock_seconds,
        "host": host,
        "git": {"git_sha": git.get("git_sha"), "dirty": git.get("dirty"), "dirty_paths": list(git.get("dirty_paths") or [])},
        "experiment": experiment,
    }


def write_volatile(record: dict[str, Any], folder: str | Path) -> Path:
    """Write ``record`` to ``folder/volatile.json`` atomically; returns the path."""
    path = Path(folder) / VOLATILE_FILENAME
    write_json(path, record)
    return path


def read_volatile(folder: str | Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The volatile record in ``folder`` if it was written with ``manifest``; ``None`` when absent, unreadable or stale.

    Stale means written with another manifest: DVC restored the manifest (from
    its run-cache, ``dvc checkout`` or ``dvc exp apply``) without running the
    stage, so the times, host and git state beside it describe another run.
    """
    path = Path(folder) / VOLATILE_FILENAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or set(record) != set(VOLATILE_KEYS):
        return None
    return record if record.get("manifest_sha256") == manifest_digest(manifest) else None
