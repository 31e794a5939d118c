"""`flanmix plan`: every leaf's count, rate, share and quota, before anything is built."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from flanmix.build import count_sources
from flanmix.checks import check_mixture
from flanmix.cli.common import (
    limit_option,
    load,
    mixture_option,
    progress,
    source_options,
    templates_option,
)
from flanmix.plan.counts import leaf_counts, merged, read_counts
from flanmix.plan.explain import GROUPS, format_plan
from flanmix.plan.plan import make_plan, task_leaf_counts
from flanmix.sources.snapshot import prepare_sources


@click.command("plan")
@mixture_option
@templates_option
@limit_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--group-by",
    type=click.Choice(GROUPS),
    default=None,
    help="Totals per collection, template type or task instead of per leaf.",
)
@click.option(
    "--counts",
    "counts_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of counts per task or leaf, or Flan's mixture_rates.csv: plan without data "
    "(repeatable; later files win).",
)
@click.option("--seed", type=int, default=None, help="Override the mixture's seed.")
@source_options
def command(
    mixture: str,
    template_dirs: tuple[str, ...],
    limit_per_task: int | None,
    fmt: str,
    group_by: str | None,
    counts_files: tuple[Path, ...],
    seed: int | None,
    cache: str | None,
    skip_failed_sources: bool,
) -> None:
    """Print the plan of a mixture: rates, shares and exact quotas per leaf.

    Counts are source rows (from snapshots, taken if missing), or a `--counts` file. A build
    uses these quotas; a leaf's dropped rows are replaced by its next rows in hash order.
    """
    m = load(mixture, template_dirs)
    if seed is not None:
        m = dataclasses.replace(m, seed=seed)
    check_mixture(m)
    if counts_files:
        counts = merged([read_counts(f) for f in counts_files])
        leaves = leaf_counts(m, counts, ", ".join(map(str, counts_files)))
    else:
        m, _ = prepare_sources(m, cache, skip_failed=skip_failed_sources, progress=progress)
        rows = count_sources(m, limit_per_task, progress)
        leaves = task_leaf_counts(m, {name: c.rows for name, c in rows.items()})
    click.echo(format_plan(make_plan(m, leaves), fmt, group_by))
