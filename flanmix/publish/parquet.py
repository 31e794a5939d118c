"""The output schema and the shard writer (pyarrow, zstd, bounded row groups)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# The five columns of the released Flan 2022 dumps first, then flanmix's provenance columns.
SCHEMA = pa.schema(
    [
        ("inputs", pa.string()),
        ("targets", pa.string()),
        ("task_source", pa.string()),
        ("task_name", pa.string()),
        ("template_type", pa.string()),
        ("collection", pa.string()),
        ("template_id", pa.string()),
        ("template_idx", pa.int64()),
        ("example_id", pa.string()),
        ("exemplar_ids", pa.list_(pa.string())),
        ("options", pa.list_(pa.string())),
        ("seed", pa.int64()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
ROW_GROUP_BYTES = 64 << 20


def shard_name(index: int, count: int) -> str:
    return f"data/train-{index:05d}-of-{count:05d}.parquet"


def row_bytes(row: dict[str, Any]) -> int:
    """Approximate in-file size of a row before compression, for sizing shards."""
    size = 16
    for value in row.values():
        if isinstance(value, str):
            size += len(value.encode("utf-8")) + 4
        elif isinstance(value, list):
            size += sum(len(str(v).encode("utf-8")) + 4 for v in value) + 4
        else:
            size += 8
    return size


def write_shard(path: Path | str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Write rows (already in their final order) and return the shard's manifest entry.

    `path` is local or any fsspec URL (gs://…): the shard is made in memory and stored in one
    write, so a remote store never holds half a shard."""
    table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
    avg = max(1, sum(row_bytes(r) for r in rows) // max(1, len(rows)))
    buffer = pa.BufferOutputStream()
    pq.write_table(
        table,
        buffer,
        compression="zstd",
        row_group_size=max(1_000, ROW_GROUP_BYTES // avg),
        write_statistics=True,
    )
    data = buffer.getvalue().to_pybytes()
    store_bytes(str(path), data)
    return {
        "rows": len(rows),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "nbytes": table.nbytes,  # in-memory (Arrow) size: the card's `num_bytes`
    }


def store_bytes(path: str, data: bytes) -> None:
    """Write a whole file, locally (fsynced: on disk before the completion marker) or to any
    fsspec URL."""
    if "://" in path:
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        fs.pipe_file(inner, data)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
