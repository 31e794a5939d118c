"""Local file sources: JSONL, Parquet, CSV and TSV, each record given a stable `example_id`.

The id is the source's own id column when `id_field` names one, else the row index inside its
file (prefixed by the file name when a glob matches several files). `position` numbers the
task's rows 0..n-1 across files in sorted-path order; it drives balanced template assignment.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from flanmix.errors import SourceError
from flanmix.hashing import file_sha256
from flanmix.spec.load import Task


class Example(NamedTuple):
    task: str
    example_id: str
    position: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class SourceFile:
    path: str
    label: str  # prefix of row-index ids; "" for a single file
    rows: int  # rows used (after --limit-per-task)
    sha256: str
    offset: int  # position of this file's first row
    groups: tuple[int, ...] = ()  # rows per Parquet row group (of the rows used); () otherwise


@dataclass(frozen=True)
class TaskCount:
    """What the plan needs to know about a task's source: its files and row count."""

    task: str
    files: tuple[SourceFile, ...]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


@dataclass(frozen=True)
class ReadShard:
    """A row range of one source file: the unit of parallel reading."""

    task: str
    path: str
    label: str
    start: int
    stop: int
    offset: int


def _where(task: Task) -> str:
    return f"task '{task.name}' ({task.file}, {task.key_path}.source)"


def is_url(path: str) -> bool:
    return "://" in path


def open_path(path: str, mode: str, **kwargs: Any) -> Any:
    """A local file, or any fsspec URL (gs://, s3://, memory://, ...) through fsspec; gzip,
    bz2 and zstd files are decompressed by their extension."""
    if is_url(path) or path.endswith((".gz", ".bz2", ".zst")):
        import fsspec

        return fsspec.open(path, mode, compression="infer", **kwargs).open()
    return open(path, mode, **kwargs)


def checksum(path: str) -> str:
    """sha256 of a file's bytes as stored (compressed files are not decompressed)."""
    if not is_url(path):
        return file_sha256(path)
    import fsspec

    h = hashlib.sha256()
    with fsspec.open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def size(path: str) -> int:
    if not is_url(path):
        return Path(path).stat().st_size
    import fsspec

    fs, inner = fsspec.core.url_to_fs(path)
    return int(fs.size(inner))


def list_files(task: Task) -> list[str]:
    pattern = task.source_pattern()
    if is_url(pattern):
        import fsspec

        fs, _ = fsspec.core.url_to_fs(pattern)
        found = fs.glob(pattern) if glob.has_magic(pattern) else [pattern]
        matches = sorted(fs.unstrip_protocol(m) for m in found if fs.isfile(m))
    else:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if Path(m).is_file()]
    if not matches:
        raise SourceError(
            f"source file not found: {pattern} for {_where(task)}; check `path` "
            f"(relative paths resolve against {task.root}, {task.root_note})"
        )
    return matches


def count_task(task: Task, limit: int | None = None) -> TaskCount:
    """Count (and check) every file of a task; a source with zero rows is an error."""
    if not task.source.in_place:
        raise SourceError(
            f"{_where(task)} is a {task.source.kind} source, which is read from its snapshot; "
            "take snapshots first (`flanmix snapshot`, or sources.snapshot.prepare_sources)"
        )
    paths = list_files(task)
    files: list[SourceFile] = []
    offset = 0
    for path in paths:
        wanted = None if limit is None else limit - offset
        rows, groups = _count_rows(task, path, wanted)
        label = "" if len(paths) == 1 else f"{_relative_to_glob(path, task.source_pattern())}:"
        files.append(SourceFile(path, label, rows, checksum(path), offset, groups))
        offset += rows
        if limit is not None and offset >= limit:
            break
    count = TaskCount(task.name, tuple(f for f in files if f.rows > 0))
    if count.rows == 0:
        raise SourceError(
            f"source has zero rows: {', '.join(paths)} for {_where(task)}; "
            "give it data or remove the task from the mixture"
        )
    return count


def _count_rows(task: Task, path: str, limit: int | None) -> tuple[int, tuple[int, ...]]:
    """Rows of one file (at most `limit`) and, for Parquet, the rows of each row group used;
    Parquet's come from its footer."""
    if task.source.kind == "parquet":
        pfile = _parquet(path, task)
        _check_parquet_id(task, path, pfile)
        meta = pfile.metadata
        rows = meta.num_rows if limit is None else min(meta.num_rows, limit)
        groups, left = [], rows
        for i in range(meta.num_row_groups):
            if left <= 0:
                break
            groups.append(min(meta.row_group(i).num_rows, left))
            left -= groups[-1]
        return rows, tuple(groups)
    return sum(1 for _ in itertools.islice(_iter_file(task, path), limit)), ()


def _relative_to_glob(path: str, pattern: str) -> str:
    """The part of `path` the glob matched, so `*/train.jsonl` files get distinct labels."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return Path(path).relative_to(Path(*parts[:fixed])).as_posix() if fixed else path


def read_shards(count: TaskCount, rows_per_shard: int = 20_000) -> list[ReadShard]:
    return [
        ReadShard(count.task, f.path, f.label, start, stop, f.offset)
        for f in count.files
        for start, stop in _shard_bounds(f, rows_per_shard)
    ]


BIG_GROUP = 16  # a Parquet row group of more than this many shards' rows is split


def _shard_bounds(f: SourceFile, rows_per_shard: int) -> list[tuple[int, int]]:
    """Row ranges of about `rows_per_shard` rows. In Parquet a range that starts inside a row
    group decodes the group's earlier rows only to skip them, so ranges gather whole row
    groups. A group of more than BIG_GROUP shards' rows is split into ranges of BIG_GROUP / 2
    shards' rows, so that a huge group is still read in parallel: the k-th range decodes the
    k - 1 before it too. A smaller group is one read shard (read by one worker)."""
    step = max(1, rows_per_shard)
    if not f.groups:
        return [(start, min(start + step, f.rows)) for start in range(0, f.rows, step)]
    cuts, start = [0], 0
    for rows in f.groups:
        stop = start + rows
        if rows > BIG_GROUP * step:
            if cuts[-1] < start:
                cuts.append(start)
            cuts.extend(range(start + BIG_GROUP // 2 * step, stop, BIG_GROUP // 2 * step))
            cuts.append(stop)
        elif stop - cuts[-1] >= step:
            cuts.append(stop)
        start = stop
    if cuts[-1] < f.rows:
        cuts.append(f.rows)
    return list(itertools.pairwise(cuts))


def read_task(task: Task) -> Iterator[Example]:
    """Every example of a task's source, in file order, read shard by shard."""
    for shard in read_shards(count_task(task)):
        yield from read_shard(task, shard)


Wanted = Callable[[str, int], bool]  # (example_id, position) -> read this row's fields?


def read_shard(task: Task, shard: ReadShard, wanted: Wanted | None = None) -> Iterator[Example]:
    """The shard's examples; with `wanted`, only those it accepts. `wanted` sees every row's id
    and position first, in order; from Parquet the other fields of unwanted rows are never
    decoded (a build renders only the rows inside its windows)."""
    if wanted is not None and task.source.kind == "parquet":
        yield from _read_parquet_shard(task, shard, wanted)
        return
    records = _iter_file(task, shard.path, skip=shard.start)
    for row, fields in enumerate(records, start=shard.start):
        if row >= shard.stop:
            break
        value = fields[task.source.id_field] if task.source.id_field else None
        example_id = _example_id(task, shard, row, value)
        if wanted is None or wanted(example_id, shard.offset + row):
            yield Example(task.name, example_id, shard.offset + row, fields)


def _example_id(task: Task, shard: ReadShard, row: int, value: Any) -> str:
    return str(value) if task.source.id_field else f"{shard.label}{row}"


def _read_parquet_shard(task: Task, shard: ReadShard, wanted: Wanted) -> Iterator[Example]:
    with _reading(task, shard.path):
        yield from _wanted_rows(task, shard, wanted)


def scan_ids(task: Task, shard: ReadShard, see: Callable[[str, int], object]) -> None:
    """Show `see` every (example_id, position) of the shard, in order. From Parquet only the
    id column is read."""

    def look(example_id: str, position: int) -> bool:
        see(example_id, position)
        return False  # decode nothing

    if task.source.kind != "parquet":
        for _ in read_shard(task, shard, look):
            pass
        return
    id_field = task.source.id_field
    with _reading(task, shard.path):
        for row, _, ids in _id_batches(task, shard, [id_field] if id_field else []):
            for i, example_id in enumerate(ids):
                see(example_id, shard.offset + row + i)


def _wanted_rows(task: Task, shard: ReadShard, wanted: Wanted) -> Iterator[Example]:
    for row, batch, ids in _id_batches(task, shard):
        keep = [wanted(i, shard.offset + row + n) for n, i in enumerate(ids)]
        if not any(keep):
            continue
        picked = batch.filter(pa.array(keep, pa.bool_()))
        rows = [row + n for n, k in enumerate(keep) if k]
        for r, fields in zip(rows, _records(picked), strict=True):
            yield Example(task.name, ids[r - row], shard.offset + r, fields)


def _id_batches(
    task: Task, shard: ReadShard, columns: list[str] | None = None
) -> Iterator[tuple[int, pa.RecordBatch, list[str]]]:
    """The shard's Parquet batches (of `columns`, which must hold the id field if there is
    one), cut at its stop: (row of the first record, batch, example ids)."""
    id_field = task.source.id_field
    for row, batch in _parquet_batches(task, shard.path, shard.start, columns):
        batch = batch.slice(0, max(0, shard.stop - row))
        if not batch.num_rows:
            break
        values = batch.column(id_field).to_pylist() if id_field else [None] * batch.num_rows
        yield row, batch, [_example_id(task, shard, row + i, v) for i, v in enumerate(values)]


def _records(batch: pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """A batch's rows as dicts (column by column: faster than RecordBatch.to_pylist)."""
    if not batch.num_columns:  # rows without fields still count
        yield from ({} for _ in range(batch.num_rows))
        return
    names = batch.schema.names
    for values in zip(*(c.to_pylist() for c in batch.columns), strict=True):
        yield dict(zip(names, values, strict=True))


def source_fields(task: Task) -> list[str]:
    """The field names a task's records have (read from the spec or the file's first records)."""
    src = task.source
    if src.columns:
        return list(src.columns)
    path = list_files(task)[0]
    if src.kind == "parquet":
        return list(_parquet(path, task).schema_arrow.names)
    names: dict[str, None] = {}
    for record in itertools.islice(_iter_file(task, path), 100):
        names.update(dict.fromkeys(record))
    if not names:
        raise SourceError(
            f"source has zero rows: {path} for {_where(task)}; "
            "give it data or remove the task from the mixture"
        )
    return list(names)


def _parquet(path: str, task: Task) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(open_path(path, "rb") if is_url(path) else path)
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise SourceError(f"cannot read Parquet file {path} for {_where(task)}: {e}") from None


def iter_records(task: Task, path: str, fmt: str) -> Iterator[dict[str, Any]]:
    """Every record of one file in format `fmt` (jsonl, parquet, csv, tsv) with the task's
    column settings: how snapshots read downloaded files."""
    return _iter_file(task, path, fmt=fmt)


def _iter_file(
    task: Task, path: str, skip: int = 0, fmt: str | None = None
) -> Iterator[dict[str, Any]]:
    """The file's records from row `skip` on (rows before it are not decoded where avoidable)."""
    fmt = fmt or task.source.kind
    with _reading(task, path):
        if fmt == "jsonl":
            yield from _iter_jsonl(task, path, skip)
        elif fmt == "parquet":
            for _, batch in _parquet_batches(task, path, skip):
                yield from _records(batch)
        else:
            yield from itertools.islice(_iter_delimited(task, path, fmt), skip, None)


@contextmanager
def _reading(task: Task, path: str) -> Iterator[None]:
    """Read errors as SourceErrors that name the file and the task."""
    try:
        yield
    except OSError as e:
        raise SourceError(f"cannot read {path} for {_where(task)}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SourceError(f"{path} is not UTF-8 text ({e.reason}) for {_where(task)}") from None


def _parquet_batches(
    task: Task, path: str, skip: int = 0, columns: list[str] | None = None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(row of its first record, batch) from row `skip` of a Parquet file on. Reading starts
    at the row group holding row `skip`: earlier ones are never decoded, so reading a big file
    in many read shards stays linear."""
    pfile = _parquet(path, task)
    _check_parquet_id(task, path, pfile)
    first, seen = 0, 0
    meta = pfile.metadata
    while first < meta.num_row_groups and seen + meta.row_group(first).num_rows <= skip:
        seen += meta.row_group(first).num_rows
        first += 1
    groups = list(range(first, meta.num_row_groups))
    batches = pfile.iter_batches(batch_size=4096, row_groups=groups, columns=columns)
    for batch in batches if groups else []:
        if seen + batch.num_rows > skip:
            start = max(0, skip - seen)
            yield seen + start, batch.slice(start)
        seen += batch.num_rows


def _check_parquet_id(task: Task, path: str, pfile: pq.ParquetFile) -> None:
    names = pfile.schema_arrow.names
    if task.source.id_field and task.source.id_field not in names:
        raise SourceError(
            f"{path}: no id field '{task.source.id_field}' for {_where(task)}; fix the data or "
            f"change `id_field` (columns: {', '.join(names)})"
        )


def _check_id(task: Task, record: dict[str, Any], path: str, line: int) -> None:
    field = task.source.id_field
    if field and field not in record:
        raise SourceError(
            f"{path}:{line}: record has no id field '{field}' for {_where(task)}; "
            f"fix the data or change `id_field` (fields: {', '.join(record)})"
        )


def _iter_jsonl(task: Task, path: str, skip: int = 0) -> Iterator[dict[str, Any]]:
    row = 0
    with open_path(path, "r", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row += 1
            if row <= skip:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceError(
                    f"{path}:{line_no}: not valid JSON ({e.msg}) for {_where(task)}"
                ) from None
            if not isinstance(record, dict):
                raise SourceError(
                    f"{path}:{line_no}: expected a JSON object per line, got "
                    f"{type(record).__name__} for {_where(task)}"
                )
            _check_id(task, record, path, line_no)
            yield record


def _iter_delimited(task: Task, path: str, fmt: str) -> Iterator[dict[str, Any]]:
    src = task.source
    with open_path(path, "r", encoding="utf-8", newline="") as f:
        if fmt == "tsv":
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(f)
        columns = src.columns
        for row in reader:
            if src.header and reader.line_num == 1:
                columns = columns or row
                continue
            if not row:
                continue
            assert columns is not None
            if len(row) != len(columns):
                raise SourceError(
                    f"{path}:{reader.line_num}: {len(row)} fields, expected {len(columns)} "
                    f"({', '.join(columns)}) for {_where(task)}"
                )
            if src.unescape:
                row = [v.replace("\\n", "\n") for v in row]
            record = dict(zip(columns, row, strict=True))
            _check_id(task, record, path, reader.line_num)
            yield record
