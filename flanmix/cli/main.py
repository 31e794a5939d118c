"""`flanmix`: the entry point. Library errors become one-line messages; --debug shows tracebacks."""

from __future__ import annotations

import logging
import os
from typing import Any

import click

from flanmix import __version__
from flanmix.errors import FlanmixError


class FlanmixGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        debug = ctx.params.get("debug") or os.environ.get("FLANMIX_DEBUG") == "1"
        # Beam logs warnings about optional cloud clients on import; keep the terminal clean.
        logging.basicConfig(level=logging.INFO if debug else logging.ERROR)
        try:
            return super().invoke(ctx)
        except FlanmixError as e:
            if debug:
                raise
            raise click.ClickException(f"{e}\n(run with --debug for the traceback)") from None


@click.group(cls=FlanmixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and Beam's logs.")
@click.version_option(__version__, prog_name="flanmix")
def cli(debug: bool) -> None:
    """Build Flan-style instruction-tuning mixtures with Apache Beam."""


def _register() -> None:
    from flanmix.cli import (
        build,
        env,
        plan,
        preview,
        push,
        report,
        self_improve,
        snapshot,
        sources,
        templates,
        validate,
    )

    modules = (validate, plan, snapshot, sources, build, push, report, preview, templates)
    for module in (*modules, self_improve, env):
        cli.add_command(module.command)


_register()


def main() -> None:
    cli(prog_name="flanmix")


if __name__ == "__main__":
    main()
