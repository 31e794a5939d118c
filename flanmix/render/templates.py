"""Compile a template family once per process; report Jinja errors with file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes

from flanmix.errors import SpecError
from flanmix.render.environment import environment
from flanmix.spec.load import Family
from flanmix.spec.models import TEMPLATE_TYPES, FamilySpec, FewShotPattern, TemplateSpec
from flanmix.spec.yamlfile import format_path

# Variables flanmix provides to every template besides the example's fields.
PROVIDED = frozenset({"options_", "answer_choices"})


@dataclass(frozen=True)
class CompiledTemplate:
    idx: int
    spec: TemplateSpec
    input: Template
    target: Template
    choices: Any  # callable expression, list of Templates and constant strings, or None
    fields: frozenset[str]  # example fields the template reads
    input_fields: frozenset[str]  # ... in its input alone
    fewshot_header: Template | None = None  # rendered with the query's fields, before exemplars


@dataclass(frozen=True)
class CompiledFamily:
    name: str
    templates: tuple[CompiledTemplate, ...]
    by_type: dict[str, tuple[CompiledTemplate, ...]]  # rendering asks once per example
    compat: str | None = None
    fewshot: FewShotPattern = field(default_factory=FewShotPattern)
    fewshot_header: Template | None = None  # the family pattern's header, compiled
    # Per-family memos (render/render.py, render/fewshot.py): rendered pool exemplars, their
    # token counts, the usable templates per leaf; not part of the family's identity.
    exemplar_cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        family: FamilySpec,
        templates: tuple[CompiledTemplate, ...],
        header: Template | None = None,
    ) -> CompiledFamily:
        by_type = {tt: tuple(t for t in templates if tt in t.spec.types) for tt in TEMPLATE_TYPES}
        return cls(family.family, templates, by_type, family.compat, family.fewshot, header)

    def for_type(self, template_type: str) -> tuple[CompiledTemplate, ...]:
        return self.by_type[template_type]


def _compile(
    source: str, family: Family, path: tuple[str | int, ...], expression: bool = False
) -> tuple[nodes.Template, Any]:
    """Parse and compile one Jinja string; errors (syntax, unknown filters) become SpecErrors."""
    env = environment()
    text = "{{ " + source + " }}" if expression else source
    try:
        ast = env.parse(text)
        compiled = (
            env.compile_expression(source, undefined_to_none=False)
            if expression
            else env.from_string(text)
        )
    except TemplateSyntaxError as e:  # includes TemplateAssertionError (unknown filter, ...)
        key = path
        line = family.doc.line_of(key)
        if line and key in family.doc.block_scalars:
            line += e.lineno  # a block scalar's text starts on the line after its key
        raise SpecError(
            f"Jinja {'syntax ' if type(e) is TemplateSyntaxError else ''}error: {e.message} "
            f"(line {e.lineno} of the template)",
            file=family.doc.file,
            path=format_path(path),
            line=line,
            hint="check the {{ }} and {% %} pairs and the filter names "
            f"(filters: {', '.join(sorted(env.filters))})"
            if "filter" in str(e.message)
            else "check the {{ }} and {% %} pairs",
        ) from None
    return ast, compiled


def _single_name(ast: nodes.Template) -> str | None:
    """The variable a template consists of, for `{{ name }}` and nothing else: Jinja renders
    it as str(value), which render() then does without a Jinja context."""
    body = ast.body
    if len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1:
        node = body[0].nodes[0]
        # `self` is Jinja's reference to the template, never a field
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name != "self":
            return node.name
    return None


def _constant(ast: nodes.Template) -> str | None:
    """The text of a template that is plain text (no expressions or statements), else None."""
    if all(
        isinstance(node, nodes.Output)
        and all(isinstance(n, nodes.TemplateData) for n in node.nodes)
        for node in ast.body
    ):
        text = "".join(n.data for node in ast.body for n in node.nodes)  # type: ignore[attr-defined]
        return text or None
    return None


def compile_family(family: Family) -> CompiledFamily:
    family_header_ast, family_header = None, None
    if family.spec.fewshot.header:
        key = ("fewshot", "header")
        family_header_ast, family_header = _compile(family.spec.fewshot.header, family, key)
    compiled = []
    for i, t in enumerate(family.spec.templates):
        input_ast, input_tpl = _compile(t.input, family, ("templates", i, "input"))
        target_ast, target_tpl = _compile(t.target, family, ("templates", i, "target"))
        for ast, tpl in ((input_ast, input_tpl), (target_ast, target_tpl)):
            tpl.flanmix_name = _single_name(ast)  # type: ignore[attr-defined]
        asts = [input_ast, target_ast]
        choices: Any = None
        if isinstance(t.answer_choices, str):
            ast, choices = _compile(
                t.answer_choices, family, ("templates", i, "answer_choices"), True
            )
            asts.append(ast)
        elif isinstance(t.answer_choices, list):
            parts = [
                _compile(c, family, ("templates", i, "answer_choices", j))
                for j, c in enumerate(t.answer_choices)
            ]
            asts.extend(a for a, _ in parts)
            # A choice without Jinja syntax is its own text: no render per example.
            choices = [_constant(a) or c for a, c in parts]
        header = None
        if t.fewshot and t.fewshot.header:
            header_key = ("templates", i, "fewshot", "header")
            header_ast, header = _compile(t.fewshot.header, family, header_key)
            asts.append(header_ast)
        # The family header frames every template-mix prompt (render/fewshot.py `frame`), so
        # its fields count for every few-shot template.
        if family_header_ast is not None and any(x.startswith("fs_") for x in t.types):
            asts.append(family_header_ast)
        fields = set().union(*(meta.find_undeclared_variables(a) for a in asts)) - PROVIDED
        input_fields = meta.find_undeclared_variables(input_ast) - PROVIDED
        compiled.append(
            CompiledTemplate(
                idx=i,
                spec=t,
                input=input_tpl,
                target=target_tpl,
                choices=choices,
                fields=frozenset(fields),
                input_fields=frozenset(input_fields),
                fewshot_header=header,
            )
        )
    return CompiledFamily.of(family.spec, tuple(compiled), family_header)
