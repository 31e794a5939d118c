"""A loopback-only fake of the Hugging Face Hub read API (dataset repos) plus plain file serving.

It speaks just enough of the Hub's HTTP protocol for the real `huggingface_hub` client
(`HfApi`, `hf_hub_download`, `HfFileSystem`) to read dataset repos served from local folders:
repo info, tree listing, paths-info, refs and `resolve` downloads with Range support. Errors carry
the `X-Error-Code` headers that `huggingface_hub.utils.hf_raise_for_status` maps to its exception
classes. Files are read from disk at request time. Xet and LFS are never advertised.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

_DATE = "2024-01-01T00:00:00.000Z"


@dataclass
class _Revision:
    folder: Path
    sha: str


@dataclass
class _Repo:
    revisions: dict[str, _Revision]  # revision name -> served folder
    gated: bool


class _HubError(Exception):
    """An error response: status, X-Error-Code (or None), message and extra headers."""

    def __init__(
        self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _entry_not_found(path: str, rev: _Revision) -> _HubError:
    # X-Repo-Commit lets hf_hub_download cache the miss under .no_exist/<sha>/.
    return _HubError(404, "EntryNotFound", f"Entry not found: {path}", {"X-Repo-Commit": rev.sha})


def _blob_oid(data: bytes) -> str:
    """Git blob sha1, the `oid`/ETag the Hub uses for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _list_files(folder: Path) -> dict[str, Path]:
    """Repo path (posix) -> file on disk, for every file under `folder`."""
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def _commit_sha(folder: Path) -> str:
    h = hashlib.sha1()
    for rel, path in _list_files(folder).items():
        h.update(f"{rel}\0{_blob_oid(path.read_bytes())}\n".encode())
    return h.hexdigest()


def _truthy(values: list[str] | None) -> bool:
    return bool(values) and values[-1].lower() in ("1", "true", "yes")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of a single `bytes=` range; None means the whole file.

    Raises ValueError when the range is not satisfiable (→ 416).
    """
    if not header or not header.strip().startswith("bytes="):
        return None
    first, _, last = header.strip()[6:].split(",")[0].strip().partition("-")
    if first == "":  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise ValueError(header)
        return max(size - n, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError(header)
    return start, end


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (e.g. after a truncated body) are expected, not errors


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: every response closes its connection, so no stale keep-alive sockets across tests.
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hub._handle(self, "GET")

    def do_HEAD(self) -> None:
        self.server.hub._handle(self, "HEAD")

    def do_POST(self) -> None:
        self.server.hub._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.hub._handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.hub._handle(self, "DELETE")


class FakeHub:
    """Fake Hub on 127.0.0.1 (random port); use as a context manager to serve in a daemon thread."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self.url: str = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.requests: list[tuple[str, str]] = []
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of ranged requests
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        # repo id -> the id its info answers with, as the Hub does for a renamed repo
        self.renamed: dict[str, str] = {}
        self._files: dict[str, Path] = {}
        self._fail: list[int] = []  # statuses for the next requests
        self._truncate: int | None = None
        self._thread: threading.Thread | None = None

    # -- public interface -------------------------------------------------------------------

    def add_dataset(
        self, repo_id: str, folder: Path, revision: str = "main", *, gated: bool = False
    ) -> str:
        """Serve `folder` as dataset `repo_id` at `revision`; returns that revision's commit sha.

        The sha (sha1 of paths + contents) is also accepted as a revision. `gated` applies to the
        whole repo: requests without `Authorization: Bearer <token>` get 401 GatedRepo.
        """
        sha = _commit_sha(Path(folder))
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo(revisions={}, gated=gated))
            repo.gated = repo.gated or gated
            repo.revisions[revision] = _Revision(Path(folder), sha)
        return sha

    def add_file(self, url_path: str, file: Path) -> str:
        """Serve `file` at `/<url_path>` (GET/HEAD with Range); returns its full URL."""
        url_path = url_path.strip("/")
        with self._lock:
            self._files[url_path] = Path(file)
        return f"{self.url}/{quote(url_path)}"

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next `n` requests (any path) get `status` with an empty JSON body."""
        with self._lock:
            self._fail.extend([status] * n)

    def truncate_next(self, n_bytes: int) -> None:
        """The next GET of a file body announces the full length, sends `n_bytes`, then hangs up."""
        with self._lock:
            self._truncate = n_bytes

    def __enter__(self) -> FakeHub:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    # -- dispatch -----------------------------------------------------------------------------

    def _handle(self, h: _Handler, method: str) -> None:
        with self._lock:
            self.requests.append((method, h.path))
            if h.headers.get("Range"):
                self.ranges.append((h.path, h.headers["Range"]))
            fail = self._fail.pop(0) if self._fail else None
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if fail is not None:
            return self._send_json(h, method, fail, {})
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        try:
            if parts.path.startswith("/api/datasets/"):
                self._api(h, method, parts.path[len("/api/datasets/") :], query, body)
            elif parts.path.startswith("/datasets/"):
                self._resolve(h, method, parts.path[len("/datasets/") :])
            elif method in ("GET", "HEAD") and unquote(parts.path).strip("/") in self._files:
                file = self._files[unquote(parts.path).strip("/")]
                data = file.read_bytes()
                self._send_bytes(h, method, data, {"ETag": f'"{_blob_oid(data)}"'})
            else:
                raise _HubError(404, None, "Not Found")
        except _HubError as e:
            headers = {"X-Error-Message": e.message, **e.headers}
            if e.code:
                headers["X-Error-Code"] = e.code
            self._send_json(h, method, e.status, {"error": e.message}, headers)

    def _find_repo(self, h: _Handler, raw: str) -> tuple[str, _Repo, list[str]]:
        """Split `org/name/rest...` into the longest known repo id and the rest's raw segments."""
        segs = raw.split("/")
        for k in range(len(segs), 0, -1):
            repo_id = unquote("/".join(segs[:k]))
            if repo_id in self._repos:
                repo = self._repos[repo_id]
                auth = h.headers.get("Authorization", "")
                if repo.gated and not (auth.startswith("Bearer ") and auth[7:].strip()):
                    raise _HubError(
                        401,
                        "GatedRepo",
                        f"Access to dataset {repo_id} is restricted. You must have access to it "
                        "and be authenticated to access it. Please log in.",
                    )
                return repo_id, repo, segs[k:]
        # The real Hub answers 401 without a token and 404 with one; both mean RepoNotFound.
        status = 404 if h.headers.get("Authorization") else 401
        raise _HubError(status, "RepoNotFound", "Repository not found")

    @staticmethod
    def _revision(repo: _Repo, segs: list[str]) -> tuple[str, _Revision, list[str]]:
        """Take the revision off the front of raw segments: one URL-encoded segment
        (`refs%2Fconvert%2Fparquet`), a raw multi-segment name, or a commit sha."""
        by_sha = {r.sha: r for r in repo.revisions.values()}
        for k in range(1, len(segs) + 1):
            name = unquote("/".join(segs[:k]))
            rev = repo.revisions.get(name) or by_sha.get(name)
            if rev is not None:
                return name, rev, segs[k:]
        name = unquote(segs[0]) if segs else ""
        raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {name}")

    def _api(
        self, h: _Handler, method: str, raw: str, query: dict[str, list[str]], body: bytes
    ) -> None:
        repo_id, repo, segs = self._find_repo(h, raw)
        action = segs[0] if segs else ""
        if method in ("GET", "HEAD") and action == "":
            default = "main" if "main" in repo.revisions else next(iter(repo.revisions))
            _, rev, _ = self._revision(repo, [default])
            return self._send_json(h, method, 200, self._info(repo_id, repo, rev, query))
        if method in ("GET", "HEAD") and action == "revision":
            _, rev, _ = self._revision(repo, segs[1:])
            return self._send_json(h, method, 200, self._info(repo_id, repo, rev, query))
        if method in ("GET", "HEAD") and action == "refs":
            return self._send_json(h, method, 200, self._refs(repo))
        if method in ("GET", "HEAD") and action == "tree":
            _, rev, rest = self._revision(repo, segs[1:])
            path = unquote("/".join(rest)).strip("/")
            entries = self._tree(rev, path, _truthy(query.get("recursive")))
            if _truthy(query.get("expand")):
                for e in entries:
                    e["lastCommit"] = {"id": rev.sha, "title": "Fake commit", "date": _DATE}
            return self._send_json(h, method, 200, entries)
        if method == "POST" and action == "paths-info":
            _, rev, _ = self._revision(repo, segs[1:])
            form = parse_qs(body.decode())
            entries = self._entries(rev)
            out = [entries[p.strip("/")] for p in form.get("paths", []) if p.strip("/") in entries]
            return self._send_json(h, method, 200, out)
        raise _HubError(404, None, "Not Found")

    def _resolve(self, h: _Handler, method: str, raw: str) -> None:
        if method not in ("GET", "HEAD"):
            raise _HubError(404, None, "Not Found")
        _, repo, segs = self._find_repo(h, raw)
        if not segs or segs[0] != "resolve":
            raise _HubError(404, None, "Not Found")
        _, rev, rest = self._revision(repo, segs[1:])
        path = unquote("/".join(rest))
        file = _list_files(rev.folder).get(path)
        if file is None:
            raise _entry_not_found(path, rev)
        data = file.read_bytes()
        # ETag = git blob sha1 (like a regular non-LFS Hub file); never X-Xet-Hash.
        headers = {"X-Repo-Commit": rev.sha, "ETag": f'"{_blob_oid(data)}"'}
        self._send_bytes(h, method, data, headers)

    # -- response bodies -------------------------------------------------------------------------

    def _info(
        self, repo_id: str, repo: _Repo, rev: _Revision, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        files = _list_files(rev.folder)
        blobs = _truthy(query.get("blobs"))
        siblings: list[dict[str, Any]] = []
        for rel, path in files.items():
            sibling: dict[str, Any] = {"rfilename": rel}
            if blobs:
                data = path.read_bytes()
                sibling.update(size=len(data), blobId=_blob_oid(data))
            siblings.append(sibling)
        return {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": self.renamed.get(repo_id, repo_id),
            "author": repo_id.split("/")[0] if "/" in repo_id else None,
            "sha": rev.sha,
            "private": False,
            "gated": "auto" if repo.gated else False,
            "disabled": False,
            "createdAt": _DATE,
            "lastModified": _DATE,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "cardData": {},
            "siblings": siblings,
            "usedStorage": sum(p.stat().st_size for p in files.values()),
        }

    @staticmethod
    def _refs(repo: _Repo) -> dict[str, Any]:
        out: dict[str, Any] = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
        for name, rev in repo.revisions.items():
            if name.startswith("refs/convert/"):
                ref = {"name": name.split("/")[-1], "ref": name, "targetCommit": rev.sha}
                out["converts"].append(ref)
            elif not name.startswith("refs/"):
                ref = {"name": name, "ref": f"refs/heads/{name}", "targetCommit": rev.sha}
                out["branches"].append(ref)
        return out

    @staticmethod
    def _entries(rev: _Revision) -> dict[str, dict[str, Any]]:
        """Every file and directory of a revision as tree entries, keyed by repo path."""
        files = {rel: _blob_oid(p.read_bytes()) for rel, p in _list_files(rev.folder).items()}
        out: dict[str, dict[str, Any]] = {}
        for rel, oid in files.items():
            parts = rel.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in out:
                    under = "".join(f"{r}{o}" for r, o in files.items() if r.startswith(d + "/"))
                    tree_oid = hashlib.sha1(f"tree {d}\0{under}".encode()).hexdigest()
                    out[d] = {"type": "directory", "oid": tree_oid, "size": 0, "path": d}
            size = (rev.folder / rel).stat().st_size
            out[rel] = {"type": "file", "oid": oid, "size": size, "path": rel}
        return dict(sorted(out.items()))

    def _tree(self, rev: _Revision, path: str, recursive: bool) -> list[dict[str, Any]]:
        entries = self._entries(rev)
        if path and entries.get(path, {}).get("type") != "directory":
            raise _entry_not_found(path, rev)
        prefix = f"{path}/" if path else ""
        return [
            e
            for p, e in entries.items()
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
        ]

    # -- low-level sending -----------------------------------------------------------------------

    @staticmethod
    def _send_json(
        h: _Handler,
        method: str,
        status: int,
        obj: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data)

    def _send_bytes(self, h: _Handler, method: str, data: bytes, headers: dict[str, str]) -> None:
        """Send a file body (or HEAD headers), honouring Range and a pending truncation."""
        size = len(data)
        try:
            rng = _byte_range(h.headers.get("Range"), size)
        except ValueError:
            msg, extra = "Requested Range Not Satisfiable", {"Content-Range": f"bytes */{size}"}
            raise _HubError(416, None, msg, extra) from None
        status, body = 200, data
        h_out = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if rng is not None:
            status, body = 206, data[rng[0] : rng[1] + 1]
            h_out["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{size}"
        h_out["Content-Length"] = str(len(body))
        cut: int | None = None
        if method == "GET":
            with self._lock:
                cut, self._truncate = self._truncate, None
        h.send_response(status)
        for k, v in h_out.items():
            h.send_header(k, v)
        h.end_headers()
        if method == "HEAD":
            return
        h.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            h.wfile.flush()
            h.close_connection = True
