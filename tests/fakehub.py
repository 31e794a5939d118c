"""A loopback-only fake of the Hugging Face Hub API for dataset repos, plus plain file serving.

It speaks just enough of the Hub's HTTP protocol for the real `huggingface_hub` client
(`HfApi`, `hf_hub_download`, `HfFileSystem`) and `datasets.load_dataset` to read dataset repos:
repo info, tree listing, paths-info, refs, commits and `resolve` downloads with Range support.
Errors carry the `X-Error-Code` headers that `huggingface_hub.utils.hf_raise_for_status` maps to
its exception classes. Files are read from disk at request time. Xet and LFS are never advertised.

The write side (`create_repo`, `create_branch`, `delete_branch`, `delete_repo`, `create_commit`,
`upload_file`, `upload_folder`) needs an `Authorization: Bearer <any token>` header. Preupload
answers `uploadMode: "regular"` for every file, so contents travel base64 inside the NDJSON commit.
Every commit writes a new snapshot folder in the fake's own temporary storage (copied from the
parent revision; a folder given to `add_dataset` is never modified) and gets a new commit sha;
older shas stay readable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

_DATE = "2024-01-01T00:00:00.000Z"

# What a new repo's initial commit holds, as on the Hub (abridged).
_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.arrow", "*.bin", "*.gz", "*.parquet", "*.safetensors", "*.zip", "*.zst")
)
_NO_AUTH = "Invalid username or password: writes need authentication (Authorization: Bearer)."


@dataclass
class _Revision:
    folder: Path
    sha: str
    parent: str | None = None  # the parent commit's sha
    title: str = "Fake commit"
    message: str = ""


@dataclass
class _Repo:
    revisions: dict[str, _Revision]  # revision name -> served folder
    gated: bool
    private: bool = False
    commits: dict[str, _Revision] | None = None  # API commits and their parents, by sha

    def by_sha(self) -> dict[str, _Revision]:
        return {**(self.commits or {}), **{r.sha: r for r in self.revisions.values()}}


class _HubError(Exception):
    """An error response: status, X-Error-Code (or None), message, extra headers and JSON fields."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers, self.body = headers or {}, body or {}


def _entry_not_found(path: str, rev: _Revision) -> _HubError:
    # X-Repo-Commit lets hf_hub_download cache the miss under .no_exist/<sha>/.
    return _HubError(404, "EntryNotFound", f"Entry not found: {path}", {"X-Repo-Commit": rev.sha})


def _has_token(h: BaseHTTPRequestHandler) -> bool:
    auth = h.headers.get("Authorization", "")
    return auth.startswith("Bearer ") and bool(auth[7:].strip())


def _require_token(h: BaseHTTPRequestHandler, code: str | None = "RepoNotFound") -> None:
    """Writes need a token. The real client turns a 401 from `/api/datasets/...` into
    RepositoryNotFoundError ("make sure you are authenticated"), but only for https URLs, so the
    fake names the code; `/api/repos/create` gets a bare 401 (HfHubHTTPError), as on the Hub."""
    if not _has_token(h):
        raise _HubError(401, code, _NO_AUTH)


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


def _split_front_matter(text: str) -> str | None:
    """The YAML between a leading `---` line and the next `---` line, if any."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i, line in enumerate(lines[1:], 1):
        if line.strip() == "---":
            return "\n".join(lines[1:i])
    return None


def _bad_path(path: str) -> bool:
    parts = path.split("/")
    return not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts)


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
    """Fake Hub on 127.0.0.1 (random port); use as a context manager to serve in a daemon thread.

    Logs: `requests` (method, raw path) of every request, `ranges` (path, Range header), and
    `commits` (repo id, branch, paths added or deleted) of every commit applied through the API.
    """

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
        # (repo id, branch, paths added or deleted) of every commit applied through the API
        self.commits: list[tuple[str, str, list[str]]] = []
        self._commit_calls = 0  # commit requests seen so far
        self._commit_fail: dict[int, int] = {}  # commit request number -> status to answer
        self._write_lock = threading.Lock()  # one write (commit, branch, repo) at a time
        self._storage: Path | None = None  # snapshot folders of committed revisions
        self._serial = 0  # snapshot folder / commit counter

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

    def fail_commit(self, n: int = 1, status: int = 500) -> None:
        """The `n`-th commit request from now (`POST .../commit/{rev}`) gets `status` and is not
        applied; earlier and later commits go through. The preupload before it is not affected."""
        with self._lock:
            self._commit_fail[self._commit_calls + n] = status

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """Repo path -> contents of every file of `repo_id` at `revision` (a branch or a sha)."""
        repo = self._repos[repo_id]
        rev = repo.revisions.get(revision) or repo.by_sha()[revision]
        return {rel: p.read_bytes() for rel, p in _list_files(rev.folder).items()}

    def head(self, repo_id: str, revision: str = "main") -> str:
        """The commit sha `revision` of `repo_id` points at."""
        return self._repos[repo_id].revisions[revision].sha

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
        if self._storage is not None:
            shutil.rmtree(self._storage, ignore_errors=True)
            self._storage = None

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
            if parts.path in ("/api/repos/create", "/api/repos/delete"):
                self._repos_api(h, method, parts.path.rsplit("/", 1)[1], body)
            elif parts.path == "/api/validate-yaml" and method == "POST":
                self._validate_yaml(h, body)
            elif parts.path.startswith("/api/datasets/"):
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
            self._send_json(h, method, e.status, {"error": e.message, **e.body}, headers)

    def _find_repo(self, h: _Handler, raw: str) -> tuple[str, _Repo, list[str]]:
        """Split `org/name/rest...` into the longest known repo id and the rest's raw segments."""
        segs = raw.split("/")
        for k in range(len(segs), 0, -1):
            repo_id = unquote("/".join(segs[:k]))
            if repo_id in self._repos:
                repo = self._repos[repo_id]
                if repo.gated and not _has_token(h):
                    raise _HubError(
                        401,
                        "GatedRepo",
                        f"Access to dataset {repo_id} is restricted. You must have access to it "
                        "and be authenticated to access it. Please log in.",
                    )
                if repo.private and not _has_token(h):
                    raise _HubError(401, "RepoNotFound", "Repository not found")
                return repo_id, repo, segs[k:]
        # The real Hub answers 401 without a token and 404 with one; both mean RepoNotFound.
        status = 404 if h.headers.get("Authorization") else 401
        raise _HubError(status, "RepoNotFound", "Repository not found")

    @staticmethod
    def _revision(repo: _Repo, segs: list[str]) -> tuple[str, _Revision, list[str]]:
        """Take the revision off the front of raw segments: one URL-encoded segment
        (`refs%2Fconvert%2Fparquet`), a raw multi-segment name, or a commit sha."""
        by_sha = repo.by_sha()
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
                    e["lastCommit"] = {"id": rev.sha, "title": rev.title, "date": _DATE}
            return self._send_json(h, method, 200, entries)
        if method == "POST" and action == "paths-info":
            _, rev, _ = self._revision(repo, segs[1:])
            form = parse_qs(body.decode())
            entries = self._entries(rev)
            out = [entries[p.strip("/")] for p in form.get("paths", []) if p.strip("/") in entries]
            return self._send_json(h, method, 200, out)
        if method in ("GET", "HEAD") and action == "commits":
            _, rev, _ = self._revision(repo, segs[1:])
            return self._send_json(h, method, 200, self._history(repo, rev))
        if method == "POST" and action == "commit":
            with self._lock:
                self._commit_calls += 1
                injected = self._commit_fail.pop(self._commit_calls, None)
            if injected is not None:
                raise _HubError(injected, None, "fakehub: injected commit failure")
        if (method, action) in (("POST", "preupload"), ("POST", "commit"), ("POST", "branch")) or (
            method == "DELETE" and action == "branch"
        ):
            _require_token(h)
            if action == "branch":
                name = unquote("/".join(segs[1:]))
                return self._branch(h, method, repo, name, body)
            if _truthy(query.get("create_pr")):
                raise _HubError(400, None, "create_pr is not supported by the fake Hub")
            branch = self._branch_name(repo, segs[1:])
            if action == "preupload":
                return self._preupload(h, repo.revisions[branch], body)
            return self._commit(h, repo_id, repo, branch, body)
        raise _HubError(404, None, "Not Found")

    # -- write side --------------------------------------------------------------------------

    def _repos_api(self, h: _Handler, method: str, action: str, body: bytes) -> None:
        """POST /api/repos/create and DELETE /api/repos/delete (JSON name/organization/type)."""
        if (method, action) not in (("POST", "create"), ("DELETE", "delete")):
            raise _HubError(404, None, "Not Found")
        _require_token(h, code=None)
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") != "dataset":
            raise _HubError(400, None, "The fake Hub only has dataset repos (type='dataset')")
        if not payload.get("organization") or not payload.get("name"):
            raise _HubError(400, None, "The fake Hub needs a namespace: use 'org/name' repo ids")
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"{self.url}/datasets/{repo_id}"
        with self._write_lock:
            if action == "delete":
                if self._repos.pop(repo_id, None) is None:
                    raise _HubError(404, "RepoNotFound", "Repository not found")
                return self._send_json(h, method, 200, {})
            if repo_id in self._repos:
                # The client reads `url` from the 409 body when exist_ok=True.
                msg = "You already created this dataset repo"
                raise _HubError(409, None, msg, body={"url": url})
            folder = self._new_snapshot({".gitattributes": _GITATTRIBUTES.encode()})
            sha = self._new_sha(None, folder, "initial commit")
            rev = _Revision(folder, sha, None, "initial commit")
            private = payload.get("visibility") == "private"
            repo = _Repo({"main": rev}, gated=False, private=private, commits={sha: rev})
            with self._lock:
                self._repos[repo_id] = repo
        self._send_json(h, method, 200, {"url": url, "name": repo_id})

    def _validate_yaml(self, h: _Handler, body: bytes) -> None:
        """POST /api/validate-yaml: YAML-parse the README's front matter, nothing more."""
        content = json.loads(body or b"{}").get("content", "")
        errors = []
        front = _split_front_matter(content)
        if front is not None:
            try:
                data = yaml.safe_load(front)
                if data is not None and not isinstance(data, dict):
                    errors.append({"message": "The metadata must be a YAML mapping"})
            except yaml.YAMLError as e:
                errors.append({"message": f"Invalid YAML: {e}"})
        status = 400 if errors else 200
        self._send_json(h, "POST", status, {"errors": errors, "warnings": []})

    @staticmethod
    def _branch_name(repo: _Repo, segs: list[str]) -> str:
        """The branch a preupload/commit targets: it must exist and be a branch (not a sha)."""
        name = unquote("/".join(segs))
        if name not in repo.revisions:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {name}")
        if name.startswith("refs/"):
            raise _HubError(400, None, f"Cannot commit to {name}: not a branch")
        return name

    def _branch(self, h: _Handler, method: str, repo: _Repo, name: str, body: bytes) -> None:
        """POST (JSON `startingPoint`?) or DELETE /api/datasets/{repo}/branch/{name}."""
        with self._write_lock:
            if method == "DELETE":
                if name not in repo.revisions or name.startswith("refs/"):
                    raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {name}")
                if name == "main":
                    raise _HubError(403, None, "Cannot delete the default branch")
                del repo.revisions[name]
                return self._send_json(h, method, 200, {})
            if _bad_path(name) or name.startswith("refs/"):
                raise _HubError(400, None, f"Invalid branch name: {name}")
            if name in repo.revisions:
                raise _HubError(409, None, "Reference already exists")
            start = json.loads(body or b"{}").get("startingPoint") or "main"
            _, rev, _ = self._revision(repo, [quote(start, safe="")])
            repo.revisions[name] = rev
        self._send_json(h, method, 200, {})

    def _preupload(self, h: _Handler, rev: _Revision, body: bytes) -> None:
        """Every file is "regular" (base64 in the commit); `oid` is the git blob sha1 of the file
        already at that path, which the client compares with its own to skip unchanged files."""
        existing = _list_files(rev.folder)
        out = []
        for f in json.loads(body or b"{}").get("files", []):
            entry: dict[str, Any] = {"path": f["path"], "uploadMode": "regular"}
            entry["shouldIgnore"] = False
            if f["path"] in existing:
                entry["oid"] = _blob_oid(existing[f["path"]].read_bytes())
            out.append(entry)
        self._send_json(h, "POST", 200, {"files": out})

    def _commit(self, h: _Handler, repo_id: str, repo: _Repo, branch: str, body: bytes) -> None:
        """NDJSON: a header line, then file (base64) / deletedFile / deletedFolder lines."""
        try:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise _HubError(400, None, f"Invalid NDJSON: {e}") from None
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, None, "The first line of a commit must be its header")
        header = lines[0].get("value") or {}
        with self._write_lock:
            parent = repo.revisions[branch]
            wanted = header.get("parentCommit")
            if wanted and not (len(wanted) >= 7 and parent.sha.startswith(wanted)):
                msg = "A commit has happened since. Please refresh and try again."
                raise _HubError(412, None, msg)
            files: dict[str, Path | bytes] = dict(_list_files(parent.folder))
            touched: list[str] = []
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = str(value.get("path", ""))
                if key == "file":
                    if _bad_path(path):
                        raise _HubError(400, None, f"Invalid path: {path!r}")
                    files[path] = base64.b64decode(value.get("content", ""))
                    touched.append(path)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        msg = f"A file with this name doesn't exist: {path}"
                        raise _HubError(404, "EntryNotFound", msg)
                    touched.append(path)
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    gone = [p for p in files if p.startswith(prefix)]
                    if not gone:
                        msg = f"A folder with this name doesn't exist: {path}"
                        raise _HubError(404, "EntryNotFound", msg)
                    for p in gone:
                        del files[p]
                    touched.extend(gone)
                else:
                    raise _HubError(400, None, f"The fake Hub cannot commit a {key!r} line")
            for p in files:
                parents = ["/".join(p.split("/")[:i]) for i in range(1, p.count("/") + 1)]
                if any(d in files for d in parents):
                    raise _HubError(400, None, f"{p} would sit under a file")
            title = header.get("summary") or "Commit"
            folder = self._new_snapshot(files)
            sha = self._new_sha(parent.sha, folder, title)
            rev = _Revision(folder, sha, parent.sha, title, header.get("description") or "")
            with self._lock:
                # keep the parent reachable by sha too (e.g. an add_dataset revision)
                repo.commits = {parent.sha: parent, **(repo.commits or {}), sha: rev}
                repo.revisions[branch] = rev
                self.commits.append((repo_id, branch, touched))
        url = f"{self.url}/datasets/{repo_id}/commit/{sha}"
        self._send_json(
            h, "POST", 200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None}
        )

    def _new_snapshot(self, files: Mapping[str, Path | bytes]) -> Path:
        """Write `files` (repo path -> bytes, or a file to copy) into a new snapshot folder.

        Files already in the fake's storage are hard-linked (snapshots are never modified);
        anything else, such as a folder given to `add_dataset`, is copied."""
        if self._storage is None:
            self._storage = Path(tempfile.mkdtemp(prefix="fakehub-"))
        self._serial += 1
        folder = self._storage / f"{self._serial:06d}"
        folder.mkdir()
        for rel, src in files.items():
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                dest.write_bytes(src)
            elif src.is_relative_to(self._storage):
                os.link(src, dest)
            else:
                shutil.copyfile(src, dest)
        return folder

    def _new_sha(self, parent: str | None, folder: Path, title: str) -> str:
        """A commit sha unique to this commit: parent, tree, message and a counter."""
        text = f"{parent}\n{_commit_sha(folder)}\n{title}\n{self._serial}"
        return hashlib.sha1(text.encode()).hexdigest()

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
            "private": repo.private,
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
    def _history(repo: _Repo, rev: _Revision) -> list[dict[str, Any]]:
        """`list_repo_commits`: the commits up to `rev`, newest first."""
        by_sha, out = repo.by_sha(), []
        cur: _Revision | None = rev
        while cur is not None:
            out.append(
                {
                    "id": cur.sha,
                    "title": cur.title,
                    "message": cur.message,
                    "authors": [{"user": "fakehub"}],
                    "date": _DATE,
                }
            )
            cur = by_sha.get(cur.parent) if cur.parent else None
        return out

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
