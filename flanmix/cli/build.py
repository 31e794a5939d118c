"""`flanmix build`: run the Beam pipeline and write the finished dataset folder."""

from __future__ import annotations

from pathlib import Path

import click

from flanmix.build import DEFAULT_SHARD_BYTES, DryRun, build
from flanmix.build import dry_run as make_dry_run
from flanmix.cli.common import (
    command_line,
    limit_option,
    load,
    mixture_option,
    progress,
    source_options,
    templates_option,
)
from flanmix.cli.push import push_build, push_options
from flanmix.hygiene.evalsets import with_hygiene
from flanmix.publish.layouts import layout_options


@click.command("build")
@mixture_option
@templates_option
@limit_option
@click.option(
    "--out",
    "-o",
    required=True,
    metavar="DIR|URL",
    help="Output folder (laid out as a Hugging Face dataset repo), local or an fsspec URL "
    "such as gs://bucket/name.",
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
    "--max-shard-size",
    "max_shard_bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_SHARD_BYTES,
    show_default=True,
    help="Target size of one Parquet shard before compression.",
)
@source_options
@click.option(
    "--dedup",
    type=click.Choice(["none", "task", "mixture"]),
    default=None,
    help="Drop exact duplicates of rendered rows within each task or across the mixture "
    "(overrides the mixture's `dedup`).",
)
@click.option(
    "--decontaminate",
    "decontaminate",
    multiple=True,
    metavar="SPEC",
    help="Also check rows against this eval set: a registry name (mmlu, bbh, tydiqa, mgsm) "
    "or a local .jsonl/.parquet/.tsv file whose string fields are all indexed (repeatable).",
)
@click.option(
    "--decontam-action",
    type=click.Choice(["drop", "flag"]),
    default=None,
    help="Drop rows that share an n-gram with an eval set, or keep and list them "
    "(overrides the mixture's `decontamination.action`).",
)
@click.option(
    "--layout",
    "layout_names",
    multiple=True,
    metavar="L",
    help="Also write this trainer layout, as its own folder and Hub config: prompt-completion, "
    "messages or text (repeatable; flan is always written).",
)
@click.option(
    "--fewshot-as-turns",
    is_flag=True,
    help="In the messages layout, few-shot rows become alternating user/assistant turns, one "
    "pair per exemplar.",
)
@click.option(
    "--text-joiner",
    default="\n\n",
    show_default=True,
    help="Between inputs and targets in the `text` layout.",
)
@click.option(
    "--tokenizer",
    default=None,
    metavar="PATH",
    help="A tokenizers .json or sentencepiece .model file (no downloads): token counts per "
    "leaf, and packing with --pack.",
)
@click.option(
    "--pack",
    type=int,
    default=None,
    metavar="LENGTH",
    help="Write pre-tokenized rows packed to exactly LENGTH tokens (the `packed` config).",
)
@click.option(
    "--pack-target-length",
    type=int,
    default=None,
    metavar="N",
    help="Encoder-decoder packing (T5 features): --pack is the input length, N the target's.",
)
@click.option(
    "--overlong",
    type=click.Choice(["drop", "truncate"]),
    default="drop",
    show_default=True,
    help="An example longer than the pack length.",
)
@click.option("--no-eos", is_flag=True, help="Do not end packed examples with EOS.")
@click.option("--loss-on-prompt", is_flag=True, help="Packed loss masks cover prompts too.")
@click.option(
    "--push-to-hub",
    default=None,
    metavar="ORG/NAME",
    help="Push the finished build to this Hub dataset repo (see `flanmix push`).",
)
@push_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Build the job graph for a remote runner and print it, without submitting anything.",
)
def command(
    mixture: str,
    template_dirs: tuple[str, ...],
    limit_per_task: int | None,
    out: str,
    runner: str,
    workers: int,
    seed: int | None,
    overwrite: bool,
    beam_options: tuple[str, ...],
    max_shard_bytes: int,
    cache: str | None,
    skip_failed_sources: bool,
    dedup: str | None,
    decontaminate: tuple[str, ...],
    decontam_action: str | None,
    layout_names: tuple[str, ...],
    fewshot_as_turns: bool,
    text_joiner: str,
    tokenizer: str | None,
    pack: int | None,
    pack_target_length: int | None,
    overlong: str,
    no_eos: bool,
    loss_on_prompt: bool,
    push_to_hub: str | None,
    revision: str | None,
    revision_from_spec: bool,
    private: bool,
    create_pr: bool,
    dry_run: bool,
) -> None:
    """Build a mixture into sharded Parquet with a manifest, stats and a dataset card."""
    from flanmix.pipeline.options import parse_overrides  # imports Beam: only when building

    if push_to_hub:
        from flanmix.publish.push import check_repo_id

        check_repo_id(push_to_hub)  # before hours of building, not after
        from huggingface_hub import get_token

        if not get_token():
            raise click.UsageError(
                "--push-to-hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN"
            )
        if "://" in str(out):
            raise click.UsageError("--push-to-hub pushes a local build; give --out a local folder")
    layouts = layout_options(
        layouts=layout_names,
        fewshot_as_turns=fewshot_as_turns,
        text_joiner=text_joiner,
        tokenizer=tokenizer,
        pack=pack,
        pack_targets=pack_target_length,
        overlong=overlong,
        eos=not no_eos,
        loss_on_prompt=loss_on_prompt,
    )
    m = with_hygiene(load(mixture, template_dirs), dedup, decontaminate, decontam_action)
    if dry_run:
        _print_dry_run(
            make_dry_run(
                m,
                runner=runner,
                options=parse_overrides(beam_options),
                limit_per_task=limit_per_task,
                max_shard_bytes=max_shard_bytes,
                cache=cache,
                skip_failed_sources=skip_failed_sources,
                progress=progress,
                layouts=layouts,
            )
        )
        return
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
        layouts=layouts,
    )
    stats = result.stats
    drops = ", ".join(f"{k} {v:,}" for k, v in stats["dropped"].items()) or "none"
    click.echo(
        f"built {result.out}: {stats['written_rows']:,} rows in "
        f"{len(result.manifest['shards'])} shard(s); dropped: {drops}"
    )
    contamination = stats.get("decontamination")
    if contamination:
        verb = "dropped" if contamination["action"] == "drop" else "flagged"
        click.echo(
            f"decontamination: {contamination['rows']:,} row(s) {verb} for sharing n-grams "
            f"with an eval set (evidence in {result.out}/decontamination.jsonl)"
        )
    for name in result.manifest.get("layouts", {}):
        click.echo(f"layout {name}: {result.out}/{name}/")
    if "packing" in stats:
        p = stats["packing"]
        click.echo(
            f"packed {p['examples']:,} examples into {p['rows']:,} rows of {p['length']:,} "
            f"tokens: efficiency {p['efficiency']:.1%}; overlong: {p['dropped_overlong']:,} "
            f"dropped, {p['truncated']:,} truncated"
        )
    skipped = result.manifest["skipped_sources"]
    if skipped:
        click.echo(
            f"incomplete: left out {len(skipped)} task(s) whose source failed: "
            + ", ".join(skipped)
        )
    if push_to_hub:
        click.echo(
            push_build(
                Path(result.out), push_to_hub, revision, revision_from_spec, private, create_pr
            )
        )


def _print_dry_run(job: DryRun) -> None:
    click.echo(f"dry run on {job.runner}: the job graph was built, nothing was submitted")
    click.echo(f"steps ({len(job.steps)} top-level, {job.transforms} transforms in all):")
    for step in job.steps:
        click.echo(f"  {step}")
    click.echo("staged packages: " + (", ".join(job.staged) or "none"))
    for warning in job.warnings:
        click.echo(f"warning: a real run would stop here: {warning}")
