"""Write the output somewhere temporary and move it into place only when complete.

A crashed build leaves at most a staging folder beside the output (which the next build
removes); the output folder itself either is absent or carries the completion marker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from flanmix.errors import OutputError

COMPLETE_MARKER = "_COMPLETED"
_STAGING = ".{name}.flanmix-staging"
_TRASH = ".{name}.flanmix-old"


def is_complete(out: Path) -> bool:
    return (out / COMPLETE_MARKER).is_file()


def _is_replaceable(out: Path) -> bool:
    """Only an empty folder or a flanmix output (finished or not) may be replaced."""
    return not any(out.iterdir()) or is_complete(out) or (out / "manifest.json").is_file()


def prepare(out: Path, overwrite: bool) -> Path:
    """Check the output folder can be written and return a fresh, empty staging folder.

    `out` must be an absolute path (the caller resolves it)."""
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise OutputError(
            f"output folder {out} is the current folder or one of its parents; "
            "give --out a new folder, e.g. --out build/my-mixture"
        )
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a folder; remove it first")
    if out.exists() and not overwrite:
        state = "a finished build" if is_complete(out) else "not a finished build"
        raise OutputError(
            f"output folder {out} already exists ({state}); pass --overwrite to replace it "
            "or choose another --out"
        )
    if out.exists() and not _is_replaceable(out):
        raise OutputError(
            f"output folder {out} holds files that are not a flanmix build; --overwrite only "
            "replaces an earlier build (a folder with _COMPLETED or manifest.json) or an empty "
            "folder, so choose another --out"
        )
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {parent}: {e.strerror}") from None
    staging = parent / _STAGING.format(name=out.name)
    if staging.exists():  # left behind by an interrupted build: start clean
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def finish(staging: Path, out: Path) -> None:
    """Write the marker last, then swap the staging folder into place."""
    with open(staging / COMPLETE_MARKER, "w") as f:
        f.write("complete\n")
        f.flush()
        os.fsync(f.fileno())
    trash = out.parent / _TRASH.format(name=out.name)
    if trash.exists():
        shutil.rmtree(trash)
    if out.exists():
        os.replace(out, trash)
    try:
        os.replace(staging, out)
    except OSError:
        if trash.exists():  # put the previous finished build back
            os.replace(trash, out)
        raise
    if trash.exists():
        shutil.rmtree(trash)


def abandon(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


# ---- outputs at an fsspec URL (gs://…): no folder renames there, so the marker goes last ----


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise OutputError(f"cannot write to {url}: {e}") from None


def prepare_url(out: str, overwrite: bool) -> str:
    """The staging prefix beside a remote output, after the same checks as a local folder.
    Reaching the store here (credentials, bucket) fails before any work is done."""
    fs, path = _fs(out)
    try:
        exists = fs.exists(path)
        listing = fs.ls(path, detail=False) if exists else []
    except Exception as e:  # each store raises its own errors: credentials, no bucket, ...
        raise OutputError(
            f"cannot reach {out}: {type(e).__name__}: {e}; check the credentials for this "
            "store (e.g. `gcloud auth application-default login`) and that the bucket exists"
        ) from None
    names = {n.rstrip("/").rsplit("/", 1)[-1] for n in listing}
    if listing and not overwrite:
        state = "a finished build" if COMPLETE_MARKER in names else "not a finished build"
        raise OutputError(
            f"output {out} already exists ({state}); pass --overwrite to replace it or choose "
            "another --out"
        )
    if listing and not ({COMPLETE_MARKER, "manifest.json"} & names):
        raise OutputError(
            f"output {out} holds files that are not a flanmix build; --overwrite only replaces "
            "an earlier build or an empty folder, so choose another --out"
        )
    parent, _, name = out.rstrip("/").rpartition("/")
    staging = f"{parent}/{_STAGING.format(name=name)}"
    abandon_url(staging)
    return staging


def finish_url(staging: str, out: str) -> None:
    """Replace `out` with the staged files; the completion marker is written last, so a
    reader never sees a marker beside half the files."""
    fs, stage_path = _fs(staging)
    _, out_path = _fs(out)
    if fs.exists(out_path):
        fs.rm(out_path, recursive=True)
    # Shards first, the card last, then the marker: a reader (or a retry) never mistakes a
    # half-moved output for a build. The staging copy is kept until every file has moved.
    last = {"stats.json": 1, "manifest.json": 2, "README.md": 3}
    files = sorted(fs.find(stage_path), key=lambda f: (last.get(f.rsplit("/", 1)[-1], 0), f))
    for f in files:
        fs.mv(f, out_path + f[len(stage_path) :])
    fs.pipe_file(f"{out_path}/{COMPLETE_MARKER}", b"complete\n")
    abandon_url(staging)


def abandon_url(staging: str) -> None:
    fs, path = _fs(staging)
    if fs.exists(path):
        fs.rm(path, recursive=True)
