"""Spill files: rendered rows parked on disk (or in a bucket) between rendering and the shard
writers, so that no runner ever holds the output in memory.

Each render step writes its rows to a spill *part*: an Arrow IPC stream sorted by shard hash,
with one record batch per hash *bucket* (the top bits of the shard hash), whose byte spans the
part records. Output shard `i` of `n` owns the hash range
`[i * 2**64 / n, (i + 1) * 2**64 / n)`; its writer walks the buckets of that range in order,
reading one bucket from every part at a time. Memory per writer is therefore one bucket of
the whole output plus one output row group, whatever the output size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flanmix.publish.parquet import COLUMNS, ROW_GROUP_BYTES, SCHEMA
from flanmix.sources.files import open_path

HASH_BITS = 64
FULL_RANGE = 1 << HASH_BITS  # the end of the last shard's range
ROWS_PER_BUCKET = 16_384  # aim: one bucket of the whole output is tens of MB
KEYS = [
    ("shard_hash", pa.uint64()),  # where the row goes; also its order inside the shard
    ("leaf_id", pa.int32()),  # index of (task, leaf type) in the build's sorted leaves
    ("position", pa.int64()),  # source position: unique within a task
    ("copy", pa.int32()),  # 0, 1, …: a row repeated under `repeats` is spilled once per copy
    ("rank_hash", pa.uint64()),  # the selection key's hash (the key is (rank_hash, position))
]
ORDER = tuple(name for name, _ in KEYS[:4])  # rows sort by these, in a part and in a shard
# `turns`: a few-shot row's chat turns, kept only for `--fewshot-as-turns` (else null).
SPILL_SCHEMA = pa.schema([*KEYS, *SCHEMA, pa.field("turns", pa.list_(pa.string()))])
IPC_LOCAL = pa.ipc.IpcWriteOptions()
IPC_REMOTE = pa.ipc.IpcWriteOptions(compression="lz4")  # fewer bytes through the network


def bucket_count(planned_rows: int) -> int:
    """Buckets for a build of about `planned_rows` output rows: a power of two, at least 16."""
    buckets = 16
    while buckets * ROWS_PER_BUCKET < planned_rows:
        buckets *= 2
    return buckets


def shard_range(index: int, count: int) -> tuple[int, int]:
    """The shard hashes `[lo, hi)` that output shard `index` of `count` holds."""
    return (index << HASH_BITS) // count, ((index + 1) << HASH_BITS) // count


@dataclass(frozen=True)
class SpillPart:
    path: str
    rows: int
    buckets: int
    # The buckets with rows, ascending, as uint32: record batch i holds bucket present[i].
    # Bytes, not a tuple of ints: every writer holds every part's list, ~1,000 buckets each
    # in a build of 10M rows.
    present: bytes = b""
    # uint64 file offsets: record batch i is the IPC message in bytes [ends[i], ends[i + 1]).
    # Writers read a batch by its span, so they never open the part as an IPC file: a file
    # reader per part (every part is read at once) held ~35 KB each, 45 MB at 10M rows.
    ends: bytes = b""

    def batches(self, first: int, last: int) -> dict[int, tuple[int, int]]:
        """Bucket -> (start, stop) of its record batch, for this part's buckets in
        [first, last]."""
        present = np.frombuffer(self.present, np.uint32)
        lo = int(np.searchsorted(present, first, side="left"))
        hi = int(np.searchsorted(present, last, side="right"))
        ends = np.frombuffer(self.ends, np.uint64)[lo : hi + 1].tolist()
        return dict(zip(present[lo:hi].tolist(), itertools.pairwise(ends), strict=True))


@dataclass(frozen=True)
class Parked:
    """Bytes parked in a file beside the spill parts (a read shard's packed candidates of one
    leaf): only this reference crosses a shuffle, so no runner holds every candidate."""

    path: str
    start: int
    size: int


def park(folder: str, values: Sequence[bytes]) -> list[Parked]:
    """Write `values` one after another into a new file under `folder`; where each went.
    When all are empty no file is written (an empty value is never read)."""
    path = f"{folder}/{uuid.uuid4().hex}.bin"  # unique: a retried step never collides
    if any(values):
        with ExitStack() as stack:
            sink = create_file(path, stack)
            for value in values:
                sink.write(value)
    starts = np.cumsum([0, *map(len, values)])[:-1].tolist()
    return [Parked(path, start, len(v)) for start, v in zip(starts, values, strict=True)]


def fetch(parked: Iterable[Parked]) -> list[bytes]:
    """The parked values, in order."""
    out = []
    for p in parked:
        if not p.size:
            out.append(b"")
            continue
        with ExitStack() as stack:
            source = stack.enter_context(open_path(p.path, "rb"))
            source.seek(p.start)
            value = source.read(p.size)
        if len(value) != p.size:
            raise OSError(f"{p.path}: {len(value)} of {p.size} parked bytes at {p.start}")
        out.append(value)
    return out


class SpillBuffer:
    """Rows of one render step, column by column, until they are written as a part."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in SPILL_SCHEMA.names}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.columns["shard_hash"])

    def add(self, keys: tuple[int, int, int, int, int], row: dict[str, Any], size: int) -> None:
        for (name, _), value in zip(KEYS, keys, strict=True):
            self.columns[name].append(value)
        for name in COLUMNS:
            self.columns[name].append(row[name])
        self.columns["turns"].append(row.get("_turns"))
        self.bytes += size

    def write(self, folder: str, buckets: int) -> SpillPart:
        """Write the buffered rows as one part under `folder` and empty the buffer."""
        # Rows are put in ORDER before they become Arrow columns: sorting the Python lists
        # is cheaper than a take over the finished table (a copy of every string).
        columns = self.columns
        keys = list(zip(*(columns[name] for name in ORDER), strict=True))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        table = pa.table(
            {name: [values[i] for i in order] for name, values in columns.items()},
            schema=SPILL_SCHEMA,
        )
        self.columns = {name: [] for name in SPILL_SCHEMA.names}
        self.bytes = 0
        path = f"{folder}/{uuid.uuid4().hex}.arrow"  # unique: a retried step never collides
        present = []
        # Local parts stay uncompressed: LZ4 would cost more CPU than the disk saves time.
        # They are not fsynced either: a part lives only as long as its build.
        options = IPC_REMOTE if "://" in path else IPC_LOCAL
        with ExitStack() as stack:
            sink = create_file(path, stack)
            with pa.ipc.new_stream(sink, SPILL_SCHEMA, options=options) as writer:
                # The schema goes out with the first batch: an empty one first, so that each
                # bucket's batch starts where the file ends before it is written.
                writer.write_batch(_one_batch(table.slice(0, 0)))
                ends = [sink.tell()]
                bounds = _bucket_bounds(table["shard_hash"], buckets)
                for bucket, (start, stop) in enumerate(bounds):
                    if stop > start:  # empty buckets are left out: many small parts stay small
                        writer.write_batch(_one_batch(table.slice(start, stop - start)))
                        present.append(bucket)
                        ends.append(sink.tell())
        return SpillPart(
            path,
            table.num_rows,
            buckets,
            np.array(present, np.uint32).tobytes(),
            np.array(ends, np.uint64).tobytes(),
        )


def _bucket_bounds(hashes: pa.ChunkedArray, buckets: int) -> list[tuple[int, int]]:
    """Row ranges of each bucket in a column of sorted shard hashes."""
    shift = HASH_BITS - buckets.bit_length() + 1
    ids = (np.asarray(hashes.to_numpy(), np.uint64) >> np.uint64(shift)).astype(np.int64)
    edges = np.searchsorted(ids, np.arange(buckets + 1), side="left")
    return [(int(edges[b]), int(edges[b + 1])) for b in range(buckets)]


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.to_batches()  # a slice of one sorted chunk is one batch: no copy
    if len(batches) != 1:
        batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=SPILL_SCHEMA)


Span = tuple[int, int]


def _batch_reader(path: str, stack: ExitStack) -> Callable[[Span], pa.RecordBatch]:
    """Reads a part's record batches by their byte spans."""
    # Plain reads into Arrow's allocator (a memory map's pages would count as the writer's
    # memory). Python bytes would come from malloc, whose heap the pieces (tens of KB each, a
    # thousand per bucket at 10M rows) fragmented: its free space grew twice as fast.
    if "://" in path:
        remote = stack.enter_context(open_path(path, "rb"))

        def read(start: int, size: int) -> pa.Buffer:
            remote.seek(start)
            return pa.py_buffer(remote.read(size))
    else:
        local = stack.enter_context(pa.OSFile(path))

        def read(start: int, size: int) -> pa.Buffer:
            local.seek(start)
            return local.read_buffer(size)

    def batch(span: Span) -> pa.RecordBatch:
        start, stop = span
        data = read(start, stop - start)
        if data.size != stop - start:
            raise OSError(f"{path}: spill part cut short at byte {start + data.size}")
        return pa.ipc.read_record_batch(pa.ipc.read_message(data), SPILL_SCHEMA)

    return batch


Keep = Callable[[pa.Table], Any]  # a table's rows -> which to keep (a sequence of bools)


def ranged_rows(parts: Sequence[SpillPart], lo: int, hi: int, keep: Keep) -> Iterator[pa.Table]:
    """The kept rows with shard hash in `[lo, hi)`, one sorted table per bucket, in order."""
    if not parts or lo >= hi:
        return
    buckets = parts[0].buckets
    shift = HASH_BITS - buckets.bit_length() + 1
    first, last = lo >> shift, (hi - 1) >> shift
    with ExitStack() as stack:
        # Only the parts with rows in this range are opened.
        wanted = [(part, batches) for part in parts if (batches := part.batches(first, last))]
        allow_open_files(len(wanted))
        readers = [(_batch_reader(part.path, stack), batches) for part, batches in wanted]
        for bucket in range(first, last + 1):
            pieces = [read(b[bucket]) for read, b in readers if bucket in b]
            table = pa.Table.from_batches(pieces, SPILL_SCHEMA)
            if not table.num_rows:
                continue
            # The rows to write, in ORDER, found on the key columns alone: then a single take
            # copies the strings once.
            hashes = np.asarray(table["shard_hash"].to_numpy(), np.uint64)
            chosen = hashes >= np.uint64(lo)
            if hi < FULL_RANGE:  # the last shard's bound does not fit in 64 bits
                chosen &= hashes < np.uint64(hi)
            chosen &= np.asarray(keep(table.select([name for name, _ in KEYS])), bool)
            rows = np.flatnonzero(chosen)
            if len(rows):
                keys = [np.asarray(table[name].to_numpy())[rows] for name in reversed(ORDER)]
                yield table.take(pa.array(rows[np.lexsort(keys)]))


def allow_open_files(count: int) -> None:
    """Raise this process's soft limit on open files to hold `count` more (a shard writer
    reads every spill part at once), up to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 256  # the runner's own files and sockets
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(
            resource.RLIMIT_NOFILE,
            (want if hard == resource.RLIM_INFINITY else min(want, hard), hard),
        )


def create_file(path: str, stack: ExitStack) -> Any:
    """A new binary file at a local path or fsspec URL, closed with `stack`."""
    if "://" in path:
        import fsspec

        return stack.enter_context(fsspec.open(path, "wb"))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return stack.enter_context(open(path, "wb"))


def open_hashed(path: str, stack: ExitStack) -> HashingFile:
    """A new file at a local path or fsspec URL, closed with `stack`, hashed as written."""
    return HashingFile(create_file(path, stack))


def close_quietly(writer: pq.ParquetWriter) -> None:
    """Close a writer whose shard failed (a no-op once closed), so that it does not try to
    write into its closed file when it is garbage-collected."""
    with contextlib.suppress(Exception):
        writer.close()


def sync(sink: HashingFile) -> None:
    """A local file's bytes on disk (before the completion marker is written)."""
    if isinstance(sink.raw, io.BufferedWriter):
        sink.raw.flush()
        os.fsync(sink.raw.fileno())


class HashingFile(io.RawIOBase):
    """A write-only file that also counts and hashes what passes through it."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.raw.write(view)
        self.sha.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size


class ShardFile:
    """A Parquet file (local or fsspec URL) written in row groups of about ROW_GROUP_BYTES
    and hashed as written; closed with `stack` if anything fails."""

    def __init__(self, path: str, schema: pa.Schema, stack: ExitStack) -> None:
        self.file = open_hashed(path, stack)
        self.writer = pq.ParquetWriter(self.file, schema, compression="zstd")
        stack.callback(close_quietly, self.writer)  # after a failure: before its file closes
        self.pending: list[pa.Table] = []
        self.pending_bytes = 0
        self.rows = 0
        self.nbytes = 0  # in memory, before compression

    def add(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_bytes += table.nbytes
        if self.pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            table = pa.concat_tables(self.pending)  # chunks are fine: still one row group
            self.writer.write_table(table, row_group_size=max(1, table.num_rows))
            self.rows += table.num_rows
            self.nbytes += table.nbytes
        self.pending, self.pending_bytes = [], 0

    def close(self) -> dict[str, Any]:
        """Flush, close and sync; the file's rows, size and sha256."""
        self._flush()
        self.writer.close()
        sync(self.file)
        return {"rows": self.rows, "bytes": self.file.size, "sha256": self.file.sha.hexdigest()}


def write_range_shard(
    path: str,
    parts: Sequence[SpillPart],
    lo: int,
    hi: int,
    keep: Keep,
    observe: Callable[[pa.Table], None] = lambda _: None,
) -> dict[str, Any]:
    """Write output shard `path` from the spill: the kept rows of `[lo, hi)` in hash order,
    streamed into row groups of about ROW_GROUP_BYTES, each piece also shown to `observe`.
    Returns the manifest entry plus the rows written per leaf id."""
    leaves: dict[int, int] = {}
    with ExitStack() as stack:
        shard = ShardFile(path, SCHEMA, stack)
        for table in ranged_rows(parts, lo, hi, keep):
            ids, ns = np.unique(table["leaf_id"].to_numpy(), return_counts=True)
            for leaf_id, n in zip(ids.tolist(), ns.tolist(), strict=True):
                leaves[leaf_id] = leaves.get(leaf_id, 0) + n
            observe(table.select([*COLUMNS, "leaf_id", "turns"]))  # layouts use these too
            shard.add(table.select(list(COLUMNS)))
        info = shard.close()
    return {**info, "nbytes": shard.nbytes, "leaves": leaves}
