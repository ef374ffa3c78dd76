"""The `local` source: NASA's C-MAPSS files from a folder, copied or hard-linked, hashed, optionally pinned."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbench.core.errors import DataIntegrityError, ParamsError, SourceError
from seedbench.core.files import read_json
from seedbench.core.hashing import file_sha256
from seedbench.core.params import params_from_dict
from seedbench.data.sources import fetch_source
from seedbench.data.sources.local import copy_with_sha256

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS = ["FD001", "FD002"]
SENSOR_COLUMNS = b" ".join([b"1.0"] * 21)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_cmapss_folder(folder: Path, datasets: list[str] = DATASETS) -> dict[str, bytes]:
    """A CMAPSSData-like folder (plus NASA's readme) with small files; returns {name: bytes}."""
    folder.mkdir(parents=True, exist_ok=True)
    contents: dict[str, bytes] = {}
    for i, dataset in enumerate(datasets, start=1):
        contents[f"train_{dataset}.txt"] = b"".join(b"%d %d 0.0 0.0 100.0  \n" % (u, c) for u in (1, 2) for c in range(1, 4 + i))
        contents[f"test_{dataset}.txt"] = b"1 1 0.0 0.0 100.0  \n2 1 0.0 0.0 100.0  \n"
        contents[f"RUL_{dataset}.txt"] = b"%d \n7 \n" % (100 + i)
    for name, data in list(contents.items()):  # 21 sensor columns: rows of the real 26-column format
        contents[name] = data.replace(b"100.0  \n", b"100.0 " + SENSOR_COLUMNS + b"  \n")
        (folder / name).write_bytes(contents[name])
    (folder / "readme.txt").write_text("not a data file\n")
    return contents


def local_params(default_params_dict: dict[str, Any], **local: Any) -> dict[str, Any]:
    raw = default_params_dict
    raw["data"]["source"] = "local"
    raw["data"]["datasets"] = list(DATASETS)
    raw["data"]["local"].update(local)
    return raw


def run_stage(cwd: Path, raw_params: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The real fetch stage, as DVC runs it (cwd = project root), on ``raw_params``."""
    (cwd / "params.yaml").write_text(yaml.safe_dump(raw_params, sort_keys=False))
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "stages" / "fetch.py"), "--params", "params.yaml", "--out", "data/raw"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_local_fetch_stage_copies_files_into_the_cmapss_layout(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    contents = make_cmapss_folder(tmp_path / "CMAPSSData")
    result = run_stage(tmp_path, local_params(default_params_dict, path="CMAPSSData"))
    assert result.returncode == 0, result.stderr
    raw = tmp_path / "data" / "raw"
    for name, data in contents.items():
        dataset = name.split("_")[1][:5]
        assert (raw / dataset / name).read_bytes() == data
        assert not (raw / dataset / name).samefile(tmp_path / "CMAPSSData" / name)
    record = read_json(raw / "SOURCE.json")
    assert record["source"] == "local"
    by_path = {f["path"]: f for f in record["files"]}
    assert sorted(by_path) == sorted(f"{n.split('_')[1][:5]}/{n}" for n in contents)
    entry = by_path["FD001/train_FD001.txt"]
    assert entry["sha256"] == _sha(contents["train_FD001.txt"])
    assert entry["size"] == len(contents["train_FD001.txt"])
    assert entry["origin"] == {"kind": "local", "path": "CMAPSSData/train_FD001.txt", "link": False}
    assert not (raw / "readme.txt").exists() and not (raw / "FD001" / "readme.txt").exists()


def test_link_mode_hard_links_the_originals(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    make_cmapss_folder(tmp_path / "CMAPSSData")
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "CMAPSSData"), link=True)).data
    out = tmp_path / "out"
    out.mkdir()
    files, details = fetch_source(data, out)
    assert (out / "FD002" / "RUL_FD002.txt").samefile(tmp_path / "CMAPSSData" / "RUL_FD002.txt")
    assert {f.origin["link"] for f in files} == {True}
    assert details["local"]["link"] is True
    assert all(f.sha256 == file_sha256(out / f.path) for f in files)


def test_matching_pins_pass(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    contents = make_cmapss_folder(tmp_path / "CMAPSSData")
    pins = {name: _sha(data) for name, data in contents.items()}
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "CMAPSSData"), expected_sha256=pins)).data
    (tmp_path / "out").mkdir()
    files, details = fetch_source(data, tmp_path / "out")
    assert len(files) == 6 and "warnings" not in details
    assert details["local"]["expected_sha256"] == dict(sorted(pins.items()))


def test_hash_mismatch_fails_naming_file_expected_actual_and_keeps_previous_raw(
    tmp_path: Path, default_params_dict: dict[str, Any]
) -> None:
    contents = make_cmapss_folder(tmp_path / "CMAPSSData")
    raw_params = local_params(default_params_dict, path="CMAPSSData")
    assert run_stage(tmp_path, raw_params).returncode == 0
    before = snapshot(tmp_path / "data" / "raw")

    (tmp_path / "CMAPSSData" / "test_FD002.txt").write_bytes(b"1 1 0.0 0.0 100.0  \n")  # changed behind our back
    pinned = _sha(contents["test_FD002.txt"])
    raw_params["data"]["local"]["expected_sha256"] = {"test_FD002.txt": pinned}
    result = run_stage(tmp_path, raw_params)

    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "test_FD002.txt" in message and pinned in message
    assert _sha(b"1 1 0.0 0.0 100.0  \n") in message
    assert snapshot(tmp_path / "data" / "raw") == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]  # no staging folder left behind


def test_missing_folder_is_a_clear_error(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "nowhere"))).data
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceError, match=r"data\.local\.path: folder .*nowhere not found.*CMAPSSData"):
        fetch_source(data, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_file_is_named_before_anything_is_written(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    make_cmapss_folder(tmp_path / "CMAPSSData")
    (tmp_path / "CMAPSSData" / "RUL_FD002.txt").unlink()
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "CMAPSSData"))).data
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceError, match=r"has no RUL_FD002\.txt \(needed for data\.datasets"):
        fetch_source(data, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_pin_for_a_file_not_fetched_is_reported(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    make_cmapss_folder(tmp_path / "CMAPSSData")
    pins = {"train_FD004.txt": "sha256:" + "0" * 64}
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "CMAPSSData"), expected_sha256=pins)).data
    (tmp_path / "out").mkdir()
    _, details = fetch_source(data, tmp_path / "out")
    assert "train_FD004.txt" in details["warnings"][0]


def test_mismatch_raises_data_integrity_error(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    make_cmapss_folder(tmp_path / "CMAPSSData")
    pins = {"train_FD001.txt": "sha256:" + "ab" * 32}
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "CMAPSSData"), expected_sha256=pins)).data
    (tmp_path / "out").mkdir()
    with pytest.raises(DataIntegrityError, match=r"train_FD001\.txt: sha256 mismatch: expected sha256:(ab){32} .* actual sha256:"):
        fetch_source(data, tmp_path / "out")


def test_unknown_source_is_rejected(default_params_dict: dict[str, Any], tmp_path: Path) -> None:
    default_params_dict["data"]["source"] = "ftp"
    with pytest.raises(ParamsError, match="data.source: expected one of builtin, local, hf"):
        params_from_dict(default_params_dict)
    default_params_dict["data"]["source"] = "builtin"
    data = dataclasses.replace(params_from_dict(default_params_dict).data, source="ftp")  # bypasses validation
    with pytest.raises(SourceError, match="unknown source 'ftp'"):
        fetch_source(data, tmp_path)


def test_copy_with_sha256_hashes_while_copying(tmp_path: Path) -> None:
    payload = os.urandom(3 * 1000 + 17)
    (tmp_path / "src").write_bytes(payload)
    digest, size = copy_with_sha256(tmp_path / "src", tmp_path / "dst", chunk_bytes=1000)
    assert (digest, size) == (_sha(payload), len(payload))
    assert (tmp_path / "dst").read_bytes() == payload


def test_a_symlink_out_of_the_folder_is_refused_and_nothing_is_written(
    tmp_path: Path, default_params_dict: dict[str, Any]
) -> None:
    """Issue 21, finding 2: `train_FD001.txt -> /etc/passwd` (a zip can carry such links) never enters data/raw."""
    make_cmapss_folder(tmp_path / "CMAPSSData")
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "CMAPSSData" / "train_FD001.txt").unlink()
    (tmp_path / "CMAPSSData" / "train_FD001.txt").symlink_to(secret)
    result = run_stage(tmp_path, local_params(default_params_dict, path="CMAPSSData"))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "CMAPSSData/train_FD001.txt is a link to" in message and "outside CMAPSSData" in message
    assert not (tmp_path / "data" / "raw").exists()
    assert list((tmp_path / "data").iterdir()) == []  # no staging folder either


def test_a_symlink_inside_the_folder_is_followed(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    contents = make_cmapss_folder(tmp_path / "CMAPSSData")
    (tmp_path / "CMAPSSData" / "orig").mkdir()
    os.replace(tmp_path / "CMAPSSData" / "RUL_FD001.txt", tmp_path / "CMAPSSData" / "orig" / "RUL_FD001.txt")
    (tmp_path / "CMAPSSData" / "RUL_FD001.txt").symlink_to("orig/RUL_FD001.txt")
    data = params_from_dict(local_params(default_params_dict, path=str(tmp_path / "CMAPSSData"))).data
    (tmp_path / "out").mkdir()
    fetch_source(data, tmp_path / "out")
    assert (tmp_path / "out" / "FD001" / "RUL_FD001.txt").read_bytes() == contents["RUL_FD001.txt"]
    assert not (tmp_path / "out" / "FD001" / "RUL_FD001.txt").is_symlink()


def test_a_device_is_not_a_data_file(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    folder = tmp_path / "CMAPSSData"
    make_cmapss_folder(folder)
    (folder / "test_FD002.txt").unlink()
    (folder / "test_FD002.txt").symlink_to("/dev/zero")
    data = params_from_dict(local_params(default_params_dict, path=str(folder))).data
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceError, match=r"test_FD002\.txt is a link to /dev/zero, outside"):
        fetch_source(data, tmp_path / "out")


def test_bytes_of_another_format_fail_the_fetch_not_prepare(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    """The C-MAPSS reader checks every file at fetch, so data/raw (and DVC's cache) never hold them."""
    make_cmapss_folder(tmp_path / "CMAPSSData")
    (tmp_path / "CMAPSSData" / "test_FD002.txt").write_text("<html>not found</html>\n")
    result = run_stage(tmp_path, local_params(default_params_dict, path="CMAPSSData"))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("fetch: error: fetch from data.local.path CMAPSSData: FD002/test_FD002.txt, line 1")
    assert list((tmp_path / "data").iterdir()) == []
