"""Options and helpers shared by several commands."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from flanmix.spec.load import Mixture, load_mixture

F = TypeVar("F", bound=Callable[..., Any])


def mixture_option(f: F) -> F:
    return click.option(
        "--mixture",
        "-m",
        required=True,
        metavar="NAME|PATH",
        help="A bundled mixture name (e.g. demo) or the path of a mixture YAML file.",
    )(f)


def templates_option(f: F) -> F:
    return click.option(
        "--templates",
        "template_dirs",
        multiple=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False),
        help="Folder of template family YAML files, searched before the bundled ones (repeatable).",
    )(f)


def limit_option(f: F) -> F:
    return click.option(
        "--limit-per-task",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Use only the first N rows of each task (for quick trial builds).",
    )(f)


def load(mixture: str, template_dirs: tuple[str, ...] = ()) -> Mixture:
    return load_mixture(mixture, tuple(template_dirs))


def progress(message: str) -> None:
    click.echo(f"· {message}", err=True)


def command_line(ctx: click.Context) -> str:
    """The command as a user would retype it: every option that differs from its default."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value == param.default or value in (None, (), False):
            continue
        flag = param.opts[0] if isinstance(param, click.Option) else None
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if flag and isinstance(param, click.Option) and param.is_flag:
                words.append(flag)
            else:
                words += [flag, str(v)] if flag else [str(v)]
    return shlex.join(words)


def import_options(f: F) -> F:
    """--out and --overwrite of the template importers."""
    f = click.option("--overwrite", is_flag=True, help="Replace family files that already exist.")(
        f
    )
    return click.option(
        "--out",
        "out",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Folder for the family YAML files (created if missing).",
    )(f)


def source_options(f: F) -> F:
    """Where snapshots live, and whether a failed source stops the command."""
    f = click.option(
        "--skip-failed-sources",
        is_flag=True,
        help="Go on without tasks whose source cannot be fetched (the card lists them).",
    )(f)
    return cache_option(f)


def cache_option(f: F) -> F:
    return click.option(
        "--cache",
        envvar="FLANMIX_CACHE",
        default=None,
        metavar="DIR|URL",
        help="Snapshot cache, local or an fsspec URL such as gs://bucket/cache "
        "[default: $FLANMIX_CACHE or ~/.cache/flanmix].",
    )(f)
