"""Rendering one example for one leaf: options formatting, balanced seeded template choice,
seeded `choice`/`shuffle`, drop reasons, and the output row."""

from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest
from jinja2 import TemplateAssertionError, UndefinedError

from flanmix.publish.parquet import COLUMNS, SCHEMA
from flanmix.render.environment import environment
from flanmix.render.formats import OPTIONS_MARK, fill_options, options_block, shows_options
from flanmix.render.render import (
    EMPTY_RENDER,
    MISSING_FIELD,
    RENDER_ERROR,
    LeafContext,
    render_example,
    template_index,
)
from flanmix.render.templates import CompiledFamily, compile_family
from flanmix.sources.files import Example
from flanmix.spec.load import Family
from flanmix.spec.models import FamilySpec
from flanmix.spec.yamlfile import YamlDoc

RECORD = {"text": "a fine day", "label": "good", "choices": ["good", "bad", "meh"]}


def family(*templates: dict[str, Any], name: str = "fam") -> CompiledFamily:
    """Compile templates given as dicts (ids default to t0, t1, ...)."""
    specs = [{"id": f"t{i}", **t} for i, t in enumerate(templates)]
    data = {"family": name, "templates": specs}
    return compile_family(Family(FamilySpec.model_validate(data), YamlDoc(f"{name}.yaml", data)))


def leaf(template_type: str = "zs_opt", *, task: str = "task", seed: int = 0) -> LeafContext:
    return LeafContext(task, "coll", "Source", template_type, seed)


def example(
    fields: dict[str, Any] | None = None, *, example_id: str = "e0", position: int = 0
) -> Example:
    return Example("task", example_id, position, RECORD if fields is None else fields)


def render_ok(fam: CompiledFamily, ctx: LeafContext, ex: Example) -> dict[str, Any]:
    row, reason = render_example(fam, ctx, ex)
    assert reason is None and row is not None
    return row


# --- options --------------------------------------------------------------------------------------


def test_options_block_format() -> None:
    assert options_block(["a", "b"]) == "OPTIONS:\n- a\n- b"


@pytest.mark.parametrize(
    ("template_type", "shows"), [("zs_opt", True), ("zs_noopt", False), ("fs_opt", True)]
)
def test_shows_options(template_type: str, shows: bool) -> None:
    assert shows_options(template_type) is shows


OPTION_PLACES = [
    # (id, input, zs_opt result, zs_noopt result)
    (
        "own-paragraph-in-the-middle",
        "Q: {{ text }}\n\n{{ options_ }}\n\nAnswer:",
        "Q: a fine day\n\nOPTIONS:\n- good\n- bad\n\nAnswer:",
        "Q: a fine day\n\nAnswer:",
    ),
    (
        "at-the-end",
        "Q: {{ text }}\n\n{{ options_ }}",
        "Q: a fine day\n\nOPTIONS:\n- good\n- bad",
        "Q: a fine day",
    ),
    (
        "at-the-very-start",
        "{{ options_ }}\n\nQ: {{ text }}",
        "OPTIONS:\n- good\n- bad\n\nQ: a fine day",
        "Q: a fine day",
    ),
    (
        "inline",
        "Is {{ text }} {{ options_ }} or not?",
        "Is a fine day OPTIONS:\n- good\n- bad or not?",
        "Is a fine day or not?",
    ),
    (
        "on-the-next-line",
        "Q: {{ text }}\n{{ options_ }}\nA:",
        "Q: a fine day\nOPTIONS:\n- good\n- bad\nA:",
        "Q: a fine day\nA:",
    ),
]


@pytest.mark.parametrize(
    ("source", "with_options", "without_options"),
    [case[1:] for case in OPTION_PLACES],
    ids=[case[0] for case in OPTION_PLACES],
)
def test_options_placeholder(source: str, with_options: str, without_options: str) -> None:
    fam = family(
        {"input": source, "target": "{{ label }}", "answer_choices": ["good", "bad"]},
    )
    shown = render_ok(fam, leaf("zs_opt"), example())
    hidden = render_ok(fam, leaf("zs_noopt"), example())
    assert shown["inputs"] == with_options
    assert hidden["inputs"] == without_options
    assert OPTIONS_MARK not in shown["inputs"] + hidden["inputs"]
    # The options column records the answer options either way.
    assert shown["options"] == hidden["options"] == ["good", "bad"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Q?\n\n{OPTIONS_MARK}\n\nMore", "Q?\n\nMore"),
        (f"Q?\n\n{OPTIONS_MARK}", "Q?"),
        (f"{OPTIONS_MARK}\n\nQ?", "Q?"),
        (f"Is it {OPTIONS_MARK} good?", "Is it good?"),
        (f"A {OPTIONS_MARK} B {OPTIONS_MARK}", "A B"),
    ],
    ids=["middle", "end", "start", "inline", "twice"],
)
def test_fill_options_removes_the_mark_and_its_separator(text: str, expected: str) -> None:
    assert fill_options(text, ["x"], show=False) == expected


def test_zs_opt_without_answer_choices_drops_the_placeholder() -> None:
    fam = family({"input": "{{ text }}\n\n{{ options_ }}", "target": "{{ label }}"})
    row = render_ok(fam, leaf("zs_opt"), example())
    assert row["inputs"] == "a fine day"
    assert row["options"] == []


def test_options_need_not_be_shown() -> None:
    fam = family({"input": "{{ text }}", "target": "{{ label }}", "answer_choices": ["a"]})
    assert render_ok(fam, leaf("zs_opt"), example())["inputs"] == "a fine day"


# --- answer_choices -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "fields", "options"),
    [
        ("choices", RECORD, ["good", "bad", "meh"]),
        ("choices[:2]", RECORD, ["good", "bad"]),
        ("[label, 'other']", RECORD, ["good", "other"]),
        ("choices", {**RECORD, "choices": [1, 2]}, ["1", "2"]),
        (["{{ label }}!", "not {{ label }}"], RECORD, ["good!", "not good"]),
        (["yes", "no"], RECORD, ["yes", "no"]),
    ],
    ids=["expression", "slice", "list-literal", "non-strings", "jinja-list", "plain-list"],
)
def test_answer_choices(
    choices: str | list[str], fields: dict[str, Any], options: list[str]
) -> None:
    fam = family(
        {
            "input": "{{ text }}\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": choices,
        }
    )
    row = render_ok(fam, leaf("zs_opt"), example(fields))
    assert row["options"] == options
    assert row["inputs"] == "a fine day\n\n" + options_block(options)


def test_answer_choices_are_visible_to_the_templates() -> None:
    fam = family(
        {
            "input": "{{ text }} ({{ answer_choices | join('/') }})",
            "target": "{{ answer_choices[0] }}",
            "answer_choices": "choices",
        }
    )
    row = render_ok(fam, leaf("zs_noopt"), example())
    assert (row["inputs"], row["targets"]) == ("a fine day (good/bad/meh)", "good")


def test_plain_text_answer_choices_are_compiled_to_their_text() -> None:
    fam = family(
        {
            "input": "{{ text }}\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": ["yes", "{# note #}no", "{{ label }}", "{% raw %}{{x}}{% endraw %}"],
        }
    )
    choices = fam.templates[0].choices
    assert choices[:2] == ["yes", "no"] and choices[3] == "{{x}}"
    assert not isinstance(choices[2], str)  # a real template: rendered per example
    assert render_ok(fam, leaf("zs_opt"), example())["options"] == ["yes", "no", "good", "{{x}}"]


@pytest.mark.parametrize(
    "source",
    [
        "{% set n = text | length %}{{ n }} {{ text }}",
        "{% set ns = namespace(k=0) %}{% for c in choices %}{% set ns.k = ns.k + 1 %}"
        "{{ loop.index }}{{ c }}{% endfor %}={{ ns.k }}",
        "{% for i in range(3) %}{{ i }}{% endfor %}{{ dict(a=1) }}",
        "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(label) }}{{ m(text) }}",
        "{{ text | choice }} {{ choices | shuffle | join(',') }}",
    ],
    ids=["set", "namespace-loop", "globals", "macro", "seeded-filters"],
)
def test_flanmix_render_equals_jinja_render(source: str) -> None:
    """render() skips Template.render's copies; the output must not change, and one variables
    dict serves several templates without one's assignments leaking into the next."""
    from flanmix.render.environment import RNG_VAR, LazyRng, render, template_globals

    template = environment().from_string(source)
    variables = {**template_globals(), **RECORD, RNG_VAR: LazyRng((1, "t", "e"))}
    expected = template.render({**RECORD, RNG_VAR: LazyRng((1, "t", "e"))})
    assert render(template, variables) == expected
    variables[RNG_VAR] = LazyRng((1, "t", "e"))  # the RNG moved on; nothing else may have
    assert render(template, variables) == expected
    assert set(variables) == {*template_globals(), *RECORD, RNG_VAR}


# --- balanced, seeded template assignment ---------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 10, 16])
@pytest.mark.parametrize("n", [1, 2, 5, 9, 31, 100, 997])
def test_template_index_is_balanced_within_one(k: int, n: int) -> None:
    for seed, task, template_type in [(0, "a", "zs_opt"), (12345, "other_task", "zs_noopt")]:
        counts = collections.Counter(
            template_index(seed, task, template_type, p, k) for p in range(n)
        )
        assert set(counts) <= set(range(k))
        per_template = [counts[i] for i in range(k)]
        assert max(per_template) - min(per_template) <= 1, per_template


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_template_index_uses_every_template_once_per_block(k: int) -> None:
    for block in range(50):
        order = [template_index(3, "t", "zs_opt", block * k + i, k) for i in range(k)]
        assert sorted(order) == list(range(k))


def test_template_index_is_deterministic_and_shuffled() -> None:
    def sequence(seed: int = 0, task: str = "t", template_type: str = "zs_opt") -> list[int]:
        return [template_index(seed, task, template_type, p, 5) for p in range(200)]

    assert sequence() == sequence()
    assert sequence() != [p % 5 for p in range(200)]  # not round-robin
    assert sequence(seed=1) != sequence()
    assert sequence(task="u") != sequence()
    assert sequence(template_type="zs_noopt") != sequence()


def test_template_index_is_the_same_in_another_process() -> None:
    """No salted `hash()`: a fresh interpreter with another hash seed agrees."""
    expected = [template_index(9, "t", "zs_opt", p, 7) for p in range(50)]
    code = (
        "import json; from flanmix.render.render import template_index; "
        "print(json.dumps([template_index(9, 't', 'zs_opt', p, 7) for p in range(50)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == expected


def test_rendering_assigns_templates_balanced_per_task() -> None:
    fam = family(*({"input": f"{i}: {{{{ text }}}}", "target": "{{ label }}"} for i in range(3)))
    for template_type in ("zs_opt", "zs_noopt"):
        ids = [
            render_ok(fam, leaf(template_type), example(example_id=f"e{p}", position=p))[
                "template_id"
            ]
            for p in range(100)
        ]
        counts = collections.Counter(ids)
        assert sorted(counts) == ["t0", "t1", "t2"]
        assert max(counts.values()) - min(counts.values()) <= 1


def test_only_templates_of_the_leaf_type_are_used() -> None:
    fam = family(
        {"input": "both {{ text }}", "target": "x"},
        {"input": "noopt {{ text }}", "target": "x", "types": ["zs_noopt"]},
    )
    for p in range(20):
        row = render_ok(fam, leaf("zs_opt"), example(position=p))
        assert (row["template_id"], row["template_idx"]) == ("t0", 0)
    idxs = {
        render_ok(fam, leaf("zs_noopt"), example(position=p))["template_idx"] for p in range(20)
    }
    assert idxs == {0, 1}


# --- seeded choice and shuffle --------------------------------------------------------------------

RANDOM_TEMPLATE = {
    "input": "{{ text }} {{ ['a', 'b', 'c', 'd', 'e', 'f'] | choice }} "
    "{{ ['1', '2', '3', '4', '5'] | shuffle | join(',') }}",
    "target": "{{ label }}",
}


def random_inputs(
    *, seed: int = 0, task: str = "task", template_type: str = "zs_opt", ids: int = 30
) -> list[str]:
    fam = family(RANDOM_TEMPLATE)
    ctx = leaf(template_type, task=task, seed=seed)
    return [render_ok(fam, ctx, example(example_id=f"e{i}"))["inputs"] for i in range(ids)]


def test_choice_and_shuffle_are_reproducible() -> None:
    assert random_inputs() == random_inputs()


def test_choice_and_shuffle_vary_across_examples() -> None:
    outputs = random_inputs()
    assert len({o.split()[3] for o in outputs}) > 1  # the choice
    assert len({o.split()[4] for o in outputs}) > 1  # the shuffle


@pytest.mark.parametrize(
    "change", [{"seed": 1}, {"task": "other"}, {"template_type": "zs_noopt"}], ids=str
)
def test_choice_and_shuffle_depend_on_seed_task_and_type(change: dict[str, Any]) -> None:
    assert random_inputs(**change) != random_inputs()


def test_choice_and_shuffle_do_not_depend_on_position() -> None:
    """Keyed by the example's id, so re-sharding or reordering changes nothing."""
    fam = family(RANDOM_TEMPLATE)
    at = [render_ok(fam, leaf(), example(position=p))["inputs"] for p in (0, 5, 999)]
    assert len(set(at)) == 1


def test_rendering_neither_uses_nor_disturbs_the_global_random_state() -> None:
    saved = random.getstate()
    try:
        random.seed(1)
        state = random.getstate()
        first = random_inputs()
        assert random.getstate() == state
        random.seed(2)
        assert random_inputs() == first
    finally:
        random.setstate(saved)


def test_the_random_filter_is_unavailable() -> None:
    assert "random" not in environment().filters
    with pytest.raises(TemplateAssertionError, match="No filter named 'random'"):
        environment().from_string("{{ [1, 2] | random }}")


def test_choice_outside_flanmix_rendering_refuses() -> None:
    with pytest.raises(RuntimeError, match="need the per-example RNG; render through flanmix"):
        environment().from_string("{{ [1, 2] | choice }}").render()


# --- drop reasons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        {"input": "{{ text }} {{ missing }}", "target": "{{ label }}"},
        {"input": "{{ text }}", "target": "{{ gold }}"},
        {"input": "{{ text.nope.deeper }}", "target": "{{ label }}"},
        {"input": "{{ text }}", "target": "{{ label }}", "answer_choices": "missing_list"},
        {"input": "{{ text }}", "target": "{{ label }}", "answer_choices": ["{{ nope }}"]},
    ],
    ids=["input", "target", "attribute", "choices-expression", "choices-list"],
)
def test_missing_field_is_a_named_drop(template: dict[str, Any]) -> None:
    assert render_example(family(template), leaf(), example()) == (None, MISSING_FIELD)


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ({"input": "{{ text }}", "target": "{{ label }}"}, {"text": "  \n ", "label": "x"}),
        ({"input": "{{ text }}", "target": "{{ label }}"}, {"text": "x", "label": ""}),
        ({"input": "{{ options_ }}", "target": "x", "answer_choices": ["a"]}, {}),
    ],
    ids=["blank-input", "empty-target", "only-options-hidden"],
)
def test_empty_render_is_a_named_drop(template: dict[str, Any], fields: dict[str, Any]) -> None:
    ctx = leaf("zs_noopt")
    assert render_example(family(template), ctx, example(fields)) == (None, EMPTY_RENDER)


@pytest.mark.parametrize(
    "template",
    [
        {"input": "{{ text }}", "target": "x", "answer_choices": "text"},  # a string, not a list
        {"input": "{{ [] | choice }}", "target": "x"},
        {"input": "{{ 1 / 0 }}", "target": "x"},
    ],
    ids=["choices-not-a-list", "choice-of-nothing", "zero-division"],
)
def test_other_template_failures_are_render_errors(template: dict[str, Any]) -> None:
    assert render_example(family(template), leaf(), example()) == (None, RENDER_ERROR)


def test_strict_reraises_a_missing_field() -> None:
    fam = family({"input": "{{ missing }}", "target": "x"})
    with pytest.raises(UndefinedError, match="'missing' is undefined"):
        render_example(fam, leaf(), example(), strict=True)


def test_strict_reraises_a_render_error() -> None:
    fam = family({"input": "{{ text }}", "target": "x", "answer_choices": "text"})
    with pytest.raises(TypeError, match="answer_choices gave str, expected a list"):
        render_example(fam, leaf(), example(), strict=True)


# --- the row --------------------------------------------------------------------------------------

PY_TYPES = {pa.string(): str, pa.int64(): int}


def test_row_has_every_output_column_with_its_type() -> None:
    fam = family(
        {"input": "x", "target": "y", "types": ["zs_noopt"]},
        {
            "input": "{{ text }}\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": "choices",
        },
    )
    ctx = LeafContext("task", "coll", "Source", "zs_opt", 42)
    row = render_ok(fam, ctx, example(example_id="id-7", position=3))
    assert tuple(row) == COLUMNS
    for field in SCHEMA:
        value = row[field.name]
        if pa.types.is_list(field.type):
            assert isinstance(value, list), field.name
            assert all(isinstance(v, str) for v in value), field.name
        else:
            assert type(value) is PY_TYPES[field.type], field.name
    assert pa.Table.from_pylist([row], schema=SCHEMA).num_rows == 1
    assert row == {
        "inputs": "a fine day\n\nOPTIONS:\n- good\n- bad\n- meh",
        "targets": "good",
        "task_source": "Source",
        "task_name": "task",
        "template_type": "zs_opt",
        "collection": "coll",
        "template_id": "t1",
        "template_idx": 1,  # the template's index in its family, not among the type's templates
        "example_id": "id-7",
        "exemplar_ids": [],
        "options": ["good", "bad", "meh"],
        "seed": 42,
    }


def test_inputs_and_targets_are_stripped() -> None:
    fam = family(
        {"input": "\n  {{ text }}  \n", "target": "  {{ label }}\n", "answer_choices": ["a"]}
    )
    row = render_ok(fam, leaf(), example())
    assert (row["inputs"], row["targets"]) == ("a fine day", "good")


@pytest.mark.parametrize("value", ["yes", "", 7, 1.5, None, True, ["a", 1], {"k": "v"}])
def test_a_lone_variable_renders_as_jinja_would(value: Any) -> None:
    # `{{ name }}` skips Jinja (render() returns str(value)); the text must be Jinja's own.
    fam = family({"input": "{{ label }}", "target": "{{label}}", "types": ["zs_opt"]})
    jinja = environment().from_string("{{ label }}").render(label=value)
    t = fam.templates[0]
    assert t.input.flanmix_name == t.target.flanmix_name == "label"  # type: ignore[attr-defined]
    row, reason = render_example(fam, leaf(), example({"label": value}))
    if jinja.strip():
        assert row is not None and row["inputs"] == row["targets"] == jinja
    else:
        assert reason == EMPTY_RENDER


def test_a_lone_missing_variable_is_a_missing_field() -> None:
    fam = family({"input": "{{ text }}", "target": "{{ nope }}", "types": ["zs_opt"]})
    assert render_example(fam, leaf(), example()) == (None, MISSING_FIELD)
    # anything more than a lone name (a filter, an attribute, text around it) goes to Jinja
    fam = family({"input": "{{ text|upper }} x", "target": "{{ label }}!", "types": ["zs_opt"]})
    assert fam.templates[0].input.flanmix_name is None  # type: ignore[attr-defined]
    assert fam.templates[0].target.flanmix_name is None  # type: ignore[attr-defined]
    assert render_ok(fam, leaf(), example())["targets"] == "good!"


def test_self_is_not_a_field_even_alone() -> None:
    # Jinja's `self` is the template reference; the lone-name shortcut must leave it to Jinja.
    fam = family({"input": "{{ text }}", "target": "{{ self }}", "types": ["zs_opt"]})
    assert fam.templates[0].target.flanmix_name is None  # type: ignore[attr-defined]
    jinja = environment().from_string("{{ self }}").render({"self": "field"})
    row = render_ok(fam, leaf(), example({"text": "a", "self": "field"}))
    assert row["targets"] == jinja != "field"
