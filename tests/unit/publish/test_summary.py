"""The build summary: exact numbers from a tiny hand-made stats/manifest/shard set."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flanmix.publish import summary
from flanmix.publish.card import dataset_card
from flanmix.publish.parquet import SCHEMA
from flanmix.publish.staging import COMPLETE_MARKER
from flanmix.publish.summary import ReportError, load_build, summarize, summary_markdown

# (task, collection, template_type, input words, target words)
ROWS = [
    ("a", "c1", "zs_opt", 1, 1),
    ("a", "c1", "zs_opt", 2, 1),
    ("a", "c1", "fs_opt", 3, 2),
    ("b", "c1", "zs_opt", 4, 0),
    ("c", "c2", "zs_opt", 10, 5),
    ("c", "c2", "fs_opt", 20, 5),
]


def row(task: str, collection: str, template_type: str, n_in: int, n_out: int) -> dict[str, Any]:
    return {
        "inputs": " ".join(["word"] * n_in),
        "targets": "\n".join(["t"] * n_out),  # any whitespace separates words
        "task_source": collection,
        "task_name": task,
        "template_type": template_type,
        "collection": collection,
        "template_id": "x",
        "template_idx": 0,
        "example_id": "0",
        "exemplar_ids": [],
        "options": [],
        "seed": 0,
    }


def leaf(task: str, collection: str, tt: str, written: int, share: float) -> dict[str, Any]:
    return {
        "leaf": f"{task}/{tt}",
        "collection": collection,
        "task": task,
        "template_type": tt,
        "available": written + 2,
        "valid": written,
        "quota": written,
        "written": written,
        "repeated": 0,
        "dropped": {"over_quota": 2},
        "requested_share": share,
        "planned_share": share,
        "realised_share": written / 6,
    }


def make_build(folder: Path, rows: list[tuple] = ROWS) -> tuple[dict, dict]:
    """Two shards (so shards and batches are both crossed), stats.json and manifest.json."""
    shards = []
    for i, part in enumerate((rows[:3], rows[3:])):
        path = f"data/train-{i:05d}-of-00002.parquet"
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([row(*r) for r in part], schema=SCHEMA)
        pq.write_table(table, folder / path, compression="zstd")
        data = (folder / path).read_bytes()
        shards.append(
            {
                "path": path,
                "rows": table.num_rows,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "nbytes": table.nbytes,
            }
        )
    leaves = [
        leaf("a", "c1", "zs_opt", 2, 0.3),
        leaf("a", "c1", "fs_opt+x_shot", 1, 0.1),
        leaf("b", "c1", "zs_opt", 1, 0.2),
        leaf("c", "c2", "zs_opt", 1, 0.2),
        leaf("c", "c2", "fs_opt", 1, 0.2),
        leaf("d", "c2", "zs_opt", 0, 0.0),  # planned but wrote nothing
    ]
    stats = {
        "mixture": "tiny",
        "written_rows": 6,
        "dropped": {"over_quota": 12, "render_error": 3},
        "collections": {
            "c1": {"requested_share": 0.6, "written": 4, "realised_share": 4 / 6},
            "c2": {"requested_share": 0.4, "written": 2, "realised_share": 2 / 6},
        },
        "template_types": {
            "fs_opt": {"requested_share": 0.2, "written": 1, "realised_share": 1 / 6},
            "fs_opt+x_shot": {"requested_share": 0.1, "written": 1, "realised_share": 1 / 6},
            "zs_opt": {"requested_share": 0.7, "written": 4, "realised_share": 4 / 6},
        },
        "leaves": leaves,
    }
    manifest = {
        "mixture": "tiny",
        "flanmix_version": "0.0.0",
        "seed": 0,
        "epoch": "all",
        "spec_hash": "0" * 64,
        "command": "flanmix build -m tiny -o out",
        "sources": [],
        "total_rows": 6,
        "shards": shards,
    }
    (folder / "stats.json").write_text(json.dumps(stats))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / COMPLETE_MARKER).write_text("complete\n")
    return stats, manifest


def test_shares_tasks_and_drops(tmp_path: Path) -> None:
    stats, manifest = make_build(tmp_path)
    s = summarize(tmp_path, stats, manifest)
    assert s.mixture == "tiny" and s.total_rows == 6 and s.warnings == []
    c1, c2 = s.collections
    assert (c1.name, c1.planned, c1.rows) == ("c1", 0.6, 4)
    assert c1.realised == pytest.approx(4 / 6) and c2.realised == pytest.approx(2 / 6)
    assert [t.name for t in s.template_types] == ["fs_opt", "fs_opt+x_shot", "zs_opt"]
    # Most rows first, ties by name; a planned task that wrote nothing is listed with 0.
    assert [(t.task, t.rows) for t in s.top_tasks] == [("a", 3), ("c", 2), ("b", 1), ("d", 0)]
    assert s.top_tasks[0].planned == pytest.approx(0.4)
    assert s.top_tasks[0].share == pytest.approx(0.5)
    assert s.top_tasks[3].collection == "c2"
    assert s.bottom_tasks == [] and s.n_tasks == 4
    assert s.drops == [("over_quota", 12), ("render_error", 3)]
    assert s.rows_read == 6 + 6 * 2  # written + what each leaf dropped


def test_length_statistics_are_exact(tmp_path: Path) -> None:
    stats, manifest = make_build(tmp_path)
    s = summarize(tmp_path, stats, manifest)
    c1 = s.lengths["inputs"]["c1"]
    assert (c1.count, c1.mean, c1.p50, c1.p90, c1.p99, c1.max) == (4, 2.5, 2, 4, 4, 4)
    t1 = s.lengths["targets"]["c1"]
    assert (t1.count, t1.p50, t1.max) == (4, 1, 2)
    assert t1.bins[0] == 1  # the empty target falls in the [0, 1) bin
    total = s.lengths_total["inputs"]
    assert (total.count, total.p50, total.max, total.mean) == (6, 3, 20, 40 / 6)
    for field in ("inputs", "targets"):
        edges = s.length_edges[field]
        assert edges[0] == 0 and edges[-1] > s.lengths_total[field].max
        assert len(s.lengths_total[field].bins) == len(edges) - 1
        for stats_ in s.lengths[field].values():
            assert sum(stats_.bins) == stats_.count
        assert not s.length_log[field]  # short lengths: equal bins


def test_batches_give_the_same_summary(tmp_path: Path) -> None:
    stats, manifest = make_build(tmp_path)
    assert summarize(tmp_path, stats, manifest, batch_rows=1) == summarize(
        tmp_path, stats, manifest
    )


def test_long_tails_get_log_bins_and_many_tasks_split_top_and_bottom(tmp_path: Path) -> None:
    rows = [
        (f"t{i:02d}", "c1", "zs_opt", 2 ** (j % 12), 1) for i in range(20) for j in range(i + 1)
    ]
    stats, manifest = make_build(tmp_path, rows)
    s = summarize(tmp_path, stats, manifest)
    assert [t.task for t in s.top_tasks] == [f"t{i:02d}" for i in range(19, 4, -1)]
    # The rest, fewest first; stats.json's tasks a-d wrote nothing in these shards.
    assert [t.task for t in s.bottom_tasks] == ["a", "b", "c", "d", *(f"t0{i}" for i in range(5))]
    assert s.n_tasks == 24 and not {t.task for t in s.top_tasks} & {t.task for t in s.bottom_tasks}
    assert s.length_log["inputs"]
    assert s.length_edges["inputs"][:8] == (0, 1, 2, 3, 4, 6, 8, 12)
    # stats.json no longer matches the shards: the summary says so.
    assert any("the shards hold 210 rows, stats.json says 6" in w for w in s.warnings)


def test_markdown_has_the_tables(tmp_path: Path) -> None:
    stats, manifest = make_build(tmp_path)
    md = summary_markdown(summarize(tmp_path, stats, manifest))
    assert "### Shares by collection" in md and "\n## " not in md
    assert "| collection | planned share | realised share | rows |" in md
    assert "| c1 | 60.00% | 66.67% | 4 |" in md
    assert "| fs_opt+x_shot | 10.00% | 16.67% | 1 |" in md
    assert "### Rows per task (all 4)" in md
    assert "| a | c1 | 3 | 50.00% | 40.00% |" in md
    assert "| c1 | 4 | 2.5 | 2 | 4 | 4 | 4 |" in md  # input words: rows, mean, p50…max
    assert "| all | 6 | 6.7 | 3 | 20 | 20 | 20 |" in md
    assert "| over_quota | 12 | 66.67% |" in md  # of the 18 rows read
    assert summary_markdown(summarize(tmp_path, stats, manifest), level=2).startswith("6 rows")
    assert "\n## Drops by reason" in summary_markdown(
        dataclasses.replace(summarize(tmp_path, stats, manifest), drops=[]), level=2
    )


def test_the_card_embeds_the_summary(tmp_path: Path) -> None:
    stats, manifest = make_build(tmp_path)
    md = summary_markdown(summarize(tmp_path, stats, manifest))
    card = dataset_card(manifest, stats, md)
    head, rest = card.split("## Contents at a glance\n\n", 1)
    assert "load_dataset" in head and rest.startswith("6 rows from 4 task(s)")
    assert rest.index("### Shares by collection") < rest.index("## Collections")
    assert "Contents at a glance" not in dataset_card(manifest, stats)


def test_load_build_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "stats.json").write_text("{}")
    with pytest.raises(ReportError, match=r"_COMPLETED, manifest.json missing; it must be a `fl"):
        load_build(tmp_path)
    stats, manifest = make_build(tmp_path)
    assert load_build(tmp_path) == (stats, manifest)
    (tmp_path / manifest["shards"][1]["path"]).unlink()
    with pytest.raises(ReportError, match="lacks shard"):
        load_build(tmp_path)


WORDY = "ab \t\n\x0b\x0c\r\x1c\x1f\x00\x1b\x7f\u00a0\u3000\u2028é"


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), st.text(alphabet=WORDY, max_size=12)), max_size=8),
    start=st.integers(0, 8),
    chunk=st.sampled_from([1, 3, 1 << 20]),
)
def test_word_counts_are_str_split_counts(texts: list[str | None], start: int, chunk: int) -> None:
    # ASCII text is counted in numpy a chunk at a time, the rest by Arrow's split; both must
    # count as Python does, for sliced arrays too and whatever the chunk size.
    array = pa.array(texts, pa.string()).slice(start)
    want = [len(t.split()) if t else 0 for t in texts[start:]]
    assert summary._word_counts(array, chunk).to_pylist() == want


def test_word_counts_of_an_empty_array() -> None:
    assert summary._word_counts(pa.array([], pa.string())).to_pylist() == []
    assert summary._word_counts(pa.array(["a b"], pa.string()).slice(1)).to_pylist() == []
