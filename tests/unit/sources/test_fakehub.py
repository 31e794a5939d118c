"""The loopback fake Hub (tests/fakehub.py) against the real huggingface_hub client: repo info,
listings, downloads and their cache, HfFileSystem range reads, a `refs/convert/parquet` revision,
the exception classes the client raises, and plain-file serving with injected failures; then the
write side: create_repo, create_branch, create_commit/upload_folder/upload_file (skipping unchanged
files), deletions, auth, injected commit failures and `datasets.load_dataset` on a pushed repo."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fakehub import FakeHub
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    hf_hub_download,
)
from huggingface_hub.errors import (
    BadRequestError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

REPO = "org/tiny"
TRAIN = b"".join(b'{"text": "example %d"}\n' % i for i in range(50))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.jsonl").write_bytes(TRAIN)
    (root / "data" / "test.jsonl").write_bytes(b'{"text": "held out"}\n')
    (root / "README.md").write_text("# tiny\n")
    return root


def download(hub: FakeHub, cache: Path, filename: str, **kwargs) -> Path:
    path = hf_hub_download(
        REPO, filename, repo_type="dataset", endpoint=hub.url, cache_dir=cache, **kwargs
    )
    return Path(path)


def test_dataset_info_and_listings(hub: FakeHub, folder: Path) -> None:
    sha = hub.add_dataset(REPO, folder)
    assert len(sha) == 40 and sha == hub.add_dataset("org/copy", folder)  # deterministic
    api = HfApi(endpoint=hub.url)

    info = api.dataset_info(REPO, token=False)
    assert (info.id, info.sha, info.private, info.gated) == (REPO, sha, False, False)
    files = ["README.md", "data/test.jsonl", "data/train.jsonl"]
    assert [s.rfilename for s in info.siblings or []] == files
    assert api.dataset_info(REPO, revision=sha).sha == sha  # the sha is a revision too

    assert api.list_repo_files(REPO, repo_type="dataset") == files
    top = {e.path: type(e).__name__ for e in api.list_repo_tree(REPO, repo_type="dataset")}
    assert top == {"README.md": "RepoFile", "data": "RepoFolder"}
    deep = list(api.list_repo_tree(REPO, repo_type="dataset", recursive=True))
    assert [e.path for e in deep] == ["README.md", "data", *files[1:]]
    (train,) = [
        e for e in api.list_repo_tree(REPO, "data", repo_type="dataset") if "train" in e.path
    ]
    assert train.size == len(TRAIN) and len(train.blob_id) == 40

    paths = api.get_paths_info(REPO, ["data/train.jsonl", "data", "nope"], repo_type="dataset")
    assert [(p.path, type(p).__name__) for p in paths] == [
        ("data/train.jsonl", "RepoFile"),
        ("data", "RepoFolder"),
    ]


def test_hf_hub_download_and_cache(hub: FakeHub, folder: Path, tmp_path: Path) -> None:
    sha = hub.add_dataset(REPO, folder)
    path = download(hub, tmp_path / "cache", "data/train.jsonl")
    assert path.read_bytes() == TRAIN and sha in path.parts
    resolve = f"/datasets/{REPO}/resolve/main/data/train.jsonl"
    assert hub.requests == [("HEAD", resolve), ("GET", resolve)]

    # A branch is re-checked with HEAD, but the body comes from the cache; a sha needs no request.
    assert download(hub, tmp_path / "cache", "data/train.jsonl") == path
    assert hub.requests[2:] == [("HEAD", resolve)]
    assert download(hub, tmp_path / "cache", "data/train.jsonl", revision=sha) == path
    assert len(hub.requests) == 3


def test_hf_file_system_range_read(hub: FakeHub, folder: Path) -> None:
    hub.add_dataset(REPO, folder)
    fs = HfFileSystem(endpoint=hub.url, token=False, skip_instance_cache=True)
    assert fs.ls(f"datasets/{REPO}/data", detail=False) == [
        f"datasets/{REPO}/data/test.jsonl",
        f"datasets/{REPO}/data/train.jsonl",
    ]
    assert fs.info(f"datasets/{REPO}/data/train.jsonl")["size"] == len(TRAIN)
    assert not fs.exists(f"datasets/{REPO}/data/nope.jsonl")
    # A tiny block size makes every read a Range GET: wrong bytes if the server ignored Range.
    with fs.open(f"datasets/{REPO}/data/train.jsonl", "rb", block_size=16) as f:
        f.seek(100)
        assert f.read(40) == TRAIN[100:140]
        f.seek(len(TRAIN) - 5)
        assert f.read() == TRAIN[-5:]


def test_parquet_conversion_revision(hub: FakeHub, folder: Path, tmp_path: Path) -> None:
    hub.add_dataset(REPO, folder)
    parquet = tmp_path / "parquet" / "default" / "train"
    parquet.mkdir(parents=True)
    (parquet / "0000.parquet").write_bytes(b"PAR1 fake PAR1")
    rev = "refs/convert/parquet"
    sha = hub.add_dataset(REPO, tmp_path / "parquet", revision=rev)
    api = HfApi(endpoint=hub.url)

    assert api.dataset_info(REPO, revision=rev).sha == sha
    assert api.list_repo_files(REPO, repo_type="dataset", revision=rev) == [
        "default/train/0000.parquet"
    ]
    path = download(hub, tmp_path / "cache", "default/train/0000.parquet", revision=rev)
    assert path.read_bytes() == b"PAR1 fake PAR1"
    assert any("/refs%2Fconvert%2Fparquet/" in p for _, p in hub.requests)  # encoded as one segment
    refs = api.list_repo_refs(REPO, repo_type="dataset")
    assert [(r.ref, r.target_commit) for r in refs.converts] == [(rev, sha)]


def test_client_exceptions(hub: FakeHub, folder: Path, tmp_path: Path) -> None:
    hub.add_dataset(REPO, folder)
    hub.add_dataset("org/gated", folder, gated=True)
    api = HfApi(endpoint=hub.url)
    cache = tmp_path / "cache"

    for call in (
        lambda: api.dataset_info("org/missing", token=False),
        lambda: api.dataset_info("org/missing", token="x"),
        lambda: hf_hub_download("org/missing", "a", repo_type="dataset", endpoint=hub.url),
    ):
        with pytest.raises(RepositoryNotFoundError) as e:
            call()
        assert e.type is RepositoryNotFoundError  # not its subclass GatedRepoError
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(REPO, revision="v9")
    with pytest.raises(RevisionNotFoundError):
        download(hub, cache, "README.md", revision="v9")
    with pytest.raises(EntryNotFoundError):
        download(hub, cache, "data/missing.jsonl")
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(REPO, "nope", repo_type="dataset"))

    with pytest.raises(GatedRepoError):
        api.dataset_info("org/gated", token=False)
    gated = {"repo_type": "dataset", "endpoint": hub.url, "cache_dir": cache}
    with pytest.raises(GatedRepoError):
        hf_hub_download("org/gated", "README.md", token=False, **gated)
    assert api.dataset_info("org/gated", token="x").gated == "auto"
    assert Path(hf_hub_download("org/gated", "README.md", token="x", **gated)).read_text() == (
        "# tiny\n"
    )


def test_plain_files_ranges_and_injected_failures(hub: FakeHub, tmp_path: Path) -> None:
    src = tmp_path / "blob.bin"
    src.write_bytes(bytes(range(256)) * 4)
    data = src.read_bytes()
    url = hub.add_file("files/blob.bin", src)
    assert url == f"{hub.url}/files/blob.bin"

    with urllib.request.urlopen(url) as r:
        assert (r.status, r.headers["Content-Length"], r.read()) == (200, "1024", data)
    req = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(req) as r:
        assert (r.status, r.headers["Content-Range"], r.read()) == (
            206,
            "bytes 10-19/1024",
            data[10:20],
        )
    req = urllib.request.Request(url, headers={"Range": "bytes=1000-"})
    with urllib.request.urlopen(req) as r:
        assert (r.status, r.headers["Content-Length"], r.read()) == (206, "24", data[1000:])
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as r:
        assert (r.status, r.headers["Content-Length"], r.read()) == (200, "1024", b"")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{hub.url}/files/missing.bin")
    assert e.value.code == 404

    hub.fail_next(2, status=503)
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url)
        assert (e.value.code, e.value.read()) == (503, b"{}")
    with urllib.request.urlopen(url) as r:
        assert r.read() == data

    hub.truncate_next(100)
    with urllib.request.urlopen(url) as r, pytest.raises(http.client.IncompleteRead) as cut:
        r.read()
    assert cut.value.partial == data[:100]
    with urllib.request.urlopen(url) as r:  # only the next body is cut
        assert r.read() == data
    assert hub.requests[-1] == ("GET", "/files/blob.bin")


def test_hub_failures_reach_the_client(hub: FakeHub, folder: Path, tmp_path: Path) -> None:
    hub.add_dataset(REPO, folder)
    hub.fail_next(1, status=503)
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url).dataset_info(REPO)
    assert e.value.response.status_code == 503

    # A body cut mid-download: hf_hub_download resumes with a Range GET (after a 1 s pause).
    hub.truncate_next(30)
    assert download(hub, tmp_path / "cache", "data/train.jsonl").read_bytes() == TRAIN
    resolve = ("GET", f"/datasets/{REPO}/resolve/main/data/train.jsonl")
    assert hub.requests[-2:] == [resolve, resolve]


# -- write side -------------------------------------------------------------------------------

NEW = "org/pushed"


def writer(hub: FakeHub) -> HfApi:
    return HfApi(endpoint=hub.url, token="x")


def commit_posts(requests: list[tuple[str, str]]) -> list[str]:
    return [p for m, p in requests if m == "POST" and "/commit/" in p]


def test_create_repo_and_exist_ok(hub: FakeHub) -> None:
    api = writer(hub)
    url = api.create_repo(NEW, repo_type="dataset")
    assert (url, url.repo_id, url.repo_type) == (f"{hub.url}/datasets/{NEW}", NEW, "dataset")
    assert hub.requests[0] == ("POST", "/api/repos/create")
    # As on the Hub, a new repo holds an initial commit with .gitattributes.
    info = api.dataset_info(NEW)
    assert [s.rfilename for s in info.siblings or []] == [".gitattributes"]
    assert (info.sha, info.private) == (hub.head(NEW), False)

    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(NEW, repo_type="dataset")
    assert e.value.response.status_code == 409
    assert api.create_repo(NEW, repo_type="dataset", exist_ok=True) == url
    assert api.dataset_info(NEW).sha == info.sha  # untouched

    api.create_repo("org/secret", repo_type="dataset", private=True)
    assert api.dataset_info("org/secret").private is True
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("org/secret", token=False)
    api.delete_repo("org/secret", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("org/secret")
    assert hub.commits == []  # only commits made through the commit endpoint are logged


def test_upload_folder_read_back_and_skip_unchanged(
    hub: FakeHub, folder: Path, tmp_path: Path
) -> None:
    api = writer(hub)
    api.create_repo(NEW, repo_type="dataset")
    info = api.upload_folder(repo_id=NEW, repo_type="dataset", folder_path=folder)
    assert info.oid == hub.head(NEW) == api.dataset_info(NEW).sha
    files = ["README.md", "data/test.jsonl", "data/train.jsonl"]
    assert api.list_repo_files(NEW, repo_type="dataset") == [".gitattributes", *files]
    assert hub.commits == [(NEW, "main", files)]
    assert commit_posts(hub.requests) == [f"/api/datasets/{NEW}/commit/main"]

    path = hf_hub_download(NEW, "data/train.jsonl", repo_type="dataset", endpoint=hub.url)
    assert Path(path).read_bytes() == TRAIN and info.oid in Path(path).parts
    fs = HfFileSystem(endpoint=hub.url, token="x", skip_instance_cache=True)
    assert fs.cat(f"datasets/{NEW}/data/test.jsonl") == b'{"text": "held out"}\n'

    # Same folder again: preupload returns each file's oid, the client skips them all and sends
    # no commit at all (it reads the revision instead), so the head stays where it was.
    n = len(hub.requests)
    again = api.upload_folder(repo_id=NEW, repo_type="dataset", folder_path=folder)
    assert again.oid == info.oid == hub.head(NEW)
    assert commit_posts(hub.requests[n:]) == [] and len(hub.commits) == 1
    assert ("POST", f"/api/datasets/{NEW}/preupload/main") in hub.requests[n:]

    # One changed file: only it travels.
    (folder / "data" / "test.jsonl").write_bytes(b'{"text": "changed"}\n')
    third = api.upload_folder(repo_id=NEW, repo_type="dataset", folder_path=folder)
    assert third.oid != info.oid and hub.commits[-1] == (NEW, "main", ["data/test.jsonl"])
    assert hub.files(NEW)["data/test.jsonl"] == b'{"text": "changed"}\n'
    old = api.hf_hub_download(NEW, "data/test.jsonl", repo_type="dataset", revision=info.oid)
    assert Path(old).read_bytes() == b'{"text": "held out"}\n'  # older commits stay readable

    # The README front matter goes through /api/validate-yaml; broken YAML stops the commit.
    (tmp_path / "bad.md").write_text("---\nconfigs: [\n---\n")
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.upload_file(
            path_or_fileobj=tmp_path / "bad.md",
            path_in_repo="README.md",
            repo_id=NEW,
            repo_type="dataset",
        )
    assert hub.head(NEW) == third.oid and ("POST", "/api/validate-yaml") in hub.requests


def test_branches_deletes_and_parent_commit(hub: FakeHub) -> None:
    api = writer(hub)
    api.create_repo(NEW, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a\n", path_in_repo="a.txt", repo_id=NEW, repo_type="dataset")
    base = hub.head(NEW)

    api.create_branch(NEW, repo_type="dataset", branch="v1.0")
    assert hub.requests[-1] == ("POST", f"/api/datasets/{NEW}/branch/v1.0")
    api.create_branch(NEW, repo_type="dataset", branch="v1.0", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_branch(NEW, repo_type="dataset", branch="v1.0")
    assert e.value.response.status_code == 409
    assert hub.head(NEW, "v1.0") == base

    ops = [
        CommitOperationAdd("data/b.txt", b"b\n"),
        CommitOperationDelete("a.txt"),
    ]
    info = api.create_commit(
        NEW, ops, commit_message="On v1.0", repo_type="dataset", revision="v1.0"
    )
    assert hub.commits[-1] == (NEW, "v1.0", ["data/b.txt", "a.txt"])
    assert api.list_repo_files(NEW, repo_type="dataset", revision="v1.0") == [
        ".gitattributes",
        "data/b.txt",
    ]
    assert api.list_repo_files(NEW, repo_type="dataset") == [".gitattributes", "a.txt"]
    refs = {r.name: r.target_commit for r in api.list_repo_refs(NEW, repo_type="dataset").branches}
    assert refs == {"main": base, "v1.0": info.oid}
    commits = api.list_repo_commits(NEW, repo_type="dataset", revision="v1.0")
    assert [c.commit_id for c in commits][:2] == [info.oid, base]
    assert commits[0].title == "On v1.0" and commits[-1].title == "initial commit"

    # Deletions: a file, a folder (trailing slash) and a missing file.
    api.delete_file("a.txt", NEW, repo_type="dataset")
    assert api.list_repo_files(NEW, repo_type="dataset") == [".gitattributes"]
    api.delete_folder("data", NEW, repo_type="dataset", revision="v1.0")
    assert hub.commits[-1] == (NEW, "v1.0", ["data/b.txt"])
    with pytest.raises(EntryNotFoundError):
        api.delete_file("nope.txt", NEW, repo_type="dataset")

    # parent_commit must be the branch head (a 7-character prefix will do).
    head = hub.head(NEW)
    with pytest.raises(HfHubHTTPError, match="A commit has happened since") as e:
        api.upload_file(
            path_or_fileobj=b"x",
            path_in_repo="x.txt",
            repo_id=NEW,
            repo_type="dataset",
            parent_commit=base,
        )
    assert e.value.response.status_code == 412 and hub.head(NEW) == head
    api.upload_file(
        path_or_fileobj=b"x",
        path_in_repo="x.txt",
        repo_id=NEW,
        repo_type="dataset",
        parent_commit=head[:7],
    )
    assert hub.files(NEW)["x.txt"] == b"x"

    with pytest.raises(RevisionNotFoundError):
        api.upload_file(
            path_or_fileobj=b"x", path_in_repo="y", repo_id=NEW, repo_type="dataset", revision="v9"
        )
    with pytest.raises(BadRequestError, match="not supported by the fake"):
        api.upload_file(
            path_or_fileobj=b"x", path_in_repo="y", repo_id=NEW, repo_type="dataset", create_pr=True
        )
    api.delete_branch(NEW, repo_type="dataset", branch="v1.0")
    assert [b.name for b in api.list_repo_refs(NEW, repo_type="dataset").branches] == ["main"]


def test_writes_need_a_token(hub: FakeHub) -> None:
    writer(hub).create_repo(NEW, repo_type="dataset")
    head = hub.head(NEW)
    anonymous = HfApi(endpoint=hub.url, token=False)

    with pytest.raises(RepositoryNotFoundError, match="make sure you are authenticated") as e:
        anonymous.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=NEW, repo_type="dataset"
        )
    assert e.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError, match="authentication") as e:
        anonymous.create_repo("org/other", repo_type="dataset")
    assert e.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        anonymous.create_branch(NEW, repo_type="dataset", branch="dev")
    assert hub.head(NEW) == head and hub.commits == []
    assert [b.name for b in anonymous.list_repo_refs(NEW, repo_type="dataset").branches] == ["main"]
    # Reads of a public repo still need no token.
    assert anonymous.list_repo_files(NEW, repo_type="dataset") == [".gitattributes"]


def test_fail_commit_applies_nothing(hub: FakeHub) -> None:
    api = writer(hub)
    api.create_repo(NEW, repo_type="dataset")
    hub.fail_commit(2, status=500)

    def put(name: str) -> None:
        api.upload_file(
            path_or_fileobj=name.encode(), path_in_repo=name, repo_id=NEW, repo_type="dataset"
        )

    put("one.txt")
    before = hub.head(NEW)
    with pytest.raises(HfHubHTTPError) as e:
        put("two.txt")
    assert e.value.response.status_code == 500
    assert hub.head(NEW) == before and set(hub.files(NEW)) == {".gitattributes", "one.txt"}
    assert [c[2] for c in hub.commits] == [["one.txt"]]
    put("two.txt")  # only that one commit request failed
    assert set(hub.files(NEW)) == {".gitattributes", "one.txt", "two.txt"}


def test_add_dataset_repo_accepts_commits(hub: FakeHub, folder: Path) -> None:
    sha = hub.add_dataset(REPO, folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    api = writer(hub)
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    api.upload_file(
        path_or_fileobj=b"new", path_in_repo="data/new.jsonl", repo_id=REPO, repo_type="dataset"
    )
    api.delete_file("README.md", REPO, repo_type="dataset")

    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert api.list_repo_files(REPO, repo_type="dataset") == [
        "data/new.jsonl",
        "data/test.jsonl",
        "data/train.jsonl",
    ]
    assert api.list_repo_files(REPO, repo_type="dataset", revision=sha) == [
        "README.md",
        "data/test.jsonl",
        "data/train.jsonl",
    ]
    assert hub.files(REPO)["data/train.jsonl"] == TRAIN


def test_load_dataset_reads_a_pushed_repo(hub: FakeHub, tmp_path: Path) -> None:
    local = tmp_path / "push"
    (local / "data").mkdir(parents=True)
    rows = [{"id": i, "text": f"row {i}"} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), local / "data" / "train-00000-of-00001.parquet")
    (local / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*\n---\n# pushed\n"
    )
    api = writer(hub)
    api.create_repo(NEW, repo_type="dataset")
    api.upload_folder(repo_id=NEW, repo_type="dataset", folder_path=local)

    # `datasets` reads HF_ENDPOINT when imported, hence the subprocess.
    code = (
        "import datasets, json; "
        f"ds = datasets.load_dataset({NEW!r}, split='train'); "
        "print(json.dumps(ds.to_list()))"
    )
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    env.pop("HF_TOKEN", None)
    n = len(hub.requests)
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == (
        '[{"id": 0, "text": "row 0"}, {"id": 1, "text": "row 1"}, {"id": 2, "text": "row 2"}, '
        '{"id": 3, "text": "row 3"}, {"id": 4, "text": "row 4"}]'
    )
    parquet = f"/datasets/{NEW}/resolve/{hub.head(NEW)}/data/train-00000-of-00001.parquet"
    assert ("GET", parquet) in hub.requests[n:]
