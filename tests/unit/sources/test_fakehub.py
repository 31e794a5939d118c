"""The loopback fake Hub (tests/fakehub.py) against the real huggingface_hub client: repo info,
listings, downloads and their cache, HfFileSystem range reads, a `refs/convert/parquet` revision,
the exception classes the client raises, and plain-file serving with injected failures."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fakehub import FakeHub
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import (
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
