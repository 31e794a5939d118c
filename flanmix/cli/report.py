"""`flanmix report OUT_DIR`: charts and tables of what a finished build holds."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("out_dir", metavar="OUT_DIR", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write the report (default: OUT_DIR/report).",
)
def command(out_dir: Path, report_dir: Path | None) -> None:
    """Chart the shares, tasks, lengths and drops of the build in OUT_DIR (PNGs, summary.md,
    index.html); the build's own files are only read."""
    from flanmix.publish.report import write_report  # the plotting code: only when reporting

    result = write_report(out_dir, report_dir)
    pngs = sum(1 for f in result.files if f.suffix == ".png")
    click.echo(
        f"wrote {result.folder}: {pngs} chart(s), summary.md and index.html for "
        f"{result.summary.total_rows:,} rows of {result.summary.mixture}"
    )
    for warning in result.summary.warnings:
        click.echo(f"warning: {warning}", err=True)
