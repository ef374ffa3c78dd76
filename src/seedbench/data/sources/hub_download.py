"""Downloading one Hub file at a pinned commit while hashing it, and checking it against the tree listing.

Bytes stream through the client's own downloader into a :class:`HashingWriter`;
the sha256 (LFS files) or git blob id (files kept in git) and the size must
equal what the tree API listed, or nothing is accepted. The token is dropped
for downloads redirected off the Hub's host.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from seedbench.core.errors import DataIntegrityError, SourceError
from seedbench.core.hashing import HASH_CHUNK_BYTES, redact_url
from seedbench.data.sources.hub_client import LIBRARY_NAME, HubFile, hub_call


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
        meta = get_hf_file_metadata(url, endpoint=endpoint, library_name=LIBRARY_NAME)
    if meta.commit_hash is None:
        raise SourceError(
            f"download {entry.path}: {redact_url(url)} sent no X-Repo-Commit header; is data.hf.endpoint a Hugging Face Hub?"
        )
    if meta.commit_hash != commit:
        raise SourceError(
            f"download {entry.path}: {redact_url(url)} answered for commit {meta.commit_hash!r}, not the pinned {commit}"
        )
    location = meta.location or url
    headers = build_hf_headers(library_name=LIBRARY_NAME)
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
