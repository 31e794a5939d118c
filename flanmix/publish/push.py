"""Publish a finished build to a Hugging Face Hub dataset repo with the real client.

Files already on the Hub with the same content are skipped (compared by git blob id or LFS
sha256), so an interrupted push resumes where it stopped. Shards go first, in commits of
bounded size; stats, manifest and the dataset card last, so the repo looks complete only
when it is. Shards of an earlier, larger build left in `data/` are deleted in the last commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flanmix.errors import FlanmixError
from flanmix.hashing import file_sha256
from flanmix.publish.staging import COMPLETE_MARKER as COMPLETED
from flanmix.sources import hub
from flanmix.sources.fetch import Retry, default_retry

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?"
REPO_ID = re.compile(f"{_NAME}/{_NAME}")
LAST = ("stats.json", "manifest.json", "README.md")  # the card makes the dataset look done
BATCH_FILES = 50
BATCH_BYTES = 2_000_000_000


class PushError(FlanmixError):
    """The build cannot be pushed: not finished, no token, a bad repo id."""


@dataclass(frozen=True)
class PushResult:
    url: str
    revision: str
    uploaded: list[str]
    skipped: list[str]
    deleted: list[str]
    commits: int


def check_repo_id(repo_id: str) -> None:
    if not REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise PushError(
            f"repo id '{repo_id}' is not ORG/NAME (letters, digits, '-', '_' and '.'), "
            "e.g. my-org/flan2022-mix"
        )


def build_files(out: Path) -> list[Path]:
    """The files of a finished build that belong on the Hub, shards first, the card last."""
    if not (out / COMPLETED).is_file() or not (out / "manifest.json").is_file():
        raise PushError(
            f"{out} is not a finished flanmix build (no {COMPLETED} marker or manifest.json); "
            "run `flanmix build` to completion first, then push"
        )
    manifest = json.loads((out / "manifest.json").read_text())
    folders = ["data", *manifest.get("layouts", {})]  # trainer layouts are configs too
    shards = [p for folder in folders for p in sorted((out / folder).glob("*.parquet"))]
    evidence = [out / name for name in ("decontamination.jsonl",) if (out / name).is_file()]
    return [*shards, *evidence, *(out / name for name in LAST if (out / name).is_file())]


def git_blob_id(path: Path) -> str:
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _same(local: Path, remote: Any) -> bool:
    """Whether a remote RepoFile holds exactly the local file's bytes."""
    if remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return bool(remote.lfs.sha256 == file_sha256(str(local)))
    return bool(remote.blob_id == git_blob_id(local))


def _batches(files: list[Path]) -> list[list[Path]]:
    """Shards in commits of at most BATCH_FILES files / BATCH_BYTES; the last files alone."""
    out: list[list[Path]] = []
    size = 0
    for f in files:
        if f.name in LAST:
            continue
        if not out or len(out[-1]) >= BATCH_FILES or size + f.stat().st_size > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(f)
        size += f.stat().st_size
    out.append([f for f in files if f.name in LAST])
    return [b for b in out if b]


def _committer(
    api: Any, repo_id: str, ops: list[Any], message: str, branch: str, create_pr: bool
) -> Callable[[], Any]:
    return lambda: api.create_commit(
        repo_id,
        ops,
        commit_message=message,
        repo_type="dataset",
        revision=branch,
        create_pr=create_pr,
    )


def push(
    out: Path,
    repo_id: str,
    *,
    revision: str | None = None,
    revision_from_spec: bool = False,
    private: bool = False,
    create_pr: bool = False,
    retry: Retry | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token

    check_repo_id(repo_id)
    out = Path(out)
    files = build_files(out)
    token = get_token()  # HF_TOKEN, or the one `hf auth login` stored
    if not token:
        raise PushError(
            "pushing needs a Hugging Face token with write access: run `hf auth login` or "
            "set HF_TOKEN"
        )
    retry = retry or default_retry()
    api = HfApi(endpoint=hub.endpoint(), token=token)

    def call(what: str, fn: Callable[[], Any]) -> Any:
        return retry.run(what, lambda: hub.call(what, fn, repo_id), progress)

    if revision_from_spec:
        import json

        spec = json.loads((out / "manifest.json").read_text())["spec_hash"]
        revision = f"flanmix-{spec[:16]}"
    branch = revision or "main"
    call(
        f"creating {repo_id}",
        lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True),
    )
    if branch != "main":
        call(
            f"creating branch {branch}",
            lambda: api.create_branch(repo_id, repo_type="dataset", branch=branch, exist_ok=True),
        )
    remote = {
        f.path: f
        for f in call(
            f"listing {repo_id}@{branch}",
            lambda: list(
                api.list_repo_tree(repo_id, repo_type="dataset", revision=branch, recursive=True)
            ),
        )
        if hasattr(f, "blob_id")
    }
    names = {f: f.relative_to(out).as_posix() for f in files}
    todo = [f for f in files if not (names[f] in remote and _same(f, remote[names[f]]))]
    skipped = [names[f] for f in files if f not in todo]
    # Shards of an earlier build: in data/ and in any layout folder (configs use globs).
    stale = sorted(
        p for p in remote if "/" in p and p.endswith(".parquet") and p not in names.values()
    )
    if skipped:
        progress(f"{len(skipped)} file(s) already on the Hub with the same content: skipped")
    batches = _batches(todo) if not create_pr else [todo]  # a pull request is one commit
    if stale and not batches:
        batches = [[]]
    replacing = "README.md" in remote and any(names[f] == "README.md" for f in todo)
    pr_url = None
    for i, batch in enumerate(batches, 1):
        ops: list[Any] = [CommitOperationAdd(names[f], str(f)) for f in batch]
        if i == 1 and replacing and len(batches) > 1:
            # readers must not take the old card for the new shards while they upload
            ops.append(CommitOperationDelete("README.md"))
        if i == len(batches):
            ops += [CommitOperationDelete(p) for p in stale]
        size = sum(f.stat().st_size for f in batch)
        progress(f"commit {i}/{len(batches)}: {len(batch)} file(s), {size:,} bytes")
        message = f"flanmix build ({i}/{len(batches)})"
        info = call(
            f"committing to {repo_id}@{branch}",
            _committer(api, repo_id, ops, message, branch, create_pr),
        )
        pr_url = getattr(info, "pr_url", None) or pr_url
    url = pr_url or (
        f"{hub.endpoint()}/datasets/{repo_id}" + (f"/tree/{branch}" if branch != "main" else "")
    )
    return PushResult(
        url=url,
        revision=branch,
        uploaded=[names[f] for f in todo],
        skipped=skipped,
        deleted=stale if batches else [],
        commits=len(batches),
    )
