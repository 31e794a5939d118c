"""The bundled templates are clean and render every demo record; the lint rules catch what a
reviewer would flag."""

from __future__ import annotations

import collections
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from flanmix.bundled import bundled_dir, bundled_names
from flanmix.checks import check_mixture, task_template_types
from flanmix.render.formats import OPTIONS_MARK
from flanmix.render.lint import lint_family
from flanmix.render.render import LeafContext, leaf_context, render_example, usable_templates
from flanmix.render.templates import CompiledFamily, compile_family
from flanmix.sources.files import Example, count_task, read_shard, read_shards, source_fields
from flanmix.spec.load import Family, Mixture, load_family, load_mixture
from flanmix.spec.models import RENDERABLE_TEMPLATE_TYPES, FamilySpec
from flanmix.spec.yamlfile import YamlDoc

BUNDLED = bundled_names("templates")
# Families for sources the demo does not have, and the tests that render them instead.
FAMILIES_WITH_OWN_TESTS = {
    "niv2": "tests/unit/sources/test_niv2.py renders it",
    **{
        p.stem: "tests/unit/render/test_family_samples.py renders its sample records"
        for p in (Path(__file__).parents[2] / "fixtures" / "family_samples").glob("*.json")
    },
}

# Families the demo's records can render (the others read fields only their own sources have).
DEMO_SERVED = [name for name in BUNDLED if name not in FAMILIES_WITH_OWN_TESTS]


@cache
def demo() -> Mixture:
    return load_mixture("demo")


@cache
def demo_examples(task: str) -> tuple[Example, ...]:
    t = demo().tasks[task]
    return tuple(e for s in read_shards(count_task(t)) for e in read_shard(t, s))


def bundled_family(name: str) -> Family:
    return load_family(name, [bundled_dir("templates")])


def family_of(*templates: dict[str, Any]) -> Family:
    specs = [{"id": f"t{i}", **t} for i, t in enumerate(templates)]
    data = {"family": "fam", "templates": specs}
    return Family(FamilySpec.model_validate(data), YamlDoc("fam.yaml", data))


def render_all(
    compiled: CompiledFamily, task: str, template_type: str, as_in_demo: bool = True
) -> list[tuple[Example, dict[str, Any]]]:
    """Render every demo record of `task` (with the demo's settings for the task, or the
    defaults: fixed options, not inverted); fail naming the first record that drops."""
    t = demo().tasks[task]
    ctx = leaf_context(t, template_type, demo().seed)
    if not as_in_demo:
        ctx = LeafContext(task, t.collection, t.task_source, template_type, demo().seed)
    pool = list(demo_examples(task)[:64])  # few-shot types draw exemplars from a pool
    rows = []
    for ex in demo_examples(task):
        row, reason = render_example(compiled, ctx, ex, pool=pool)
        if reason == "no_exemplars" and ctx.fewshot_format == "x_shot":
            continue  # x-shot keeps only candidates with the query's template: may be none
        assert row is not None, (
            f"{compiled.name} / {template_type} dropped {ex.example_id}: {reason}"
        )
        rows.append((ex, row))
    return rows


# --- the bundled templates ------------------------------------------------------------------------


def test_there_are_bundled_families() -> None:
    assert len(BUNDLED) >= 6
    assert {"cot", "demo_sentiment"} <= set(BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_family_lints_clean(name: str) -> None:
    family = bundled_family(name)
    assert family.spec.family == name
    assert lint_family(family) == []


def test_bundled_template_ids_are_globally_unique() -> None:
    owners = collections.defaultdict(list)
    for name in BUNDLED:
        for t in bundled_family(name).spec.templates:
            owners[t.id].append(name)
    assert {i: fams for i, fams in owners.items() if len(fams) > 1} == {}


def test_demo_mixture_passes_the_deep_checks() -> None:
    compiled = check_mixture(demo())
    assert set(compiled) == {t.family for t in demo().tasks.values()}


def test_every_demo_leaf_renders_every_record_without_a_drop() -> None:
    compiled = check_mixture(demo())
    leaves = task_template_types(demo())
    assert sum(len(types) for types in leaves.values()) == len(demo().leaves())
    for task, types in sorted(leaves.items()):
        family = compiled[demo().tasks[task].family]
        for leaf_type in types:
            rows = render_all(family, task, leaf_type)
            ctx = leaf_context(demo().tasks[task], leaf_type, demo().seed)
            if ctx.fewshot_format != "x_shot":
                assert len(rows) == count_task(demo().tasks[task]).rows
            used = collections.Counter(row["template_id"] for _, row in rows)
            assert len(used) == len(usable_templates(family, ctx))  # every template is used


def demo_tasks_serving(name: str) -> list[str]:
    """Demo tasks whose records have every field the family reads."""
    fields = set().union(*(t.fields for t in compile_family(bundled_family(name)).templates))
    return [
        task for task in sorted(demo().tasks) if fields <= set(source_fields(demo().tasks[task]))
    ]


def test_every_bundled_family_is_rendered_by_some_test() -> None:
    assert set(FAMILIES_WITH_OWN_TESTS) <= set(BUNDLED)
    for name in DEMO_SERVED:
        assert demo_tasks_serving(name), f"no demo task has the fields family {name} reads"


@pytest.mark.parametrize("template_type", RENDERABLE_TEMPLATE_TYPES)
@pytest.mark.parametrize("name", DEMO_SERVED)
def test_bundled_family_renders_demo_records(name: str, template_type: str) -> None:
    """Also covers families the demo mixture does not use (e.g. `cot` on the arithmetic task)."""
    compiled = compile_family(bundled_family(name))
    tasks = demo_tasks_serving(name)
    assert tasks, f"no demo task has the fields family {name} reads"
    for task in tasks:
        for ex, row in render_all(compiled, task, template_type, as_in_demo=False):
            assert OPTIONS_MARK not in row["inputs"]
            shown = template_type.endswith("_opt") and bool(row["options"])
            assert ("OPTIONS:\n- " in row["inputs"]) is shown, ex.example_id
            assert bool(row["exemplar_ids"]) is template_type.startswith("fs_")
            assert ex.example_id not in row["exemplar_ids"]
            if row["options"]:
                assert row["targets"] in row["options"], ex.example_id


# --- lint rules -----------------------------------------------------------------------------------

CLEAN = {
    "input": "{{ text }}\n\n{{ options_ }}",
    "target": "{{ label }}",
    "answer_choices": ["good", "bad"],
}


def test_a_clean_family_has_no_problems() -> None:
    assert (
        lint_family(family_of(CLEAN, {"input": "Say: {{ text }}", "target": "{{ label }}"})) == []
    )


@pytest.mark.parametrize(
    ("templates", "problem"),
    [
        (
            [{"input": "{{ text }}", "target": "{{ label }}", "answer_choices": ["a", "b"]}],
            "template 't0': has answer_choices but its input never shows them; "
            "add {{ options_ }} where the OPTIONS list belongs",
        ),
        (
            [{"input": "{{ text }} {{ options_ }}", "target": "{{ label }}"}],
            "template 't0': uses {{ options_ }} but has no answer_choices",
        ),
        (
            [CLEAN, {**CLEAN, "target": "{{ label | upper }}"}],
            "template 't1': same input as template 't0'",
        ),
        (
            [{**CLEAN, "target": "{{ options_ }}"}],
            "template 't0': the target must not contain {{ options_ }}",
        ),
        (
            [{**CLEAN, "metadata": {"languages": []}}],
            "template 't0': metadata.languages is empty; list e.g. [en]",
        ),
        (
            [{"input": "Say something.", "target": "Something."}],
            "template 't0': the template reads no field of the example",
        ),
    ],
    ids=[
        "choices-never-shown",
        "options-without-choices",
        "duplicate-input",
        "options-in-target",
        "no-languages",
        "constant-template",
    ],
)
def test_lint_catches(templates: list[dict[str, Any]], problem: str) -> None:
    assert lint_family(family_of(*templates)) == [problem]


def test_unshown_choices_are_fine_for_a_noopt_only_template() -> None:
    template = {
        "input": "{{ text }}",
        "target": "{{ label }}",
        "answer_choices": ["a", "b"],
        "types": ["zs_noopt"],
    }
    assert lint_family(family_of(template)) == []


def test_lint_reports_every_problem_of_a_family() -> None:
    problems = lint_family(
        family_of(
            {"input": "{{ text }} {{ options_ }}", "target": "{{ options_ }}"},
            {"input": "{{ text }} {{ options_ }}", "target": "x", "answer_choices": ["a"]},
        )
    )
    assert problems == [
        "template 't0': uses {{ options_ }} but has no answer_choices",
        "template 't0': the target must not contain {{ options_ }}",
        "template 't1': same input as template 't0'",
    ]


def test_a_constant_input_with_a_templated_target_is_fine() -> None:
    # Generation templates ("Write a story.") have no field in the input; Flan has many.
    assert lint_family(family_of({"input": "Say something.", "target": "{{ label }}"})) == []


def test_lint_catches_a_template_that_reads_no_field() -> None:
    problems = lint_family(family_of({"input": "Say something.", "target": "Something."}))
    assert problems == ["template 't0': the template reads no field of the example"]


def test_options_str_is_not_the_options_placeholder() -> None:
    problems = lint_family(
        family_of({"input": "{{ text }} {{ options_str }}", "target": "{{ label }}"})
    )
    assert problems == []
