"""Downloads for url sources: resumable, retried with backoff, refused unless the sha256 matches.

A file lands in the cache under its checksum only once it is complete and verified, so a
failure at any point leaves at most a `.part` file, which the next attempt resumes.
"""

from __future__ import annotations

import errno
import http.client
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from flanmix import __version__
from flanmix.errors import SourceError
from flanmix.hashing import file_sha256

T = TypeVar("T")
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class TransientError(Exception):
    """A failure worth retrying (connection lost, timeout, 5xx, 429)."""


class RetriesExhausted(SourceError):
    """A transient failure that went on through every attempt: the source is unreachable."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 5
    backoff: float = 1.0  # seconds before the 2nd attempt; doubles each time

    def run(self, what: str, call: Callable[[], T], note: Callable[[str], None]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except TransientError as e:
                if attempt == self.attempts:
                    raise RetriesExhausted(
                        f"{what} failed {self.attempts} times, last with: {e}; check the network "
                        "and run the same command again (completed downloads are kept)"
                    ) from None
                delay = self.backoff * 2 ** (attempt - 1)
                note(f"{what}: {e}; retrying in {delay:g}s ({attempt}/{self.attempts})")
                time.sleep(delay)
        raise AssertionError("unreachable")


def default_retry(attempts: int = 5) -> Retry:
    """1 s backoff, doubling; FLANMIX_RETRY_BACKOFF sets the first delay."""
    return Retry(attempts, float(os.environ.get("FLANMIX_RETRY_BACKOFF", "1")))


def download(
    url: str,
    sha256: str,
    cache: Path,
    *,
    retry: Retry | None = None,
    note: Callable[[str], None] = lambda _: None,
) -> Path:
    """The verified local copy of `url` (fetched once into `cache`/downloads)."""
    retry = retry or default_retry()
    suffix = "".join(Path(url.split("?")[0]).suffixes[-2:])
    dest = cache / "downloads" / f"{sha256}{suffix}"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    retry.run(f"downloading {url}", lambda: _fetch_into(url, part), note)
    got = file_sha256(str(part))
    if got != sha256:
        part.unlink()
        raise SourceError(
            f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}; the download "
            "was discarded and any earlier snapshot is kept. If the file changed upstream on "
            "purpose, update `sha256:` in the source"
        )
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path) -> None:
    """Append the rest of `url` to `part` (a Range request when part of it is there)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"flanmix/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = have > 0 and response.status == 206
            expected = response.headers.get("Content-Length")
            try:
                out = open(part, "ab" if resumed else "wb")  # noqa: SIM115 (closed below)
            except OSError as e:
                raise SourceError(f"cannot write {part}: {e.strerror}; check --cache") from None
            with out:
                start = out.tell()
                try:
                    shutil.copyfileobj(response, out, 1 << 20)
                except OSError as e:
                    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                        raise SourceError(f"cannot write {part}: {e.strerror}") from None
                    raise
                got = out.tell() - start
            # read(n) returns short instead of raising when the connection drops mid-body
            if expected is not None and got < int(expected):
                raise TransientError(f"connection closed after {got:,} of {int(expected):,} bytes")
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to fetch: the part is whole
            return
        if e.code in TRANSIENT_STATUS:
            raise TransientError(f"HTTP {e.code} {e.reason}") from None
        raise SourceError(f"{url}: HTTP {e.code} {e.reason}; check the URL") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise TransientError(f"{type(e).__name__}: {reason}") from None
