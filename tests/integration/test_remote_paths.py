"""Outputs and snapshot caches at fsspec URLs (gs:// on Dataflow; the in-memory filesystem
stands in here): nothing in a build assumes a local disk, and the bytes are the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import TINY_TEMPLATES

from flanmix.build import build
from flanmix.errors import FlanmixError, OutputError
from flanmix.sources.snapshot import prepare_sources
from flanmix.spec.load import load_mixture


@pytest.fixture
def memfs() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    yield fs
    for top in ("/bucket", "/cache"):
        if fs.exists(top):
            fs.rm(top, recursive=True)


def test_a_build_written_to_a_url_matches_the_local_one(
    memfs: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    remote = build(load_mixture("demo"), "memory://bucket/demo")
    local = build(load_mixture("demo"), tmp_path / "demo")
    names = sorted(p.removeprefix("/bucket/demo/") for p in memfs.find("/bucket/demo"))
    assert names == sorted(
        p.relative_to(tmp_path / "demo").as_posix()
        for p in (tmp_path / "demo").rglob("*")
        if p.is_file()
    )
    assert remote.manifest["shards"] == local.manifest["shards"]
    shard = remote.manifest["shards"][0]["path"]
    assert memfs.cat(f"/bucket/demo/{shard}") == (tmp_path / "demo" / shard).read_bytes()
    assert not memfs.exists("/bucket/.demo.flanmix-staging")
    with pytest.raises(OutputError, match=r"already exists .a finished build.; pass --overwrite"):
        build(load_mixture("demo"), "memory://bucket/demo")
    build(load_mixture("demo"), "memory://bucket/demo", overwrite=True)
    memfs.pipe("/bucket/other/notes.txt", b"mine")
    with pytest.raises(OutputError, match="holds files that are not a flanmix build"):
        build(load_mixture("demo"), "memory://bucket/other", overwrite=True)
    assert memfs.cat("/bucket/other/notes.txt") == b"mine"


def test_snapshots_in_a_remote_cache_feed_the_build(
    memfs: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "tiny.yaml").write_text(TINY_TEMPLATES)
    (tmp_path / "a_train.tsv").write_text("".join(f"q{i}\tgood\tr{i}\n" for i in range(30)))
    source = {  # the tiny family reads `text` and `label`
        "kind": "cot",
        "path": "a_train.tsv",
        "rename": {"question": "text", "answer": "label"},
    }
    doc = {
        "name": "remote-cache",
        "templates_dir": "templates",
        "collections": {
            "c": {
                "template_types": {"zs_opt": 1},
                "tasks": {"t": {"templates": "tiny", "source": source}},
            }
        },
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    mixture = load_mixture(str(tmp_path / "m.yaml"))
    prepared, _ = prepare_sources(mixture, "memory://cache")
    data = prepared.tasks["t"].source.path
    assert data is not None and data.startswith("memory://cache/snapshots/")
    assert memfs.exists(data.removeprefix("memory://")) and memfs.exists(
        data.removeprefix("memory://").replace("data.parquet", "snapshot.json")
    )
    out = build(mixture, tmp_path / "out", cache="memory://cache")
    assert out.manifest["sources"][0]["files"][0]["path"] == data
    assert len(pq.read_table(tmp_path / "out" / "data")) == 30


def test_an_unreachable_store_fails_before_the_build(tmp_path: Path) -> None:
    with pytest.raises(FlanmixError, match="cannot write to nosuchstore://bucket/x"):
        build(load_mixture("demo"), "nosuchstore://bucket/x")
