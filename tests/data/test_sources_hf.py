"""The `hf` source against a real HTTP server speaking the Hub's API (tests/hub_server.py).

The real `huggingface_hub` client talks to a local fake Hub through `data.hf.endpoint`; the stage
tests run the real `stages/fetch.py` in a subprocess, as DVC would.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hub_server import CROISSANT_PLACEHOLDER, FakeHub, git_blob_id

from seedbench.core.errors import DataIntegrityError, SourceError
from seedbench.core.files import read_json
from seedbench.core.params import params_from_dict
from seedbench.data.sources import fetch_source
from seedbench.data.sources.hf import (
    HashingWriter,
    HubMetadata,
    check_repo_path,
    fetch_hf,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS = ["FD001", "FD002"]
TOKEN = "hf_SeedbenchTestSecret0123456789"


def cmapss_files(version: int = 1) -> dict[str, bytes]:
    """A fixture repository: CMAPSSData/ with FD001 and FD002, plus a README (not LFS)."""
    files: dict[str, bytes] = {"README.md": b"# C-MAPSS fixture\n"}
    for i, dataset in enumerate(DATASETS, start=1):
        files[f"CMAPSSData/train_{dataset}.txt"] = b"".join(
            b"%d %d 0.0%d 0.0 100.0  \n" % (u, c, version) for u in (1, 2) for c in range(1, 5 + i)
        )
        files[f"CMAPSSData/test_{dataset}.txt"] = b"1 1 0.0 0.0 100.0  \n2 1 0.0 0.0 100.0  \n"
        files[f"CMAPSSData/RUL_{dataset}.txt"] = b"%d \n%d \n" % (100 + i, version)
    sensors = b" ".join([b"1.0"] * 21)  # rows of the real 26-column format (fetch reads every file back)
    return {name: data.replace(b"100.0  \n", b"100.0 " + sensors + b"  \n") for name, data in files.items()}


CROISSANT = {
    "@context": {"@vocab": "https://schema.org/"},
    "@type": "sc:Dataset",
    "name": "cmapss-fixture",
    "description": "NASA C-MAPSS turbofan run-to-failure simulations (fixture).",
    "license": "https://creativecommons.org/publicdomain/zero/1.0/",
    "citeAs": "@inproceedings{saxena2008, title={Damage propagation modeling}}",
    "distribution": [
        {"@type": "cr:FileObject", "@id": "repo", "name": "repo", "contentUrl": "https://example.invalid/tree",
         "encodingFormat": "git+https", "sha256": CROISSANT_PLACEHOLDER},
    ],
}


@pytest.fixture()
def hub() -> Any:
    # train/test are LFS files (sha256 oid); RUL files and README stay in git (blob sha1).
    fake = FakeHub(page_size=4, lfs_suffixes=tuple(f"{k}_{d}.txt" for k in ("train", "test") for d in DATASETS))
    fake.croissant = json.loads(json.dumps(CROISSANT))
    with fake:
        yield fake


def hf_params(default_params_dict: dict[str, Any], hub: FakeHub, **hf: Any) -> dict[str, Any]:
    raw = default_params_dict
    raw["data"]["source"] = "hf"
    raw["data"]["datasets"] = list(DATASETS)
    raw["data"]["hf"].update(
        repo_id=hub.repo_id, repo_type="dataset", revision=hub.refs.get("main", "main"),
        files=["CMAPSSData/*.txt"], endpoint=hub.endpoint, fetch_remote_metadata=True,
    )
    raw["data"]["hf"].update(hf)
    return raw


def fetch_in_process(raw: dict[str, Any], out: Path) -> tuple[list[Any], dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    return fetch_source(params_from_dict(raw).data, out)


def run_stage(cwd: Path, raw: dict[str, Any], token: str | None = None,
              hf_endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real fetch stage (cwd = project root), with a private HF_HOME; HF_TOKEN / HF_ENDPOINT only when given."""
    (cwd / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(HF_HOME=str(cwd / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
    if token is not None:
        env["HF_TOKEN"] = token
    if hf_endpoint is not None:
        env["HF_ENDPOINT"] = hf_endpoint
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "stages" / "fetch.py"), "--params", "params.yaml", "--out", "data/raw"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- happy paths


def test_hub_fetch_stage_writes_cmapss_layout_and_source_record(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    files = cmapss_files()
    commit = hub.add_commit(files)
    result = run_stage(tmp_path, hf_params(default_params_dict, hub, revision=commit))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr

    raw = tmp_path / "data" / "raw"
    assert snapshot(raw).keys() == {"SOURCE.json", *(f"{d}/{k}_{d}.txt" for d in DATASETS for k in ("train", "test", "RUL"))}
    record = read_json(raw / "SOURCE.json")
    assert record["source"] == "hf"
    assert record["details"]["hf"]["commit"] == commit and record["details"]["hf"]["revision"] == commit
    by_path = {f["path"]: f for f in record["files"]}
    train = by_path["FD001/train_FD001.txt"]
    data = files["CMAPSSData/train_FD001.txt"]
    assert (raw / "FD001" / "train_FD001.txt").read_bytes() == data
    assert train["sha256"] == _sha(data) and train["size"] == len(data)
    assert train["origin"]["lfs_oid"] == _sha(data)
    assert train["origin"]["commit"] == commit and train["origin"]["path_in_repo"] == "CMAPSSData/train_FD001.txt"
    assert train["origin"]["url"] == f"{hub.endpoint}/datasets/{hub.repo_id}/resolve/{commit}/CMAPSSData/train_FD001.txt"
    rul = by_path["FD002/RUL_FD002.txt"]  # a non-LFS file: identity is its git blob id
    assert rul["origin"]["lfs_oid"] is None
    assert rul["origin"]["git_blob_id"] == git_blob_id(files["CMAPSSData/RUL_FD002.txt"])
    assert rul["sha256"] == _sha(files["CMAPSSData/RUL_FD002.txt"])
    assert record["details"]["metadata"]["name"] == "cmapss-fixture"
    assert record["details"]["metadata"]["citation"].startswith("@inproceedings")


def test_default_endpoint_honours_hf_endpoint_and_records_it(tmp_path: Path, hub: FakeHub,
                                                             default_params_dict: dict[str, Any]) -> None:
    assert default_params_dict["data"]["hf"]["endpoint"] == ""  # the committed default: huggingface_hub's own
    commit = hub.add_commit(cmapss_files())
    result = run_stage(tmp_path, hf_params(default_params_dict, hub, revision=commit, endpoint=""), hf_endpoint=hub.endpoint)
    assert result.returncode == 0, result.stderr
    record = read_json(tmp_path / "data" / "raw" / "SOURCE.json")
    assert record["details"]["hf"]["endpoint"] == hub.endpoint  # the mirror actually used, not the public Hub
    assert all(f["origin"]["url"].startswith(hub.endpoint + "/") for f in record["files"])


def test_branch_revision_resolves_once_to_its_commit_and_warns(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    old = hub.add_commit(cmapss_files(version=1))
    new_files = cmapss_files(version=2)
    new = hub.add_commit(new_files)  # main moves to `new`
    result = run_stage(tmp_path, hf_params(default_params_dict, hub, revision="main"))
    assert result.returncode == 0, result.stderr
    assert "fetch: warning: data.hf.revision 'main' is a branch or tag" in result.stderr
    assert f"data.hf.revision: {new}" in result.stderr
    record = read_json(tmp_path / "data" / "raw" / "SOURCE.json")
    assert record["details"]["hf"]["commit"] == new
    assert {f["origin"]["commit"] for f in record["files"]} == {new}
    assert (tmp_path / "data" / "raw" / "FD001" / "RUL_FD001.txt").read_bytes() == new_files["CMAPSSData/RUL_FD001.txt"]
    # every call after the resolution names the commit, never the branch
    later = [path for method, path, _ in hub.requests if "/revision/" not in path]
    assert later and all(new in path or "croissant" in path for path in later)

    files, _ = fetch_in_process(hf_params(default_params_dict, hub, revision=old), tmp_path / "pinned")
    assert (tmp_path / "pinned" / "FD001" / "RUL_FD001.txt").read_bytes() == cmapss_files(version=1)["CMAPSSData/RUL_FD001.txt"]
    assert {f.origin["commit"] for f in files} == {old}


def test_croissant_placeholder_sha256_is_ignored_for_tree_hashes(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    files = cmapss_files()
    hub.add_commit(files)
    fetched, details = fetch_in_process(hf_params(default_params_dict, hub), tmp_path / "out")
    assert details["croissant"]["placeholder_sha256_ignored"] == 1
    assert {f.path: f.sha256 for f in fetched}["FD002/test_FD002.txt"] == _sha(files["CMAPSSData/test_FD002.txt"])
    assert all(f.sha256.startswith("sha256:") and CROISSANT_PLACEHOLDER not in json.dumps(f.origin) for f in fetched)
    assert details["metadata"]["license"] == CROISSANT["license"]
    assert details["metadata_origin"] == dict.fromkeys(["name", "description", "license", "citation"], "croissant")


def test_explicit_metadata_wins_and_remote_metadata_can_be_skipped(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    meta = {"name": "NASA C-MAPSS", "description": "", "license": "CC0-1.0", "citation": ""}
    _, details = fetch_in_process(hf_params(default_params_dict, hub, metadata=meta), tmp_path / "a")
    assert details["metadata"]["name"] == "NASA C-MAPSS" and details["metadata"]["license"] == "CC0-1.0"
    assert details["metadata"]["description"] == CROISSANT["description"]
    assert details["metadata_origin"]["name"] == "params" and details["metadata_origin"]["description"] == "croissant"

    hub.requests.clear()
    _, details = fetch_in_process(hf_params(default_params_dict, hub, metadata=meta, fetch_remote_metadata=False), tmp_path / "b")
    assert not any("croissant" in path for _, path, _ in hub.requests)
    assert details["metadata"]["description"] == "" and details["metadata_origin"]["description"] == "none"


def test_unavailable_croissant_is_a_warning_not_a_failure(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    hub.croissant_status = 500
    files, details = fetch_in_process(hf_params(default_params_dict, hub), tmp_path / "out")
    assert len(files) == 6
    assert any("Croissant metadata unavailable" in w and "HTTP 500" in w for w in details["warnings"])


# --------------------------------------------------------------------------- integrity and safety


def test_tampered_hub_file_is_rejected_and_raw_keeps_its_content(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    files = cmapss_files()
    hub.add_commit(files)
    raw_params = hf_params(default_params_dict, hub)
    assert run_stage(tmp_path, raw_params).returncode == 0
    before = snapshot(tmp_path / "data" / "raw")

    good = files["CMAPSSData/train_FD002.txt"]
    bad = bytes([good[0] ^ 1]) + good[1:]  # same size, one bit flipped
    hub.tampered["CMAPSSData/train_FD002.txt"] = bad
    result = run_stage(tmp_path, raw_params)

    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("fetch: error: CMAPSSData/train_FD002.txt")
    assert f"expected {_sha(good)}" in message and f"actual {_sha(bad)}" in message
    assert snapshot(tmp_path / "data" / "raw") == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]  # staging removed


def test_tampered_git_file_is_rejected_by_its_blob_id(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    files = cmapss_files()
    hub.add_commit(files)
    good = files["CMAPSSData/RUL_FD001.txt"]
    hub.tampered["CMAPSSData/RUL_FD001.txt"] = good.replace(b"101", b"102")
    with pytest.raises(DataIntegrityError, match=rf"RUL_FD001\.txt .*git blob id mismatch: expected {git_blob_id(good)}"):
        fetch_in_process(hf_params(default_params_dict, hub), tmp_path / "out")


def test_truncated_download_is_a_size_mismatch(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    files = cmapss_files()
    hub.add_commit(files)
    good = files["CMAPSSData/test_FD001.txt"]
    hub.tampered["CMAPSSData/test_FD001.txt"] = good[:-5]
    with pytest.raises(DataIntegrityError, match=rf"test_FD001\.txt .*size mismatch: expected {len(good)} bytes"):
        fetch_in_process(hf_params(default_params_dict, hub), tmp_path / "out")


@pytest.mark.parametrize("bad_path", ["../escape/train_FD001.txt", "/etc/train_FD001.txt", "CMAPSSData/../../x.txt", "a//b.txt"])
def test_unsafe_tree_paths_are_rejected_before_any_download(
    tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any], bad_path: str
) -> None:
    hub.add_commit(cmapss_files())
    hub.extra_tree_entries.append({"type": "file", "path": bad_path, "size": 3, "oid": "0" * 40,
                                   "lfs": {"oid": "0" * 64, "size": 3, "pointerSize": 134}})
    out = tmp_path / "out"
    with pytest.raises(SourceError, match="unsafe path"):
        fetch_in_process(hf_params(default_params_dict, hub, files=["*"]), out)
    assert list(out.iterdir()) == []
    assert not any("/resolve/" in path for _, path, _ in hub.requests)
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("path", ["ok.txt", "CMAPSSData/train_FD001.txt", "a.b/c..d.txt"])
def test_safe_repo_paths_pass(path: str) -> None:
    check_repo_path(path)


@pytest.mark.parametrize("path", ["", "..", "a/..", "./a", "a\\b", "C:/x", "/abs", "a/"])
def test_check_repo_path_refuses(path: str) -> None:
    with pytest.raises(SourceError):
        check_repo_path(path)


def test_hf_token_is_sent_but_never_recorded_or_printed(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    raw_params = hf_params(default_params_dict, hub, revision="main")
    result = run_stage(tmp_path, raw_params, token=TOKEN)
    assert result.returncode == 0, result.stderr
    assert any(headers.get("authorization") == f"Bearer {TOKEN}" for _, _, headers in hub.requests)
    hub.tampered["CMAPSSData/train_FD001.txt"] = b"x" * 10  # and on failure
    failed = run_stage(tmp_path, raw_params, token=TOKEN)
    assert failed.returncode == 2
    for output in (result.stdout, result.stderr, failed.stdout, failed.stderr):
        assert TOKEN not in output
    for path in (tmp_path / "data").rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- clear errors


def test_unreachable_hub_is_a_clear_error_and_writes_nothing(tmp_path: Path, default_params_dict: dict[str, Any]) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    offline = FakeHub()
    raw = hf_params(default_params_dict, offline.start())
    offline.stop()
    raw["data"]["hf"]["endpoint"] = endpoint
    result = run_stage(tmp_path, raw)
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "the Hugging Face Hub is unreachable" in message and endpoint in message
    assert not (tmp_path / "data" / "raw").exists()
    assert list((tmp_path / "data").iterdir()) == []


def test_unknown_revision_is_a_clear_error(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    with pytest.raises(SourceError, match=r"revision not found: .*/revision/v9.*check data\.hf\.revision"):
        fetch_in_process(hf_params(default_params_dict, hub, revision="v9"), tmp_path / "out")
    with pytest.raises(SourceError, match="revision not found"):
        fetch_in_process(hf_params(default_params_dict, hub, revision="f" * 40), tmp_path / "out")


def test_unknown_repo_is_a_clear_error(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    with pytest.raises(SourceError, match=r"repository not found: .*nobody/nothing.*data\.hf\.repo_id"):
        fetch_in_process(hf_params(default_params_dict, hub, repo_id="nobody/nothing"), tmp_path / "out")


def test_pattern_that_matches_nothing_is_named(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    with pytest.raises(SourceError, match=r"data\.hf\.files: pattern 'data/\*\.csv' matches no file"):
        fetch_in_process(hf_params(default_params_dict, hub, files=["CMAPSSData/*.txt", "data/*.csv"]), tmp_path / "out")


def test_dataset_without_its_files_is_named(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    hub.add_commit(cmapss_files())
    with pytest.raises(SourceError, match=r"no selected file is named train_FD002\.txt \(needed for data\.datasets: FD002\)"):
        fetch_in_process(hf_params(default_params_dict, hub, files=["*FD001.txt"]), tmp_path / "out")


def test_same_file_name_twice_is_ambiguous(tmp_path: Path, hub: FakeHub, default_params_dict: dict[str, Any]) -> None:
    files = cmapss_files()
    files["copy/train_FD001.txt"] = files["CMAPSSData/train_FD001.txt"]
    hub.add_commit(files)
    with pytest.raises(SourceError, match=r"train_FD001\.txt is ambiguous: CMAPSSData/train_FD001\.txt, copy/train_FD001\.txt"):
        fetch_in_process(hf_params(default_params_dict, hub, files=["*.txt"]), tmp_path / "out")


# --------------------------------------------------------------------------- pieces


def test_hashing_writer_rehashes_after_a_rewind() -> None:
    handle = io.BytesIO()
    writer = HashingWriter(handle, git_blob_size=6)
    writer.write(b"abcXYZ")
    writer.seek(3)  # as http_get does when a server ignores a resume Range
    writer.truncate()
    writer.write(b"def")
    assert handle.getvalue() == b"abcdef"
    assert writer.sha256 == _sha(b"abcdef") and writer.size == 6
    assert writer.git_blob_id == git_blob_id(b"abcdef")


@pytest.mark.network
@pytest.mark.skipif(os.environ.get("SEEDBENCH_NETWORK_TESTS") != "1", reason="set SEEDBENCH_NETWORK_TESTS=1 to reach the real Hub")
def test_real_hub_small_public_dataset(tmp_path: Path) -> None:
    """The real Hub: resolve a branch, list the tree, download and verify one small git file."""
    from huggingface_hub import HfApi, hf_hub_url

    from seedbench.data.sources.hf import download_verified, list_files, resolve_commit

    api = HfApi(endpoint="https://huggingface.co")
    commit = resolve_commit(api, "stanfordnlp/imdb", "dataset", "main")
    readme = next(f for f in list_files(api, "stanfordnlp/imdb", "dataset", commit) if f.path == "README.md")
    url = hf_hub_url("stanfordnlp/imdb", "README.md", repo_type="dataset", revision=commit)
    digest = download_verified(readme, url=url, endpoint="https://huggingface.co", commit=commit, dest=tmp_path / "README.md")
    assert digest == _sha((tmp_path / "README.md").read_bytes())


def test_fetch_hf_can_be_called_without_params(tmp_path: Path, hub: FakeHub) -> None:
    commit = hub.add_commit(cmapss_files())
    files, details = fetch_hf(
        ["FD002"], repo_id=hub.repo_id, repo_type="dataset", revision=commit, patterns=["CMAPSSData/"],
        endpoint=hub.endpoint, fetch_remote_metadata=False, metadata=HubMetadata(), out_dir=tmp_path,
    )
    assert sorted(f.path for f in files) == ["FD002/RUL_FD002.txt", "FD002/test_FD002.txt", "FD002/train_FD002.txt"]
    assert "CMAPSSData/train_FD001.txt" in details["unused_matches"]
