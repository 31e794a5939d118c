"""Spill parts and the shard writer that streams them into hash-ordered shards."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flanmix.hashing import stable_hash
from flanmix.publish.parquet import COLUMNS
from flanmix.publish.spill import (
    FULL_RANGE,
    Parked,
    SpillBuffer,
    SpillPart,
    bucket_count,
    fetch,
    park,
    ranged_rows,
    shard_range,
    write_range_shard,
)


def row(i: int) -> dict[str, Any]:
    return {
        "inputs": f"question {i} " + "word " * (i % 7),
        "targets": str(i % 3),
        "task_source": "s",
        "task_name": f"t{i % 2}",
        "template_type": "zs_opt",
        "collection": "c",
        "template_id": "t1",
        "template_idx": 0,
        "example_id": str(i % 50),  # ids may repeat; positions do not
        "exemplar_ids": [str(i + 1)] if i % 4 else [],
        "options": ["0", "1", "2"],
        "seed": 0,
    }


def spill(folder: str, rows: range, per_part: int, buckets: int) -> list[SpillPart]:
    parts, buffer = [], SpillBuffer()
    for i in rows:
        keys = (stable_hash(0, i, "shard"), i % 2, i, 0, stable_hash(0, i, "rank"))
        buffer.add(keys, row(i), 100)
        if len(buffer) == per_part:
            parts.append(buffer.write(folder, buckets))
    if len(buffer):
        parts.append(buffer.write(folder, buckets))
    return parts


def keep_all(table: Any) -> list[bool]:
    return [True] * table.num_rows


def test_bucket_count_is_a_power_of_two_of_bounded_rows() -> None:
    assert bucket_count(0) == 16
    assert bucket_count(16 * 16_384) == 16
    assert bucket_count(16 * 16_384 + 1) == 32
    assert bucket_count(10_000_000) == 1024


def test_shard_ranges_tile_the_hash_space() -> None:
    for count in (1, 3, 7):
        ranges = [shard_range(i, count) for i in range(count)]
        assert ranges[0][0] == 0 and ranges[-1][1] == FULL_RANGE
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def test_ranged_rows_are_the_range_in_hash_order(tmp_path: Path) -> None:
    parts = spill(str(tmp_path), range(500), per_part=120, buckets=16)
    lo, hi = shard_range(1, 3)
    got = [h for t in ranged_rows(parts, lo, hi, keep_all) for h in t["shard_hash"].to_pylist()]
    want = sorted(h for i in range(500) if lo <= (h := stable_hash(0, i, "shard")) < hi)
    assert got == want


def test_shards_do_not_depend_on_how_rows_were_spilled(tmp_path: Path) -> None:
    a = spill(str(tmp_path / "a"), range(600), per_part=600, buckets=16)
    b = spill(str(tmp_path / "b"), range(600), per_part=37, buckets=16)
    random.Random(1).shuffle(b)  # parts arrive in any order
    infos = []
    for name, parts in (("a", a), ("b", b)):
        lo, hi = shard_range(0, 2)
        infos.append(write_range_shard(str(tmp_path / f"{name}.parquet"), parts, lo, hi, keep_all))
    assert infos[0] == infos[1]
    assert infos[0]["rows"] == sum(infos[0]["leaves"].values())
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column_names == list(COLUMNS)
    assert (tmp_path / "a.parquet").stat().st_size == infos[0]["bytes"]


def test_keep_filters_rows_and_empty_ranges_give_empty_shards(tmp_path: Path) -> None:
    parts = spill(str(tmp_path), range(200), per_part=50, buckets=16)

    def odd_only(table: Any) -> list[bool]:
        return [p % 2 == 1 for p in table["position"].to_pylist()]

    info = write_range_shard(str(tmp_path / "odd.parquet"), parts, 0, FULL_RANGE, odd_only)
    assert info["rows"] == 100 and info["leaves"] == {1: 100}
    positions = pq.read_table(tmp_path / "odd.parquet").column("example_id").to_pylist()
    assert len(positions) == 100
    empty = write_range_shard(str(tmp_path / "none.parquet"), [], 0, FULL_RANGE, keep_all)
    assert empty["rows"] == 0 and pq.read_table(tmp_path / "none.parquet").num_rows == 0


def test_spill_and_shards_work_at_a_url() -> None:
    fsspec = pytest.importorskip("fsspec")
    parts = spill("memory://spill-test/spill", range(300), per_part=100, buckets=16)
    info = write_range_shard("memory://spill-test/out.parquet", parts, 0, FULL_RANGE, keep_all)
    fs = fsspec.filesystem("memory")
    assert info["rows"] == 300 and fs.size("/spill-test/out.parquet") == info["bytes"]
    fs.rm("/spill-test", recursive=True)


def test_a_part_names_the_record_batch_of_each_present_bucket() -> None:
    present = np.array([1, 3, 4, 9], np.uint32).tobytes()
    ends = np.array([100, 150, 170, 300, 310], np.uint64).tobytes()
    part = SpillPart("p.arrow", 9, 16, present, ends)
    assert part.batches(3, 8) == {3: (150, 170), 4: (170, 300)}
    assert part.batches(0, 1) == {1: (100, 150)}
    assert part.batches(9, 15) == {9: (300, 310)}
    assert part.batches(10, 15) == {} and SpillPart("e.arrow", 0, 16).batches(0, 15) == {}


def test_a_part_is_an_arrow_stream_and_a_cut_one_is_an_error(tmp_path: Path) -> None:
    (part,) = spill(str(tmp_path / "spill"), range(50), per_part=50, buckets=16)
    assert pa.ipc.open_stream(part.path).read_all().num_rows == 50
    data = Path(part.path).read_bytes()
    Path(part.path).write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="spill part cut short"):
        list(ranged_rows([part], 0, FULL_RANGE, keep_all))


def test_parked_values_come_back_in_order_and_empty_ones_write_no_file(tmp_path: Path) -> None:
    values = [b"abc", b"", bytes(range(256)) * 3, b"z"]
    parked = park(str(tmp_path / "parked"), values)
    assert len({p.path for p in parked}) == 1
    assert fetch(parked) == values
    assert fetch(list(reversed(parked))) == list(reversed(values))
    nothing = park(str(tmp_path / "empty"), [b"", b""])
    assert fetch(nothing) == [b"", b""] and not (tmp_path / "empty").exists()


def test_parked_values_work_at_a_url() -> None:
    fsspec = pytest.importorskip("fsspec")
    parked = park("memory://park-test/parked", [b"one", b"two"])
    assert parked[0].path.startswith("memory://") and fetch(parked) == [b"one", b"two"]
    fsspec.filesystem("memory").rm("/park-test", recursive=True)


def test_a_truncated_parked_file_is_an_error_not_fewer_candidates(tmp_path: Path) -> None:
    (parked,) = park(str(tmp_path), [b"0123456789"])
    Path(parked.path).write_bytes(b"01234")
    with pytest.raises(OSError, match="5 of 10 parked bytes"):
        fetch([parked])
    with pytest.raises(FileNotFoundError):
        fetch([Parked(str(tmp_path / "gone.bin"), 0, 3)])


def test_writers_may_hold_more_spill_parts_than_the_soft_open_file_limit() -> None:
    import resource

    from flanmix.publish.spill import allow_open_files

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        low = 512 if hard == resource.RLIM_INFINITY else min(512, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
        allow_open_files(400)
        got = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert got >= (656 if hard == resource.RLIM_INFINITY else min(656, hard))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
