"""Builds whose tasks come from the (fake) Hub and from URLs: snapshots are taken first, the
manifest and card record where rows came from, and a failed source either stops the build
with its name or, with --skip-failed-sources, is left out and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner
from conftest import TINY_TEMPLATES, tiny_records
from fakehub import FakeHub

from flanmix.cli.main import cli


def mixture(folder: Path, hub: FakeHub) -> Path:
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "tiny.yaml").write_text(TINY_TEMPLATES)
    tasks = {
        "from_hub": {
            "templates": "tiny",
            "source": {"kind": "hub", "repo_id": "org/tiny", "rename": {"body": "text"}},
        },
        "gone": {
            "templates": "tiny",
            "source": {"kind": "jsonl", "url": f"{hub.url}/gone.jsonl", "sha256": "2" * 64},
        },
    }
    doc = {
        "name": "remote",
        "seed": 3,
        "templates_dir": "templates",
        "epoch": "all",
        "collections": {"c": {"template_types": {"zs_opt": 1}, "tasks": tasks}},
    }
    (folder / "remote.yaml").write_text(yaml.safe_dump(doc))
    return folder / "remote.yaml"


def test_a_build_from_the_hub_with_a_failed_source(hub: FakeHub, tmp_path: Path) -> None:
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    records = [{"id": r["id"], "body": r["text"], "label": r["label"]} for r in tiny_records(30)]
    pq.write_table(pa.Table.from_pylist(records), repo / "train-00000-of-00001.parquet")
    sha = hub.add_dataset("org/tiny", tmp_path / "repo")
    path = mixture(tmp_path / "mix", hub)
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["build", "--mixture", str(path), "--out", str(out), "--cache", str(cache)]

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and not out.exists()
    assert "1 source(s) failed:\n  gone: " in result.output, result.output
    assert "HTTP 404" in result.output

    result = CliRunner().invoke(cli, [*args, "--skip-failed-sources"])
    assert result.exit_code == 0, result.output
    assert "incomplete: left out 1 task(s) whose source failed: gone" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    (source,) = manifest["sources"]
    assert (source["task"], source["kind"], source["location"]) == ("from_hub", "hub", "org/tiny")
    assert source["snapshot"]["resolved_revision"] == sha and source["rows"] == 30
    assert set(manifest["skipped_sources"]) == {"gone"}
    card = (out / "README.md").read_text()
    assert "Incomplete: 1 task(s) were left out" in card and "`gone`" in card
    rows = pq.read_table(out / "data").to_pylist()
    assert len(rows) == 30 and {r["task_name"] for r in rows} == {"from_hub"}
    assert "item number" in rows[0]["inputs"]  # `body` renamed to the template's `text`

    seen = len(hub.requests)  # a second build reuses the snapshot: no Hub traffic
    result = CliRunner().invoke(cli, [*args, "--skip-failed-sources", "--overwrite"])
    assert result.exit_code == 0
    assert all("gone" in p for _, p in hub.requests[seen:])
