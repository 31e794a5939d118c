"""Hub datasets through the real `huggingface_hub` client: resolve a revision, pick a config's
split among the repo's Parquet files, download them into the normal Hugging Face cache.

`HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE` are read when a call is made (the client library
reads some of them once at import, so the endpoint is passed explicitly).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from flanmix.errors import SourceError
from flanmix.sources.fetch import TRANSIENT_STATUS, Retry, TransientError

LOGIN = "log in with `hf auth login` or set HF_TOKEN"


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


@dataclass(frozen=True)
class HubRepo:
    repo_id: str
    revision: str  # as asked (a branch, tag or sha)
    sha: str  # the commit it resolved to: the pin
    files: tuple[str, ...]
    canonical_id: str  # the id the Hub answers with (differs when the repo moved)


def call(what: str, fn: Callable[[], Any], repo_id: str = "") -> Any:
    """Run one client call, turning its errors into actionable SourceErrors or retryable ones."""
    from huggingface_hub import errors

    try:
        return fn()
    except errors.GatedRepoError:
        raise SourceError(
            f"{what}: the dataset is gated; accept its conditions on its Hub page, then {LOGIN}"
        ) from None
    except errors.RepositoryNotFoundError:
        hint = "check `repo_id`" + ("" if _token() else f"; if it is private, {LOGIN}")
        raise SourceError(f"{what}: no such dataset on {endpoint()} ({hint})") from None
    except errors.RevisionNotFoundError:
        raise SourceError(f"{what}: no such revision; check `revision`{_refs(repo_id)}") from None
    except errors.LocalEntryNotFoundError as e:  # the client's word for "could not connect"
        raise TransientError(f"cannot reach {endpoint()} ({e})") from None
    except errors.EntryNotFoundError:
        raise SourceError(f"{what}: no such file in the repo") from None
    except errors.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status in TRANSIENT_STATUS:
            raise TransientError(f"HTTP {status} from {endpoint()}") from None
        hint = f"; {LOGIN} with a token that can read it" if status in (401, 403) else ""
        raise SourceError(f"{what}: HTTP {status} from {endpoint()}: {e}{hint}") from None
    except Exception as e:
        if isinstance(e, OSError | _transport_errors()):  # connection refused, reset, timeout
            raise TransientError(f"{type(e).__name__}: {e}") from None
        raise


def _refs(what: str) -> str:
    """ ", branches: …; tags: …" for the repo named in `what`, or "" when they cannot be listed."""
    from huggingface_hub import HfApi

    repo_id = what.split()[-1].split("@")[0]
    try:
        refs = HfApi(endpoint=endpoint(), token=_token()).list_repo_refs(
            repo_id, repo_type="dataset"
        )
    except Exception:  # only a hint: the error at hand is the one to report
        return ""
    branches = ", ".join(b.name for b in refs.branches) or "none"
    tags = ", ".join(t.name for t in refs.tags) or "none"
    return f" (branches: {branches}; tags: {tags}; or a commit sha)"


def _transport_errors() -> type[Exception]:
    """The HTTP library's network errors (huggingface_hub 2 uses httpx2, 1.x httpx)."""
    try:
        import httpx2 as httpx  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        import httpx  # type: ignore[import-not-found,no-redef,unused-ignore]
    return httpx.TransportError  # type: ignore[no-any-return,unused-ignore]


def resolve(repo_id: str, revision: str, retry: Retry, note: Callable[[str], None]) -> HubRepo:
    from huggingface_hub import HfApi

    if offline():
        raise SourceError(
            f"HF_HUB_OFFLINE is set and dataset {repo_id} has no snapshot yet; run "
            "`flanmix snapshot` once with network access, or unset HF_HUB_OFFLINE"
        )
    api = HfApi(endpoint=endpoint(), token=_token())
    what = f"Hub dataset {repo_id}@{revision}"
    info = retry.run(
        what,
        lambda: call(what, lambda: api.dataset_info(repo_id, revision=revision), repo_id),
        note,
    )
    files = [s.rfilename for s in info.siblings or []]
    if not files:
        files = retry.run(
            what,
            lambda: call(
                what,
                lambda: api.list_repo_files(repo_id, repo_type="dataset", revision=info.sha),
            ),
            note,
        )
    return HubRepo(repo_id, revision, str(info.sha), tuple(sorted(files)), str(info.id))


def download(repo: HubRepo, filename: str, retry: Retry, note: Callable[[str], None]) -> str:
    """A file of the pinned commit, from the Hugging Face cache (fetched into it if missing)."""
    from huggingface_hub import hf_hub_download

    what = f"downloading {filename} from {repo.repo_id}@{repo.sha[:12]}"
    return str(
        retry.run(
            what,
            lambda: call(
                what,
                lambda: hf_hub_download(
                    repo.repo_id,
                    filename,
                    repo_type="dataset",
                    revision=repo.sha,
                    endpoint=endpoint(),
                    token=_token(),
                ),
            ),
            note,
        )
    )


def parquet_files(
    repo: HubRepo,
    config: str | None,
    split: str,
    data_files: list[str] | None,
    readme: Callable[[], str | None],
) -> list[str]:
    """The Parquet files holding `config`/`split`: explicit `data_files` globs, else the
    README's `configs:` list, else the usual layouts (`data/train-*.parquet`,
    `{config}/train/*.parquet` as on `refs/convert/parquet`, ...)."""
    parquet = [f for f in repo.files if f.endswith(".parquet")]
    where = f"Hub dataset {repo.repo_id}@{repo.revision}"
    if data_files:
        chosen = [f for f in parquet if any(fnmatch.fnmatch(f, g) for g in data_files)]
        if not chosen:
            raise SourceError(
                f"{where}: no Parquet file matches data_files {data_files}; "
                f"it has: {_some(parquet)}"
            )
        return chosen
    declared = _declared_configs(readme() if "README.md" in repo.files else None)
    if declared:
        return _from_declared(declared, config, split, parquet, where)
    if not parquet:
        raise SourceError(
            f"{where}: the repo has no Parquet files (files: {_some(list(repo.files))}); "
            "try `revision: refs/convert/parquet`, the Hub's Parquet export"
        )
    configs = sorted({f.split("/")[0] for f in parquet if "/" in f} - {"data"})
    if config is None and len(configs) > 1:
        raise SourceError(
            f"{where}: several configs (top-level folders), name one with `config:`: "
            + ", ".join(configs)
        )
    pool = [f for f in parquet if config is None or f.startswith(f"{config}/")]
    if config is not None and not pool:
        raise SourceError(
            f"{where}: no config '{config}'; configs (top-level folders): {', '.join(configs)}"
        )
    chosen = [f for f in pool if _names_split(f, split)]
    if not chosen:
        raise SourceError(
            f"{where}: no Parquet files for split '{split}'"
            + (f" of config '{config}'" if config else "")
            + f"; Parquet files: {_some(pool)}; set `split:` or `data_files:`"
        )
    return chosen


def _names_split(path: str, split: str) -> bool:
    """`train/0000.parquet`, `train.parquet`, `train-00000-of-00002.parquet` or the old
    export's `name-train.parquet`; never `train_r1` or `validation_matched` for another split."""
    parts = PurePosixPath(path).parts
    stem = PurePosixPath(path).name.removesuffix(".parquet")
    return (
        split in parts[:-1]
        or f"partial-{split}" in parts[:-1]
        or re.fullmatch(rf"{re.escape(split)}(-\d+(-of-\d+)?)?", stem) is not None
        or stem.endswith(f"-{split}")
    )


def _declared_configs(readme: str | None) -> list[dict[str, Any]]:
    if not readme or not readme.startswith("---"):
        return []
    end = readme.find("\n---", 3)
    try:
        meta = yaml.safe_load(readme[3:end]) if end > 0 else None
    except yaml.YAMLError:
        return []
    configs = meta.get("configs") if isinstance(meta, dict) else None
    return [c for c in configs if isinstance(c, dict)] if isinstance(configs, list) else []


def _from_declared(
    declared: list[dict[str, Any]], config: str | None, split: str, files: list[str], where: str
) -> list[str]:
    names = [str(c.get("config_name", "default")) for c in declared]
    if config is None:
        default = [c for c in declared if c.get("default")] or [
            c for c in declared if c.get("config_name", "default") == "default"
        ]
        if not default and len(declared) > 1:
            raise SourceError(f"{where}: several configs, name one with `config:`: {names}")
        entry = (default or declared)[0]
    else:
        matching = [c for c in declared if c.get("config_name") == config]
        if not matching:
            raise SourceError(f"{where}: no config '{config}'; configs: {', '.join(names)}")
        entry = matching[0]
    data_files = entry.get("data_files")
    by_split: dict[str, list[str]] = {}
    if isinstance(data_files, str | list) and not (
        isinstance(data_files, list) and data_files and isinstance(data_files[0], dict)
    ):
        by_split["train"] = [data_files] if isinstance(data_files, str) else list(data_files)
    elif isinstance(data_files, list):
        for item in data_files:
            paths = item.get("path", [])
            by_split[str(item.get("split", "train"))] = [paths] if isinstance(paths, str) else paths
    if split not in by_split:
        raise SourceError(
            f"{where}: config '{entry.get('config_name', 'default')}' has no split '{split}'; "
            f"splits: {', '.join(sorted(by_split)) or 'none declared'}"
        )
    chosen = [f for f in files if any(fnmatch.fnmatch(f, g) for g in by_split[split])]
    if not chosen:
        raise SourceError(
            f"{where}: the README declares {by_split[split]} for split '{split}' but no Parquet "
            f"file matches (Parquet files: {_some(files)})"
        )
    return chosen


def _some(items: list[str], n: int = 12) -> str:
    if not items:
        return "none"
    more = f", … ({len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
