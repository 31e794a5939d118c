"""Local file sources: reading every kind, stable example ids, positions, limits, read shards,
and errors that say which task, which file and which line."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import tiny_records, write_jsonl

from flanmix.errors import SourceError
from flanmix.sources.files import (
    Example,
    count_task,
    list_files,
    read_shard,
    read_shards,
    scan_ids,
    source_fields,
)
from flanmix.spec.load import Task, load_mixture

MIXTURE = """\
name: sources
templates_dir: templates
collections:
  c1:
    template_types: {{zs_opt: 1}}
    tasks:
      t:
        templates: tiny
        source: {source}
"""

TaskFactory = Callable[[str], Task]


@pytest.fixture
def make_task(make_mixture: Callable[..., Path]) -> TaskFactory:
    """A loaded task `t` whose `source:` is the given YAML flow mapping."""

    def make(source: str) -> Task:
        return load_mixture(str(make_mixture(MIXTURE.format(source=source)))).tasks["t"]

    return make


def read_all(task: Task, limit: int | None = None, rows_per_shard: int = 20_000) -> list[Example]:
    count = count_task(task, limit)
    return [e for shard in read_shards(count, rows_per_shard) for e in read_shard(task, shard)]


def where(task: Task) -> str:
    """How every source error names its task."""
    return f"for task 't' ({task.file}, collections.c1.tasks.t.source)"


# --- reading each kind ----------------------------------------------------------------------------


def test_jsonl_with_id_field(tiny_mixture: Path) -> None:
    task = load_mixture(str(tiny_mixture)).tasks["b"]
    examples = read_all(task)
    assert len(examples) == 25
    assert examples[0] == Example(
        "b", "b0000", 0, {"id": "b0000", "label": "bad", "text": "item number 0"}
    )
    assert [e.example_id for e in examples] == [f"b{i:04d}" for i in range(25)]
    assert [e.position for e in examples] == list(range(25))


def test_jsonl_without_id_field_uses_the_row_index(make_task: TaskFactory, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data" / "x.jsonl", tiny_records(4))
    examples = read_all(make_task("{kind: jsonl, path: data/x.jsonl}"))
    assert [e.example_id for e in examples] == ["0", "1", "2", "3"]


def test_jsonl_skips_blank_lines(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    task = make_task("{kind: jsonl, path: data/x.jsonl}")
    assert [e.fields for e in read_all(task)] == [{"a": 1}, {"a": 2}]


def test_parquet(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    rows = [{"key": f"k{i}", "text": f"t{i}", "n": i, "tags": ["x"] * i} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "x.parquet")
    task = make_task("{kind: parquet, path: data/x.parquet, id_field: key}")
    examples = read_all(task)
    assert [e.fields for e in examples] == rows  # types survive: ints stay ints, lists lists
    assert [e.example_id for e in examples] == [f"k{i}" for i in range(5)]
    assert source_fields(task) == ["key", "text", "n", "tags"]


def test_parquet_with_an_integer_id_field(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"n": [10, 20]}), tmp_path / "data" / "x.parquet")
    task = make_task("{kind: parquet, path: data/x.parquet, id_field: n}")
    assert [e.example_id for e in read_all(task)] == ["10", "20"]


def test_parquet_read_shards_start_at_their_row_group(
    make_task: TaskFactory, tmp_path: Path
) -> None:
    """Read shards that start mid-file skip whole row groups, and any boundary works."""
    (tmp_path / "data").mkdir()
    table = pa.table({"key": [f"k{i}" for i in range(95)]})
    pq.write_table(table, tmp_path / "data" / "x.parquet", row_group_size=10)
    task = make_task("{kind: parquet, path: data/x.parquet, id_field: key}")
    for rows_per_shard in (7, 10, 33, 95):
        examples = read_all(task, rows_per_shard=rows_per_shard)
        assert [e.example_id for e in examples] == [f"k{i}" for i in range(95)]
        assert [e.position for e in examples] == list(range(95))


def test_csv_with_header(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text('text,label\n"hello, world",good\nbye,bad\n')
    task = make_task("{kind: csv, path: data/x.csv, header: true}")
    assert [e.fields for e in read_all(task)] == [
        {"text": "hello, world", "label": "good"},
        {"text": "bye", "label": "bad"},
    ]
    assert source_fields(task) == ["text", "label"]


def test_csv_with_columns_reads_every_line_as_data(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text('a,"b ""quoted"""\nc,d\n')
    task = make_task("{kind: csv, path: data/x.csv, columns: [x, y]}")
    assert [e.fields for e in read_all(task)] == [
        {"x": "a", "y": 'b "quoted"'},
        {"x": "c", "y": "d"},
    ]


def test_csv_columns_rename_a_header(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("text,label\nhi,good\n")
    task = make_task("{kind: csv, path: data/x.csv, columns: [x, y], header: true}")
    assert [e.fields for e in read_all(task)] == [{"x": "hi", "y": "good"}]


def test_tsv_with_columns_and_unescape(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.tsv").write_text(
        '"Quoted" start, no closing\tline one\\nline two\tr1\nsay "hi"\t"\t"ends with a quote"\n'
    )
    task = make_task(
        "{kind: tsv, path: data/x.tsv, columns: [question, answer, rationale], unescape: true}"
    )
    assert [e.fields for e in read_all(task)] == [
        {
            "question": '"Quoted" start, no closing',
            "answer": "line one\nline two",
            "rationale": "r1",
        },
        {"question": 'say "hi"', "answer": '"', "rationale": '"ends with a quote"'},
    ]


def test_tsv_without_unescape_keeps_the_backslash(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.tsv").write_text("a\\nb\tc\n")
    task = make_task("{kind: tsv, path: data/x.tsv, columns: [x, y]}")
    assert read_all(task)[0].fields == {"x": "a\\nb", "y": "c"}


def test_tsv_skips_empty_lines(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.tsv").write_text("a\tb\n\nc\td\n")
    task = make_task("{kind: tsv, path: data/x.tsv, columns: [x, y]}")
    assert [e.position for e in read_all(task)] == [0, 1]


# --- globs: ids and positions across files --------------------------------------------------------


@pytest.fixture
def two_files(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "data" / "g" / "b.jsonl", tiny_records(4, "b"))
    write_jsonl(tmp_path / "data" / "g" / "a.jsonl", tiny_records(3, "a"))
    return tmp_path / "data" / "g"


def test_glob_ids_keep_the_matched_folders(make_task: TaskFactory, tmp_path: Path) -> None:
    for part in ("x", "y"):
        write_jsonl(tmp_path / "data" / part / "train.jsonl", tiny_records(2, part))
    task = make_task("{kind: jsonl, path: 'data/*/train.jsonl'}")
    assert [e.example_id for e in read_all(task)] == [
        "x/train.jsonl:0",
        "x/train.jsonl:1",
        "y/train.jsonl:0",
        "y/train.jsonl:1",
    ]


def test_glob_ids_are_file_and_row(make_task: TaskFactory, two_files: Path) -> None:
    task = make_task("{kind: jsonl, path: 'data/g/*.jsonl'}")
    assert list_files(task) == [str(two_files / "a.jsonl"), str(two_files / "b.jsonl")]
    examples = read_all(task)
    assert [e.example_id for e in examples] == [
        "a.jsonl:0",
        "a.jsonl:1",
        "a.jsonl:2",
        "b.jsonl:0",
        "b.jsonl:1",
        "b.jsonl:2",
        "b.jsonl:3",
    ]
    assert [e.position for e in examples] == list(range(7))  # numbered across files
    assert [e.fields["id"] for e in examples] == ["a0000", "a0001", "a0002"] + [
        f"b{i:04d}" for i in range(4)
    ]


def test_glob_with_id_field_uses_the_field(make_task: TaskFactory, two_files: Path) -> None:
    task = make_task("{kind: jsonl, path: 'data/g/*.jsonl', id_field: id}")
    examples = read_all(task)
    assert [e.example_id for e in examples][2:4] == ["a0002", "b0000"]
    assert [e.position for e in examples] == list(range(7))


def test_count_records_files_offsets_and_labels(make_task: TaskFactory, two_files: Path) -> None:
    count = count_task(make_task("{kind: jsonl, path: 'data/g/*.jsonl'}"))
    assert count.rows == 7
    assert [(Path(f.path).name, f.label, f.rows, f.offset) for f in count.files] == [
        ("a.jsonl", "a.jsonl:", 3, 0),
        ("b.jsonl", "b.jsonl:", 4, 3),
    ]
    assert all(len(f.sha256) == 64 for f in count.files)


def test_a_single_file_has_no_label(make_task: TaskFactory, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data" / "x.jsonl", tiny_records(2))
    (only,) = count_task(make_task("{kind: jsonl, path: data/x.jsonl}")).files
    assert (only.label, only.offset, only.rows) == ("", 0, 2)


# --- limit ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "rows", "per_file"),
    [(2, 2, [2]), (3, 3, [3]), (5, 5, [3, 2]), (7, 7, [3, 4]), (100, 7, [3, 4])],
)
def test_limit_counts_the_first_rows_across_files(
    make_task: TaskFactory, two_files: Path, limit: int, rows: int, per_file: list[int]
) -> None:
    task = make_task("{kind: jsonl, path: 'data/g/*.jsonl'}")
    count = count_task(task, limit=limit)
    assert count.rows == rows
    assert [f.rows for f in count.files] == per_file
    examples = read_all(task, limit=limit)
    assert [e.position for e in examples] == list(range(rows))
    # The ids do not depend on the limit: a limited build is a prefix of the full one.
    assert examples == read_all(task)[:rows]


# --- read shards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows_per_shard", [1, 2, 3, 4, 7, 100])
def test_read_shards_split_into_row_ranges_and_read_back_whole(
    make_task: TaskFactory, two_files: Path, rows_per_shard: int
) -> None:
    task = make_task("{kind: jsonl, path: 'data/g/*.jsonl'}")
    count = count_task(task)
    shards = read_shards(count, rows_per_shard)
    for f in count.files:
        ranges = [(s.start, s.stop) for s in shards if s.path == f.path]
        assert ranges[0][0] == 0 and ranges[-1][1] == f.rows
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # contiguous
        assert all(0 < stop - start <= rows_per_shard for start, stop in ranges)
        assert all(s.offset == f.offset and s.label == f.label for s in shards if s.path == f.path)
    pieces = [list(read_shard(task, s)) for s in shards]
    assert all(pieces)
    assert [e for piece in pieces for e in piece] == read_all(task, rows_per_shard=10**6)


def test_read_shards_of_a_limited_count_stop_at_the_limit(
    make_task: TaskFactory, two_files: Path
) -> None:
    task = make_task("{kind: jsonl, path: 'data/g/*.jsonl'}")
    shards = read_shards(count_task(task, limit=5), rows_per_shard=2)
    assert [(Path(s.path).name, s.start, s.stop) for s in shards] == [
        ("a.jsonl", 0, 2),
        ("a.jsonl", 2, 3),
        ("b.jsonl", 0, 2),
    ]


def test_parquet_read_shards_cross_batches(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    table = pa.table({"n": list(range(10_000))})
    pq.write_table(table, tmp_path / "data" / "x.parquet", row_group_size=3_000)
    task = make_task("{kind: parquet, path: data/x.parquet}")
    examples = read_all(task, rows_per_shard=4_500)
    assert [e.fields["n"] for e in examples] == list(range(10_000))
    assert [e.position for e in examples] == list(range(10_000))


@pytest.mark.parametrize("kind", ["parquet", "jsonl"])
@pytest.mark.parametrize("id_field", ["key", None])
def test_wanted_rows_are_the_filtered_read(
    make_task: TaskFactory, tmp_path: Path, kind: str, id_field: str | None
) -> None:
    """`wanted` sees every row's id and position in order and keeps exactly what filtering
    the full read would keep, across row groups, batches and shard bounds."""
    (tmp_path / "data").mkdir()
    rows = [{"key": f"k{i}", "text": f"row {i}"} for i in range(9_000)]
    if kind == "parquet":
        table = pa.Table.from_pylist(rows)
        pq.write_table(table, tmp_path / "data" / "x.parquet", row_group_size=2_500)
    else:
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        (tmp_path / "data" / "x.jsonl").write_text(lines)
    id_part = f", id_field: {id_field}" if id_field else ""
    task = make_task(f"{{kind: {kind}, path: data/x.{kind}{id_part}}}")
    seen: list[tuple[str, int]] = []

    def wanted(example_id: str, position: int) -> bool:
        seen.append((example_id, position))
        return position % 7 == 3 or example_id.endswith("99")

    shards = read_shards(count_task(task, limit=8_500), rows_per_shard=3_100)
    kept = [e for shard in shards for e in read_shard(task, shard, wanted)]
    every = read_all(task, limit=8_500, rows_per_shard=3_100)
    assert seen == [(e.example_id, e.position) for e in every]
    assert kept == [e for e in every if wanted(e.example_id, e.position)]
    # scan_ids (the exemplar pool's first pass) sees the same ids, reading no other field
    scanned: list[tuple[str, int]] = []
    for shard in shards:
        scan_ids(task, shard, lambda i, p: scanned.append((i, p)))
    assert scanned == [(e.example_id, e.position) for e in every]


def test_parquet_read_shards_gather_row_groups(make_task: TaskFactory, tmp_path: Path) -> None:
    # A range starting inside a row group would decode the group's earlier rows to skip them:
    # ranges end on group bounds, and only a group of over BIG_GROUP ranges' rows is split.
    (tmp_path / "data").mkdir()
    table = pa.table({"n": list(range(10_000))})
    pq.write_table(table, tmp_path / "data" / "x.parquet", row_group_size=3_000)
    task = make_task("{kind: parquet, path: data/x.parquet}")
    count = count_task(task)
    assert count.files[0].groups == (3_000, 3_000, 3_000, 1_000)
    bounds = [(s.start, s.stop) for s in read_shards(count, 4_000)]
    assert bounds == [(0, 6_000), (6_000, 10_000)]
    assert [(s.start, s.stop) for s in read_shards(count, 1_000)][:3] == [
        (0, 3_000),
        (3_000, 6_000),
        (6_000, 9_000),
    ]
    small = [(s.start, s.stop) for s in read_shards(count, 100)]  # groups of 30 ranges: split
    assert small[:2] == [(0, 800), (800, 1_600)] and small[-1] == (9_000, 10_000)
    limited = count_task(task, limit=4_500)
    assert limited.files[0].groups == (3_000, 1_500)
    assert [(s.start, s.stop) for s in read_shards(limited, 2_000)] == [(0, 3_000), (3_000, 4_500)]


def test_parquet_rows_are_counted_from_the_footer(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"n": list(range(1_234))}), tmp_path / "data" / "x.parquet")
    task = make_task("{kind: parquet, path: data/x.parquet}")
    assert count_task(task).rows == 1_234
    assert count_task(task, limit=100).rows == 100


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["data/nope.jsonl", "data/nope/*.jsonl"], ids=["file", "glob"])
def test_missing_file_says_task_file_and_root(make_task: TaskFactory, path: str) -> None:
    task = make_task(f"{{kind: jsonl, path: '{path}'}}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert str(info.value) == (
        f"source file not found: {Path(task.root) / path} {where(task)}; check `path` "
        f"(relative paths resolve against {task.root}, the mixture file's folder)"
    )


@pytest.mark.parametrize("text", ["", "\n \n"], ids=["empty", "blank-lines"])
def test_zero_rows(make_task: TaskFactory, tmp_path: Path, text: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text(text)
    task = make_task("{kind: jsonl, path: data/x.jsonl}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert str(info.value) == (
        f"source has zero rows: {tmp_path / 'data' / 'x.jsonl'} {where(task)}; "
        "give it data or remove the task from the mixture"
    )


def test_zero_rows_with_header_only_csv(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("text,label\n")
    with pytest.raises(SourceError, match="source has zero rows"):
        count_task(make_task("{kind: csv, path: data/x.csv, header: true}"))


def test_malformed_json_line(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text('{"a": 1}\n\n{"a": \n')
    task = make_task("{kind: jsonl, path: data/x.jsonl}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert str(info.value) == (
        f"{tmp_path / 'data' / 'x.jsonl'}:3: not valid JSON (Expecting value) {where(task)}"
    )


def test_json_line_that_is_not_an_object(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(SourceError) as info:
        count_task(make_task("{kind: jsonl, path: data/x.jsonl}"))
    assert f"{tmp_path / 'data' / 'x.jsonl'}:2: expected a JSON object per line" in str(info.value)


def test_json_line_that_is_not_an_object_names_the_task(
    make_task: TaskFactory, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text("[1, 2]\n")
    task = make_task("{kind: jsonl, path: data/x.jsonl}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert where(task) in str(info.value)


@pytest.mark.parametrize("kind", ["tsv", "csv"])
def test_wrong_field_count(make_task: TaskFactory, tmp_path: Path, kind: str) -> None:
    sep = "\t" if kind == "tsv" else ","
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / f"x.{kind}").write_text(f"a{sep}b\nc{sep}d\n\nonly one\n")
    task = make_task(f"{{kind: {kind}, path: data/x.{kind}, columns: [x, y]}}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert str(info.value) == (
        f"{tmp_path / 'data' / f'x.{kind}'}:4: 1 fields, expected 2 (x, y) {where(task)}"
    )


@pytest.mark.parametrize(
    ("kind", "file", "text"),
    [("jsonl", "x.jsonl", '{"key": "a", "v": 1}\n{"v": 2}\n'), ("csv", "x.csv", "id,v\na,1\n")],
    ids=["jsonl", "csv"],
)
def test_missing_id_field(
    make_task: TaskFactory, tmp_path: Path, kind: str, file: str, text: str
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / file).write_text(text)
    extra = ", header: true" if kind == "csv" else ""
    task = make_task(f"{{kind: {kind}, path: data/{file}, id_field: key{extra}}}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    fields = "v" if kind == "jsonl" else "id, v"
    assert str(info.value) == (
        f"{tmp_path / 'data' / file}:2: record has no id field 'key' {where(task)}; "
        f"fix the data or change `id_field` (fields: {fields})"
    )


def test_missing_id_field_in_parquet(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"v": [1, 2]}), tmp_path / "data" / "x.parquet")
    task = make_task("{kind: parquet, path: data/x.parquet, id_field: key}")
    with pytest.raises(SourceError, match="no id field 'key'"):
        read_all(task)


@pytest.mark.parametrize(
    ("kind", "extra"), [("jsonl", ""), ("csv", ", columns: [x]"), ("tsv", ", columns: [x]")]
)
def test_non_utf8_file(make_task: TaskFactory, tmp_path: Path, kind: str, extra: str) -> None:
    (tmp_path / "data").mkdir()
    text = '{"x": "café"}\n' if kind == "jsonl" else "café\n"
    (tmp_path / "data" / f"x.{kind}").write_bytes(text.encode("latin-1"))
    task = make_task(f"{{kind: {kind}, path: data/x.{kind}{extra}}}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert str(info.value) == (
        f"{tmp_path / 'data' / f'x.{kind}'} is not UTF-8 text (invalid continuation byte) "
        f"{where(task)}"
    )


def test_unreadable_parquet(make_task: TaskFactory, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.parquet").write_text("not parquet")
    task = make_task("{kind: parquet, path: data/x.parquet}")
    with pytest.raises(SourceError) as info:
        count_task(task)
    assert str(info.value).startswith(
        f"cannot read Parquet file {tmp_path / 'data' / 'x.parquet'} {where(task)}: "
    )


# --- source_fields --------------------------------------------------------------------------------


def test_source_fields_of_jsonl_union_the_first_records(
    make_task: TaskFactory, tmp_path: Path
) -> None:
    records: list[dict[str, Any]] = [{"a": 1}, {"b": 2}, {"a": 3, "c": 4}]
    write_jsonl(tmp_path / "data" / "x.jsonl", records)
    assert source_fields(make_task("{kind: jsonl, path: data/x.jsonl}")) == ["a", "b", "c"]


def test_source_fields_of_columns_read_no_file(make_task: TaskFactory) -> None:
    task = make_task("{kind: tsv, path: data/absent.tsv, columns: [q, a]}")
    assert source_fields(task) == ["q", "a"]


def test_fsspec_urls_are_read_in_place(make_task: TaskFactory) -> None:
    """`path` may be any fsspec URL (gs:// on Dataflow); the in-memory filesystem stands in."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for part, start in (("a", 0), ("b", 3)):
        with fs.open(f"/flanmix-test/{part}.jsonl", "w") as f:
            f.writelines(f'{{"id": "r{i}", "text": "t{i}"}}\n' for i in range(start, start + 3))
    parquet = pa.table({"id": ["p0", "p1"], "text": ["x", "y"]})
    with fs.open("/flanmix-test/c.parquet", "wb") as f:
        pq.write_table(parquet, f)
    try:
        task = make_task("{kind: jsonl, path: 'memory://flanmix-test/*.jsonl', id_field: id}")
        assert list_files(task) == [
            "memory:///flanmix-test/a.jsonl",
            "memory:///flanmix-test/b.jsonl",
        ]
        assert [e.example_id for e in read_all(task)] == [f"r{i}" for i in range(6)]
        digest = hashlib.sha256(fs.cat("/flanmix-test/a.jsonl")).hexdigest()
        assert count_task(task).files[0].sha256 == digest
        task = make_task("{kind: parquet, path: 'memory://flanmix-test/c.parquet', id_field: id}")
        assert [e.fields["text"] for e in read_all(task)] == ["x", "y"]
    finally:
        fs.rm("/flanmix-test", recursive=True)
