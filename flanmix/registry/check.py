"""`flanmix sources check`: compare registry rows with their live sources.

Hub rows: the repo exists at the revision, answers with the same id (else it moved), and has
Parquet files for the config's split. URL rows: the file is there and has the recorded
sha256. NIv2 rows: the task file exists in the repository at the revision.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flanmix import __version__
from flanmix.errors import SourceError
from flanmix.registry import Entry
from flanmix.sources import hub
from flanmix.sources.fetch import (
    TRANSIENT_STATUS,
    RetriesExhausted,
    Retry,
    TransientError,
    download,
)

OK, MOVED, MISSING, UNREACHABLE, CHANGED, UNCHECKED = (
    "ok",
    "moved",
    "missing",
    "unreachable",
    "changed",
    "unchecked",
)
NIV2_RAW = "https://raw.githubusercontent.com/{repo}/{revision}/tasks/{task}.json"


@dataclass(frozen=True)
class Finding:
    entry: Entry
    status: str
    detail: str


def check_entry(entry: Entry, cache: Path, retry: Retry) -> Finding:
    try:
        if entry.kind in ("hub", "dialog") and _looks_like_repo(entry.location):
            return _check_hub(entry, retry)
        if entry.kind == "cot" and entry.location.startswith("http"):
            return _check_url(entry, cache, retry)
        if entry.kind == "niv2":
            url = NIV2_RAW.format(repo=entry.location, revision=entry.revision, task=entry.task)
            return _check_head(entry, url, retry)
    except RetriesExhausted as e:
        return Finding(entry, UNREACHABLE, str(e))
    except SourceError as e:
        return Finding(entry, MISSING, str(e))
    return Finding(entry, UNCHECKED, f"no automatic check for location {entry.location!r}")


def _looks_like_repo(location: str) -> bool:
    parts = location.split("/")
    return len(parts) <= 2 and all(parts) and ":" not in location


def _check_hub(entry: Entry, retry: Retry) -> Finding:
    repo = hub.resolve(entry.location, entry.revision or "main", retry, lambda _: None)

    def readme() -> str:
        return Path(hub.download(repo, "README.md", retry, lambda _: None)).read_text()

    files = hub.parquet_files(repo, entry.config or None, entry.split or "train", None, readme)
    detail = f"{len(files)} Parquet file(s) at {repo.sha[:12]}"
    if repo.canonical_id != entry.location:
        return Finding(entry, MOVED, f"now {repo.canonical_id}; {detail}")
    return Finding(entry, OK, detail)


def _check_url(entry: Entry, cache: Path, retry: Retry) -> Finding:
    if not entry.sha256:
        return _check_head(entry, entry.location, retry)
    download(entry.location, entry.sha256, cache, retry=retry)
    return Finding(entry, OK, f"sha256 {entry.sha256[:12]} matches")


def _check_head(entry: Entry, url: str, retry: Retry) -> Finding:
    def head() -> Finding:
        request = urllib.request.Request(
            url, method="HEAD", headers={"User-Agent": f"flanmix/{__version__}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                size = response.headers.get("Content-Length", "?")
                return Finding(entry, OK, f"{url} ({size} bytes)")
        except urllib.error.HTTPError as e:
            if e.code in TRANSIENT_STATUS:
                raise TransientError(f"HTTP {e.code}") from None
            return Finding(entry, MISSING, f"{url}: HTTP {e.code}")
        except (urllib.error.URLError, OSError) as e:
            raise TransientError(str(getattr(e, "reason", e))) from None

    return retry.run(f"checking {url}", head, lambda _: None)


def check_entries(
    entries: list[Entry],
    cache: Path,
    retry: Retry,
    progress: Callable[[Finding], None] = lambda _: None,
) -> list[Finding]:
    """Every entry's finding; stops early when the first three checks cannot reach anything."""
    findings = []
    for entry in entries:
        finding = check_entry(entry, cache, retry)
        findings.append(finding)
        progress(finding)
        if len(findings) == 3 and all(f.status == UNREACHABLE for f in findings):
            raise SourceError(
                f"cannot reach the sources (Hub endpoint {hub.endpoint()}); `flanmix sources "
                "check` needs network access. Set HF_ENDPOINT for a mirror"
            )
    return findings
