"""A fake Hugging Face Hub for tests: a stdlib HTTP server on 127.0.0.1 (random port, own thread).

It speaks the part of the Hub's HTTP API that ``huggingface_hub`` calls for the
``hf`` source, serving an in-memory repository:

- ``GET /api/{datasets|models}/{repo}/revision/{rev}`` → ``{"id", "sha", ...}``;
  404 with ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound``.
- ``GET /api/{type}/{repo}/tree/{rev}[/{path}]?recursive=&expand=`` → entries
  ``{"type", "path", "size", "oid", "lfs": {"oid", "size", "pointerSize"}}``,
  paged ``page_size`` at a time with ``Link: <…>; rel="next"``.
- ``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}`` → ``X-Repo-Commit``,
  quoted ``ETag`` (sha256 for LFS files, git blob sha1 otherwise),
  ``Content-Length``; 404 ``EntryNotFound`` for a missing file. ``Range`` is
  honoured.
- ``GET /api/datasets/{repo}/croissant`` → :attr:`FakeHub.croissant` (or
  :attr:`FakeHub.croissant_status`).

Knobs for failure tests: :attr:`FakeHub.tampered` serves other bytes than the
tree declares, :attr:`FakeHub.extra_tree_entries` injects raw tree entries
(e.g. a ``../`` path). Every request is logged in :attr:`FakeHub.requests`
(method, path, headers) so tests can check what the client sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

CROISSANT_PLACEHOLDER = "https://github.com/mlcommons/croissant/issues/80"
"""What the Hub writes as ``sha256`` of its Croissant FileObjects."""


def git_blob_id(data: bytes) -> str:
    """Git blob sha1 of ``data``: sha1 of ``b"blob <size>\\0" + data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeHub:
    """One fake repository (``repo_id`` of ``repo_type``) with commits and refs, served over HTTP."""

    repo_id: str = "seedbench/cmapss-fixture"
    repo_type: str = "dataset"
    page_size: int = 1000
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    lfs_suffixes: tuple[str, ...] = (".txt",)
    tampered: dict[str, bytes] = field(default_factory=dict)
    extra_tree_entries: list[dict[str, Any]] = field(default_factory=list)
    croissant: dict[str, Any] | None = None
    croissant_status: int = 200
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # ----------------------------------------------------------------- content

    def add_commit(self, files: dict[str, bytes], ref: str = "main") -> str:
        """Add a commit holding ``files`` and point ``ref`` at it; returns its 40-hex id."""
        digest = hashlib.sha1(repr(len(self.commits)).encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + files[path])
        commit = digest.hexdigest()
        self.commits[commit] = dict(files)
        self.refs[ref] = commit
        return commit

    def is_lfs(self, path: str) -> bool:
        return path.endswith(self.lfs_suffixes)

    def tree_entry(self, path: str, data: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
        if self.is_lfs(path):
            entry["lfs"] = {"oid": sha256_hex(data), "size": len(data), "pointerSize": 134}
        return entry

    def resolve(self, rev: str) -> str | None:
        return rev if rev in self.commits else self.refs.get(rev)

    # ----------------------------------------------------------------- server

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_HubHandler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _HubHandler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
        pass

    # ----------------------------------------------------------------- replies

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        headers = {"Content-Length": str(len(body)), **(headers or {})}  # a HEAD passes the GET's length
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str, head: bool = False, commit: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "application/json"}
        if commit:
            headers["X-Repo-Commit"] = commit
        body = json.dumps({"error": code}).encode()
        self._reply(status, body, headers, head=head)

    # ----------------------------------------------------------------- routing

    def _route(self, head: bool) -> None:
        hub = self.hub
        parts = urlsplit(self.path)
        path = parts.path
        self.hub.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        kind = "datasets" if hub.repo_type == "dataset" else "models"
        api = re.fullmatch(r"/api/(datasets|models)/([^/]+/[^/]+)/(revision|tree|croissant)(?:/(.*))?", path)
        if api:
            repo_kind, repo_id, action, rest = api.groups()
            if repo_kind != kind or unquote(repo_id) != hub.repo_id:
                return self._error(404, "RepoNotFound", head)
            if action == "revision":
                return self._revision(unquote(rest or ""))
            if action == "tree":
                return self._tree(rest or "", parse_qs(parts.query))
            return self._croissant()
        prefix = "/datasets/" if hub.repo_type == "dataset" else "/"
        resolve = re.fullmatch(re.escape(prefix) + r"([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if resolve:
            repo_id, rev, file_path = resolve.groups()
            if unquote(repo_id) != hub.repo_id:
                return self._error(404, "RepoNotFound", head)
            return self._resolve(unquote(rev), unquote(file_path), head)
        return self._error(404, "NotFound", head)

    def _revision(self, rev: str) -> None:
        commit = self.hub.resolve(rev)
        if commit is None:
            return self._error(404, "RevisionNotFound")
        siblings = [{"rfilename": p} for p in sorted(self.hub.commits[commit])]
        self._json(200, {"id": self.hub.repo_id, "sha": commit, "private": False, "siblings": siblings})

    def _tree(self, rest: str, query: dict[str, list[str]]) -> None:
        rev, _, sub = rest.partition("/")
        commit = self.hub.resolve(unquote(rev))
        if commit is None:
            return self._error(404, "RevisionNotFound")
        sub = unquote(sub).strip("/")
        files = self.hub.commits[commit]
        entries: list[dict[str, Any]] = []
        folders = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        for folder in folders:
            if not sub or folder.startswith(sub + "/"):
                entries.append({"type": "directory", "path": folder, "size": 0, "oid": hashlib.sha1(folder.encode()).hexdigest()})
        for p in sorted(files):
            if not sub or p.startswith(sub + "/"):
                entries.append(self.hub.tree_entry(p, files[p]))
        entries.extend(self.hub.extra_tree_entries)
        cursor = int(query.get("cursor", ["0"])[0])
        page = entries[cursor : cursor + self.hub.page_size]
        headers = {}
        if cursor + self.hub.page_size < len(entries):
            host, port = self.server.server_address[:2]
            base = f"http://{host}:{port}{urlsplit(self.path).path}"
            headers["Link"] = f'<{base}?recursive=True&expand=False&cursor={cursor + self.hub.page_size}>; rel="next"'
        self._json(200, page, headers)

    def _croissant(self) -> None:
        if self.hub.croissant_status != 200 or self.hub.croissant is None:
            return self._error(self.hub.croissant_status if self.hub.croissant_status != 200 else 404, "NotFound")
        self._json(200, self.hub.croissant, {"Content-Type": "application/ld+json"})

    def _resolve(self, rev: str, file_path: str, head: bool) -> None:
        commit = self.hub.resolve(rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", head)
        files = self.hub.commits[commit]
        if file_path not in files:
            return self._error(404, "EntryNotFound", head, commit=commit)
        declared = files[file_path]
        body = self.hub.tampered.get(file_path, declared)
        etag = sha256_hex(declared) if self.hub.is_lfs(file_path) else git_blob_id(declared)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        status = 200
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and not head:
            start = int(match.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            body, status = body[start:], 206
        if head:
            headers["Content-Length"] = str(len(body))
        self._reply(status, body, headers, head=head)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._route(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(head=True)


def hub_url_of(endpoint: str, repo_id: str, path: str, commit: str) -> str:
    """The resolve URL huggingface_hub builds for a dataset file (for assertions)."""
    return f"{endpoint}/datasets/{repo_id}/resolve/{commit}/{quote(path)}"
