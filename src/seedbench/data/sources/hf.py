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

import hashlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from seedbench.core.errors import DataIntegrityError, SeedbenchError, SourceError
from seedbench.core.hashing import HASH_CHUNK_BYTES, redact_url
from seedbench.data.record import RawFile, parse_raw_file_name, raw_file_names

COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
"""A pinned revision: a full git commit id."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LIBRARY_NAME = "seedbench"
_API_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HubMetadata:
    """Descriptive metadata of the dataset (``""`` = unknown / not given)."""

    name: str = ""
    description: str = ""
    license: str = ""
    citation: str = ""


@dataclass(frozen=True)
class HubFile:
    """One file of the tree listing at a commit.

    ``size`` in bytes; ``blob_id`` the git blob sha1 (40 hex); ``lfs_sha256``
    the LFS oid (64 hex, sha256 of the raw bytes) or ``None`` for a file kept
    in git itself.
    """

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None


# --------------------------------------------------------------------------- errors


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection/timeout exception types of whichever HTTP stack huggingface_hub uses."""
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                               ("requests", ("ConnectionError", "Timeout"))):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        source = getattr(module, "exceptions", module) if module_name == "requests" else module
        types.extend(t for name in names if isinstance(t := getattr(source, name, None), type))
    return tuple(types)


@contextmanager
def hub_call(action: str, url: str) -> Iterator[None]:
    """Run a huggingface_hub call; turn its failures into a :class:`SourceError` naming ``url`` (redacted)."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    shown = redact_url(url)
    try:
        yield
    except SeedbenchError:
        raise
    except GatedRepoError:
        raise SourceError(f"{action}: {shown}: the repository is gated; accept its terms on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise SourceError(
            f"{action}: repository not found: {shown} (check data.hf.repo_id and data.hf.repo_type; "
            "a private repository also needs HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise SourceError(f"{action}: revision not found: {shown} (check data.hf.revision)") from None
    except EntryNotFoundError:
        raise SourceError(f"{action}: file not found on the Hub: {shown}") from None
    except OfflineModeIsEnabled:
        raise SourceError(f"{action}: HF_HUB_OFFLINE is set, so {shown} cannot be reached; unset it to fetch") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else "?"
        raise SourceError(f"{action}: the Hub answered HTTP {status} for {shown}") from None
    except _transport_errors() as exc:
        raise SourceError(
            f"{action}: the Hugging Face Hub is unreachable at {shown} ({type(exc).__name__}); "
            "check the network connection or data.hf.endpoint"
        ) from None


# --------------------------------------------------------------------------- revision and tree


def resolve_commit(api: Any, repo_id: str, repo_type: str, revision: str) -> str:
    """The 40-hex commit that ``revision`` (commit, branch or tag) names; one ``repo_info`` call."""
    url = f"{api.endpoint}/api/{repo_type}s/{repo_id}/revision/{quote(revision, safe='')}"
    with hub_call("resolve data.hf.revision", url):
        info = api.repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=_API_TIMEOUT_S)
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


# --------------------------------------------------------------------------- download


class HashingWriter:
    """A writable file object that hashes what it writes: sha256, and the git blob sha1 when asked.

    ``http_get`` writes the response body into it chunk by chunk. If the
    client rewinds (``seek``, after a server ignored a resume ``Range``), the
    hashes are rebuilt from the bytes kept on disk, so they always describe
    the file's content.
    """

    def __init__(self, handle: IO[bytes], git_blob_size: int | None) -> None:
        self._handle = handle
        self._blob_size = git_blob_size
        self._reset()

    def _reset(self) -> None:
        self._sha256 = hashlib.sha256()
        self._sha1 = (
            hashlib.sha1(f"blob {self._blob_size}\0".encode(), usedforsecurity=False)
            if self._blob_size is not None
            else None
        )
        self.size = 0

    def _update(self, data: bytes | memoryview) -> None:
        self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.size += len(data)

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        self._update(data)
        return written

    def tell(self) -> int:
        return self._handle.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._handle.seek(offset, whence)
        self._handle.seek(0)
        self._reset()
        remaining = position
        while remaining:
            chunk = self._handle.read(min(remaining, HASH_CHUNK_BYTES))
            if not chunk:
                break
            self._update(chunk)
            remaining -= len(chunk)
        self._handle.seek(position)
        return position

    def truncate(self, size: int | None = None) -> int:
        return self._handle.truncate(size)

    def flush(self) -> None:
        self._handle.flush()

    @property
    def sha256(self) -> str:
        """``"sha256:<hex>"`` of the bytes written so far."""
        return f"sha256:{self._sha256.hexdigest()}"

    @property
    def git_blob_id(self) -> str | None:
        """Git blob sha1 (40 hex) of the bytes written so far, when a blob size was given."""
        return self._sha1.hexdigest() if self._sha1 is not None else None


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def download_verified(entry: HubFile, *, url: str, endpoint: str, commit: str, dest: Path) -> str:
    """Stream ``url`` (the file's resolve URL at ``commit``) into ``dest``, hashing while writing.

    Returns the file's ``"sha256:<hex>"``. Raises :class:`DataIntegrityError`
    (file, expected, actual) when size or hash differs from the tree listing,
    :class:`SourceError` when the Hub cannot deliver.
    """
    from huggingface_hub import get_hf_file_metadata

    from seedbench.compat.huggingface_hub import build_hf_headers, http_get

    with hub_call(f"download {entry.path}", url):
        meta = get_hf_file_metadata(url, endpoint=endpoint, library_name=_LIBRARY_NAME)
    if meta.commit_hash is None:
        raise SourceError(
            f"download {entry.path}: {redact_url(url)} sent no X-Repo-Commit header; is data.hf.endpoint a Hugging Face Hub?"
        )
    if meta.commit_hash != commit:
        raise SourceError(
            f"download {entry.path}: {redact_url(url)} answered for commit {meta.commit_hash!r}, not the pinned {commit}"
        )
    location = meta.location or url
    headers = build_hf_headers(library_name=_LIBRARY_NAME)
    if not _same_origin(url, location):  # a CDN: the token stays on the Hub
        headers.pop("authorization", None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w+b") as handle:
        writer = HashingWriter(handle, None if entry.lfs_sha256 else entry.size)
        with hub_call(f"download {entry.path}", url):
            http_get(location, writer, headers=headers, displayed_filename=entry.path)  # type: ignore[arg-type]
    _verify(entry, writer, url)
    return writer.sha256


def _verify(entry: HubFile, writer: HashingWriter, url: str) -> None:
    where = f"{entry.path} ({redact_url(url)})"
    if writer.size != entry.size:
        raise DataIntegrityError(f"{where}: size mismatch: expected {entry.size} bytes (tree API), actual {writer.size}")
    if entry.lfs_sha256 is not None:
        expected = f"sha256:{entry.lfs_sha256}"
        if writer.sha256 != expected:
            raise DataIntegrityError(f"{where}: sha256 mismatch: expected {expected} (tree API lfs.oid), actual {writer.sha256}")
    elif writer.git_blob_id != entry.blob_id:
        raise DataIntegrityError(
            f"{where}: git blob id mismatch: expected {entry.blob_id} (tree API oid), actual {writer.git_blob_id}"
        )


# --------------------------------------------------------------------------- metadata (Croissant)


def fetch_croissant(endpoint: str, repo_id: str) -> dict[str, Any]:
    """The Hub's Croissant JSON-LD of dataset ``repo_id`` (``GET {endpoint}/api/datasets/{repo}/croissant``)."""
    from seedbench.compat.huggingface_hub import (
        build_hf_headers,
        get_session,
        hf_raise_for_status,
    )

    url = f"{endpoint}/api/datasets/{repo_id}/croissant"
    with hub_call("read Croissant metadata", url):
        response = get_session().get(url, headers=build_hf_headers(library_name=_LIBRARY_NAME), timeout=_API_TIMEOUT_S)
        hf_raise_for_status(response)
    try:
        doc = response.json()
    except ValueError:
        raise SourceError(f"read Croissant metadata: {redact_url(url)} did not return JSON") from None
    if not isinstance(doc, dict):
        raise SourceError(f"read Croissant metadata: {redact_url(url)} did not return a JSON object")
    return doc


def _text(value: Any) -> str:
    """A Croissant value as text: strings as is, lists joined, ``{"@id"|"url"|"name": …}`` by that key."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return ", ".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("@id", "url", "name", "@value"):
            if isinstance(value.get(key), str):
                return value[key].strip()
    return ""


def croissant_metadata(doc: dict[str, Any]) -> HubMetadata:
    """Name, description, license and citation (``citeAs``) of a Croissant document; per-file hashes are ignored."""
    return HubMetadata(
        name=_text(doc.get("name")),
        description=_text(doc.get("description")),
        license=_text(doc.get("license")),
        citation=_text(doc.get("citeAs") or doc.get("citation")),
    )


def placeholder_hashes(doc: dict[str, Any]) -> int:
    """How many Croissant ``distribution`` entries carry a ``sha256`` that is not 64 hex digits (e.g. a URL)."""
    entries = doc.get("distribution") or []
    return sum(
        1 for e in entries if isinstance(e, dict) and "sha256" in e and not _HEX64.fullmatch(str(e["sha256"]).lower())
    )


def merge_metadata(explicit: HubMetadata, remote: HubMetadata | None) -> tuple[HubMetadata, dict[str, str]]:
    """Explicit (params) values win; empty ones are filled from ``remote``. Also returns where each came from."""
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for fld in fields(HubMetadata):
        mine = getattr(explicit, fld.name)
        theirs = getattr(remote, fld.name) if remote is not None else ""
        values[fld.name] = mine or theirs
        origin[fld.name] = "params" if mine else ("croissant" if theirs else "none")
    return HubMetadata(**values), origin


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
    api = HfApi(endpoint=hub, library_name=_LIBRARY_NAME)
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
