"""`flanmix self-improve`: sampling requests for unlabeled questions, and the engine's
samples voted into an ordinary flanmix task (see flanmix/selfimprove/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from flanmix.cli.common import cache_option
from flanmix.selfimprove.answers import ANSWER_PATTERN, KINDS
from flanmix.selfimprove.collect import (
    Settings,
    collect,
    file_task,
    read_exemplars,
    read_questions,
    write_rows,
)
from flanmix.selfimprove.prompts import (
    Sampling,
    answer_requests,
    new_questions,
    question_requests,
)

FORMATS = click.Choice(["jsonl", "parquet", "cot"])
F = TypeVar("F", bound=Callable[..., Any])


@click.group("self-improve")
def command() -> None:
    """Self-improvement data (LMSI): prompts for an inference engine, and its sampled
    reasoning turned into training rows by majority vote."""


def sampling_options(f: F) -> F:
    """The sampling settings written into each request, as suggestions for the engine."""
    f = click.option(
        "--max-tokens", type=click.IntRange(1), default=512, show_default=True,
        help="Suggested completion length.",
    )(f)  # fmt: skip
    f = click.option(
        "--temperature", type=click.FloatRange(0), default=0.7, show_default=True,
        help="Suggested sampling temperature (the paper: 0.7).",
    )(f)  # fmt: skip
    return click.option(
        "--samples", "n", type=click.IntRange(1), default=32, show_default=True,
        help="Suggested samples per request (the paper: 32).",
    )(f)  # fmt: skip


def exemplar_options(f: F) -> F:
    f = click.option(
        "--exemplars-format", type=FORMATS, default=None,
        help="The exemplar file's kind, when its suffix does not say.",
    )(f)  # fmt: skip
    return click.option(
        "--exemplars", required=True, metavar="FILE",
        help="Worked examples (question, rationale, answer): .jsonl, .parquet (a collect "
        "output works), or Flan's chain-of-thought .tsv.",
    )(f)  # fmt: skip


def run_options(f: F) -> F:
    """The requests `prompts` wrote and the engine's samples for them."""
    existing = click.Path(path_type=Path, exists=True, dir_okay=False)
    f = click.option(
        "--samples", required=True, type=existing,
        help="The engine's output: request_id and completions (or one completion per row), "
        ".jsonl or .parquet.",
    )(f)  # fmt: skip
    return click.option(
        "--prompts", "prompts_file", required=True, type=existing,
        help="The requests `prompts` wrote.",
    )(f)  # fmt: skip


@command.command("prompts")
@exemplar_options
@click.option(
    "--questions",
    default=None,
    metavar="FILE",
    help="Unlabeled questions (.jsonl, .parquet or Flan CoT .tsv); omit with --mode new-questions.",
)
@click.option("--questions-format", type=FORMATS, default=None)
@click.option("--question-field", default="question", show_default=True)
@click.option("--id-field", default=None, help="Field with the question's id [default: its row].")
@click.option(
    "--mode",
    type=click.Choice(["answers", "new-questions"]),
    default="answers",
    show_default=True,
    help="Reasoning paths for the questions, or new questions.",
)
@click.option(
    "--count",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="new-questions: how many prompts.",
)
@click.option("--shots", type=click.IntRange(1), default=4, show_default=True)
@click.option("--name", default=None, help="Request id prefix [default: the questions' stem].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Requests file: .jsonl or .parquet.",
)
@sampling_options
@cache_option
def prompts(
    exemplars: str,
    exemplars_format: str | None,
    questions: str | None,
    questions_format: str | None,
    question_field: str,
    id_field: str | None,
    mode: str,
    count: int,
    shots: int,
    name: str | None,
    seed: int,
    out: Path,
    n: int,
    temperature: float,
    max_tokens: int,
    cache: str | None,
) -> None:
    """Write one sampling request per question (or --count new-question requests)."""
    worked = read_exemplars(file_task(exemplars, exemplars_format, "exemplars"), cache)
    sampling = Sampling(n, temperature, max_tokens)
    if mode == "answers":
        if not questions:
            raise click.UsageError("--mode answers needs --questions FILE")
        task = file_task(questions, questions_format, "questions")
        asked = read_questions(task, question_field, id_field, cache)
        rows = list(answer_requests(name or Path(questions).stem, asked, worked, shots, sampling))
    else:
        rows = list(question_requests(name or "new", worked, count, shots, seed, sampling))
    write_rows(out, rows)
    click.echo(f"wrote {len(rows):,} request(s) to {out}")


@command.command("collect")
@run_options
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for data.parquet and self_improve.json.",
)
@click.option(
    "--answer-pattern",
    default=ANSWER_PATTERN,
    show_default=True,
    help="Regex whose group 1 is the final answer; the last match counts.",
)
@click.option(
    "--answer-kind",
    type=click.Choice(KINDS),
    default="number",
    show_default=True,
    help="How answers are compared: numbers by value, text by words, choices by letter.",
)
@click.option(
    "--threshold",
    type=float,
    default=0.5,
    show_default=True,
    help="Keep a question when its answer's share of the samples is at least this.",
)
@click.option(
    "--max-paths",
    type=click.IntRange(1),
    default=None,
    help="Keep at most this many distinct paths per question.",
)
@click.option("--overwrite", is_flag=True)
def collect_command(
    prompts_file: Path,
    samples: Path,
    out: Path,
    answer_pattern: str,
    answer_kind: str,
    threshold: float,
    max_paths: int | None,
    overwrite: bool,
) -> None:
    """Majority-vote the samples and write the kept reasoning paths as a flanmix task."""
    settings = Settings(answer_pattern, answer_kind, threshold, max_paths)
    stats = collect(prompts_file, samples, out, settings, overwrite)
    click.echo(
        f"kept {stats['kept_questions']:,} of {stats['questions']:,} question(s), "
        f"{stats['paths_kept']:,} path(s), mean confidence {stats['mean_confidence']:.2f}; "
        f"{stats['extraction_failures']:,} sample(s) without an answer; "
        f"dropped: {stats['dropped_questions'] or 'none'} -> {out}"
    )


@command.command("questions")
@run_options
@exemplar_options
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Questions file (.jsonl or .parquet) for `prompts --questions`.",
)
@cache_option
def questions_command(
    prompts_file: Path,
    samples: Path,
    exemplars: str,
    exemplars_format: str | None,
    out: Path,
    cache: str | None,
) -> None:
    """Turn new-question samples into a questions file (first line of each, deduplicated)."""
    from flanmix.selfimprove.collect import read_requests, read_samples

    requests = read_requests(prompts_file)
    sampled = read_samples(samples, requests)
    worked = read_exemplars(file_task(exemplars, exemplars_format, "exemplars"), cache)
    texts = [c for rid in requests for c in sampled.get(rid, [])]
    kept, dropped = new_questions(texts, [e.question for e in worked])
    write_rows(out, [{"id": f"q{i:06d}", "question": q} for i, q in enumerate(kept)])
    click.echo(f"wrote {len(kept):,} new question(s) to {out}; dropped: {dropped}")
