"""`flanmix preview`: render real rows of a mixture to the terminal, template errors included."""

from __future__ import annotations

import itertools

import click

from flanmix.checks import check_mixture, task_template_types
from flanmix.cli.common import load, mixture_option, progress, source_options, templates_option
from flanmix.errors import FlanmixError
from flanmix.render.fewshot import held_out, needs_pool, smallest_pool
from flanmix.render.render import LeafContext, leaf_context, render_example
from flanmix.render.templates import CompiledFamily
from flanmix.sources.files import Example, count_task, read_shard, read_shards, read_task
from flanmix.sources.snapshot import prepare_sources
from flanmix.spec.load import Task, parse_leaf_type


@click.command("preview")
@mixture_option
@templates_option
@click.option(
    "-n", "count", type=click.IntRange(min=1), default=5, show_default=True, help="Rows per leaf."
)
@click.option("--task", "tasks", multiple=True, help="Only these tasks (repeatable).")
@click.option(
    "--template-type",
    "types",
    multiple=True,
    help="Only these template types (fs_opt) or leaf types (fs_opt+x_shot); repeatable.",
)
@click.option("--seed", type=int, default=None, help="Override the mixture's seed.")
@source_options
def command(
    mixture: str,
    template_dirs: tuple[str, ...],
    count: int,
    tasks: tuple[str, ...],
    types: tuple[str, ...],
    seed: int | None,
    cache: str | None,
    skip_failed_sources: bool,
) -> None:
    """Show the first rendered rows of each leaf (task × template type)."""
    m = load(mixture, template_dirs)
    check_mixture(m)
    m, _ = prepare_sources(m, cache, skip_failed=skip_failed_sources, progress=progress)
    compiled = check_mixture(m)
    leaves = task_template_types(m)
    for name in tasks:
        if name not in leaves:
            raise FlanmixError(
                f"no task '{name}' in mixture {m.name}; tasks: " + ", ".join(sorted(leaves))
            )
    run_seed = m.seed if seed is None else seed
    pools: dict[str, list[Example]] = {}

    def pool_of(task: Task) -> list[Example]:
        """The build's pool: the smallest pool keys over the whole task (read in full here)."""
        if task.name not in pools:
            every = read_task(task)
            pools[task.name] = smallest_pool(run_seed, every, task.fewshot.pool_size)
        return pools[task.name]

    for name, leaf_types in sorted(leaves.items()):
        if tasks and name not in tasks:
            continue
        task = m.tasks[name]
        shards = read_shards(count_task(task, limit=count))
        examples = list(itertools.islice((e for s in shards for e in read_shard(task, s)), count))
        for other, other_types in leaves.items():  # pools that a disjoint task holds out
            if needs_pool(other_types) and (
                other == name or m.tasks[other].fewshot.exemplar_pool == "disjoint"
            ):
                pool_of(m.tasks[other])
        hold = held_out(task, m.tasks, pools)
        for lt in leaf_types:
            if types and lt not in types and parse_leaf_type(lt)[0] not in types:
                continue
            ctx = leaf_context(task, lt, run_seed)
            for example in examples:
                if example.position in hold:
                    click.secho(
                        f"── {name} / {lt} · example {example.example_id} · DROPPED: "
                        "in_exemplar_pool",
                        fg="yellow",
                    )
                    continue
                _show(compiled[task.family], ctx, example, pools.get(name, []))


def _show(family: CompiledFamily, ctx: LeafContext, example: Example, pool: list[Example]) -> None:
    head = f"── {ctx.task} / {ctx.leaf_type} · example {example.example_id}"
    try:
        row, reason = render_example(family, ctx, example, strict=True, pool=pool)
    except Exception as e:
        click.secho(f"{head} · RENDER FAILED: {type(e).__name__}: {e}", fg="red")
        return
    if row is None:
        click.secho(f"{head} · DROPPED: {reason}", fg="yellow")
        return
    shots = f" · exemplars {', '.join(row['exemplar_ids'])}" if row["exemplar_ids"] else ""
    click.secho(f"{head} · template {row['template_id']}{shots}", fg="cyan", bold=True)
    click.echo(row["inputs"])
    click.secho("── target", fg="cyan")
    click.echo(row["targets"])
    click.echo()
