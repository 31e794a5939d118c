"""The registry of Flan 2022's tasks and where each one's data lives today (flan2022.csv).

Rows marked `unverified` were mapped from Flan's own names without checking the live source;
`flanmix sources check` verifies rows against the Hub (or the URL) when it is reachable.
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields
from importlib import resources

COLLECTIONS = ("flan2021", "t0", "niv2", "cot", "dialog")


@dataclass(frozen=True)
class Entry:
    collection: str
    task: str
    kind: str
    location: str
    config: str
    split: str
    revision: str
    verified: str
    sha256: str
    columns: str
    upstream: str
    notes: str


COLUMNS = tuple(f.name for f in fields(Entry))


def load_registry() -> list[Entry]:
    text = resources.files(__name__).joinpath("flan2022.csv").read_text(encoding="utf-8")
    return [Entry(**row) for row in csv.DictReader(io.StringIO(text))]


def select(
    entries: list[Entry], collections: tuple[str, ...] = (), tasks: tuple[str, ...] = ()
) -> list[Entry]:
    return [
        e
        for e in entries
        if (not collections or e.collection in collections) and (not tasks or e.task in tasks)
    ]


def to_csv(entries: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(e) for e in entries)
    return out.getvalue()


TABLE_COLUMNS = ("collection", "task", "kind", "location", "config", "split", "verified")


def to_table(entries: list[Entry], columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    rows = [columns] + [tuple(str(getattr(e, c)) for c in columns) for e in entries]
    widths = [min(48, max(len(r[i]) for r in rows)) for i in range(len(columns))]

    def line(r: tuple[str, ...]) -> str:
        cells = (v if len(v) <= w else v[: w - 1] + "…" for v, w in zip(r, widths, strict=True))
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(rows[0]), *(line(r) for r in rows[1:])])
