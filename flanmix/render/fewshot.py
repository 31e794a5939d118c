"""Few-shot prompts: exemplars from the task's own pool, laid out by a FewShotPattern.

Two formats, as in Flan 2022: the *template mix* (up to `shots` exemplars, each rendered with its
own template) and *x-shot* (`candidates` exemplars drawn, of which only those whose template is
the query's are kept). Exemplars never include the query itself, are drawn from the pool by an
RNG seeded with a stable hash of (seed, task, query), and are dropped from the end until query
+ exemplars fit the token budget; a query left with none is dropped as `no_exemplars`.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from jinja2 import Template, UndefinedError

from flanmix.hashing import seeded_rng, stable_hash
from flanmix.render.environment import render
from flanmix.render.render import (
    MISSING_FIELD,
    NO_EXEMPLARS,
    LeafContext,
    RenderDrop,
    Rendered,
    assigned_template,
    example_variables,
    make_row,
    render_with,
)
from flanmix.render.templates import CompiledFamily, CompiledTemplate
from flanmix.render.tokenize import token_counter
from flanmix.sources.files import Example
from flanmix.spec.load import Task, parse_leaf_type
from flanmix.spec.models import FewShotPattern

_PLACEHOLDERS = re.compile(r"\{inputs\}|\{final_suffix\}")


def pool_key(seed: int, example: Example) -> tuple[int, int]:
    """A task's exemplar pool is its `pool_size` examples with the smallest pool keys."""
    return pool_rank(seed, example.task, example.example_id, example.position)


def pool_rank(seed: int, task: str, example_id: str, position: int) -> tuple[int, int]:
    """`pool_key` from the example's identity alone (before its fields are read)."""
    return stable_hash(seed, task, example_id, "pool"), position


def needs_pool(leaf_types: Iterable[str]) -> bool:
    """A task needs an exemplar pool when any of its leaves is few-shot."""
    return any(parse_leaf_type(lt)[1] for lt in leaf_types)


def keyed_pool(
    seed: int, examples: Iterable[Example], size: int
) -> list[tuple[tuple[int, int], Example]]:
    """The `size` examples with the smallest pool keys, with their keys, in bounded memory.
    Applied to a shard it gives the shard's share of the pool; to a task, the pool."""
    keyed = ((pool_key(seed, e), e) for e in examples)
    return heapq.nsmallest(size, keyed, key=lambda kv: kv[0])


def smallest_pool(seed: int, examples: Iterable[Example], size: int) -> list[Example]:
    """The exemplar pool from a stream of a task's examples."""
    return [e for _, e in keyed_pool(seed, examples, size)]


def disjoint_pool_tasks(task: Task, tasks: dict[str, Task]) -> list[Task]:
    """The disjoint-pool tasks reading `task`'s source, itself included if it is one (an
    inverted task shares its base task's source)."""
    source = (task.source_pattern(), task.source)
    return [
        other
        for other in tasks.values()
        if other.fewshot.exemplar_pool == "disjoint"
        and (other.source_pattern(), other.source) == source
    ]


def held_out(task: Task, tasks: dict[str, Task], pools: dict[str, list[Example]]) -> set[int]:
    """Source positions that may not be targets of `task`: the pools of every disjoint-pool
    task reading the same source, so the base task's exemplars never come back as targets
    of its inverted twin."""
    return {
        e.position for other in disjoint_pool_tasks(task, tasks) for e in pools.get(other.name, [])
    }


def exemplar_candidates(
    leaf: LeafContext, query: Example, pool: list[Example]
) -> Iterator[Example]:
    """The pool shuffled by an RNG seeded with (seed, task, query), without the query itself.
    The shuffle starts from source order, so the pool's own order does not matter. Lazy, a
    Fisher-Yates step per candidate: a prompt usually needs only its first few."""
    rng = seeded_rng(leaf.seed, leaf.task, query.example_id, "exemplar")
    order = list(_source_order(pool))
    group = leaf.fewshot.group_field
    own = query.fields.get(group) if group else None
    for i in range(len(order)):
        j = rng.randrange(i, len(order))
        order[i], order[j] = order[j], order[i]
        e = pool[order[i]]
        same_group = group is not None and e.fields.get(group) == own
        if e.position != query.position and e.example_id != query.example_id and not same_group:
            yield e


_ORDERS: dict[int, tuple[list[Example], tuple[int, ...]]] = {}


def _source_order(pool: list[Example]) -> tuple[int, ...]:
    """Indices of `pool` in source order. Every query of a task shares one pool list, so the
    order is computed once per pool (keyed by identity; the pool is kept alive with it)."""
    cached = _ORDERS.get(id(pool))
    if cached is None or cached[0] is not pool or len(cached[1]) != len(pool):
        if len(_ORDERS) >= 8:  # a bundle's pools; older ones must not be kept alive
            _ORDERS.clear()
        cached = (pool, tuple(sorted(range(len(pool)), key=lambda i: pool[i].position)))
        _ORDERS[id(pool)] = cached
    return cached[1]


def example_separator(pattern: FewShotPattern, leaf: LeafContext) -> str:
    """One separator per task (Flan draws one of "\\n", "\\n\\n", "\\n\\n\\n"), seeded."""
    return _separator(leaf.seed, leaf.task, tuple(pattern.example_separator))


@functools.lru_cache(maxsize=1024)  # asked once per row, the same for the whole task
def _separator(seed: int, task: str, choices: tuple[str, ...]) -> str:
    return seeded_rng(seed, task, "example_separator").choice(choices)


TURNS = "_turns"  # a few-shot row's exemplars and query as turns; not an output column


def compose(
    outer: FewShotPattern,
    separator: str,
    exemplars: list[Rendered],
    query: Rendered,
    header: str = "",
    family_pattern: FewShotPattern | None = None,
) -> str:
    """Exemplars then the query, each as its template's prefix + input + delimiter + prefix
    (+ target); the separator, header, input_pattern and final_suffix come from `outer`.

    The prompt's trailing whitespace is removed (only trailing spaces for templates that keep
    their exact whitespace), then it is placed into input_pattern."""

    def own(r: Rendered) -> FewShotPattern:
        return r.template.spec.fewshot or family_pattern or outer

    shots = "".join(
        own(r).inputs_prefix
        + r.inputs
        + own(r).x_y_delimiter
        + own(r).targets_prefix
        + r.targets
        + separator
        for r in exemplars
    )
    q = own(query)
    prompt = header + shots + q.inputs_prefix + query.inputs + q.x_y_delimiter
    prompt += q.targets_prefix
    prompt = prompt.rstrip() if query.template.spec.strip else prompt.rstrip(" ")
    values = {"{inputs}": prompt, "{final_suffix}": outer.final_suffix}
    return _PLACEHOLDERS.sub(lambda m: values[m.group()], outer.input_pattern)


def _exemplar(family: CompiledFamily, leaf: LeafContext, e: Example) -> Rendered | None:
    """Pool members are exemplars for many queries, and their rendering is a pure function of
    the family, the leaf and the example: each is rendered once per family object (the cache
    lives and dies with it, and is bounded because pools are)."""
    key = (
        leaf.task,
        leaf.leaf_type,
        leaf.seed,
        leaf.inverted,
        leaf.options,
        e.position,
        e.example_id,
    )
    cache = family.exemplar_cache
    if key not in cache:
        try:
            cache[key] = render_with(family, assigned_template(family, leaf, e), leaf, e)
        except RenderDrop:
            cache[key] = None  # an exemplar that does not render is simply not used
    return cache[key]


def _pick(
    family: CompiledFamily, leaf: LeafContext, query_t: Any, candidates: Iterable[Example]
) -> list[tuple[Example, Rendered]]:
    settings = leaf.fewshot
    picked: list[tuple[Example, Rendered]] = []
    if leaf.fewshot_format == "x_shot":
        candidates = itertools.islice(candidates, settings.candidates)
    for e in candidates:
        if leaf.fewshot_format == "x_shot" and assigned_template(family, leaf, e) is not query_t:
            continue
        rendered = _exemplar(family, leaf, e)
        if rendered is None:
            continue
        picked.append((e, rendered))
        if leaf.fewshot_format == "template_mix" and len(picked) == settings.shots:
            break
    return picked


def layout(family: CompiledFamily, r: Rendered) -> FewShotPattern:
    """An exemplar's or the query's own layout: its template's pattern, else the family's."""
    return r.template.spec.fewshot or family.fewshot


def fit_budget(
    family: CompiledFamily,
    picked: list[tuple[Example, Rendered]],
    query: Rendered,
    leaf: LeafContext,
    separator: str,
) -> list[tuple[Example, Rendered]]:
    """The longest prefix of exemplars that fits the budget, as Flan prunes: the exemplars,
    counted as laid out (prefixes, delimiters and separator included), must fit in the budget
    less the query's input."""
    spec = leaf.fewshot.tokenizer
    count = token_counter(spec)
    used = count(query.inputs)
    kept = []
    for e, r in picked:
        key = ("tokens", id(r), separator, spec)  # cached pool exemplars keep their ids
        if key not in family.exemplar_cache:
            lay = layout(family, r)
            piece = (
                lay.inputs_prefix
                + r.inputs
                + lay.x_y_delimiter
                + lay.targets_prefix
                + r.targets
                + separator
            )
            family.exemplar_cache[key] = count(piece)
        used += family.exemplar_cache[key]
        if used > leaf.fewshot.budget:
            break
        kept.append((e, r))
    return kept


def frame(
    family: CompiledFamily, query_t: CompiledTemplate, leaf: LeafContext
) -> tuple[FewShotPattern, Template | None]:
    """The prompt's frame: separator, input_pattern, final_suffix and header.

    The template mix mixes templates, so the family's layout frames them. x-shot uses one
    template throughout: Flan keeps that template's separator but the default frame (no
    input_pattern or final_suffix); a header (NIv2's definition) still opens the prompt."""
    if leaf.fewshot_format != "x_shot":
        return family.fewshot, family.fewshot_header
    own = query_t.spec.fewshot
    outer = FewShotPattern(example_separator=(own or family.fewshot).example_separator)
    header = query_t.fewshot_header if own and own.header else family.fewshot_header
    return outer, header


def render_header(
    family: CompiledFamily,
    header: Template | None,
    leaf: LeafContext,
    example: Example,
    strict: bool,
) -> str:
    """The pattern's header (e.g. a task definition), rendered once with the query's fields."""
    if header is None:
        return ""
    rng = seeded_rng(leaf.seed, leaf.task, example.example_id, "header")
    variables = example_variables(family, example, rng)
    try:
        return render(header, variables)
    except UndefinedError:
        if strict:
            raise
        raise RenderDrop(MISSING_FIELD) from None


def render_fewshot(
    family: CompiledFamily,
    leaf: LeafContext,
    example: Example,
    pool: list[Example],
    strict: bool = False,
) -> dict[str, Any]:
    """The few-shot row for `example`; raises RenderDrop (e.g. `no_exemplars`)."""
    query_t = assigned_template(family, leaf, example)
    query = render_with(family, query_t, leaf, example, strict)
    if leaf.fewshot_format == "x_shot":  # Flan strips x-shot targets
        query = replace(query, targets=query.targets.strip())
    outer, header_template = frame(family, query_t, leaf)
    separator = example_separator(outer, leaf)
    picked = _pick(family, leaf, query_t, exemplar_candidates(leaf, example, pool))
    kept = fit_budget(family, picked, query, leaf, separator)
    if not kept:
        raise RenderDrop(NO_EXEMPLARS)
    header = render_header(family, header_template, leaf, example, strict)
    exemplars = [r for _, r in kept]
    inputs = compose(outer, separator, exemplars, query, header, family_pattern=family.fewshot)
    row = make_row(leaf, example, query, inputs, [e.example_id for e, _ in kept])
    # The same prompt as chat turns (user, assistant, …, user), for `--fewshot-as-turns`.
    turns = [t for r in exemplars for t in (r.inputs, r.targets)] + [query.inputs]
    row[TURNS] = [header + turns[0], *turns[1:]]
    return row
