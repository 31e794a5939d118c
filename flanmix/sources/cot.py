"""Flan's chain-of-thought TSV files: `question \\t answer \\t rationale` per line, with line
breaks inside a field written as a literal backslash-n."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flanmix.sources.files import open_path
from flanmix.sources.records import Drops

FIELDS = ("question", "answer", "rationale")
WRONG_FIELD_COUNT = "wrong_field_count"


def iter_cot(
    path: str, drops: Drops, name: str | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(example_id, record) per well-formed line; the id is the line's 0-based row index, so it
    stays put when other lines are dropped. A line with another number of fields is dropped
    and counted with its line number."""
    name = name or Path(path).name
    with open_path(path, "r", encoding="utf-8", newline="") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != len(FIELDS):
                drops.add(WRONG_FIELD_COUNT, f"{name}:{line_no}: {len(parts)} fields, expected 3")
                continue
            values = [p.replace("\\n", "\n") for p in parts]
            yield str(line_no - 1), dict(zip(FIELDS, values, strict=True))
