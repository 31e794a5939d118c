"""Deep checks of a loaded mixture: sources exist, templates compile, serve the template types
asked of them, and read only fields their sources have. Reads at most a source's first records."""

from __future__ import annotations

from collections import defaultdict

from flanmix.errors import SpecError
from flanmix.render.environment import environment
from flanmix.render.render import leaf_context, usable_templates
from flanmix.render.templates import CompiledFamily, CompiledTemplate, compile_family
from flanmix.render.tokenize import token_counter
from flanmix.sources.files import list_files, source_fields
from flanmix.spec.load import Mixture, parse_leaf_type
from flanmix.spec.models import did_you_mean


def task_template_types(mixture: Mixture) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for task, tt in mixture.leaves():
        out[task].append(tt)
    return dict(out)


def check_mixture(mixture: Mixture) -> dict[str, CompiledFamily]:
    """Compile every family the mixture uses and check it against the tasks that use it."""
    compiled = {name: compile_family(fam) for name, fam in sorted(mixture.families.items())}
    provided = set(environment().globals)
    for task_name, types in sorted(task_template_types(mixture).items()):
        task = mixture.tasks[task_name]
        if task.source.in_place:  # a missing file is reported even when its columns are declared
            list_files(task)
            if task.source.rename or task.source.filter:
                keys = [k for k in ("rename", "filter") if getattr(task.source, k)]
                raise SpecError(
                    f"task '{task_name}' reads {task.source.kind} files in place, which are "
                    f"read as they are: `{'` and `'.join(keys)}` apply to snapshotted sources "
                    "(hub, url, niv2, cot, dialog)",
                    file=task.file,
                    path=f"{task.key_path}.source",
                    hint="use the file's own field names in the templates, or prepare the file",
                )
        fam = compiled[task.family]
        doc = mixture.families[task.family].doc
        used: dict[int, CompiledTemplate] = {}
        for lt in types:
            ctx = leaf_context(task, lt, mixture.seed)
            templates = usable_templates(fam, ctx)
            if not templates:
                kind = "inverted " if task.inverted else ""
                raise SpecError(
                    f"template family '{fam.name}' has no {kind}template for type "
                    f"'{ctx.template_type}', which task '{task_name}' needs",
                    file=task.file,
                    path=f"{task.key_path}.templates",
                    line=task.templates_line,
                    hint=f"add '{ctx.template_type}' to the `types` of some "
                    f"{kind}template in {doc.file}",
                )
            used.update((t.idx, t) for t in templates)
            if ctx.fewshot_format:
                try:  # a tokenizer that does not load fails here, not in a worker
                    token_counter(task.fewshot.tokenizer)
                except SpecError as e:
                    raise SpecError(
                        e.message,
                        file=task.file,
                        path=f"collections.{task.collection}.fewshot.tokenizer",
                        hint=e.hint or "relative paths resolve against the mixture's root",
                    ) from None
        if not task.source.in_place:
            continue  # fields are known once the source is snapshotted (build checks again)
        fields = set(source_fields(task))
        group = task.fewshot.group_field
        if group and group not in fields and any(parse_leaf_type(lt)[1] for lt in types):
            raise SpecError(
                f"few-shot `group_field: {group}` is not a field of task '{task_name}' (it "
                f"has: {', '.join(sorted(fields))})",
                file=task.file,
                path=f"collections.{task.collection}.fewshot.group_field",
                hint=did_you_mean(group, sorted(fields)),
            )
        for t in used.values():
            missing = sorted(t.fields - fields - provided)
            if missing:
                hints = "; ".join(f"'{m}': {did_you_mean(m, sorted(fields))}" for m in missing)
                raise SpecError(
                    f"template '{t.spec.id}' uses field(s) {', '.join(missing)} that the source "
                    f"of task '{task_name}' does not have (it has: {', '.join(sorted(fields))})",
                    file=doc.file,
                    path=f"templates[{t.idx}]",
                    line=doc.line_of(("templates", t.idx)),
                    hint=hints,
                )
    return compiled
