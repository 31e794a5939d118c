"""Super-NaturalInstructions task files as a source, rendered in NIv2's own formats."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT

from flanmix.bundled import bundled_dir
from flanmix.checks import check_mixture
from flanmix.errors import SourceError
from flanmix.render.fewshot import smallest_pool
from flanmix.render.render import leaf_context, render_example
from flanmix.sources.files import count_task, read_shard, read_shards
from flanmix.sources.niv2 import instances, parse_task
from flanmix.sources.snapshot import prepare_sources
from flanmix.spec.load import load_mixture

FIXTURE = ROOT / "tests" / "fixtures" / "niv2"

MIXTURE = """\
name: niv2-test
seed: 3
root: {root}
templates_dir: {templates}
collections:
  niv2:
    template_types: {{zs_opt: 1, fs_opt: 1}}
    fewshot: {{shots: 2}}
    tasks:
      task9001_even_numbers:
        templates: niv2
        source: {{kind: niv2, path: task9001_even_numbers.json, id_field: id, split: any}}
"""


def test_instances_carry_the_task_fields() -> None:
    path = FIXTURE / "task9001_even_numbers.json"
    records = list(instances(parse_task(path.read_text(encoding="utf-8"), path.name)))
    assert len(records) == 30
    first = records[0]
    assert first["id"] == "task9001-10"
    assert (first["input"], first["output"], first["outputs"]) == ("10", "yes", ["yes", "y/n"])
    assert first["definition"] == "Say whether the number is even.\nAnswer yes or no."
    assert first["positive_examples"][0] == {
        "input": "4",
        "output": "yes",
        "explanation": "4 is divisible by 2.",
    }
    assert first["task_file"] == "task9001_even_numbers.json"


def test_a_json_file_of_another_shape_is_reported(
    tmp_path: Path, make_mixture: Callable[..., Path]
) -> None:
    (tmp_path / "bad.json").write_text('{"Definition": "x"}')
    text = MIXTURE.format(root=tmp_path, templates=bundled_dir("templates")).replace(
        "task9001_even_numbers.json", "bad.json"
    )
    m = load_mixture(str(make_mixture(text, templates={})))
    with pytest.raises(SourceError, match="missing Positive Examples, Instances") as e:
        prepare_sources(m, tmp_path / "cache")
    assert "bad.json" in str(e.value) and "task9001_even_numbers" in str(e.value)


def test_niv2_family_renders_definition_examples_and_pool_exemplars(
    make_mixture: Callable[..., Path],
) -> None:
    text = MIXTURE.format(root=FIXTURE, templates=bundled_dir("templates"))
    m, _ = prepare_sources(load_mixture(str(make_mixture(text, templates={}))))
    compiled = check_mixture(m)
    task = m.tasks["task9001_even_numbers"]
    examples = [e for s in read_shards(count_task(task)) for e in read_shard(task, s)]
    family = compiled["niv2"]
    pool = smallest_pool(m.seed, examples, task.fewshot.pool_size)
    seen = set()
    for leaf_type in ("zs_opt", "fs_opt"):
        ctx = leaf_context(task, leaf_type, m.seed)
        for ex in examples:
            row, reason = render_example(family, ctx, ex, pool=pool)
            assert row is not None, reason
            assert row["targets"] == ex.fields["output"]
            seen.add(row["template_id"])
            if leaf_type == "fs_opt":
                # The definition once, then two exemplars from the pool, then the query.
                assert row["inputs"].count("Say whether the number is even.") == 1
                assert len(row["exemplar_ids"]) == 2
                assert row["inputs"].endswith(f"Input: {ex.fields['input']}\nOutput:")
    assert seen == {"niv2_01", "niv2_02", "niv2_03", "niv2_04", "niv2_05"}
    inline = next(
        render_example(family, leaf_context(task, "zs_opt", m.seed), ex)[0]
        for ex in examples
        if render_example(family, leaf_context(task, "zs_opt", m.seed), ex)[0]["template_id"]
        == "niv2_03"
    )
    assert 'given "4" the answer is "yes". 4 is divisible by 2.' in inline["inputs"]
