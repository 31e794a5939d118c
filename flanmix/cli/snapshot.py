"""`flanmix snapshot`: fetch each source of a mixture once into the snapshot cache."""

from __future__ import annotations

import click

from flanmix.cli.common import load, mixture_option, progress, source_options, templates_option
from flanmix.errors import FlanmixError, SourceError
from flanmix.sources.snapshot import cache_location, failure_message, snapshot_tasks


@click.command("snapshot")
@mixture_option
@templates_option
@click.option(
    "--only", "only", multiple=True, metavar="TASK", help="Only these tasks (repeatable)."
)
@click.option("--refresh", is_flag=True, help="Fetch again even where a snapshot exists.")
@source_options
def command(
    mixture: str,
    template_dirs: tuple[str, ...],
    only: tuple[str, ...],
    refresh: bool,
    cache: str | None,
    skip_failed_sources: bool,
) -> None:
    """Fetch, pin and normalise each task's source into Parquet snapshots.

    Hub datasets, URLs, NIv2 task files, CoT TSVs and dialogs are snapshotted; plain files
    (jsonl, parquet, csv, tsv at a path) are read in place by the build. Interrupted runs
    resume: finished snapshots and downloads are kept.
    """
    m = load(mixture, template_dirs)
    unknown = sorted(set(only) - set(m.tasks))
    if unknown:
        raise FlanmixError(
            f"no task {', '.join(unknown)} in mixture {m.name}; tasks: {', '.join(sorted(m.tasks))}"
        )
    tasks = [m.tasks[n] for n in sorted(m.tasks) if not only or n in only]
    in_place = [t.name for t in tasks if t.source.in_place]
    if in_place:
        progress(
            f"{len(in_place)} task(s) read in place, no snapshot needed: {', '.join(in_place)}"
        )
    folder = cache_location(cache)
    report = snapshot_tasks(tasks, folder, refresh=refresh, progress=progress)
    distinct = {s.dir: s for s in report.snapshots.values()}  # twins share one snapshot
    rows = sum(s.rows for s in distinct.values())
    click.echo(
        f"{len(report.snapshots)} task(s) from {len(distinct)} snapshot(s), {rows:,} rows, "
        f"in {folder}/snapshots"
    )
    if report.failed:
        if not skip_failed_sources:
            raise SourceError(failure_message(report.failed))
        click.echo(f"skipped {len(report.failed)} failed source(s): {', '.join(report.failed)}")
