"""`flanmix build`: run the Beam pipeline and write the finished dataset folder."""

from __future__ import annotations

from pathlib import Path

import click

from flanmix.build import DEFAULT_SHARD_BYTES, build
from flanmix.cli.common import (
    command_line,
    limit_option,
    load,
    mixture_option,
    progress,
    source_options,
    templates_option,
)


@click.command("build")
@mixture_option
@templates_option
@limit_option
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder (laid out as a Hugging Face dataset repo).",
)
@click.option(
    "--runner",
    default="direct",
    show_default=True,
    metavar="PROFILE",
    help="Runner profile: a name in beam_pipelines/ or a profile YAML path.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local worker processes (direct runner).",
)
@click.option("--seed", type=int, default=None, help="Override the mixture's seed.")
@click.option("--overwrite", is_flag=True, help="Replace the output folder if it exists.")
@click.option(
    "--option",
    "beam_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra Beam pipeline option, overriding the profile (repeatable).",
)
@click.option(
    "--max-shard-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_SHARD_BYTES,
    show_default=True,
    help="Target size of one Parquet shard before compression.",
)
@source_options
def command(
    mixture: str,
    template_dirs: tuple[str, ...],
    limit_per_task: int | None,
    out: Path,
    runner: str,
    workers: int,
    seed: int | None,
    overwrite: bool,
    beam_options: tuple[str, ...],
    max_shard_bytes: int,
    cache: Path | None,
    skip_failed_sources: bool,
) -> None:
    """Build a mixture into sharded Parquet with a manifest, stats and a dataset card."""
    from flanmix.pipeline.options import parse_overrides  # imports Beam: only when building

    m = load(mixture, template_dirs)
    result = build(
        m,
        out,
        runner=runner,
        workers=workers,
        seed=seed,
        limit_per_task=limit_per_task,
        overwrite=overwrite,
        options=parse_overrides(beam_options),
        max_shard_bytes=max_shard_bytes,
        command=command_line(click.get_current_context()),
        progress=progress,
        cache=cache,
        skip_failed_sources=skip_failed_sources,
    )
    stats = result.stats
    drops = ", ".join(f"{k} {v:,}" for k, v in stats["dropped"].items()) or "none"
    click.echo(
        f"built {result.out}: {stats['written_rows']:,} rows in "
        f"{len(result.manifest['shards'])} shard(s); dropped: {drops}"
    )
    skipped = result.manifest["skipped_sources"]
    if skipped:
        click.echo(
            f"incomplete: left out {len(skipped)} task(s) whose source failed: "
            + ", ".join(skipped)
        )
