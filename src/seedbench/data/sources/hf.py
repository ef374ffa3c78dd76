"""The Hugging Face Hub source: C-MAPSS files from a Hub repository, verified byte for byte.

Everything goes through ``huggingface_hub`` (no hand-written HTTP):

1. the revision is resolved once to its 40-hex commit (``HfApi.repo_info``);
   every later call names that commit, so a branch moving mid-fetch changes
   nothing;
2. the tree API (``HfApi.list_repo_tree``) lists the files at the commit with
   their identity: ``lfs.oid`` (sha256 of the raw bytes) for LFS files, the
   git blob id (sha1 of ``b"blob <size>\\0" + bytes``) otherwise. Paths that are
   absolute or contain ``..`` are refused before anything is written;
3. ``data.hf.files`` patterns select files; each must match at least one.
   Files named ``{train,test,RUL}_FD00X.txt`` (anywhere in the repo) become
   ``<out_dir>/FD00X/<name>``;
4. each file is downloaded by the client's streaming downloader
   (``get_hf_file_metadata`` for the HEAD, ``http_get`` for the bytes) into a
   writer that hashes while it writes; size and hash must equal the tree's;
5. name, description, license and citation come from the Hub's Croissant
   endpoint unless given in params. Croissant's per-file ``sha256`` is never
   used (the Hub writes a placeholder URL there): hashes come from the tree API.

The token is whatever ``huggingface_hub`` finds itself (``HF_TOKEN`` or the
login cache); it is never passed through, logged or recorded here, and it is
dropped for downloads redirected off the Hub's host.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from seedbench.core.errors import SourceError
from seedbench.core.hashing import redact_url
from seedbench.data.record import RawFile, parse_raw_file_name, raw_file_names
from seedbench.data.sources.hub_client import (
    API_TIMEOUT_S,
    COMMIT_PATTERN,
    LIBRARY_NAME,
    HubFile,
    HubMetadata,
    hub_call,
)
from seedbench.data.sources.hub_download import HashingWriter, download_verified
from seedbench.data.sources.hub_metadata import (
    croissant_metadata,
    fetch_croissant,
    merge_metadata,
    placeholder_hashes,
)

__all__ = ["COMMIT_PATTERN", "HashingWriter", "HubFile", "HubMetadata", "check_repo_path", "download_verified",
           "fetch_hf", "list_files", "resolve_commit", "select_files"]


# --------------------------------------------------------------------------- revision and tree


def resolve_commit(api: Any, repo_id: str, repo_type: str, revision: str) -> str:
    """The 40-hex commit that ``revision`` (commit, branch or tag) names; one ``repo_info`` call."""
    url = f"{api.endpoint}/api/{repo_type}s/{repo_id}/revision/{quote(revision, safe='')}"
    with hub_call("resolve data.hf.revision", url):
        info = api.repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=API_TIMEOUT_S)
    commit = getattr(info, "sha", None)
    if not isinstance(commit, str) or not COMMIT_PATTERN.fullmatch(commit):
        raise SourceError(f"resolve data.hf.revision: {redact_url(url)} returned no commit id (got {commit!r})")
    if COMMIT_PATTERN.fullmatch(revision) and commit != revision:
        raise SourceError(f"resolve data.hf.revision: asked for commit {revision}, the Hub answered {commit}")
    return commit


def check_repo_path(path: str) -> None:
    """Refuse a repo path that could escape the output folder (absolute, ``..``, ``\\``, empty parts)."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or re.match(r"^[A-Za-z]:", path)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise SourceError(
            f"the Hub's tree listing holds an unsafe path {path!r} (absolute, or with '..' or empty parts); refusing to fetch"
        )


def list_files(api: Any, repo_id: str, repo_type: str, commit: str) -> list[HubFile]:
    """Every file of the repository at ``commit`` (tree API, recursive), sorted by path; paths checked."""
    from huggingface_hub.hf_api import RepoFile

    url = f"{api.endpoint}/api/{repo_type}s/{repo_id}/tree/{commit}"
    with hub_call("list the repository's files", url):
        entries = list(api.list_repo_tree(repo_id, recursive=True, revision=commit, repo_type=repo_type))
    files: list[HubFile] = []
    for entry in entries:
        check_repo_path(entry.path)
        if isinstance(entry, RepoFile):
            lfs = entry.lfs.sha256 if entry.lfs is not None else None
            files.append(HubFile(path=entry.path, size=int(entry.size), blob_id=entry.blob_id, lfs_sha256=lfs))
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise SourceError(f"the Hub's tree listing at {redact_url(url)} lists a path twice; refusing to fetch")
    return sorted(files, key=lambda f: f.path)


def select_files(files: list[HubFile], patterns: list[str]) -> list[HubFile]:
    """Files matching any of ``patterns`` (``allow_patterns`` syntax); every pattern must match something."""
    from seedbench.compat.huggingface_hub import filter_repo_objects

    for pattern in patterns:
        if not list(filter_repo_objects(files, allow_patterns=[pattern], key=lambda f: f.path)):
            raise SourceError(
                f"data.hf.files: pattern {pattern!r} matches no file of the repository "
                f"(it has {len(files)} files, e.g. {', '.join(f.path for f in files[:5]) or 'none'})"
            )
    return list(filter_repo_objects(files, allow_patterns=patterns, key=lambda f: f.path))


def assign_datasets(selected: list[HubFile], datasets: list[str]) -> dict[str, HubFile]:
    """``{"FD001/train_FD001.txt": file, ...}``: the one selected file for each needed C-MAPSS file."""
    by_name: dict[str, list[HubFile]] = {}
    for f in selected:
        name = f.path.rsplit("/", 1)[-1]
        if parse_raw_file_name(name) is not None:
            by_name.setdefault(name, []).append(f)
    plan: dict[str, HubFile] = {}
    for dataset in datasets:
        for name in raw_file_names(dataset):
            candidates = by_name.get(name, [])
            if not candidates:
                raise SourceError(
                    f"data.hf.files: no selected file is named {name} (needed for data.datasets: {dataset}); "
                    "widen the patterns or check the repository"
                )
            if len(candidates) > 1:
                raise SourceError(
                    f"data.hf.files: {name} is ambiguous: {', '.join(c.path for c in candidates)}; narrow the patterns"
                )
            plan[f"{dataset}/{name}"] = candidates[0]
    return plan


# --------------------------------------------------------------------------- the source


def fetch_hf(
    datasets: list[str],
    *,
    repo_id: str,
    repo_type: str,
    revision: str,
    patterns: list[str],
    endpoint: str,
    fetch_remote_metadata: bool,
    metadata: HubMetadata,
    out_dir: str | Path,
) -> tuple[list[RawFile], dict[str, Any]]:
    """Fetch the C-MAPSS files of ``datasets`` from Hub repository ``repo_id`` into ``out_dir/<dataset>/``.

    Parameters
    ----------
    datasets
        Subsets to fetch; each needs one selected file named ``train_``,
        ``test_`` and ``RUL_<dataset>.txt``.
    repo_id, repo_type, revision
        The repository (``"dataset"`` or ``"model"``) and a commit, branch or
        tag; a branch or tag is resolved once and a warning says to pin it.
    patterns
        Glob patterns selecting repo files (each must match at least one).
    endpoint
        Hub URL, ``""`` for huggingface_hub's default (``HF_ENDPOINT``).
    fetch_remote_metadata
        Ask the Croissant endpoint for metadata (dataset repos only).
    metadata
        Explicit metadata; non-empty fields win over Croissant's.
    out_dir
        The (staging) raw folder to fill.

    Returns
    -------
    (files, details)
        One :class:`RawFile` per file (origin: URL, commit, lfs oid, blob id),
        and the details for ``SOURCE.json`` (``"warnings"`` when the revision
        was not pinned or Croissant was unavailable).

    Raises
    ------
    SourceError
        Unreachable Hub, unknown repo/revision/file, unsafe path, pattern that
        matches nothing, missing C-MAPSS file.
    DataIntegrityError
        A downloaded file's size or hash differs from the tree API's.
    """
    from huggingface_hub import HfApi, constants, hf_hub_url

    hub = (endpoint or constants.ENDPOINT).rstrip("/")
    api = HfApi(endpoint=hub, library_name=LIBRARY_NAME)
    warnings: list[str] = []

    commit = resolve_commit(api, repo_id, repo_type, revision)
    if commit != revision:
        warnings.append(
            f"data.hf.revision {revision!r} is a branch or tag and resolved to commit {commit}; "
            f"pin it for a reproducible fetch: data.hf.revision: {commit}"
        )
    listing = list_files(api, repo_id, repo_type, commit)
    selected = select_files(listing, patterns)
    plan = assign_datasets(selected, datasets)

    remote: HubMetadata | None = None
    croissant: dict[str, Any] = {"fetched": False}
    if fetch_remote_metadata and repo_type == "dataset":
        try:
            doc = fetch_croissant(hub, repo_id)
        except SourceError as exc:
            warnings.append(f"Croissant metadata unavailable ({exc}); metadata from params only")
        else:
            remote = croissant_metadata(doc)
            croissant = {"fetched": True, "url": redact_url(f"{hub}/api/datasets/{repo_id}/croissant"),
                         "placeholder_sha256_ignored": placeholder_hashes(doc)}
    merged, metadata_origin = merge_metadata(metadata, remote)

    out = Path(out_dir)
    files: list[RawFile] = []
    for rel_path, entry in plan.items():
        url = hf_hub_url(repo_id, entry.path, repo_type=repo_type, revision=commit, endpoint=hub)
        sha256 = download_verified(entry, url=url, endpoint=hub, commit=commit, dest=out / rel_path)
        origin = {
            "kind": "hf",
            "url": redact_url(url),
            "repo_id": repo_id,
            "repo_type": repo_type,
            "commit": commit,
            "path_in_repo": entry.path,
            "lfs_oid": f"sha256:{entry.lfs_sha256}" if entry.lfs_sha256 else None,
            "git_blob_id": entry.blob_id,
        }
        files.append(RawFile(path=rel_path, size=entry.size, sha256=sha256, origin=origin))

    used = {e.path for e in plan.values()}
    details: dict[str, Any] = {
        "datasets": list(datasets),
        "hf": {
            "repo_id": repo_id,
            "repo_type": repo_type,
            "revision": revision,
            "commit": commit,
            "endpoint": redact_url(hub),
            "files": list(patterns),
        },
        "hashes_from": "tree API (lfs.oid = sha256; git blob id for non-LFS files)",
        "croissant": croissant,
        "metadata": asdict(merged),
        "metadata_origin": metadata_origin,
        "unused_matches": sorted(f.path for f in selected if f.path not in used),
    }
    if warnings:
        details["warnings"] = warnings
    return files, details
