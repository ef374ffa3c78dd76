"""Croissant files: every one passes the real mlcroissant validator (offline) and its records read back.

A wrong sha256 still *validates* (mlcroissant checks hashes only when it reads), so every test that
checks a description also reads records. Unit tests build descriptions of a small simulated
fleet; the hf test serves the files from the fake Hub (tests/hub_server.py) over local HTTP; the
e2e tests read what the real pipeline published.
"""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlcroissant as mlc
import pytest
from hub_server import FakeHub
from pipeline_helpers import run

from seedbench.core.params import params_from_dict
from seedbench.data import cmapss
from seedbench.data.record import write_source_record
from seedbench.data.sources import fetch_source
from seedbench.data.sources.builtin import fetch_builtin
from seedbench.publishing.croissant import (
    CROISSANT_VERSION,
    PublishInfo,
    croissant_documents,
    write_croissant_files,
)

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

INFO = PublishInfo(date_published="2026-11-23", version="1.2.0", url="https://example.invalid/bench", creator="Test Lab")
REQUIRED = ("name", "description", "citeAs", "license", "url", "creator", "datePublished", "version", "conformsTo")


@pytest.fixture(autouse=True)
def _croissant_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep mlcroissant's download cache inside the test's temp folder."""
    from mlcroissant._src.core import constants

    monkeypatch.setattr(constants, "DOWNLOAD_PATH", tmp_path / "croissant-cache")
    logging.getLogger().setLevel(logging.WARNING)


@pytest.fixture()
def builtin_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out like a checkout: data/raw with two simulated subsets and SOURCE.json (cwd)."""
    raw = tmp_path / "data" / "raw"
    files = fetch_builtin(["FD001", "FD003"], seed=7, scale=0.03, out_dir=raw)
    write_source_record(raw, "builtin", files, {"datasets": ["FD001", "FD003"], "builtin": {"seed": 7, "scale": 0.03}})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(path: Path) -> mlc.Dataset:
    """mlcroissant's Dataset, failing the test on any validation error or warning."""
    dataset = mlc.Dataset(jsonld=path)
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    return dataset


def records(dataset: mlc.Dataset, record_set: str, limit: int | None = None) -> list[dict[str, Any]]:
    return list(itertools.islice(dataset.records(record_set=record_set), limit))


def test_builtin_description_validates_and_reads_back_the_exact_columns(builtin_checkout: Path) -> None:
    paths = write_croissant_files("data/raw", "publish/croissant", INFO)
    assert [p.name for p in paths] == ["FD001.json", "FD003.json"]
    dataset = load(Path("publish/croissant/FD001.json"))
    table = cmapss.read_table("data/raw/FD001/train_FD001.txt")
    rows = records(dataset, "train_FD001")
    assert len(rows) == len(table)
    for row, expected in zip(rows[:50] + rows[-5:], list(table[:50]) + list(table[-5:]), strict=True):
        values = [row[f"train_FD001/{c}"] for c in cmapss.COLUMNS]
        assert values == pytest.approx(list(expected), rel=0, abs=0)
    ruls = [r["RUL_FD001/rul"] for r in records(dataset, "RUL_FD001")]
    assert ruls == [int(v) for v in cmapss.read_rul("data/raw/FD001/RUL_FD001.txt")]
    test_rows = records(dataset, "test_FD001", limit=3)
    assert [r["test_FD001/cycle"] for r in test_rows] == [1, 2, 3]


def test_description_carries_required_fields_real_hashes_and_relative_urls(builtin_checkout: Path) -> None:
    doc = croissant_documents("data/raw", "publish/croissant", INFO)["FD003"]
    for key in REQUIRED:
        assert doc[key], key
    assert doc["conformsTo"] == CROISSANT_VERSION
    assert doc["datePublished"] == "2026-11-23" and doc["version"] == "1.2.0"
    assert "Saxena" in doc["citeAs"] and "2 fault modes" in doc["description"]
    source = json.loads(Path("data/raw/SOURCE.json").read_text())
    listed = {Path(f["path"]).name: f for f in source["files"] if f["path"].startswith("FD003/")}
    assert {o["name"] for o in doc["distribution"]} == set(listed)
    for obj in doc["distribution"]:
        entry = listed[obj["name"]]
        assert "sha256:" + obj["sha256"] == entry["sha256"]
        assert obj["contentSize"] == f"{entry['size']} B"
        assert obj["encodingFormat"] == "text/plain"
        assert obj["contentUrl"] == f"../../data/raw/{entry['path']}"
    assert [rs["name"] for rs in doc["recordSet"]] == ["train_FD003", "test_FD003", "RUL_FD003"]
    assert [f["name"] for f in doc["recordSet"][0]["field"]] == list(cmapss.COLUMNS)


def test_files_are_byte_deterministic_and_stale_ones_removed(builtin_checkout: Path) -> None:
    Path("publish/croissant").mkdir(parents=True)
    Path("publish/croissant/FD004.json").write_text("{}")
    first = {p.name: p.read_bytes() for p in write_croissant_files("data/raw", "publish/croissant", INFO)}
    second = {p.name: p.read_bytes() for p in write_croissant_files("data/raw", "publish/croissant", INFO)}
    assert first == second
    assert sorted(p.name for p in Path("publish/croissant").iterdir()) == ["FD001.json", "FD003.json"]


def test_tampered_file_still_validates_but_reading_records_fails(builtin_checkout: Path) -> None:
    write_croissant_files("data/raw", "publish/croissant", INFO)
    rul = Path("data/raw/FD001/RUL_FD001.txt")
    rul.write_bytes(rul.read_bytes().replace(b"\n", b" \n", 1))
    dataset = load(Path("publish/croissant/FD001.json"))
    with pytest.raises(mlc.GenerationError) as info:
        records(dataset, "RUL_FD001")
    chain, cause = [], info.value
    while cause is not None:
        chain.append(str(cause))
        cause = cause.__cause__
    assert any("Hash of downloaded file" in text for text in chain), chain


def test_hub_description_points_at_the_pinned_commit_and_reads_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        default_params_dict: dict[str, Any]) -> None:
    simulated = tmp_path / "sim"
    fetch_builtin(["FD002"], seed=3, scale=0.02, out_dir=simulated)
    files = {f"CMAPSSData/{p.name}": p.read_bytes() for p in sorted((simulated / "FD002").iterdir())}
    with FakeHub(lfs_suffixes=("train_FD002.txt", "test_FD002.txt")) as hub:
        commit = hub.add_commit(files)
        raw = default_params_dict
        raw["data"].update(source="hf", datasets=["FD002"])
        raw["data"]["hf"].update(repo_id=hub.repo_id, revision=commit, files=["CMAPSSData/*.txt"], endpoint=hub.endpoint,
                                 fetch_remote_metadata=False,
                                 metadata={"name": "cmapss-mirror", "description": "C-MAPSS mirror.", "license": "CC0-1.0",
                                           "citation": "Saxena et al. 2008"})
        monkeypatch.chdir(tmp_path)
        out = Path("data/raw")
        out.mkdir(parents=True)
        methods = Path(__file__).resolve().parents[2] / "methods"  # the cwd is tmp_path: name the repo's method files
        fetched, details = fetch_source(params_from_dict(raw, methods).data, out)
        write_source_record(out, "hf", fetched, details)
        (path,) = write_croissant_files(out, "publish/croissant", INFO)
        doc = json.loads(path.read_text())
        assert doc["name"] == "cmapss-mirror" and doc["license"] == "CC0-1.0" and doc["citeAs"] == "Saxena et al. 2008"
        assert doc["url"] == f"{hub.endpoint}/datasets/{hub.repo_id}"
        urls = {o["name"]: o["contentUrl"] for o in doc["distribution"]}
        assert urls["RUL_FD002.txt"] == f"{hub.endpoint}/datasets/{hub.repo_id}/resolve/{commit}/CMAPSSData/RUL_FD002.txt"
        dataset = load(path)
        ruls = [r["RUL_FD002/rul"] for r in records(dataset, "RUL_FD002")]
        assert ruls == [int(v) for v in cmapss.read_rul(out / "FD002" / "RUL_FD002.txt")]
        assert len(records(dataset, "train_FD002", limit=5)) == 5


def test_describe_command_prints_raw_prepared_and_croissant_descriptions(builtin_checkout: Path) -> None:
    write_croissant_files("data/raw", "publish/croissant", INFO)
    cli = [sys.executable, "-m", "seedbench.cli"]
    raw = subprocess.run([*cli, "describe", "data/raw"], capture_output=True, text=True, check=True).stdout
    assert "source 'builtin'" in raw and "seedbench-simulated-cmapss-FD003" in raw and "sha256:" in raw
    subset = subprocess.run([*cli, "describe", "data/raw/FD001"], capture_output=True, text=True, check=True).stdout
    assert "train_FD001.txt" in subset and "units" in subset
    described = subprocess.run([*cli, "describe", "publish/croissant"], capture_output=True, text=True, check=True).stdout
    assert "record set RUL_FD001" in described and "../../data/raw/FD001/train_FD001.txt" in described
    missing = subprocess.run([*cli, "describe", "nowhere"], capture_output=True, text=True)
    assert missing.returncode == 2 and "nowhere: no such file or folder" in missing.stderr
    assert "example:" in subprocess.run([*cli, "describe", "--help"], capture_output=True, text=True).stdout


@pytest.mark.e2e
def test_pipeline_publishes_valid_croissant_for_every_dataset(tiny_pipeline: dict[str, Any]) -> None:
    repo, params = tiny_pipeline["repo"], tiny_pipeline["params"]
    folder = repo / "publish" / "croissant"
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted(params.data.datasets)
    for path in sorted(folder.glob("*.json")):
        validated = run([str(Path(sys.executable).parent / "mlcroissant"), "validate", "--jsonld", str(path)], repo, check=False)
        assert validated.returncode == 0, validated.stderr[-2000:]
        dataset = load(path)
        assert len(records(dataset, f"RUL_{path.stem}")) == len(cmapss.read_rul(repo / "data/raw" / path.stem / f"RUL_{path.stem}.txt"))
        assert records(dataset, f"train_{path.stem}", limit=1)[0][f"train_{path.stem}/cycle"] == 1
    lock = (repo / "dvc.lock").read_text()
    assert "path: publish/croissant" in lock and "path: publish/CHECKLIST.md" in lock
    # rebuilding from the same SOURCE.json gives the very same bytes (no clock, no absolute paths)
    docs = croissant_documents(repo / "data/raw", folder, PublishInfo(
        params.publish.date_published, params.publish.version, params.publish.url, params.publish.creator))
    from seedbench.publishing.croissant import dumps_croissant

    for dataset_name, doc in docs.items():
        assert dumps_croissant(doc) == (folder / f"{dataset_name}.json").read_text()
