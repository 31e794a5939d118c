"""Few-shot leaves built end to end: exemplars from the same task, disjoint pools, drops."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from conftest import TINY_MIXTURE, tiny_data

from flanmix.build import build
from flanmix.checks import check_mixture
from flanmix.errors import SpecError
from flanmix.spec.load import load_mixture

FEWSHOT = TINY_MIXTURE.replace(
    "    template_types: {zs_opt: 1, zs_noopt: 1}\n",
    "    template_types: {zs_opt: 1, fs_opt: 1}\n"
    "    fewshot: {formats: [template_mix, x_shot], shots: 3, candidates: 6, pool_size: 8, POOL}\n",
).replace("epoch: first_exhausted", "epoch: all")


def rows_of(out: Path) -> list[dict]:
    return pads.dataset(str(out / "data"), format="parquet").to_table().to_pylist()


@pytest.mark.parametrize("pool", ["shared", "disjoint"])
def test_exemplars_come_from_the_same_task_and_a_bounded_pool(
    make_mixture: Callable[..., Path], tmp_path: Path, pool: str
) -> None:
    path = make_mixture(FEWSHOT.replace("POOL", f"exemplar_pool: {pool}"), data=tiny_data())
    result = build(load_mixture(str(path)), tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    fewshot = [r for r in rows if r["template_type"] == "fs_opt"]
    assert fewshot and all(r["exemplar_ids"] for r in fewshot)
    for task in ("a", "b"):
        task_rows = [r for r in fewshot if r["task_name"] == task]
        used = {e for r in task_rows for e in r["exemplar_ids"]}
        assert used and all(e.startswith(task) for e in used)  # same task only
        assert len(used) <= 8  # the pool is bounded
        assert all(r["example_id"] not in r["exemplar_ids"] for r in task_rows)
        targets = {r["example_id"] for r in rows if r["task_name"] == task}
        if pool == "disjoint":
            assert not used & targets  # pool examples are never targets, in any leaf
    stats = {leaf["leaf"]: leaf for leaf in result.stats["leaves"]}
    if pool == "disjoint":
        assert stats["a/zs_opt"]["dropped"]["in_exemplar_pool"] == 8
    for leaf in stats.values():
        assert leaf["available"] == leaf["written"] + sum(leaf["dropped"].values())


def test_fewshot_builds_are_identical_across_workers(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_mixture(FEWSHOT.replace("POOL", "exemplar_pool: shared"), data=tiny_data())
    one = build(load_mixture(str(path)), tmp_path / "one")
    two = build(load_mixture(str(path)), tmp_path / "two", workers=2, read_shard_rows=9)
    assert [s["sha256"] for s in one.manifest["shards"]] == [
        s["sha256"] for s in two.manifest["shards"]
    ]


def test_an_inverted_few_shot_task_needs_inverted_few_shot_templates(
    make_mixture: Callable[..., Path],
) -> None:
    text = FEWSHOT.replace("POOL", "exemplar_pool: shared").replace(
        "a: {templates: tiny,", "a: {templates: tiny, inverted: true,"
    )
    with pytest.raises(SpecError, match="has no inverted template for type 'fs_opt'"):
        check_mixture(load_mixture(str(make_mixture(text, data=tiny_data()))))


def test_an_inverted_task_needs_inverted_templates(make_mixture: Callable[..., Path]) -> None:
    text = TINY_MIXTURE.replace("a: {templates: tiny,", "a: {templates: tiny, inverted: true,")
    with pytest.raises(SpecError, match="has no inverted template for type 'zs_noopt'"):
        check_mixture(load_mixture(str(make_mixture(text, data=tiny_data()))))


def test_a_tokenizer_that_does_not_load_fails_validation(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    text = FEWSHOT.replace("POOL", f"tokenizer: {tmp_path / 'nope.json'}")
    with pytest.raises(SpecError, match=r"nope\.json' is neither"):
        check_mixture(load_mixture(str(make_mixture(text, data=tiny_data()))))


def test_unknown_fewshot_format_is_named(make_mixture: Callable[..., Path]) -> None:
    text = FEWSHOT.replace("[template_mix, x_shot]", "[template_mix, xshot]").replace(", POOL", "")
    with pytest.raises(SpecError, match="unknown few-shot format 'xshot'; did you mean 'x_shot'"):
        load_mixture(str(make_mixture(text, data=tiny_data())))


def test_fewshot_formats_can_differ_per_template_type(make_mixture: Callable[..., Path]) -> None:
    # Flan 2022 builds fs_opt in both families but fs_noopt as x-shot only.
    text = TINY_MIXTURE.replace(
        "    template_types: {zs_opt: 1, zs_noopt: 1}\n",
        "    template_types: {fs_opt: 1, fs_noopt: 1}\n"
        "    fewshot: {formats: {fs_opt: [template_mix, x_shot], fs_noopt: [x_shot]}}\n",
    )
    m = load_mixture(str(make_mixture(text, data=tiny_data())))
    assert [lt for t, lt in m.leaves() if t == "a"] == [
        "fs_noopt+x_shot",
        "fs_opt",
        "fs_opt+x_shot",
    ]
    bad = text.replace("fs_noopt: [x_shot]", "zs_noopt: [x_shot]")
    with pytest.raises(SpecError, match="'zs_noopt', which is not a few-shot template type"):
        load_mixture(str(make_mixture(bad, data=tiny_data())))


def test_a_relative_tokenizer_path_is_found_under_the_mixture_root(
    make_mixture: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tok.json"))
    path = make_mixture(FEWSHOT.replace("POOL", "tokenizer: tok.json"), data=tiny_data())
    monkeypatch.chdir("/")
    m = load_mixture(str(path))
    assert m.tasks["a"].fewshot.tokenizer == str(tmp_path / "tok.json")
    check_mixture(m)
    broken = make_mixture(FEWSHOT.replace("POOL", "tokenizer: nope.json"), name="b.yaml")
    with pytest.raises(SpecError, match=r"b\.yaml, at collections\.c1\.fewshot\.tokenizer: "):
        check_mixture(load_mixture(str(broken)))


def test_a_disjoint_pool_never_returns_as_targets_of_a_task_on_the_same_source(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    # `a2` reads a's source (as an inverted CoT-II task reads its base task's): a's exemplars
    # must not come back as a2's targets.
    text = (
        FEWSHOT.replace("POOL", "exemplar_pool: disjoint")
        + "  c3:\n    template_types: {zs_opt: 1}\n    tasks:\n"
        "      a2: {templates: tiny, source: {kind: jsonl, path: data/a.jsonl, id_field: id}}\n"
    )
    path = make_mixture(text, data=tiny_data())
    result = build(load_mixture(str(path)), tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    pool = {e for r in rows if r["task_name"] == "a" for e in r["exemplar_ids"]}
    assert pool
    assert not pool & {r["example_id"] for r in rows if r["task_name"] == "a2"}
    a2 = next(leaf for leaf in result.stats["leaves"] if leaf["task"] == "a2")
    assert a2["dropped"]["in_exemplar_pool"] == 8
