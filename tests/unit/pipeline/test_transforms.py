"""Beam wiring on the local portable runner (FnApiRunner, constructed explicitly)."""

from __future__ import annotations

import os
from array import array
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.windowed_value import WindowedValue

from flanmix.checks import task_template_types
from flanmix.pipeline.transforms import (
    CANDIDATE,
    Choice,
    Layout,
    RenderWindows,
    SmallestPerKey,
    choose,
    choose_parked,
    prefer_jemalloc,
    shard_count,
    write_shard,
)
from flanmix.plan.selection import FULL, Window, first_window
from flanmix.publish.spill import fetch
from flanmix.sources.files import count_task, read_shards
from flanmix.spec.load import load_mixture


def local_pipeline() -> BeamTestPipeline:
    return BeamTestPipeline(runner=FnApiRunner())


def test_smallest_per_key_keeps_each_keys_limit_from_a_side_input() -> None:
    keys = [(("a", "zs_opt"), (h, h)) for h in [9, 4, 7, 1, 8, 2, 6]]
    keys += [(("b", "zs_opt"), (h, -h)) for h in [5, 3]]
    items = [(leaf, (leaf, (key, None))) for leaf, key in keys]
    with local_pipeline() as p:
        limits = p | "Limits" >> beam.Create([{("a", "zs_opt"): 3, ("b", "zs_opt"): 0}])
        out = (
            p
            | beam.Create(items)
            | beam.CombinePerKey(SmallestPerKey(), beam.pvalue.AsSingleton(limits))
        )
        assert_that(
            out,
            equal_to(
                [
                    (("a", "zs_opt"), [((1, 1), None), ((2, 2), None), ((4, 4), None)]),
                    (("b", "zs_opt"), []),
                ]
            ),
        )


def test_smallest_per_key_with_fixed_limits_keeps_items() -> None:
    items = [("t", ("t", ((h, h), f"item{h}"))) for h in [5, 1, 4, 2, 3]]
    with local_pipeline() as p:
        out = p | beam.Create(items) | beam.CombinePerKey(SmallestPerKey({"t": 2}))
        assert_that(out, equal_to([("t", [((1, 1), "item1"), ((2, 2), "item2")])]))


def test_smallest_per_key_is_independent_of_input_order_and_bundling() -> None:
    combine = SmallestPerKey()
    leaf = ("t", "zs_opt")
    limits = {leaf: 4}
    values = [(leaf, ((h, -h), h)) for h in range(50)]
    accs = []
    for chunk in (values[:7], values[7:30], values[30:]):  # as if three workers combined parts
        acc = combine.create_accumulator()
        for value in reversed(chunk):
            acc = combine.add_input(acc, value, limits)
        accs.append(acc)
    accs.append(combine.create_accumulator())  # an empty bundle
    merged = combine.merge_accumulators(accs, limits)
    assert combine.extract_output(merged, limits) == [
        ((0, 0), 0),
        ((1, -1), 1),
        ((2, -2), 2),
        ((3, -3), 3),
    ]


def render(tiny_mixture: Path, tmp_path: Path, windows: dict) -> tuple[dict, list, list]:
    """Run RenderWindows over the tiny mixture; return counts, candidates and spill parts."""
    m = load_mixture(str(tiny_mixture))
    types = task_template_types(m)
    leaves = sorted((t, lt) for t, lts in types.items() for lt in lts)
    layout = Layout(windows, leaves, str(tmp_path / "spill"), 16)
    shards = [s for t in sorted(m.tasks) for s in read_shards(count_task(m.tasks[t]), 10)]
    dofn = RenderWindows(m.tasks, m.families, types, m.seed, layout)
    dofn.setup()
    dofn.start_bundle()
    counts: dict = {}
    candidates: list = []
    parts: list = []
    for out in [out for shard in shards for out in dofn.process(shard)] + list(
        dofn.finish_bundle()
    ):
        if isinstance(out, beam.pvalue.TaggedOutput):
            if out.tag == "counts":
                counts[out.value[0]] = counts.get(out.value[0], 0) + out.value[1]
            else:
                value = out.value
                parts.append(value.value if isinstance(value, WindowedValue) else value)
        else:
            candidates.append(out)
    return counts, candidates, parts


def test_render_windows_counts_every_read_and_renders_only_the_window(
    tiny_mixture: Path, tmp_path: Path
) -> None:
    windows = {
        ("a", "zs_noopt"): Window(0),  # nothing rendered
        ("a", "zs_opt"): Window(FULL),  # everything
        ("b", "zs_noopt"): Window(FULL // 2),  # about half
        ("b", "zs_opt"): Window(FULL, copies=2),  # everything, spilled twice
        ("c", "zs_opt"): Window(FULL),
    }
    counts, candidates, parts = render(tiny_mixture, tmp_path, windows)
    reads = {leaf: n for (leaf, name), n in counts.items() if name == "read"}
    assert reads == {
        ("a", "zs_noopt"): 40,
        ("a", "zs_opt"): 40,
        ("b", "zs_noopt"): 25,
        ("b", "zs_opt"): 25,
        ("c", "zs_opt"): 30,
    }
    rendered: dict = {}
    for leaf, parked in candidates:
        flat = array("Q", fetch([parked])[0])
        rendered.setdefault(leaf, []).extend(flat[0::CANDIDATE])
    assert len(rendered[("a", "zs_noopt")]) == 0
    assert len(rendered[("a", "zs_opt")]) == 40
    assert 0 < len(rendered[("b", "zs_noopt")]) < 25
    assert all(h < FULL // 2 for h in rendered[("b", "zs_noopt")])
    spilled = sum(part.rows for part in parts)
    assert spilled == 40 + len(rendered[("b", "zs_noopt")]) + 2 * 25 + 30


def test_choose_takes_the_quota_smallest_rendered_keys() -> None:
    leaf = ("t", "zs_opt")
    rows = [(h, h % 7, 10 + h) for h in (50, 10, 40, 20, 30)]  # (rank hash, position, bytes)
    packed = [array("Q", [v for r in rows[:2] for v in r]).tobytes()]
    packed.append(array("Q", [v for r in rows[2:] for v in r]).tobytes())
    got_leaf, (sel, valid, size, *_) = choose(
        (leaf, packed), {leaf: 3}, {leaf: Window(FULL)}, False
    )
    assert got_leaf == leaf and valid == 5
    assert sel is not None and sel.threshold == (30, 2)
    assert size == 20 + 30 + 40  # the bytes of the three selected rows
    # A partial window that rendered fewer rows than the quota cannot decide: None.
    _, (short, *_) = choose((leaf, packed), {leaf: 6}, {leaf: Window(FULL // 2)}, False)
    assert short is None


def test_shard_count_rounds_up_and_writes_nothing_while_a_window_is_short() -> None:
    leaf = ("t", "zs_opt")
    sel = choose((leaf, []), {leaf: 0}, {leaf: first_window(0, 10)}, False)[1][0]
    assert shard_count([], 100) == 1
    assert shard_count([(leaf, Choice(sel, 0, 100))], 100) == 1
    assert shard_count([(leaf, Choice(sel, 0, 101))], 100) == 2
    assert (
        shard_count([(leaf, Choice(sel, 0, 101)), (("u", "zs_opt"), Choice(None, 3, 0))], 100) == 0
    )


def test_write_shard_keeps_the_selected_copies_in_hash_order(
    tiny_mixture: Path, tmp_path: Path
) -> None:
    m = load_mixture(str(tiny_mixture))
    types = task_template_types(m)
    leaves = sorted((t, lt) for t, lts in types.items() for lt in lts)
    windows = {leaf: Window(FULL) for leaf in leaves}
    windows[("c", "zs_opt")] = Window(FULL, copies=2)
    _, candidates, parts = render(tiny_mixture, tmp_path, windows)
    grouped: dict = {}
    for leaf, parked in candidates:
        grouped.setdefault(leaf, []).append(parked)
    quotas = {leaf: 10 for leaf in leaves} | {("c", "zs_opt"): 45}  # 30 rows, 15 repeated
    choices = dict(choose_parked(item, quotas, windows, True) for item in grouped.items())
    infos = [write_shard(i, str(tmp_path / "out"), 2, parts, choices, leaves) for i in range(2)]
    again = [
        write_shard(i, str(tmp_path / "again"), 2, list(reversed(parts)), choices, leaves)
        for i in range(2)
    ]
    assert [i["sha256"] for i in infos] == [i["sha256"] for i in again]
    written: dict = {}
    for info in infos:
        for leaf, n in info["leaves"].items():
            written[leaf] = written.get(leaf, 0) + n
    assert written == {
        "a/zs_noopt": 10,
        "a/zs_opt": 10,
        "b/zs_noopt": 10,
        "b/zs_opt": 10,
        "c/zs_opt": 45,
    }
    tables = [pq.read_table(tmp_path / "out" / info["path"]) for info in infos]
    assert sum(t.num_rows for t in tables) == 85
    assert infos[0]["path"] == "data/train-00000-of-00002.parquet"


def test_workers_allocate_arrow_memory_with_jemalloc_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.system_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
        prefer_jemalloc()
        assert pa.default_memory_pool().backend_name == "system"
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
        try:
            pa.jemalloc_memory_pool()
        except NotImplementedError:
            pytest.skip("this pyarrow was built without jemalloc")
        prefer_jemalloc()
        assert pa.default_memory_pool().backend_name == "jemalloc"
        # Local workers are started from this process: they inherit the choice.
        assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
    finally:
        pa.set_memory_pool(before)
