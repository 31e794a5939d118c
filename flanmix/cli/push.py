"""`flanmix push OUT_DIR --repo-id ORG/NAME`: publish a finished build to the Hub."""

from __future__ import annotations

from pathlib import Path

import click

from flanmix.cli.common import F, progress


def push_options(f: F) -> F:
    """--revision, --revision-from-spec, --private, --create-pr (shared with `build`)."""
    f = click.option("--create-pr", is_flag=True, help="Open a pull request instead of pushing.")(f)
    f = click.option("--private", is_flag=True, help="Create the repo private.")(f)
    f = click.option(
        "--revision-from-spec",
        is_flag=True,
        help="Push to a branch named after the build's spec hash (flanmix-<hash>).",
    )(f)
    return click.option(
        "--revision", default=None, metavar="BRANCH", help="Push to this branch (created)."
    )(f)


@click.command("push")
@click.argument(
    "out", metavar="OUT_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--repo-id", required=True, metavar="ORG/NAME", help="The Hub dataset repo.")
@push_options
def command(
    out: Path,
    repo_id: str,
    revision: str | None,
    revision_from_spec: bool,
    private: bool,
    create_pr: bool,
) -> None:
    """Upload a finished build (shards, card, manifest, stats) to a Hub dataset repo.

    Uses HF_ENDPOINT and HF_TOKEN (or `hf auth login`); files already there are skipped.
    """
    click.echo(push_build(out, repo_id, revision, revision_from_spec, private, create_pr))


def push_build(
    out: Path,
    repo_id: str,
    revision: str | None,
    revision_from_spec: bool,
    private: bool,
    create_pr: bool,
) -> str:
    from flanmix.errors import FlanmixError
    from flanmix.publish.push import push

    if revision and revision_from_spec:
        raise FlanmixError("give --revision or --revision-from-spec, not both")
    r = push(
        out,
        repo_id,
        revision=revision,
        revision_from_spec=revision_from_spec,
        private=private,
        create_pr=create_pr,
        progress=progress,
    )
    return (
        f"pushed {out} to {r.url}: {len(r.uploaded)} file(s) uploaded, {len(r.skipped)} "
        f"already there, {len(r.deleted)} stale shard(s) deleted, in {r.commits} commit(s)"
    )
