"""Beam wiring on the local portable runner (FnApiRunner, constructed explicitly)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import TINY_MIXTURE, tiny_data

from flanmix.checks import task_template_types
from flanmix.errors import FlanmixError
from flanmix.pipeline.options import load_profile, parse_overrides, pipeline_setup
from flanmix.pipeline.transforms import (
    ReadAndRender,
    SmallestPerKey,
    expand_copies,
    final_quotas,
    num_shards_for,
    shard_key,
    write_sorted_shard,
)
from flanmix.plan.plan import make_plan
from flanmix.plan.selection import select
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


def test_final_quotas_replan_from_the_rows_that_rendered(tiny_mixture: Path) -> None:
    m = load_mixture(str(tiny_mixture))
    counts = [
        ((("a", "zs_noopt"), "read"), 40),
        ((("a", "zs_opt"), "read"), 40),
        ((("a", "zs_opt"), "missing_field"), 30),
        ((("b", "zs_noopt"), "read"), 25),
        ((("b", "zs_opt"), "read"), 25),
        ((("c", "zs_opt"), "read"), 30),
    ]
    final = final_quotas(counts, m, repeats=False)
    valid = {
        ("a", "zs_noopt"): 40,
        ("a", "zs_opt"): 10,
        ("b", "zs_noopt"): 25,
        ("b", "zs_opt"): 25,
        ("c", "zs_opt"): 30,
    }
    assert final["valid"] == valid
    expected = make_plan(m, valid)
    assert final["plan"] == expected
    assert final["quotas"] == {(lp.task, lp.template_type): lp.quota for lp in expected.leaves}
    # c/zs_opt (n/p = 90) runs out first; a/zs_opt is planned on its 10 rendered rows, not 40.
    assert final["quotas"][("c", "zs_opt")] == 30
    assert final["quotas"][("a", "zs_opt")] == 9
    assert final["limits"][("c", "zs_opt")] == 0  # every row is taken: no threshold needed
    assert final["limits"][("a", "zs_opt")] == 9


def test_final_quotas_report_an_unsatisfiable_epoch_instead_of_raising(
    make_mixture: Callable[..., Path],
) -> None:
    path = make_mixture(
        TINY_MIXTURE.replace("epoch: first_exhausted", "epoch: {total: 150}"), data=tiny_data()
    )
    m = load_mixture(str(path))
    counts = [(((t, tt), "read"), 10) for t, tt in m.leaves()]
    final = final_quotas(counts, m, repeats=False)
    assert "epoch total 150 cannot be met without repeats" in final["error"]
    assert "at epoch, line" in final["error"]


def test_read_and_render_counts_every_read_per_leaf(tiny_mixture: Path) -> None:
    m = load_mixture(str(tiny_mixture))
    types = task_template_types(m)
    shards = [s for t in sorted(m.tasks) for s in read_shards(count_task(m.tasks[t]), 10)]
    with local_pipeline() as p:
        out = (
            p
            | beam.Create(shards)
            | beam.ParDo(ReadAndRender(m.tasks, m.families, types, m.seed)).with_outputs(
                "counts", main="rows"
            )
        )
        reads = out.counts | beam.CombinePerKey(sum)
        assert_that(
            reads,
            equal_to(
                [
                    ((("a", "zs_noopt"), "read"), 40),
                    ((("a", "zs_opt"), "read"), 40),
                    ((("b", "zs_noopt"), "read"), 25),
                    ((("b", "zs_opt"), "read"), 25),
                    ((("c", "zs_opt"), "read"), 30),
                ]
            ),
            label="reads",
        )
        per_leaf = out.rows | beam.Map(lambda kv: kv[0]) | beam.combiners.Count.PerElement()
        assert_that(
            per_leaf,
            equal_to(
                [
                    (("a", "zs_noopt"), 40),
                    (("a", "zs_opt"), 40),
                    (("b", "zs_noopt"), 25),
                    (("b", "zs_opt"), 25),
                    (("c", "zs_opt"), 30),
                ]
            ),
            label="rows",
        )


def test_expand_copies_follows_the_selection() -> None:
    # 5 copies of 2 rows: two whole passes, then one more of the smaller key.
    sel = {("t", "zs_opt"): select(quota=5, valid=2, smallest=[(1, 0), (2, 1)], repeats=True)}
    rows = [(("t", "zs_opt"), ((1, 0), {"id": "x"})), (("t", "zs_opt"), ((2, 1), {"id": "y"}))]
    with local_pipeline() as p:
        selections = p | "Selections" >> beam.Create(sel.items())
        out = (
            p
            | beam.Create(rows)
            | beam.FlatMap(expand_copies, selections=beam.pvalue.AsDict(selections))
        )
        assert_that(
            out,
            equal_to(
                [  # (leaf, source position, copy, row)
                    (("t", "zs_opt"), 0, 0, {"id": "x"}),
                    (("t", "zs_opt"), 0, 1, {"id": "x"}),
                    (("t", "zs_opt"), 0, 2, {"id": "x"}),
                    (("t", "zs_opt"), 1, 0, {"id": "y"}),
                    (("t", "zs_opt"), 1, 1, {"id": "y"}),
                ]
            ),
        )


def test_shard_writer_orders_rows_by_hash_whatever_the_arrival_order(tmp_path: Path) -> None:
    rows = [
        {
            "inputs": f"q{i}",
            "targets": "a",
            "task_source": "s",
            "task_name": "t",
            "template_type": "zs_opt",
            "collection": "c",
            "template_id": "t1",
            "template_idx": 0,
            "example_id": str(i % 5),  # ids may repeat (e.g. across files); positions do not
            "exemplar_ids": [],
            "options": [],
            "seed": 0,
        }
        for i in range(20)
    ]
    keyed = [
        shard_key((("t", "zs_opt"), i, 0, r), seed=0, num_shards=1)[1] for i, r in enumerate(rows)
    ]
    a = write_sorted_shard((0, keyed), str(tmp_path / "a"), 1)
    b = write_sorted_shard((0, list(reversed(keyed))), str(tmp_path / "b"), 1)
    assert a["sha256"] == b["sha256"] and a["rows"] == 20
    assert a["leaves"] == {"t/zs_opt": 20}
    table = pq.read_table(tmp_path / "a" / a["path"])
    assert sorted(table.column("inputs").to_pylist()) == sorted(r["inputs"] for r in rows)


def test_num_shards_rounds_up_and_is_at_least_one() -> None:
    assert num_shards_for(0, 100) == 1
    assert num_shards_for(100, 100) == 1
    assert num_shards_for(101, 100) == 2


def test_direct_profile_uses_fnapirunner_and_workers_switch_to_processes() -> None:
    assert load_profile("direct")["runner"] == "FnApiRunner"
    setup = pipeline_setup("direct", workers=3)
    runner, options = setup.runner, setup.options
    assert isinstance(runner, FnApiRunner)
    opts = options.get_all_options()
    assert opts["direct_running_mode"] == "multi_processing"
    assert opts["direct_num_workers"] == 3


def test_option_overrides_and_errors() -> None:
    assert parse_overrides(("--project=1", "job_name=x=y")) == {"project": "1", "job_name": "x=y"}
    with pytest.raises(FlanmixError, match=r"unknown Beam pipeline option.*'max_worker'"):
        parse_overrides(("max_worker=3",))
    with pytest.raises(FlanmixError, match="key=value"):
        parse_overrides(("novalue",))
    with pytest.raises(FlanmixError, match="did you mean 'direct'"):
        load_profile("drect")
