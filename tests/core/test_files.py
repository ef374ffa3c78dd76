"""Atomic, deterministic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from seedbench.core.files import (
    atomic_write_bytes,
    npz_bytes,
    read_npz,
    staged_directory,
    staged_outputs,
    write_json,
    write_npz,
)


def test_json_is_canonical_and_round_trips_floats_exactly(tmp_path: Path) -> None:
    value = {"b": 0.1 + 0.2, "a": [1, 2], "c": 1e-300}
    write_json(tmp_path / "x.json", value)
    text = (tmp_path / "x.json").read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"') < text.index('"c"')
    assert json.loads(text) == value


def test_npz_bytes_depend_only_on_the_arrays(tmp_path: Path) -> None:
    arrays = {"X": np.arange(12, dtype=np.float32).reshape(3, 4), "unit": np.array([1, 2, 3])}
    first = npz_bytes(arrays)
    os.utime(tmp_path)  # time passes; bytes must not change
    assert npz_bytes(dict(reversed(list(arrays.items())))) == first
    write_npz(tmp_path / "a.npz", arrays)
    loaded = read_npz(tmp_path / "a.npz")
    assert loaded.keys() == arrays.keys()
    for name in arrays:
        assert loaded[name].dtype == arrays[name].dtype and np.array_equal(loaded[name], arrays[name])


def test_failed_atomic_write_leaves_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")


    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_staged_directory_replaces_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "raw"
    final.mkdir()
    (final / "keep.txt").write_text("previous")
    with pytest.raises(RuntimeError):
        with staged_directory(final) as staging:
            (staging / "half.txt").write_text("partial")
            raise RuntimeError("source failed")
    assert sorted(p.name for p in final.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]

    with staged_directory(final) as staging:
        (staging / "new.txt").write_text("complete")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_staged_outputs_replace_every_named_output_together_or_none(tmp_path: Path) -> None:
    run = tmp_path / "rep_0"
    (run / "live").mkdir(parents=True)
    (run / "live" / "old.tsv").write_text("old")
    (run / "model.pt").write_text("old model")
    (run / "results.json").write_text("another stage's")
    before = _tree(run)
    with pytest.raises(RuntimeError):  # fails after the first output was written
        with staged_outputs(run, ["model.pt", "live"]) as staging:
            (staging / "model.pt").write_text("new model")
            raise RuntimeError("predictions failed")
    assert _tree(run) == before
    with pytest.raises(FileNotFoundError, match="live"):  # an output never written: nothing replaced either
        with staged_outputs(run, ["model.pt", "live"]) as staging:
            (staging / "model.pt").write_text("new model")
    assert _tree(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep_0"]  # no staging folder left

    with staged_outputs(run, ["model.pt", "live"]) as staging:
        (staging / "live").mkdir()
        (staging / "live" / "new.tsv").write_text("new")
        (staging / "model.pt").write_text("new model")
    assert _tree(run) == {"live/new.tsv": "new", "model.pt": "new model", "results.json": "another stage's"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep_0"] and oct((run / "live").stat().st_mode)[-3:] == "755"
