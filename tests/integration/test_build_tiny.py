"""End-to-end builds of small mixtures: golden rows, epoch rules, drops, crash safety."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from conftest import ROOT, TINY_MIXTURE, tiny_data, tiny_records

import flanmix.build as build_mod
from flanmix.build import build
from flanmix.errors import OutputError, PlanError
from flanmix.publish.staging import COMPLETE_MARKER
from flanmix.spec.load import load_mixture

GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "tiny_build.jsonl"


def read_rows(out: Path) -> list[dict[str, Any]]:
    return pads.dataset(out / "data", format="parquet").to_table().to_pylist()


def check_accounting(stats: dict[str, Any]) -> None:
    """The contract: for every leaf, read + repeated = written + sum of drops."""
    for leaf in stats["leaves"]:
        assert leaf["available"] + leaf["repeated"] == leaf["written"] + sum(
            leaf["dropped"].values()
        ), leaf
        if leaf["written"] != leaf["quota"]:  # short only when every row was used
            assert leaf["written"] < leaf["quota"], leaf
            assert not leaf["dropped"].get("over_quota"), leaf


def test_tiny_build_matches_golden_rows(tiny_mixture: Path, tmp_path: Path) -> None:
    result = build(load_mixture(str(tiny_mixture)), tmp_path / "out")
    rows = read_rows(tmp_path / "out")
    keep = ("task_name", "template_type", "example_id", "template_id", "inputs", "targets")
    lines = sorted(json.dumps({k: r[k] for k in keep}, sort_keys=True) for r in rows)
    text = "\n".join(lines) + "\n"
    if os.environ.get("FLANMIX_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "set FLANMIX_UPDATE_GOLDEN=1 to accept a deliberate change"
    # first_exhausted: c/zs_opt has n/p smallest and is the one leaf written in full.
    exhausted = [
        leaf["leaf"] for leaf in result.stats["leaves"] if leaf["written"] == leaf["available"]
    ]
    assert exhausted == ["c/zs_opt"]
    check_accounting(result.stats)


def test_stats_shares_equal_the_plan(tiny_mixture: Path, tmp_path: Path) -> None:
    result = build(load_mixture(str(tiny_mixture)), tmp_path / "out")
    for leaf, lp in zip(result.stats["leaves"], result.plan.leaves, strict=True):
        assert leaf["written"] == leaf["quota"] == lp.quota
        assert leaf["realised_share"] == leaf["planned_share"]
        assert abs(leaf["requested_share"] - leaf["realised_share"]) <= 1 / result.plan.total
    assert result.stats["written_rows"] == result.plan.total == result.manifest["total_rows"]


def test_total_with_repeats_writes_whole_passes(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    text = TINY_MIXTURE.replace("epoch: first_exhausted", "epoch: {total: 300, repeats: true}")
    path = make_mixture(text, data=tiny_data())
    result = build(load_mixture(str(path)), tmp_path / "out")
    assert result.stats["written_rows"] == 300
    c = next(leaf for leaf in result.stats["leaves"] if leaf["leaf"] == "c/zs_opt")
    assert c["quota"] == 100 and c["written"] == 100 and c["repeated"] == 70
    check_accounting(result.stats)


def test_total_without_repeats_that_cannot_be_met(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    text = TINY_MIXTURE.replace("epoch: first_exhausted", "epoch: {total: 1000}")
    path = make_mixture(text, data=tiny_data())
    with pytest.raises(PlanError, match="cannot be met without repeats"):
        build(load_mixture(str(path)), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.flanmix-*"))


@pytest.mark.parametrize("epoch", ["all", "first_exhausted", "{total: 50}"])
def test_render_drops_are_counted_and_replaced_within_the_quota(
    make_mixture: Callable[..., Path], tmp_path: Path, epoch: str
) -> None:
    records = tiny_records(20, "a")
    records[3].pop("label")  # missing_field
    records[5]["label"] = "   "  # empty_render
    path = make_mixture(
        TINY_MIXTURE.replace("epoch: first_exhausted", f"epoch: {epoch}"),
        data={"a.jsonl": records, "b.jsonl": tiny_records(9, "b"), "c.jsonl": tiny_records(5, "c")},
    )
    mixture = load_mixture(str(path))
    result = build(mixture, tmp_path / "out")
    a = next(leaf for leaf in result.stats["leaves"] if leaf["leaf"] == "a/zs_opt")
    assert {k: v for k, v in a["dropped"].items() if k != "over_quota"} == {
        "empty_render": 1,
        "missing_field": 1,
    }
    assert (a["available"], a["valid"]) == (20, 18)
    # Quotas are planned from source rows (what `flanmix plan` shows); a dropped row is
    # replaced by the next one in hash order, so only a leaf needing every row runs short.
    check_accounting(result.stats)
    planned = {lp.leaf: lp.quota for lp in result.plan.leaves}
    assert {leaf["leaf"]: leaf["quota"] for leaf in result.stats["leaves"]} == planned
    if epoch == "all":
        assert (a["quota"], a["written"]) == (20, 18)
    if epoch == "{total: 50}":
        assert a["written"] == a["quota"] < 18


def test_a_leaf_short_of_rows_after_drops_is_reported(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    records = tiny_records(20, "a")
    for r in records[:4]:
        r.pop("label")
    path = make_mixture(
        TINY_MIXTURE.replace("epoch: first_exhausted", "epoch: {total: 60}"),
        data={"a.jsonl": records, "b.jsonl": tiny_records(9, "b"), "c.jsonl": tiny_records(5, "c")},
    )
    # 63 source rows meet the plan; 8 rendered rows are lost after it, so a's leaves run short.
    said: list[str] = []
    result = build(load_mixture(str(path)), tmp_path / "out", progress=said.append)
    check_accounting(result.stats)
    assert result.stats["planned_rows"] == 60
    assert result.stats["written_rows"] < 60
    assert any("fewer rows than planned" in line and "a/zs_opt" in line for line in said), said


def test_ids_repeated_across_files_still_give_identical_shards(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    # Ids that restart in each file of a glob tie on example_id; the source position breaks
    # the tie, so small read shards and several workers give the same bytes.
    text = TINY_MIXTURE.replace("path: data/a.jsonl", "path: data/a-*.jsonl")
    data = tiny_data()
    data["a-1.jsonl"] = tiny_records(30, "x")
    data["a-2.jsonl"] = [{**r, "text": r["text"] + " again"} for r in tiny_records(30, "x")]
    path = make_mixture(text, data=data)
    one = build(load_mixture(str(path)), tmp_path / "one", read_shard_rows=1000)
    many = build(load_mixture(str(path)), tmp_path / "many", read_shard_rows=7, workers=2)
    assert [s["sha256"] for s in one.manifest["shards"]] == [
        s["sha256"] for s in many.manifest["shards"]
    ]


def test_the_same_snapshot_split_into_more_files_gives_identical_shards(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    """Re-sharding a source (one file, or the same rows in order across three) changes no byte,
    with one worker or two; ids come from the id column, as snapshots' `example_id` does."""
    records = tiny_records(40, "a")
    whole = make_mixture(TINY_MIXTURE, data={**tiny_data(), "a.jsonl": records})
    split = TINY_MIXTURE.replace("path: data/a.jsonl", "path: data/split/a-*.jsonl")
    parts = {f"split/a-{i}.jsonl": records[i * 14 : (i + 1) * 14] for i in range(3)}
    resharded = make_mixture(split, data={**tiny_data(), **parts}, name="split.yaml")
    runs = [
        build(load_mixture(str(whole)), tmp_path / "one"),
        build(load_mixture(str(whole)), tmp_path / "two", workers=2, read_shard_rows=5),
        build(load_mixture(str(resharded)), tmp_path / "three", workers=2),
    ]
    digests = [[s["sha256"] for s in r.manifest["shards"]] for r in runs]
    assert digests[0] == digests[1] == digests[2]


def test_existing_output_needs_overwrite(tiny_mixture: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(load_mixture(str(tiny_mixture)), out)
    with pytest.raises(OutputError, match=r"already exists \(a finished build\).*--overwrite"):
        build(load_mixture(str(tiny_mixture)), out)
    first = (out / "data").iterdir().__next__().read_bytes()
    build(load_mixture(str(tiny_mixture)), out, overwrite=True)
    assert (out / COMPLETE_MARKER).is_file()
    assert next((out / "data").iterdir()).read_bytes() == first


def test_a_crash_leaves_no_output_and_keeps_the_old_one(
    tiny_mixture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    build(load_mixture(str(tiny_mixture)), out)
    before = sorted(p.name for p in out.rglob("*"))

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(build_mod, "_finalize", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        build(load_mixture(str(tiny_mixture)), out, overwrite=True)
    assert sorted(p.name for p in out.rglob("*")) == before  # the finished build is untouched
    assert not list(tmp_path.glob(".out.flanmix-*"))
    with pytest.raises(RuntimeError):
        build(load_mixture(str(tiny_mixture)), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_an_interrupted_build_is_cleaned_up_by_the_next(tiny_mixture: Path, tmp_path: Path) -> None:
    # A killed build leaves its staging folder (no chance to clean up); the output never exists.
    staging = tmp_path / ".out.flanmix-staging"
    (staging / "data").mkdir(parents=True)
    (staging / "data" / "train-00000-of-00009.parquet").write_bytes(b"partial")
    assert not (tmp_path / "out").exists()
    result = build(load_mixture(str(tiny_mixture)), tmp_path / "out")
    assert not staging.exists()
    names = sorted(p.name for p in (tmp_path / "out" / "data").iterdir())
    assert names == ["train-00000-of-00001.parquet"]
    assert result.manifest["shards"][0]["path"] == "data/train-00000-of-00001.parquet"


def test_small_shards_are_named_and_counted(tiny_mixture: Path, tmp_path: Path) -> None:
    result = build(load_mixture(str(tiny_mixture)), tmp_path / "out", max_shard_bytes=2_000)
    shards = result.manifest["shards"]
    n = len(shards)
    assert n > 1
    assert [s["path"] for s in shards] == [
        f"data/train-{i:05d}-of-{n:05d}.parquet" for i in range(n)
    ]
    assert sum(s["rows"] for s in shards) == result.stats["written_rows"]
    assert len(read_rows(tmp_path / "out")) == result.stats["written_rows"]


def test_limit_per_task_and_seed_override(tiny_mixture: Path, tmp_path: Path) -> None:
    a = build(load_mixture(str(tiny_mixture)), tmp_path / "a", limit_per_task=10, seed=1)
    b = build(load_mixture(str(tiny_mixture)), tmp_path / "b", limit_per_task=10, seed=2)
    assert {leaf["available"] for leaf in a.stats["leaves"]} == {10}
    assert a.manifest["seed"] == 1 and b.manifest["seed"] == 2
    assert a.manifest["spec_hash"] != b.manifest["spec_hash"]
    ids_a = sorted(r["example_id"] for r in read_rows(tmp_path / "a"))
    ids_b = sorted(r["example_id"] for r in read_rows(tmp_path / "b"))
    assert ids_a != ids_b  # another seed selects other rows


ONE_TASK = """\
name: one
seed: 3
templates_dir: templates
epoch: {total: 100}
collections:
  c:
    template_types: {zs_opt: 1}
    tasks:
      t: {templates: tiny, source: {kind: jsonl, path: data/t.jsonl, id_field: id}}
"""


def test_a_window_short_after_drops_is_widened_and_gives_the_same_rows(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    from flanmix.plan.selection import first_window, rank_key

    records = tiny_records(1_000, "t")
    for r in records[::2]:
        r.pop("label")  # half the rows fail to render: the first window cannot hold 100
    path = make_mixture(ONE_TASK, data={"t.jsonl": records})
    assert not first_window(100, 1_000).full
    said: list[str] = []
    result = build(load_mixture(str(path)), tmp_path / "out", progress=said.append)
    assert any("widening" in line for line in said), said
    assert any("attempt 2" in line for line in said), said
    (leaf,) = result.stats["leaves"]
    assert leaf["written"] == 100 and leaf["dropped"]["missing_field"] > 0
    check_accounting(result.stats)
    leftovers = {p.name for p in (tmp_path / "out").iterdir()}
    assert not leftovers & {"_spill", "_parts.pkl"}, leftovers  # scratch files are gone
    # The rows are the 100 smallest keys among the rows that render, as if every row had been.
    keys = sorted(
        (rank_key(3, "t", r["id"], "zs_opt", i), r["id"])
        for i, r in enumerate(records)
        if "label" in r
    )
    assert sorted(r["example_id"] for r in read_rows(tmp_path / "out")) == sorted(
        i for _, i in keys[:100]
    )
