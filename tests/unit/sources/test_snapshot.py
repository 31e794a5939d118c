"""Snapshots of url, cot, niv2 and dialog sources: counts, ids, determinism, drops, resume and
refusals. URLs are served by the loopback fake server (tests/fakehub.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import TINY_TEMPLATES, write_jsonl
from fakehub import FakeHub

from flanmix.errors import SourceError
from flanmix.sources.fetch import Retry
from flanmix.sources.snapshot import Snapshot, find, prepare_sources, snapshot_tasks, take
from flanmix.spec.load import Mixture, load_mixture

COT_LINES = [
    "What is 2+2?\t4\tTwo plus two is four.",
    "Is snow cold?\tyes\tSnow is frozen water.\\nFrozen water is cold.",
    "a broken line with two fields\tonly",
    "Why is the sky blue?\tscattering\tShort wavelengths scatter more.",
]


@pytest.fixture
def mixture_of(tmp_path: Path) -> Callable[..., Mixture]:
    """A one-collection mixture whose tasks have the given sources (dicts)."""

    def make(**sources: dict) -> Mixture:
        tasks = {name: {"templates": "tiny", "source": src} for name, src in sources.items()}
        doc = {
            "name": "snap",
            "seed": 1,
            "root": str(tmp_path),
            "templates_dir": "templates",
            "collections": {"c": {"template_types": {"zs_opt": 1}, "tasks": tasks}},
        }
        (tmp_path / "templates").mkdir(exist_ok=True)
        (tmp_path / "templates" / "tiny.yaml").write_text(TINY_TEMPLATES)
        path = tmp_path / "snap.yaml"
        path.write_text(yaml.safe_dump(doc))
        return load_mixture(str(path))

    return make


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows(snap: Snapshot) -> list[dict]:
    return pq.read_table(snap.data).to_pylist()


# ---- url + cot --------------------------------------------------------------------------------


def serve_cot(hub: FakeHub, tmp_path: Path, lines: list[str] = COT_LINES) -> tuple[str, str]:
    data = ("\n".join(lines) + "\n").encode()
    (tmp_path / "served.tsv").write_bytes(data)
    return hub.add_file("flan/cot/x_train.tsv", tmp_path / "served.tsv"), sha256(data)


def test_cot_from_url_counts_unescapes_and_drops_with_line_numbers(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path)
    m = mixture_of(x={"kind": "cot", "url": url, "sha256": digest})
    snap = take(m.tasks["x"], tmp_path / "cache")
    assert snap.rows == 3
    assert snap.info["dropped"] == {"wrong_field_count": 1}
    assert snap.info["drop_examples"] == ["x_train.tsv:3: 2 fields, expected 3: wrong_field_count"]
    got = rows(snap)
    assert [r["example_id"] for r in got] == ["0", "1", "3"]  # ids stay put past a dropped line
    assert got[1]["rationale"] == "Snow is frozen water.\nFrozen water is cold."
    assert snap.info["revision"] == digest and snap.info["inputs"][0]["sha256"] == digest


def test_snapshot_is_byte_identical_when_taken_again(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path)
    task = mixture_of(x={"kind": "cot", "url": url, "sha256": digest}).tasks["x"]
    first = take(task, tmp_path / "a")
    second = take(task, tmp_path / "b")
    assert first.data.read_bytes() == second.data.read_bytes()
    assert (first.dir / "snapshot.json").read_bytes() == (second.dir / "snapshot.json").read_bytes()


def test_checksum_mismatch_is_refused_and_the_old_snapshot_kept(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path)
    task = mixture_of(x={"kind": "cot", "url": url, "sha256": digest}).tasks["x"]
    cache = tmp_path / "cache"
    old = take(task, cache)
    before = old.data.read_bytes()
    shutil.rmtree(cache / "downloads")  # force a new download of a file that changed upstream
    (tmp_path / "served.tsv").write_text("changed\tfile\there\n")
    with pytest.raises(SourceError, match=r"checksum mismatch .* earlier snapshot is kept"):
        take(task, cache)
    assert find(task, cache) is not None and old.data.read_bytes() == before
    assert not list((cache / "downloads").glob("*.part"))


def test_transient_failures_are_retried_and_a_cut_download_resumes(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path, COT_LINES * 200)
    task = mixture_of(x={"kind": "cot", "url": url, "sha256": digest}).tasks["x"]
    hub.fail_next(2)
    notes: list[str] = []
    snap = take(task, tmp_path / "c1", retry=Retry(attempts=3, backoff=0), note=notes.append)
    assert snap.rows == 600 and len([n for n in notes if "HTTP 503" in n]) == 2
    hub.truncate_next(5000)
    snap = take(task, tmp_path / "c2", retry=Retry(attempts=3, backoff=0), note=notes.append)
    assert snap.rows == 600 and any("connection closed after 5,000" in n for n in notes)
    assert ("/flan/cot/x_train.tsv", "bytes=5000-") in hub.ranges  # the rest, not all again


def test_a_failure_that_persists_names_the_source_and_keeps_nothing_half_written(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path)
    task = mixture_of(x={"kind": "cot", "url": url, "sha256": digest}).tasks["x"]
    hub.fail_next(10)
    with pytest.raises(SourceError, match=r"failed 2 times.*HTTP 503.*run the same command"):
        take(task, tmp_path / "cache", retry=Retry(attempts=2, backoff=0))
    assert not (tmp_path / "cache" / "snapshots").exists() or not any(
        (tmp_path / "cache" / "snapshots").iterdir()
    )


def test_a_missing_url_is_not_retried(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    task = mixture_of(x={"kind": "cot", "url": f"{hub.url}/nope.tsv", "sha256": "0" * 64})
    with pytest.raises(SourceError, match=r"nope.tsv: HTTP 404"):
        take(task.tasks["x"], tmp_path / "cache")


def test_failed_sources_are_reported_together_or_skipped(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path)
    m = mixture_of(
        good={"kind": "cot", "url": url, "sha256": digest},
        gone={"kind": "cot", "url": f"{hub.url}/gone.tsv", "sha256": "1" * 64},
    )
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match=r"1 source\(s\) failed:\n  gone: .*HTTP 404") as e:
        prepare_sources(m, cache)
    assert "--skip-failed-sources" in str(e.value)
    assert find(m.tasks["good"], cache) is not None  # the good one is kept for the next run
    built, skipped = prepare_sources(m, cache, skip_failed=True)
    assert set(built.tasks) == {"good"} and set(skipped) == {"gone"}
    assert built.leaves() == [("good", "zs_opt")]


def test_snapshots_are_found_again_and_shared_by_tasks_with_one_source(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    url, digest = serve_cot(hub, tmp_path)
    src = {"kind": "cot", "url": url, "sha256": digest}
    m = mixture_of(x=src, x_ii=src)
    lines: list[str] = []
    report = snapshot_tasks(list(m.tasks.values()), tmp_path / "cache", progress=lines.append)
    assert report.snapshots["x"].dir == report.snapshots["x_ii"].dir
    gets = sum(1 for method, _ in hub.requests if method == "GET")
    again = snapshot_tasks(list(m.tasks.values()), tmp_path / "cache", progress=lines.append)
    assert sum(1 for method, _ in hub.requests if method == "GET") == gets  # no new request
    assert all(line.endswith("(cached)") for line in lines[-2:])
    assert again.snapshots["x"].info == report.snapshots["x"].info


# ---- natural-instructions ---------------------------------------------------------------------


def checkout(tmp_path: Path, tasks: dict[str, dict], splits: dict[str, list[str]]) -> Path:
    root = tmp_path / "natural-instructions"
    (root / "tasks").mkdir(parents=True)
    (root / "splits" / "default").mkdir(parents=True)
    for name, data in tasks.items():
        (root / "tasks" / f"{name}.json").write_text(json.dumps(data))
    for split, names in splits.items():
        (root / "splits" / "default" / f"{split}_tasks.txt").write_text("\n".join(names) + "\n")
    return root


def niv2_task(n: int, *, repeat: int = 0, outputs: int = 1) -> dict:
    instances = [
        {
            "id": f"i{k}",
            "input": f"q{k if k >= repeat else 0}",
            "output": [f"a{k}.{j}" for j in range(outputs)],
        }
        for k in range(n)
    ]
    return {
        "Definition": ["Answer.", "Briefly."],
        "Positive Examples": [{"input": "q", "output": "a", "explanation": "e"}],
        "Negative Examples": [],
        "Instances": instances,
    }


def test_niv2_checkout_honours_splits_mmlu_and_reports_validation(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    root = checkout(
        tmp_path,
        {
            "task001_small": niv2_task(5, repeat=2),
            "task002_test": niv2_task(30),
            "task690_mmmlu_answer_generation_x": niv2_task(30),
        },
        {"train": ["task001_small", "task690_mmmlu_answer_generation_x"], "test": ["task002_test"]},
    )
    m = mixture_of(
        small={"kind": "niv2", "path": f"{root}/tasks/task001_small.json"},
        test={"kind": "niv2", "path": f"{root}/tasks/task002_test.json"},
        mmlu={"kind": "niv2", "path": f"{root}/tasks/task690_mmmlu_answer_generation_x.json"},
    )
    report = snapshot_tasks(list(m.tasks.values()), tmp_path / "cache")
    snap = report.snapshots["small"]
    assert snap.rows == 5 and [r["example_id"] for r in rows(snap)] == [f"i{k}" for k in range(5)]
    assert rows(snap)[0]["definition"] == "Answer.\nBriefly."
    assert snap.info["checks"] == [
        "task001_small.json: 5 instances: the repository expects more than 25 and at most 6500",
        "task001_small.json: 1 instance(s) repeat an earlier input; inputs should be unique",
    ]
    assert "splits/default/test_tasks.txt" in report.failed["test"]
    assert "held out" in report.failed["test"]
    assert "derived from MMLU" in report.failed["mmlu"]


def test_niv2_outputs_all_gives_one_row_per_output(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    root = checkout(tmp_path, {"task001_x": niv2_task(3, outputs=2)}, {"train": ["task001_x"]})
    path = f"{root}/tasks/task001_x.json"
    m = mixture_of(
        first={"kind": "niv2", "path": path}, every={"kind": "niv2", "path": path, "outputs": "all"}
    )
    report = snapshot_tasks(list(m.tasks.values()), tmp_path / "cache")
    assert [r["output"] for r in rows(report.snapshots["first"])] == ["a0.0", "a1.0", "a2.0"]
    every = rows(report.snapshots["every"])
    assert [r["example_id"] for r in every][:2] == ["i0#0", "i0#1"] and len(every) == 6
    assert every[1]["outputs"] == ["a0.0", "a0.1"]


def test_niv2_from_an_archive_url(
    hub: FakeHub, tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    root = checkout(tmp_path, {"task001_x": niv2_task(30)}, {"train": ["task001_x"]})
    archive = tmp_path / "ni.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(root, arcname="natural-instructions-master")
    url = hub.add_file("archive/master.tar.gz", archive)
    m = mixture_of(
        x={"kind": "niv2", "url": url, "sha256": sha256(archive.read_bytes()), "task": "task001_x"}
    )
    snap = take(m.tasks["x"], tmp_path / "cache")
    assert snap.rows == 30 and snap.info["checks"] == []


def test_niv2_file_missing_required_keys_is_named(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    root = checkout(
        tmp_path, {"task001_x": {"Definition": "d", "Instances": []}}, {"train": ["task001_x"]}
    )
    m = mixture_of(x={"kind": "niv2", "path": f"{root}/tasks/task001_x.json"})
    with pytest.raises(SourceError, match=r"task001_x.json: .*missing Positive Examples"):
        take(m.tasks["x"], tmp_path / "cache")


# ---- dialog -----------------------------------------------------------------------------------


def test_wiki_dialog_takes_a_seeded_odd_turn_per_conversation(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    convs = [
        {"pid": f"p{i}", "title": f"t{i}", "utterances": [f"u{i}.{k}" for k in range(2 + i)]}
        for i in range(8)
    ]
    convs.append({"pid": "solo", "title": "x", "utterances": ["only one"]})
    write_jsonl(tmp_path / "wiki_dialog.jsonl", convs)
    m = mixture_of(d={"kind": "dialog", "style": "wiki_dialog", "path": "wiki_dialog.jsonl"})
    snap = take(m.tasks["d"], tmp_path / "cache")
    got = rows(snap)
    assert snap.rows == 8 and snap.info["dropped"] == {"short_conversation": 1}
    assert [r["example_id"] for r in got] == [f"p{i}" for i in range(8)]
    for r in got:
        assert r["turn"] % 2 == 1 and len(r["context"]) == r["turn"]
        assert r["target"] == f"u{r['example_id'][1:]}.{r['turn']}"
    assert len({r["turn"] for r in got}) > 1  # the turn varies with the conversation
    assert rows(take(m.tasks["d"], tmp_path / "again")) == got  # and is the same every time


def test_qrecc_keeps_turns_after_the_sixth_one_per_conversation(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    turns = [
        {"Conversation_no": c, "Turn_no": t, "Question": f"q{c}.{t}", "Answer": f"a{c}.{t}"}
        for c, n in ((1, 9), (2, 4), (3, 7))
        for t in range(1, n + 1)
    ]
    write_jsonl(tmp_path / "qrecc.jsonl", turns)
    m = mixture_of(d={"kind": "dialog", "style": "qrecc", "path": "qrecc.jsonl"})
    snap = take(m.tasks["d"], tmp_path / "cache")
    got = {r["example_id"]: r for r in rows(snap)}
    assert set(got) == {"1", "3"} and snap.info["dropped"] == {"short_conversation": 1}
    assert got["3"]["turn"] == 7 and got["3"]["target"] == "a3.7"
    assert got["3"]["context"][:2] == ["q3.1", "a3.1"] and got["3"]["context"][-1] == "q3.7"
    assert len(got["3"]["context"]) == 13 and got["1"]["turn"] in (7, 8, 9)


def test_several_files_get_file_prefixed_ids(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    for name in ("a_train.tsv", "b_train.tsv"):
        (tmp_path / name).write_text("q\ta\tr\nq2\ta2\tr2\n")
    m = mixture_of(x={"kind": "cot", "path": "*_train.tsv"})
    got = [r["example_id"] for r in rows(take(m.tasks["x"], tmp_path / "cache"))]
    assert got == ["a_train.tsv:0", "a_train.tsv:1", "b_train.tsv:0", "b_train.tsv:1"]


def test_columns_that_start_null_appear_late_or_widen_keep_every_value(
    tmp_path: Path, mixture_of: Callable[..., Mixture], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flanmix.sources import snapshot

    monkeypatch.setattr(snapshot, "BATCH_ROWS", 2)
    records = [
        {"id": 0, "note": None, "score": 1},
        {"id": 1, "note": None, "score": 2},
        {"id": 2, "note": "late text", "score": 2.5},
        {"id": 3, "note": "x", "score": 3, "extra": "only here"},
    ]
    task = mixture_of(x={"kind": "cot", "path": "none.tsv"}).tasks["x"]
    got = snapshot._write_parquet(
        ((str(r["id"]), r) for r in records), _mkdir(tmp_path / "w") / "d.parquet", task
    )
    assert got == (4, ["example_id", "id", "note", "score", "extra"])
    table = pq.read_table(tmp_path / "w" / "d.parquet").to_pylist()
    assert [r["note"] for r in table] == [None, None, "late text", "x"]
    assert [r["score"] for r in table] == [1.0, 2.0, 2.5, 3.0]
    assert [r["extra"] for r in table] == [None, None, None, "only here"]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_a_type_clash_names_the_column(tmp_path: Path, mixture_of: Callable[..., Mixture]) -> None:
    from flanmix.sources.snapshot import _write_parquet

    task = mixture_of(x={"kind": "cot", "path": "none.tsv"}).tasks["x"]
    clash = [("0", {"v": 1}), ("1", {"v": "one"})]
    with pytest.raises(SourceError, match=r"column 'v' mixes value types within rows 0-2"):
        _write_parquet(iter(clash), _mkdir(tmp_path / "w") / "d.parquet", task)


def test_niv2_without_split_lists_is_refused_unless_asked(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    root = checkout(tmp_path, {"task001_x": niv2_task(30)}, {})
    path = f"{root}/tasks/task001_x.json"
    m = mixture_of(
        strict={"kind": "niv2", "path": path}, loose={"kind": "niv2", "path": path, "split": "any"}
    )
    report = snapshot_tasks(list(m.tasks.values()), tmp_path / "cache")
    assert "cannot be confirmed as a train task" in report.failed["strict"]
    assert "`split: any`" in report.failed["strict"] and report.snapshots["loose"].rows == 30


def test_malformed_rows_fail_their_source_only(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    write_jsonl(tmp_path / "w.jsonl", [{"utterances": ["a", "b"]}])
    (tmp_path / "latin1_train.tsv").write_bytes("caf\xe9\tyes\tr\n".encode("latin-1"))
    (tmp_path / "ok_train.tsv").write_text("q\ta\tr\n")
    m = mixture_of(
        dialog={"kind": "dialog", "style": "wiki_dialog", "path": "w.jsonl", "id_field": "pid"},
        latin1={"kind": "cot", "path": "latin1_train.tsv"},
        ok={"kind": "cot", "path": "ok_train.tsv"},
    )
    report = snapshot_tasks(list(m.tasks.values()), tmp_path / "cache")
    assert "w.jsonl:1: record has no id field 'pid'" in report.failed["dialog"]
    assert "can't decode byte 0xe9" in report.failed["latin1"]
    assert "task 'latin1'" in report.failed["latin1"] and set(report.snapshots) == {"ok"}


def test_niv2_glob_is_one_task_with_held_out_files_left_out_and_counted(
    tmp_path: Path, mixture_of: Callable[..., Mixture]
) -> None:
    """As Flan's public code has NIv2: every train task in one task."""
    root = checkout(
        tmp_path,
        {
            "task001_a": niv2_task(30),
            "task002_b": niv2_task(28),
            "task003_test": niv2_task(30),
            "task700_mmmlu_answer_generation_y": niv2_task(30),
        },
        {
            "train": ["task001_a", "task002_b", "task700_mmmlu_answer_generation_y"],
            "test": ["task003_test"],
        },
    )
    m = mixture_of(all={"kind": "niv2", "path": f"{root}/tasks/*.json"})
    snap = take(m.tasks["all"], tmp_path / "cache")
    got = rows(snap)
    assert snap.rows == 58 and got[0]["example_id"] == "task001_a.json:i0"
    assert snap.info["dropped"] == {"mmlu_task": 1, "not_train_task": 1}
    assert {r["task_file"] for r in got} == {"task001_a.json", "task002_b.json"}
