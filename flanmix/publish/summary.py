"""What a build holds, in numbers: shares, rows per task, lengths and drops.

Pure functions over stats.json, manifest.json and the shards (no plotting library), so the
dataset card can embed the same tables that `flanmix report` draws.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flanmix.errors import FlanmixError
from flanmix.publish.staging import COMPLETE_MARKER

COLUMNS = ("inputs", "targets", "collection", "task_name", "template_type")
FIELDS = ("inputs", "targets")
TOP_TASKS = 15
BATCH_ROWS = 16_384  # splitting a batch into words takes several times its text in memory
LINEAR_MAX = 64  # up to this many words, plain bins read better than log bins
LINEAR_BINS = 40


class ReportError(FlanmixError):
    """A folder cannot be summarised: not a finished build, or a tool is missing."""


@dataclass(frozen=True)
class Share:
    name: str
    planned: float  # the requested share from the mixture's weights
    realised: float
    rows: int


@dataclass(frozen=True)
class TaskRows:
    task: str
    collection: str
    rows: int
    share: float
    planned: float


@dataclass(frozen=True)
class LengthStats:
    """Word counts (runs of non-space characters). Percentiles are exact (nearest rank)."""

    count: int
    mean: float
    p50: int
    p90: int
    p99: int
    max: int
    bins: tuple[int, ...]  # rows per bin of Summary.length_edges[field]


@dataclass(frozen=True)
class Summary:
    mixture: str
    total_rows: int
    rows_read: int
    collections: list[Share]
    template_types: list[Share]
    n_tasks: int
    top_tasks: list[TaskRows]  # most rows first
    bottom_tasks: list[TaskRows]  # fewest rows first; never repeats a task of top_tasks
    lengths: dict[str, dict[str, LengthStats]]  # field -> collection -> stats
    lengths_total: dict[str, LengthStats]  # field -> stats over every row
    length_edges: dict[str, tuple[int, ...]]  # field -> bin edges [e[i], e[i+1]) in words
    length_log: dict[str, bool]  # field -> whether the edges (and charts) are logarithmic
    drops: list[tuple[str, int]]  # most first
    warnings: list[str]
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # task -> why left out
    # Rows sharing n-grams with an eval set, per (task, eval set); `action` is drop or flag.
    contamination: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    contamination_action: str = ""
    self_improve: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # With a tokenizer: tokens per leaf (most first) and the packing record, if packed.
    tokens: list[tuple[str, int, int, float]] = dataclasses.field(default_factory=list)
    packing: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_build(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """stats.json and manifest.json of a finished build, or an error saying what is missing."""
    out = Path(out)
    hint = "give the folder a `flanmix build --out DIR` wrote"
    if not out.is_dir():
        raise ReportError(f"{out} is not a folder; {hint}")
    missing = [
        n for n in (COMPLETE_MARKER, "stats.json", "manifest.json") if not (out / n).is_file()
    ]
    if missing:
        raise ReportError(
            f"{out} is not a finished flanmix build: {', '.join(missing)} missing; it must be a "
            f"`flanmix build` output folder (a build writes {COMPLETE_MARKER} last, so a folder "
            "without it was interrupted: build again)"
        )
    loaded = []
    for name in ("stats.json", "manifest.json"):
        try:
            loaded.append(json.loads((out / name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise ReportError(f"cannot read {out / name}: {e}; build the folder again") from None
    stats, manifest = loaded
    absent = [s["path"] for s in manifest.get("shards", []) if not (out / s["path"]).is_file()]
    if absent:
        raise ReportError(
            f"{out} lacks shard(s) its manifest.json lists: {', '.join(absent)}; build again"
        )
    return stats, manifest


def summarize(
    folder: Path,
    stats: Mapping[str, Any],
    manifest: Mapping[str, Any],
    batch_rows: int = BATCH_ROWS,
    counts: ShardCounts | None = None,
) -> Summary:
    """The summary of a build in `folder` (a finished build or the staging folder of one).

    Shares, planned rows and drops come from stats.json; rows per task and lengths are counted
    from the shards, read in record batches so memory stays bounded whatever their size, or
    taken from `counts` when the shard writers counted them as they wrote.
    """
    if counts is None:
        counts = ShardCounts()
        for shard in manifest["shards"]:
            counts.add_file(f"{folder}/{shard['path']}", batch_rows)
    total = counts.rows
    warnings = _cross_check(stats, counts)
    leaves = stats["leaves"]
    task_collection = {leaf["task"]: leaf["collection"] for leaf in leaves}
    task_planned: Counter[str] = Counter()
    for leaf in leaves:
        task_planned[leaf["task"]] += leaf["requested_share"]
    tasks = [
        TaskRows(
            task=task,
            collection=task_collection.get(task, counts.task_collection.get(task, "")),
            rows=counts.tasks.get(task, 0),  # a planned task that wrote nothing shows as 0
            share=counts.tasks.get(task, 0) / total if total else 0.0,
            planned=task_planned.get(task, 0.0),
        )
        for task in sorted(set(task_collection) | set(counts.tasks))
    ]
    tasks.sort(key=lambda t: (-t.rows, t.task))
    top = tasks[:TOP_TASKS]
    bottom = sorted(tasks[TOP_TASKS:], key=lambda t: (t.rows, t.task))[:TOP_TASKS]
    lengths: dict[str, dict[str, LengthStats]] = {}
    lengths_total: dict[str, LengthStats] = {}
    edges: dict[str, tuple[int, ...]] = {}
    log: dict[str, bool] = {}
    for field in FIELDS:
        per = counts.lengths[field]
        overall = sum(per.values(), Counter[int]())
        edges[field], log[field] = _bin_edges(overall)
        lengths[field] = {c: _length_stats(per[c], edges[field]) for c in sorted(per)}
        lengths_total[field] = _length_stats(overall, edges[field])
    return Summary(
        mixture=str(manifest.get("mixture", stats.get("mixture", ""))),
        total_rows=total,
        rows_read=sum(leaf["available"] + leaf.get("repeated", 0) for leaf in leaves),
        collections=_shares(stats["collections"]),
        template_types=_shares(stats["template_types"]),
        n_tasks=len(tasks),
        top_tasks=top,
        bottom_tasks=bottom,
        lengths=lengths,
        lengths_total=lengths_total,
        length_edges=edges,
        length_log=log,
        drops=sorted(stats["dropped"].items(), key=lambda kv: (-kv[1], kv[0])),
        warnings=warnings,
        skipped=dict(manifest.get("skipped_sources") or {}),
        contamination=[
            (task, eval_set, n)
            for task, sets in stats.get("decontamination", {}).get("by_task", {}).items()
            for eval_set, n in sets.items()
        ],
        contamination_action=stats.get("decontamination", {}).get("action", ""),
        self_improve=dict(stats.get("self_improve", {})),
        tokens=sorted(
            (
                (
                    leaf["leaf"],
                    leaf["tokens"]["inputs"],
                    leaf["tokens"]["targets"],
                    leaf["tokens"]["share"],
                )
                for leaf in leaves
                if "tokens" in leaf
            ),
            key=lambda t: (-(t[1] + t[2]), t[0]),
        ),
        packing=dict(stats.get("packing", {})),
    )


class ShardCounts:
    """Row counts by column value and word-count frequencies per collection."""

    def __init__(self) -> None:
        self.rows = 0
        self.collections: Counter[str] = Counter()
        self.tasks: Counter[str] = Counter()
        self.template_types: Counter[str] = Counter()
        self.task_collection: dict[str, str] = {}
        # Rows per word count: exact percentiles in memory bounded by the number of distinct
        # lengths, not by the number of rows.
        self.lengths: dict[str, dict[str, Counter[int]]] = {f: {} for f in FIELDS}

    def merge(self, other: ShardCounts) -> None:
        self.rows += other.rows
        self.collections.update(other.collections)
        self.tasks.update(other.tasks)
        self.template_types.update(other.template_types)
        for task, collection in other.task_collection.items():
            self.task_collection.setdefault(task, collection)
        for field, per in other.lengths.items():
            for collection, freq in per.items():
                self.lengths[field].setdefault(collection, Counter()).update(freq)

    def add_table(self, table: pa.Table, batch_rows: int = BATCH_ROWS) -> None:
        for batch in table.to_batches(max_chunksize=batch_rows):
            self.add(batch)

    def add_file(self, path: Path | str, batch_rows: int) -> None:
        from flanmix.sources.files import open_path

        with pq.ParquetFile(open_path(str(path), "rb")) as pf:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=list(COLUMNS)):
                self.add(batch)

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for column, counter in (
            ("collection", self.collections),
            ("task_name", self.tasks),
            ("template_type", self.template_types),
        ):
            for item in pc.value_counts(batch.column(column)).to_pylist():
                counter[item["values"] or ""] += item["counts"]
        pairs = pa.Table.from_batches([batch.select(["task_name", "collection"])])
        groups = pairs.group_by(["task_name", "collection"]).aggregate([])
        for task, collection in zip(
            groups["task_name"].to_pylist(), groups["collection"].to_pylist(), strict=True
        ):
            self.task_collection.setdefault(task or "", collection or "")
        words = pa.table(
            {
                "collection": batch.column("collection").fill_null(""),
                **{f: _word_counts(batch.column(f)) for f in FIELDS},
            }
        )
        for field in FIELDS:
            freq = words.group_by(["collection", field]).aggregate([(field, "count")])
            for collection, n_words, rows in zip(
                *(freq[c].to_pylist() for c in ("collection", field, f"{field}_count")),
                strict=True,
            ):
                self.lengths[field].setdefault(collection, Counter())[n_words] += rows


def _word_counts(texts: pa.Array, chunk: int = 1 << 20) -> pa.Array:
    """Words as str.split() counts them (runs between Unicode whitespace); null counts 0.

    ASCII strings are counted in numpy over the UTF-8 bytes, a megabyte of text at a time
    (fresh memory is costly: small temporaries are reused); the rest go through Arrow's split.
    """
    if texts.type != pa.string():  # e.g. large_string from a hand-made file
        return _unicode_words(texts)
    if not len(texts):  # its offsets buffer may be missing
        return pa.array([], pa.int64())
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    offsets = offsets.astype(np.int64)
    buf = texts.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
    counts = np.zeros(len(texts), np.int64)
    other: list[np.ndarray] = []  # rows with non-ASCII bytes
    for a, b in _pieces(offsets, chunk):
        lo, hi = offsets[a], offsets[b]
        piece, starts = data[lo:hi], offsets[a:b] - lo
        counts[a:b] = _ascii_words(piece, starts)
        if piece.max(initial=0) >= 128:
            other.append(a + np.searchsorted(starts, np.flatnonzero(piece >= 128), "right") - 1)
    if texts.null_count:
        counts[np.asarray(texts.is_null())] = 0
    if other:
        rows = np.unique(np.concatenate(other))
        counts[rows] = np.asarray(_unicode_words(texts.take(pa.array(rows))))
    return pa.array(counts, pa.int64())


# Python's whitespace among ASCII bytes: \t \n \v \f \r, the separators \x1c-\x1f, space.
_ASCII_SPACE = np.zeros(256, bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


def _pieces(offsets: np.ndarray, size: int) -> Iterable[tuple[int, int]]:
    """Row ranges [a, b) of a string array holding about `size` bytes each (a longer row is
    a range of its own)."""
    marks = np.arange(offsets[0], offsets[-1], size)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, marks, "right") - 1]))
    bounds = [*cuts.tolist(), len(offsets) - 1]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _ascii_words(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Words per string, for strings of ASCII bytes `data` beginning at `starts`: a word
    begins at a non-space byte whose previous byte is a space or in another string."""
    if not len(data):
        return np.zeros(len(starts), np.int64)
    space = data <= 32
    low = np.flatnonzero(data < 32)  # control bytes: only some of them are whitespace
    space[low] = _ASCII_SPACE[data[low]]
    after_space = np.empty(len(data), bool)
    after_space[0] = True
    after_space[1:] = space[:-1]
    after_space[starts[starts < len(data)]] = True
    begins = after_space & ~space
    counts = np.zeros(len(starts), np.int64)
    # reduceat sums from each start to the next; an empty string would get its next byte.
    # int32 suffices (a string holds under 2**31 bytes) and casts half as much as int64.
    filled = np.flatnonzero(np.diff(np.append(starts, len(data))) > 0)
    counts[filled] = np.add.reduceat(begins, starts[filled], dtype=np.int32)
    return counts


def _unicode_words(texts: pa.Array) -> pa.Array:
    """Arrow's split on Unicode whitespace (unlike RE2's \\S, no-break and ideographic spaces
    are spaces, as in Python)."""
    trimmed = pc.utf8_trim_whitespace(texts.fill_null(""))
    n = pc.list_value_length(pc.utf8_split_whitespace(trimmed))
    return pc.if_else(pc.equal(trimmed, ""), 0, n).cast(pa.int64())


def _cross_check(stats: Mapping[str, Any], counts: ShardCounts) -> list[str]:
    """The shards must hold what stats.json says was written (a changed file shows here)."""
    out = []
    if counts.rows != stats["written_rows"]:
        out.append(
            f"the shards hold {counts.rows:,} rows, stats.json says {stats['written_rows']:,}"
        )
    for name, c in stats["collections"].items():
        if counts.collections.get(name, 0) != c["written"]:
            out.append(
                f"collection {name}: the shards hold {counts.collections.get(name, 0):,} rows, "
                f"stats.json says {c['written']:,}"
            )
    # Older stats.json keyed few-shot leaves by format ("fs_opt+x_shot"); the column has the type.
    by_type: Counter[str] = Counter()
    for name, t in stats["template_types"].items():
        by_type[name.split("+")[0]] += t["written"]
    for name in sorted(set(by_type) | set(counts.template_types)):
        if counts.template_types.get(name, 0) != by_type.get(name, 0):
            out.append(
                f"template type {name}: the shards hold {counts.template_types.get(name, 0):,} "
                f"rows, stats.json says {by_type.get(name, 0):,}"
            )
    return out


def _shares(groups: Mapping[str, Mapping[str, Any]]) -> list[Share]:
    return [
        Share(name, float(g["requested_share"]), float(g["realised_share"]), int(g["written"]))
        for name, g in sorted(groups.items())
    ]


def _percentiles(freq: Mapping[int, int], qs: Iterable[float]) -> list[int]:
    """Nearest-rank percentiles: for each q the smallest v with at least q·n rows <= v."""
    total = sum(freq.values())
    ranks = [max(1, math.ceil(q * total)) for q in qs]
    out, cum = [], 0
    items = iter(sorted(freq.items()))
    value = 0
    for rank in ranks:  # ascending
        while cum < rank:
            value, n = next(items)
            cum += n
        out.append(value)
    return out


def _length_stats(freq: Mapping[int, int], edges: tuple[int, ...]) -> LengthStats:
    total = sum(freq.values())
    bins = [0] * (len(edges) - 1)
    if not total:
        return LengthStats(0, 0.0, 0, 0, 0, 0, tuple(bins))
    for value, n in freq.items():
        bins[bisect.bisect_right(edges, value) - 1] += n
    p50, p90, p99 = _percentiles(freq, (0.50, 0.90, 0.99))
    return LengthStats(
        count=total,
        mean=sum(v * n for v, n in freq.items()) / total,
        p50=p50,
        p90=p90,
        p99=p99,
        max=max(freq),
        bins=tuple(bins),
    )


def _bin_edges(freq: Mapping[int, int]) -> tuple[tuple[int, ...], bool]:
    """Integer bin edges covering every length in `freq`, and whether they grow geometrically.

    Short or tightly grouped lengths get ~40 equal bins; long-tailed ones (the usual case for
    prompts) get half-octave bins (0, 1, 2, 3, 4, 6, 8, 12, 16, …) so both ends stay visible.
    """
    top = max(freq, default=0)
    median = _percentiles(freq, [0.5])[0] if freq else 0
    if top <= LINEAR_MAX or top <= 4 * max(median, 1):
        width = max(1, math.ceil((top + 1) / LINEAR_BINS))
        return tuple(range(0, top + width + 1, width)), False
    edges = [0, 1, 2, 3]
    while edges[-1] <= top:
        edges.append(edges[-1] * 4 // 3 if edges[-1] % 3 == 0 else edges[-1] * 3 // 2)
    return tuple(edges), True


# ---- Markdown -------------------------------------------------------------------------------


def pct(x: float) -> str:
    return "<0.01%" if 0 < x < 0.00005 else f"{x:.2%}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _table(header: list[str], align: str, rows: Iterable[list[str]]) -> list[str]:
    """A Markdown table; `align` has one letter per column: l(eft) or r(ight)."""
    out = ["| " + " | ".join(header) + " |"]
    out.append("| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |")
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def share_rows(shares: list[Share]) -> list[list[str]]:
    return [[s.name, pct(s.planned), pct(s.realised), f"{s.rows:,}"] for s in shares]


def task_rows(tasks: list[TaskRows]) -> list[list[str]]:
    return [[t.task, t.collection, f"{t.rows:,}", pct(t.share), pct(t.planned)] for t in tasks]


def length_rows(summary: Summary, field: str) -> list[list[str]]:
    def row(name: str, s: LengthStats) -> list[str]:
        numbers = (s.count, s.p50, s.p90, s.p99, s.max)
        count, p50, p90, p99, top = (f"{n:,}" for n in numbers)
        return [name, count, f"{s.mean:,.1f}", p50, p90, p99, top]

    rows = [row(c, s) for c, s in summary.lengths[field].items()]
    if len(rows) > 1:
        rows.append(row("all", summary.lengths_total[field]))
    return rows


def drop_rows(summary: Summary) -> list[list[str]]:
    read = summary.rows_read
    return [[r, f"{n:,}", pct(n / read) if read else "-"] for r, n in summary.drops]


def contamination_note(summary: Summary) -> str:
    verb = "dropped" if summary.contamination_action == "drop" else "kept and flagged"
    return (
        f"Rows that share an n-gram with a held-out eval set were {verb}; "
        "decontamination.jsonl lists each one with the matched words."
    )


CONTAMINATION_HEADER = ["task", "eval set", "rows"]
TOKENS_HEADER = ["leaf", "input tokens", "target tokens", "share of tokens"]


def token_rows(summary: Summary) -> list[list[str]]:
    """The leaves with the most tokens (TOP_TASKS of them)."""
    return [
        [leaf, f"{i:,}", f"{t:,}", pct(share)] for leaf, i, t, share in summary.tokens[:TOP_TASKS]
    ]


def packing_note(summary: Summary) -> str:
    p = summary.packing
    return (
        f"Packed ({p['kind']}, {p['length']:,} tokens): {p['examples']:,} examples in "
        f"{p['rows']:,} rows, efficiency {p['efficiency']:.1%} (real tokens / all tokens); "
        f"{p['dropped_overlong']:,} dropped and {p['truncated']:,} truncated as overlong."
    )


SELF_IMPROVE_HEADER = [
    "task",
    "questions",
    "kept",
    "paths kept",
    "mean confidence",
    "samples without an answer",
]
SELF_IMPROVE_NOTE = (
    "Self-improvement tasks hold reasoning paths a model sampled for unlabeled questions, kept "
    "where a majority of its samples agreed on the answer."
)


def self_improve_rows(summary: Summary) -> list[list[str]]:
    return [
        [
            task,
            f"{s['questions']:,}",
            f"{s['kept_questions']:,}",
            f"{s['paths_kept']:,}",
            f"{s['mean_confidence']:.2f}",
            f"{s['extraction_failures']:,}",
        ]
        for task, s in summary.self_improve.items()
        if "unreadable" not in s
    ] + [
        [task, s["unreadable"], "", "", "", ""]
        for task, s in summary.self_improve.items()
        if "unreadable" in s
    ]


def contamination_rows(summary: Summary) -> list[list[str]]:
    return [[task, eval_set, f"{n:,}"] for task, eval_set, n in summary.contamination]


SHARE_HEADER = ["planned share", "realised share", "rows"]
TASK_HEADER = ["task", "collection", "rows", "share of rows", "planned share"]
LENGTH_HEADER = ["collection", "rows", "mean", "p50", "p90", "p99", "max"]
DROP_HEADER = ["reason", "rows", "share of rows read"]


def task_titles(summary: Summary) -> tuple[str, str]:
    if not summary.bottom_tasks:
        return f"Rows per task (all {summary.n_tasks})", ""
    return (
        f"Rows per task: the {len(summary.top_tasks)} largest of {summary.n_tasks}",
        f"Rows per task: the {len(summary.bottom_tasks)} smallest",
    )


def summary_markdown(summary: Summary, level: int = 3) -> str:
    """The summary as Markdown tables; `level` is the heading level (3 fits inside a card)."""
    h = "#" * level
    lines: list[str] = [
        f"{summary.total_rows:,} rows from {summary.n_tasks} task(s) in "
        f"{len(summary.collections)} collection(s). Planned shares come from the mixture's "
        "weights; realised shares are the rows written. Lengths are in words (runs of "
        "non-space characters).",
        "",
    ]
    for w in summary.warnings:
        lines += [f"**Warning:** {w}.", ""]
    if summary.skipped:
        names = ", ".join(f"`{t}`" for t in sorted(summary.skipped))
        lines += [f"**Left out:** {len(summary.skipped)} task(s) whose source failed: {names}.", ""]
    lines += [f"{h} Shares by collection", ""]
    lines += _table(["collection", *SHARE_HEADER], "lrrr", share_rows(summary.collections))
    lines += ["", f"{h} Shares by template type", ""]
    lines += _table(["template type", *SHARE_HEADER], "lrrr", share_rows(summary.template_types))
    top_title, bottom_title = task_titles(summary)
    lines += ["", f"{h} {top_title}", ""]
    lines += _table(TASK_HEADER, "llrrr", task_rows(summary.top_tasks))
    if summary.bottom_tasks:
        lines += ["", f"{h} {bottom_title}", ""]
        lines += _table(TASK_HEADER, "llrrr", task_rows(summary.bottom_tasks))
    for field, title in (("inputs", "Input length"), ("targets", "Target length")):
        lines += ["", f"{h} {title} (words) per collection", ""]
        lines += _table(LENGTH_HEADER, "lrrrrrr", length_rows(summary, field))
    lines += ["", f"{h} Drops by reason", ""]
    if summary.drops:
        lines += _table(DROP_HEADER, "lrr", drop_rows(summary))
    else:
        lines.append("No rows were dropped.")
    if summary.contamination_action:
        lines += ["", f"{h} Decontamination", "", contamination_note(summary), ""]
        if summary.contamination:
            lines += _table(CONTAMINATION_HEADER, "llr", contamination_rows(summary))
        else:
            lines.append("No row shares an n-gram with the eval sets.")
    if summary.tokens:
        lines += ["", f"{h} Tokens", ""]
        if summary.packing:
            lines += [packing_note(summary), ""]
        lines += _table(TOKENS_HEADER, "lrrr", token_rows(summary))
    if summary.self_improve:
        lines += ["", f"{h} Self-improvement", "", SELF_IMPROVE_NOTE, ""]
        lines += _table(SELF_IMPROVE_HEADER, "lrrrrr", self_improve_rows(summary))
    return "\n".join(lines) + "\n"
