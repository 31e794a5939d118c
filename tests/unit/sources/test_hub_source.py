"""Hub sources through the real huggingface_hub client, against the loopback fake Hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import TINY_TEMPLATES
from fakehub import FakeHub

from flanmix.errors import SourceError
from flanmix.sources.fetch import Retry
from flanmix.sources.snapshot import take
from flanmix.spec.load import Task, load_mixture

QUICK = Retry(attempts=2, backoff=0)


def write_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def pairs(start: int, n: int) -> list[dict]:
    return [
        {"idx": i, "sentence1": f"s1 {i}", "sentence2": f"s2 {i}", "label": i % 2}
        for i in range(start, start + n)
    ]


@pytest.fixture
def glue(tmp_path: Path) -> Path:
    """A repo laid out like nyu-mll/glue: one folder per config, `split-NNNNN-of-NNNNN` files."""
    root = tmp_path / "glue"
    write_parquet(root / "mrpc" / "train-00000-of-00002.parquet", pairs(0, 6))
    write_parquet(root / "mrpc" / "train-00001-of-00002.parquet", pairs(6, 4))
    write_parquet(root / "mrpc" / "validation-00000-of-00001.parquet", pairs(100, 3))
    write_parquet(root / "cola" / "train-00000-of-00001.parquet", pairs(0, 2))
    (root / "README.md").write_text("# glue-like\n")
    return root


@pytest.fixture
def task_of(tmp_path: Path) -> Callable[..., Task]:
    def make(**source: object) -> Task:
        doc = {
            "name": "hubmix",
            "templates_dir": "templates",
            "collections": {
                "c": {
                    "template_types": {"zs_opt": 1},
                    "tasks": {"t": {"templates": "tiny", "source": {"kind": "hub", **source}}},
                }
            },
        }
        (tmp_path / "templates").mkdir(exist_ok=True)
        (tmp_path / "templates" / "tiny.yaml").write_text(TINY_TEMPLATES)
        (tmp_path / "hubmix.yaml").write_text(yaml.safe_dump(doc))
        return load_mixture(str(tmp_path / "hubmix.yaml")).tasks["t"]

    return make


def rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_a_config_split_is_read_renamed_filtered_and_pinned(
    hub: FakeHub, glue: Path, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    sha = hub.add_dataset("nyu-mll/glue", glue)
    task = task_of(
        repo_id="nyu-mll/glue",
        config="mrpc",
        rename={"sentence1": "text"},
        filter={"label": 1},
    )
    snap = take(task, tmp_path / "cache", retry=QUICK)
    got = rows(snap.data)
    assert snap.rows == 5 and all(r["label"] == 1 for r in got)
    assert got[0]["example_id"] == "mrpc/train-00000-of-00002.parquet:1"
    assert got[0]["text"] == "s1 1" and "sentence1" not in got[0]
    assert snap.info["resolved_revision"] == sha and snap.info["revision"] == "main"
    assert [i["name"] for i in snap.info["inputs"]] == [
        "mrpc/train-00000-of-00002.parquet",
        "mrpc/train-00001-of-00002.parquet",
    ]


def test_id_field_and_the_validation_split(
    hub: FakeHub, glue: Path, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    hub.add_dataset("nyu-mll/glue", glue)
    task = task_of(repo_id="nyu-mll/glue", config="mrpc", split="validation", id_field="idx")
    snap = take(task, tmp_path / "cache", retry=QUICK)
    assert [r["example_id"] for r in rows(snap.data)] == ["100", "101", "102"]


def test_the_readme_configs_and_the_parquet_export_branch(
    hub: FakeHub, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    declared = tmp_path / "declared"
    write_parquet(declared / "raw" / "part-a.parquet", pairs(0, 3))
    write_parquet(declared / "other" / "train-x.parquet", pairs(50, 9))
    meta = {
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": "raw/*.parquet"}]}
        ]
    }
    (declared / "README.md").write_text(f"---\n{yaml.safe_dump(meta)}---\n# card\n")
    hub.add_dataset("org/declared", declared)
    assert take(task_of(repo_id="org/declared"), tmp_path / "c1", retry=QUICK).rows == 3

    export = tmp_path / "export"
    write_parquet(export / "default" / "train" / "0000.parquet", pairs(0, 4))
    hub.add_dataset("org/scripted", tmp_path / "declared")  # main: no usable Parquet for it
    hub.add_dataset("org/scripted", export, revision="refs/convert/parquet")
    task = task_of(repo_id="org/scripted", config="default", revision="refs/convert/parquet")
    assert take(task, tmp_path / "c2", retry=QUICK).rows == 4


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"repo_id": "nobody/nothing"}, r"nobody/nothing@main: no such dataset on http://127"),
        ({"repo_id": "nyu-mll/glue", "revision": "v9"}, "no such revision; check `revision`"),
        (
            {"repo_id": "nyu-mll/glue", "config": "sst9"},
            "no config 'sst9'; configs .*: cola, mrpc",
        ),
        (
            {"repo_id": "nyu-mll/glue", "config": "mrpc", "split": "test"},
            "no Parquet files for split 'test' of config 'mrpc'; Parquet files: mrpc/train",
        ),
    ],
)
def test_what_does_not_exist_is_named_with_what_does(
    hub: FakeHub,
    glue: Path,
    tmp_path: Path,
    task_of: Callable[..., Task],
    source: dict,
    message: str,
) -> None:
    hub.add_dataset("nyu-mll/glue", glue)
    with pytest.raises(SourceError, match=message):
        take(task_of(**source), tmp_path / "cache", retry=QUICK)


def test_a_gated_dataset_says_how_to_log_in_and_works_with_a_token(
    hub: FakeHub,
    glue: Path,
    tmp_path: Path,
    task_of: Callable[..., Task],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub.add_dataset("org/gated", glue, gated=True)
    task = task_of(repo_id="org/gated", config="cola")
    with pytest.raises(SourceError, match=r"gated; accept its conditions .* `hf auth login`"):
        take(task, tmp_path / "cache", retry=QUICK)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    assert take(task, tmp_path / "cache", retry=QUICK).rows == 2


def test_offline_mode_uses_snapshots_and_explains_a_missing_one(
    hub: FakeHub,
    glue: Path,
    tmp_path: Path,
    task_of: Callable[..., Task],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flanmix.sources.snapshot import prepare_sources

    hub.add_dataset("nyu-mll/glue", glue)
    task = task_of(repo_id="nyu-mll/glue", config="cola")
    mixture = load_mixture(task.file)
    prepare_sources(mixture, tmp_path / "cache")
    seen = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    built, _ = prepare_sources(mixture, tmp_path / "cache")
    assert len(hub.requests) == seen and built.tasks["t"].snapshot is not None
    with pytest.raises(SourceError, match="HF_HUB_OFFLINE is set and dataset nyu-mll/glue"):
        prepare_sources(mixture, tmp_path / "empty")


def test_transient_hub_errors_are_retried(
    hub: FakeHub, glue: Path, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    hub.add_dataset("nyu-mll/glue", glue)
    hub.fail_next(1)
    notes: list[str] = []
    task = task_of(repo_id="nyu-mll/glue", config="cola")
    assert take(task, tmp_path / "cache", retry=QUICK, note=notes.append).rows == 2
    assert any("HTTP 503" in n and "retrying" in n for n in notes)


def test_split_names_match_exactly_and_configs_must_be_named(
    hub: FakeHub, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    anli = tmp_path / "anli"
    write_parquet(anli / "plain_text" / "train_r1-00000-of-00001.parquet", pairs(0, 3))
    write_parquet(anli / "plain_text" / "train_r2-00000-of-00001.parquet", pairs(3, 5))
    hub.add_dataset("facebook/anli", anli)
    task = task_of(repo_id="facebook/anli", config="plain_text", split="train_r2")
    assert take(task, tmp_path / "c1", retry=QUICK).rows == 5
    with pytest.raises(SourceError, match="no Parquet files for split 'train'"):
        take(task_of(repo_id="facebook/anli", config="plain_text"), tmp_path / "c2", retry=QUICK)
    glue = tmp_path / "glue"
    write_parquet(glue / "mrpc" / "train.parquet", pairs(0, 1))
    write_parquet(glue / "qqp" / "train.parquet", pairs(0, 1))
    hub.add_dataset("nyu-mll/glue", glue)
    with pytest.raises(SourceError, match=r"several configs .* `config:`: mrpc, qqp"):
        take(task_of(repo_id="nyu-mll/glue"), tmp_path / "c3", retry=QUICK)


def test_an_unknown_revision_lists_the_branches(
    hub: FakeHub, glue: Path, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    hub.add_dataset("nyu-mll/glue", glue)
    hub.add_dataset("nyu-mll/glue", glue, revision="refs/convert/parquet")
    task = task_of(repo_id="nyu-mll/glue", config="mrpc", revision="v2")
    with pytest.raises(SourceError, match=r"no such revision; check `revision` \(branches: main"):
        take(task, tmp_path / "cache", retry=QUICK)


def test_an_unreachable_hub_fails_after_the_retries(
    tmp_path: Path, task_of: Callable[..., Task], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(SourceError, match="failed 2 times, last with: ConnectError"):
        take(task_of(repo_id="nyu-mll/glue"), tmp_path / "cache", retry=QUICK)


def test_the_snapshot_notes_the_commit_a_branch_resolved_to(
    hub: FakeHub, glue: Path, tmp_path: Path, task_of: Callable[..., Task]
) -> None:
    sha = hub.add_dataset("nyu-mll/glue", glue)
    notes: list[str] = []
    take(task_of(repo_id="nyu-mll/glue", config="cola"), tmp_path / "c", note=notes.append)
    assert f"write `revision: {sha}` to pin it" in notes[0]
    notes.clear()
    take(
        task_of(repo_id="nyu-mll/glue", config="cola", revision=sha),
        tmp_path / "c2",
        note=notes.append,
    )
    assert not any("to pin it" in n for n in notes)
