"""The output schema and the shard writer (pyarrow, zstd, bounded row groups)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

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
        if isinstance(value, str):  # an ASCII string's length is its size, without encoding
            size += (len(value) if value.isascii() else len(value.encode("utf-8"))) + 4
        elif isinstance(value, list):
            size += sum(len(str(v).encode("utf-8")) + 4 for v in value) + 4
        else:
            size += 8
    return size


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
