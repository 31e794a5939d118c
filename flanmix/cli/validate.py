"""`flanmix validate MIXTURE`: check a mixture and every template it names, reading no data
beyond the first records of each source (to know its fields)."""

from __future__ import annotations

import click

from flanmix.checks import check_mixture
from flanmix.cli.common import cache_option, load, templates_option
from flanmix.sources.snapshot import cache_location, snapshot_tasks, with_snapshots


@click.command("validate")
@click.argument("mixture", metavar="MIXTURE")
@templates_option
@cache_option
def command(mixture: str, template_dirs: tuple[str, ...], cache: str | None) -> None:
    """Validate MIXTURE (a bundled name or a YAML path) and its templates."""
    m = load(mixture, template_dirs)
    check_mixture(m)
    found = snapshot_tasks(list(m.tasks.values()), cache_location(cache), fetch=False)
    m = with_snapshots(m, found)  # fields of sources snapshotted so far are checked too
    compiled = check_mixture(m)
    n_templates = sum(len(f.templates) for f in compiled.values())
    pending = [t.name for t in m.tasks.values() if not t.source.in_place]
    if pending:
        click.echo(
            f"note: {len(pending)} task(s) not snapshotted yet; their fields are checked by "
            f"`flanmix snapshot` or `build`: {', '.join(pending)}"
        )
    click.echo(
        f"ok: {m.name} ({m.file}): {len(m.collections())} collection(s), {len(m.tasks)} task(s), "
        f"{len(m.leaves())} leaves, {len(compiled)} template family(ies) with "
        f"{n_templates} template(s)"
    )
