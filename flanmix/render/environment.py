"""The Jinja environment every template renders in: sandboxed, strict, and seeded.

StrictUndefined turns a misspelt or missing field into an error instead of an empty string.
`choice`, `shuffle` and `dialog` draw from a per-example RNG passed in the context (never the
global one), so a template's randomness is a pure function of (seed, task, example, template
type).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import StrictUndefined, Template, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flanmix.hashing import HashRandom, seeded_rng

RNG_VAR = "flanmix_rng"


class LazyRng:
    """A per-example RNG made only when a template draws from it (most templates never do)."""

    def __init__(self, parts: tuple[object, ...]) -> None:
        self._parts = parts
        self._rng: HashRandom | None = None

    def get(self) -> HashRandom:
        if self._rng is None:
            self._rng = seeded_rng(*self._parts)
        return self._rng


def _rng(ctx: Context) -> HashRandom:
    rng = ctx.get(RNG_VAR)
    if isinstance(rng, LazyRng):
        return rng.get()
    if not isinstance(rng, HashRandom):
        raise RuntimeError("choice/shuffle need the per-example RNG; render through flanmix")
    return rng


@pass_context
def _choice(ctx: Context, seq: Any) -> Any:
    items = list(seq)
    if not items:
        raise ValueError("choice of an empty sequence")
    return items[_rng(ctx).randrange(len(items))]


@pass_context
def _shuffle(ctx: Context, seq: Any) -> list[Any]:
    items = list(seq)
    _rng(ctx).shuffle(items)
    return items


# Speaker label pairs and turn separators for `dialog` (our own lists; Flan 2022 varies dialog
# rendering the same way it varies option lists).
DIALOG_SPEAKERS = (
    ("Person 1", "Person 2"),
    ("Speaker A", "Speaker B"),
    ("A", "B"),
    ("User", "Assistant"),
    ("Q", "A"),
    ("Participant 1", "Participant 2"),
)
DIALOG_SEPARATORS = ("\n", "\n\n")


@pass_context
def _dialog(ctx: Context, turns: Any) -> str:
    """Alternating turns with seeded speaker labels: `{{ turns | dialog }}`."""
    rng = _rng(ctx)
    first, second = rng.choice(DIALOG_SPEAKERS)
    sep = rng.choice(DIALOG_SEPARATORS)
    return sep.join(f"{first if i % 2 == 0 else second}: {t}" for i, t in enumerate(turns))


@cache
def environment() -> ImmutableSandboxedEnvironment:
    # Trailing newlines are kept: templates that are not stripped (imported Flan templates,
    # few-shot headers) rely on exact whitespace.
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["choice"] = _choice
    env.filters["shuffle"] = _shuffle
    env.filters["dialog"] = _dialog
    # Not seeded: would break determinism. Templates must use `choice`/`shuffle` instead.
    env.filters.pop("random", None)
    return env


@cache
def template_globals() -> dict[str, Any]:
    """The environment's globals (range, dict, namespace, ...) as one plain dict."""
    return dict(environment().globals)


def render(template: Template, variables: dict[str, Any]) -> str:
    """`template.render(variables)` without its two per-call copies (the variables merged into
    the globals, whose ChainMap is slow to iterate): `variables` must already hold
    `template_globals()`. A template's own assignments go to the context, never to
    `variables`, so one dict serves every template of an example.

    A template that is just `{{ name }}` (see templates._single_name) is str(value) when the
    name is defined; Jinja itself renders it otherwise, to raise its error."""
    name = getattr(template, "flanmix_name", None)
    if name is not None and name in variables:
        return str(variables[name])
    ctx = template.environment.context_class(
        template.environment, variables, template.name, template.blocks
    )
    try:
        return template.environment.concat(template.root_render_func(ctx))  # type: ignore[attr-defined]
    except Exception:
        return template.environment.handle_exception()
