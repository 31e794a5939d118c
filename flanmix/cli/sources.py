"""`flanmix sources list|check`: the registry of Flan 2022's tasks and where they live."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from flanmix.cli.common import cache_option
from flanmix.errors import FlanmixError
from flanmix.registry import COLLECTIONS, load_registry, select, to_csv, to_table

collection_option = click.option(
    "--collection",
    "collections",
    multiple=True,
    type=click.Choice(COLLECTIONS),
    help="Only this collection (repeatable).",
)
task_option = click.option("--task", "tasks", multiple=True, help="Only this task (repeatable).")


@click.group("sources")
def command() -> None:
    """The registry of every Flan 2022 task's source (hub, url, niv2, cot, dialog)."""


@command.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@collection_option
@task_option
def list_command(fmt: str, collections: tuple[str, ...], tasks: tuple[str, ...]) -> None:
    """Print the registry (CSV columns: collection, task, kind, location, config, split,
    revision, verified, sha256, columns, upstream, notes)."""
    entries = select(load_registry(), collections, tasks)
    if fmt == "csv":
        click.echo(to_csv(entries), nl=False)
        return
    click.echo(to_table(entries))
    counts = Counter(e.collection for e in entries)
    verified = sum(e.verified == "yes" for e in entries)
    summary = ", ".join(f"{c} {counts[c]}" for c in COLLECTIONS if counts[c])
    click.echo(f"\n{len(entries)} task(s): {summary}; {verified} verified")


@command.command("check")
@collection_option
@task_option
@cache_option
def check_command(collections: tuple[str, ...], tasks: tuple[str, ...], cache: str | None) -> None:
    """Check registry rows against the live Hub and URLs (HF_ENDPOINT, HF_TOKEN honoured);
    reports what moved or vanished. Exits 1 when any row is not ok."""
    from flanmix.registry.check import OK, UNCHECKED, check_entries
    from flanmix.sources.fetch import default_retry
    from flanmix.sources.snapshot import default_cache

    entries = select(load_registry(), collections, tasks)
    if not entries:
        raise FlanmixError("no registry row matches --collection/--task")

    def show(f: object) -> None:
        from flanmix.registry.check import Finding

        assert isinstance(f, Finding)
        click.echo(f"{f.status:<11} {f.entry.collection}/{f.entry.task}: {f.detail}")

    local = Path(cache) if cache and "://" not in cache else default_cache()
    findings = check_entries(entries, local, default_retry(attempts=2), show)
    counts = Counter(f.status for f in findings)
    click.echo("\n" + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())))
    if any(f.status not in (OK, UNCHECKED) for f in findings):
        raise SystemExit(1)
