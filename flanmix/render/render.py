"""Render one example for one leaf: pick its template, fill it, and say why if it fails."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from jinja2 import UndefinedError

from flanmix.hashing import seeded_rng
from flanmix.render.environment import RNG_VAR, LazyRng, render, template_globals
from flanmix.render.formats import OPTIONS_MARK, fill_options, shows_options
from flanmix.render.options import FIXED_STYLE, draw_style
from flanmix.render.templates import CompiledFamily, CompiledTemplate
from flanmix.sources.files import Example
from flanmix.spec.load import Task, parse_leaf_type
from flanmix.spec.models import FewShotSettings, OptionsSettings

# Drop reasons (see DESIGN.md §4: every drop is counted under a name).
MISSING_FIELD = "missing_field"
EMPTY_RENDER = "empty_render"
RENDER_ERROR = "render_error"
NO_EXEMPLARS = "no_exemplars"
IN_EXEMPLAR_POOL = "in_exemplar_pool"

PROMPTSOURCE_MAX_CHARS = 2048
_JINJA_TRUNCATE_LEEWAY = 5  # Jinja's truncate() keeps strings up to length + leeway whole


@dataclass(frozen=True)
class LeafContext:
    """What rendering needs to know about the leaf besides the example."""

    task: str
    collection: str
    task_source: str
    leaf_type: str  # the template type, plus "+x_shot" for the x-shot few-shot leaf
    seed: int
    inverted: bool = False
    options: OptionsSettings = field(default_factory=OptionsSettings)
    fewshot: FewShotSettings = field(default_factory=FewShotSettings)

    # Asked for every example: parsed once (cached_property writes around frozen's setattr).
    @cached_property
    def template_type(self) -> str:
        return parse_leaf_type(self.leaf_type)[0]

    @cached_property
    def fewshot_format(self) -> str | None:
        return parse_leaf_type(self.leaf_type)[1]


def leaf_context(task: Task, leaf_type: str, seed: int) -> LeafContext:
    """What rendering needs to know about one leaf of `task`."""
    return LeafContext(
        task.name,
        task.collection,
        task.task_source,
        leaf_type,
        seed,
        inverted=task.inverted,
        options=task.options,
        fewshot=task.fewshot,
    )


@dataclass(frozen=True)
class Rendered:
    """One example through one template: the pieces few-shot prompts are built from."""

    template: CompiledTemplate
    inputs: str
    targets: str
    options: list[str]


class RenderDrop(Exception):
    """An example that cannot be rendered, with the reason it is counted under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def template_index(seed: int, task: str, template_type: str, position: int, k: int) -> int:
    """Balanced, seeded template assignment: each block of k consecutive positions uses every
    template once, in a per-block shuffled order, so counts per task differ by at most one."""
    if k == 1:
        return 0
    return _block_order(seed, task, template_type, position // k, k)[position % k]


@functools.lru_cache(maxsize=4096)  # rows of a block are read one after another
def _block_order(seed: int, task: str, template_type: str, block: int, k: int) -> tuple[int, ...]:
    order = list(range(k))
    seeded_rng(seed, task, template_type, "template", block).shuffle(order)
    return tuple(order)


def compat_fields(compat: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """Field values as the template's original tool would see them."""
    if compat != "promptsource":
        return fields
    # promptsource applies Jinja's truncate(2048) to its text variables and cannot name
    # fields with hyphens.
    return {
        k.replace("-", "_"): _truncate(v) if isinstance(v, str) else v for k, v in fields.items()
    }


def _truncate(text: str, length: int = PROMPTSOURCE_MAX_CHARS, end: str = "...") -> str:
    """Jinja's truncate filter with its defaults: whole words, '...' appended."""
    if len(text) <= length + _JINJA_TRUNCATE_LEEWAY:
        return text
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def example_variables(family: CompiledFamily, example: Example, rng: Any) -> dict[str, Any]:
    """What a template of `family` sees for `example`: the environment's globals (see
    environment.render), its fields and its RNG."""
    return {**template_globals(), **compat_fields(family.compat, example.fields), RNG_VAR: rng}


def usable_templates(family: CompiledFamily, leaf: LeafContext) -> tuple[CompiledTemplate, ...]:
    """The family's templates for the leaf's template type (and few-shot format), inverted
    ones for inverted tasks only."""
    fmt = leaf.fewshot_format
    key = ("usable", leaf.template_type, leaf.inverted, fmt)  # asked for every example
    found = family.exemplar_cache.get(key)
    if found is None:
        found = family.exemplar_cache[key] = tuple(
            t
            for t in family.for_type(leaf.template_type)
            if t.spec.inverted == leaf.inverted and (fmt is None or fmt in t.spec.fewshot_formats)
        )
    return found  # type: ignore[no-any-return]


def assigned_template(
    family: CompiledFamily, leaf: LeafContext, example: Example
) -> CompiledTemplate:
    templates = usable_templates(family, leaf)
    k = len(templates)
    return templates[template_index(leaf.seed, leaf.task, leaf.template_type, example.position, k)]


def _choices(t: CompiledTemplate, variables: dict[str, Any]) -> list[str]:
    if t.choices is None:
        return []
    if callable(t.choices):
        value = t.choices(**variables)
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise TypeError(f"answer_choices gave {type(value).__name__}, expected a list")
        return [str(v) for v in value]
    return [c if isinstance(c, str) else render(c, variables) for c in t.choices]


def render_with(
    family: CompiledFamily,
    t: CompiledTemplate,
    leaf: LeafContext,
    example: Example,
    strict: bool = False,
) -> Rendered:
    """Render `example` through template `t` for the leaf's type; raises RenderDrop."""
    rng = LazyRng((leaf.seed, leaf.task, example.example_id, leaf.template_type, "render"))
    variables = example_variables(family, example, rng)
    show = shows_options(leaf.template_type)
    try:
        options = _choices(t, variables)
        variables.update(options_=OPTIONS_MARK, answer_choices=options)
        style = FIXED_STYLE
        if show and options and leaf.options.style == "random":
            style = draw_style(seeded_rng(leaf.seed, leaf.task, example.example_id, "options"))
        inputs = fill_options(render(t.input, variables), options, show, style)
        targets = render(t.target, variables)
    except UndefinedError:
        if strict:
            raise
        raise RenderDrop(MISSING_FIELD) from None
    except Exception:  # a template bug on this record; counted, and shown by `preview`
        if strict:
            raise
        raise RenderDrop(RENDER_ERROR) from None
    if t.spec.strip:
        inputs, targets = inputs.strip(), targets.strip()
    if not inputs.strip() or not targets.strip():
        raise RenderDrop(EMPTY_RENDER)
    if show and options and leaf.options.marker_targets:
        targets = style.target_marker(options, targets.strip()) or targets
    return Rendered(t, inputs, targets, options)


def make_row(
    leaf: LeafContext, example: Example, r: Rendered, inputs: str, exemplar_ids: list[str]
) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "targets": r.targets,
        "task_source": leaf.task_source,
        "task_name": leaf.task,
        "template_type": leaf.template_type,
        "collection": leaf.collection,
        "template_id": r.template.spec.id,
        "template_idx": r.template.idx,
        "example_id": example.example_id,
        "exemplar_ids": exemplar_ids,
        "options": r.options,
        "seed": leaf.seed,
    }


def render_example(
    family: CompiledFamily,
    leaf: LeafContext,
    example: Example,
    strict: bool = False,
    pool: list[Example] | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Return (row, None) or (None, drop_reason); `strict` raises instead (for previews).

    Few-shot leaves need the task's exemplar `pool` (see render/fewshot.py)."""
    from flanmix.render.fewshot import render_fewshot

    try:
        if leaf.fewshot_format is not None:
            return render_fewshot(family, leaf, example, pool or [], strict), None
        r = render_with(family, assigned_template(family, leaf, example), leaf, example, strict)
        return make_row(leaf, example, r, r.inputs, []), None
    except RenderDrop as drop:
        return None, drop.reason
