"""Beam DoFns and CombineFns: thin wrappers over the pure functions in render/, plan/, publish/."""

from __future__ import annotations

import ctypes
import heapq
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from flanmix.hashing import stable_hash
from flanmix.hygiene.checks import Checks
from flanmix.hygiene.dedup import Choice, dedup_key, resolve, split_duplicates
from flanmix.hygiene.ngrams import Match, NgramIndex
from flanmix.plan.selection import (
    RankKey,
    Window,
    copies_of,
    keys_to_read,
    leaf_selection,
    rank_key,
)
from flanmix.publish.layout_shards import LayoutShards
from flanmix.publish.layouts import LayoutOptions
from flanmix.publish.parquet import row_bytes, shard_name
from flanmix.publish.spill import (
    Parked,
    SpillBuffer,
    SpillPart,
    fetch,
    park,
    shard_range,
    write_range_shard,
)
from flanmix.publish.summary import ShardCounts
from flanmix.render.fewshot import TURNS, held_out, keyed_pool, pool_rank
from flanmix.render.render import IN_EXEMPLAR_POOL, leaf_context, render_example
from flanmix.render.templates import CompiledFamily, compile_family
from flanmix.sources.files import Example, ReadShard, read_shard, scan_ids
from flanmix.spec.load import Family, Task

Leaf = tuple[str, str]
READ = "read"
CONTAMINATED = "contaminated"
DUPLICATE = "duplicate"


SPILL_BYTES = 16 << 20  # rendered rows a render step buffers before writing a spill part


def prefer_jemalloc() -> None:
    """Make jemalloc Arrow's allocator, unless ARROW_DEFAULT_MEMORY_POOL already names one or
    pyarrow was built without it. Arrow's usual one (mimalloc) keeps the pages that reading
    sources and writing spill parts and shards free: in a worker they were about 150 MB of
    its peak (benchmarks/README.md)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return
    # Arrow's C++ code picks its default pool from this variable once, at first use: set
    # here, it holds for this process if nothing allocated yet, and for the local runner's
    # worker processes, which inherit it. pyarrow's own default is switched either way.
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
    pa.set_memory_pool(pool)


def release_malloc_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; elsewhere
    nothing). A shard's numpy arrays and Python buffers leave the heap fragmented, and a
    worker that wrote many shards kept the free pages: ~70 MB at 10M rows."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


# Every process that runs these steps imports this module first: the driver, which starts
# local workers, and remote workers alike.
prefer_jemalloc()


_INDEXES: dict[str, NgramIndex] = {}  # per worker process: loaded once, shared by DoFns


def load_index(path: str) -> NgramIndex:
    if path not in _INDEXES:
        _INDEXES.clear()  # one build at a time: keep one index
        _INDEXES[path] = NgramIndex.load(path)
    return _INDEXES[path]


@dataclass(frozen=True)
class Layout:
    """What every render step needs besides its shard: the windows, the leaf ids of the spill
    and where spill parts go."""

    windows: dict[Leaf, Window]
    leaves: list[Leaf]  # sorted; a leaf's index is its id in the spill
    spill: str  # folder for spill parts
    buckets: int
    checks: Checks = field(default_factory=Checks)
    turns: bool = False  # keep few-shot rows' chat turns in the spill (--fewshot-as-turns)

    @property
    def candidates(self) -> str:
        return f"{self.spill}/candidates"  # parked candidates: removed with the spill

    @property
    def leaf_ids(self) -> dict[Leaf, int]:
        return {leaf: i for i, leaf in enumerate(self.leaves)}


class SpreadInOrder(beam.PTransform):  # type: ignore[misc]
    """A Reshuffle of (index, item) pairs that keeps their order where it can.

    Beam's local runner deals grouped keys to its workers round robin, in the order they
    arrived: a list ordered by cost (build.deal) then splits evenly. Other runners spread keys
    by hash, as Reshuffle does."""

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Group" >> beam.GroupByKey() | "Items" >> beam.FlatMap(lambda kv: kv[1])


class RenderWindows(beam.DoFn):
    """Read one source shard and render, per template type of its task, the rows inside that
    leaf's window; park them in spill parts.

    Main output: (leaf, Parked candidates): the (rank hash, position, bytes, dedup key) of
    every window row that rendered, packed per leaf and shard and parked beside the spill.
    Tagged "spill": the SpillParts written. Tagged "counts": ((leaf, "read"|reason), n),
    summed per shard so that counting costs one element per shard, not one per row.
    Tagged "matches": one evidence record per row that shares n-grams with an eval set.
    """

    def __init__(
        self,
        tasks: dict[str, Task],
        families: dict[str, Family],
        types: dict[str, list[str]],
        seed: int,
        layout: Layout,
    ) -> None:
        self._tasks, self._families, self._types, self._seed = tasks, families, types, seed
        self._layout = layout
        self._compiled: dict[str, CompiledFamily] = {}
        self._ids: dict[Leaf, int] = {}
        self._spill = SpillBuffer()
        self._index: NgramIndex | None = None

    def setup(self) -> None:
        self._compiled = {name: compile_family(f) for name, f in self._families.items()}
        self._ids = self._layout.leaf_ids
        path = self._layout.checks.index
        self._index = load_index(path) if path else None

    def start_bundle(self) -> None:
        # One buffer for the bundle, not per shard: fewer spill parts for the writers to open.
        self._spill = SpillBuffer()

    def finish_bundle(self) -> Iterator[Any]:
        if len(self._spill):
            part = self._write_part()
            yield beam.pvalue.TaggedOutput(
                "spill", WindowedValue(part, MIN_TIMESTAMP, (GlobalWindow(),))
            )

    def _write_part(self) -> SpillPart:
        return self._spill.write(self._layout.spill, self._layout.buckets)

    def process(
        self, shard: ReadShard, pools: dict[str, list[Example]] | None = None
    ) -> Iterator[Any]:
        task = self._tasks[shard.task]
        family = self._compiled[task.family]
        contexts = [leaf_context(task, lt, self._seed) for lt in self._types[task.name]]
        pool = (pools or {}).get(task.name, [])
        hold = held_out(task, self._tasks, pools or {})
        counts: Counter[tuple[Leaf, str]] = Counter()
        candidates = {(task.name, ctx.leaf_type): array("Q") for ctx in contexts}
        windows = [self._layout.windows[(task.name, ctx.leaf_type)] for ctx in contexts]
        ranks: dict[int, list[RankKey]] = {}  # of the rows read but not yet rendered
        read = 0

        def wanted(example_id: str, position: int) -> bool:
            """Rank keys come from the id alone, so rows outside every window are skipped
            before their fields are decoded."""
            nonlocal read
            read += 1
            keys = [
                rank_key(self._seed, task.name, example_id, ctx.leaf_type, position)
                for ctx in contexts
            ]
            if not any(w.holds(rank) for w, (rank, _) in zip(windows, keys, strict=True)):
                return False
            ranks[position] = keys
            return True

        rendered: list[Rendered] = []
        text = 0  # characters in `rendered`, counted only when they are checked for n-grams
        for example in read_shard(task, shard, wanted):
            keys = ranks.pop(example.position)
            for ctx, window, (rank, position) in zip(contexts, windows, keys, strict=True):
                leaf = (task.name, ctx.leaf_type)
                if not window.holds(rank):
                    continue
                if position in hold:
                    counts[(leaf, IN_EXEMPLAR_POOL)] += 1
                    continue
                row, reason = render_example(family, ctx, example, pool=pool)
                if row is None:
                    counts[(leaf, str(reason))] += 1
                    continue
                rendered.append(Rendered(leaf, window.copies, rank, position, row))
                if self._index is not None:
                    text += len(row["inputs"]) + len(row["targets"])
            if len(rendered) >= CHECK_ROWS or text >= CHECK_BYTES:
                yield from self._keep(rendered, candidates, counts)
                text = 0
        yield from self._keep(rendered, candidates, counts)
        for leaf in candidates:
            if read:
                counts[(leaf, READ)] += read
        # Parked, not yielded: a runner would hold every candidate of the build in memory
        # until the last shard rendered (its local runner several copies of them).
        leaves = list(candidates)
        parked = park(self._layout.candidates, [candidates[leaf].tobytes() for leaf in leaves])
        yield from zip(leaves, parked, strict=True)
        for item in sorted(counts.items()):
            yield beam.pvalue.TaggedOutput("counts", item)

    def _keep(
        self,
        rendered: list[Rendered],
        candidates: dict[Leaf, array[int]],
        counts: Counter[tuple[Leaf, str]],
    ) -> Iterator[Any]:
        """Check a batch of rendered rows (n-grams are matched a batch at a time), then make
        the rows that pass candidates and spill them."""
        checks = self._layout.checks
        matches = row_matches(self._index, [r.row for r in rendered])
        for r, found in zip(rendered, matches, strict=True):
            if found:
                for match in found:
                    yield beam.pvalue.TaggedOutput("matches", evidence(r, match, checks.action))
                if checks.action == "drop":
                    counts[(r.leaf, CONTAMINATED)] += 1
                    continue
            row, leaf, position = r.row, r.leaf, r.position
            turns = row.pop(TURNS, None)
            size = row_bytes(row)  # the output row's size: turns are not an output column
            spilled = size
            if turns is not None and self._layout.turns:
                row[TURNS] = turns
                spilled += sum(len(t) for t in turns)
            if checks.dedup == "none":
                candidates[leaf].extend((r.rank, position, size))
            else:
                key = dedup_key(checks.dedup, leaf[0], row["inputs"], row["targets"])
                candidates[leaf].extend((r.rank, position, size, key))
            for copy in range(r.copies):
                where = stable_hash(self._seed, *leaf, position, copy, "shard")
                self._spill.add((where, self._ids[leaf], position, copy, r.rank), row, spilled)
            if self._spill.bytes >= SPILL_BYTES:
                yield beam.pvalue.TaggedOutput("spill", self._write_part())
        rendered.clear()


# Rendered rows checked against the eval sets in one numpy pass: at most this many rows and
# about this much text (the pass's arrays take ~40 bytes per byte of text).
CHECK_ROWS = 256
CHECK_BYTES = 1 << 20


class Rendered(NamedTuple):
    leaf: Leaf
    copies: int
    rank: int
    position: int
    row: dict[str, Any]


_PART_CACHE_SIZE = 4096  # exemplar texts whose matches an index remembers


def row_parts(row: dict[str, Any]) -> list[str]:
    """The texts a row is checked as: its targets, and its inputs, or for a few-shot row
    each exemplar's input and target and the query's input (its chat turns). An n-gram is
    looked for inside one part, never across two."""
    return [row["targets"], *(row.get(TURNS) or [row["inputs"]])]


def row_matches(index: NgramIndex | None, rows: list[dict[str, Any]]) -> list[list[Match]]:
    """Per row, its matches with the eval sets, merged per eval set (the first part's match
    is shown; the counts add up). Exemplars recur in many rows of a task (its pool), so their
    parts are matched once per worker and remembered."""
    if index is None or not rows:
        return [[] for _ in rows]
    parts = [row_parts(row) for row in rows]
    recurring = {t for row, ps in zip(rows, parts, strict=True) if row.get(TURNS) for t in ps[1:-1]}
    remembered = index.remembered
    todo = list(dict.fromkeys(t for ps in parts for t in ps if t not in remembered))
    found = dict(zip(todo, index.match(todo), strict=True))
    if len(remembered) > _PART_CACHE_SIZE:
        remembered.clear()
    remembered.update((t, found[t]) for t in todo if t in recurring)
    out = []
    for ps in parts:
        merged: dict[str, Match] = {}
        for text in reversed(ps):  # the earliest part's match is shown
            for m in found[text] if text in found else remembered[text]:
                other = merged.get(m.eval_set)
                merged[m.eval_set] = replace(m, grams=m.grams + (other.grams if other else 0))
        out.append([merged[name] for name in sorted(merged)])
    return out


def evidence(r: Rendered, match: Match, action: str) -> dict[str, Any]:
    """A decontamination.jsonl record (rank and position let the build keep, for `flag`,
    only the rows it wrote)."""
    return {
        "task": r.leaf[0],
        "template_type": r.leaf[1],
        "example_id": r.row["example_id"],
        "eval_set": match.eval_set,
        "eval_item": match.item,
        "ngram": match.gram,
        "ngrams_matched": match.grams,
        "action": "dropped" if action == "drop" else "flagged",
        "_key": (r.rank, r.position),
    }


def pool_candidates(
    shard: ReadShard, tasks: dict[str, Task], seed: int
) -> Iterator[tuple[str, tuple[str, tuple[RankKey, Example]]]]:
    """A shard's contribution to its task's exemplar pool: its `pool_size` smallest keys."""
    task = tasks[shard.task]
    size = task.fewshot.pool_size
    if task.source.kind != "parquet":  # every row is parsed anyway: one pass
        for item in keyed_pool(seed, read_shard(task, shard), size):
            yield task.name, (task.name, item)
        return
    # Pool keys come from ids alone: a first pass over the ids (their column alone) finds the
    # shard's smallest, a second decodes only those rows.
    heap: list[tuple[int, int]] = []

    def offer(example_id: str, position: int) -> None:
        rank, _ = pool_rank(seed, task.name, example_id, position)
        key = (-rank, -position)
        if len(heap) < size:
            heapq.heappush(heap, key)
        elif key > heap[0]:
            heapq.heapreplace(heap, key)

    scan_ids(task, shard, offer)
    smallest = {-p for _, p in heap}
    examples = read_shard(task, shard, lambda _, position: position in smallest)
    for item in keyed_pool(seed, examples, size):
        yield task.name, (task.name, item)  # CombineFns see values only: carry the task


def pool_examples(item: tuple[str, list[tuple[RankKey, Example]]]) -> tuple[str, list[Example]]:
    task, pairs = item
    return task, [example for _, example in pairs]


class SmallestPerKey(beam.CombineFn):
    """Per key: the `limit` (rank_key, item) pairs with the smallest rank keys, ascending.

    Values are (key, (rank_key, item)): CombineFns see values only, and the key picks the
    limit. Limits come from the constructor or, when the pipeline computes them, from a side
    input passed to CombinePerKey. Memory per key is bounded by its limit, never by the size
    of the task. Rank keys are unique (they end in the source position), so items are never
    compared.
    """

    def __init__(self, limits: dict[Any, int] | None = None) -> None:
        self._limits = limits

    def _limit(self, key: Any, side: dict[Any, int] | None) -> int:
        return (side if side is not None else self._limits or {})[key]

    def create_accumulator(self, *_: Any) -> tuple[Any, list[Any]]:
        return None, []

    @staticmethod
    def _push(heap: list[Any], rank: RankKey, item: Any, limit: int) -> None:
        heapq.heappush(heap, ((-rank[0], -rank[1]), item))  # a max-heap, via negation
        if len(heap) > limit:
            heapq.heappop(heap)

    def add_input(self, acc: Any, value: Any, limits: dict[Any, int] | None = None) -> Any:
        key, (rank, item) = value
        self._push(acc[1], rank, item, self._limit(key, limits))
        return key, acc[1]

    def merge_accumulators(self, accs: Iterable[Any], limits: dict[Any, int] | None = None) -> Any:
        key: Any = None
        heap: list[Any] = []
        for acc_key, acc_heap in accs:
            key = key if key is not None else acc_key
            for (h, p), item in acc_heap:
                self._push(heap, (-h, -p), item, self._limit(key, limits))
        return key, heap

    def extract_output(self, acc: Any, limits: dict[Any, int] | None = None) -> list[Any]:
        return sorted((((-h, -p), item) for (h, p), item in acc[1]), key=lambda kv: kv[0])


# A candidate's packed fields: rank hash, position, bytes, and with dedup its key. Without
# dedup the key is left out: every candidate of the build crosses a shuffle.
CANDIDATE = 3
DEDUP_CANDIDATE = 4


def choose(
    item: tuple[Leaf, Iterable[bytes]],
    quotas: dict[Leaf, int],
    windows: dict[Leaf, Window],
    repeats: bool,
    duplicates: Iterable[bytes] = (),
    contested: int = 0,
    width: int = CANDIDATE,
) -> tuple[Leaf, Choice]:
    """Select a leaf's quota among its window rows that rendered and are not duplicates
    within the leaf (see plan.selection and hygiene.dedup). `contested` rows have a twin in
    another leaf: the choice carries that many keys past its threshold, for `resolve`."""
    leaf, packed = item
    # numpy, not Python tuples: a leaf's window may hold millions of rows.
    rows = np.frombuffer(b"".join(packed), dtype=np.uint64).reshape(-1, width)
    order = np.lexsort((rows[:, 1], rows[:, 0]))  # by (rank hash, position)
    hashes, positions, sizes = (rows[order, i] for i in range(3))
    dropped = np.frombuffer(b"".join(duplicates), dtype=np.uint64)
    lost = np.isin(positions, dropped)  # a leaf renders each position once
    excluded = np.sort(positions[lost].astype(np.int64))
    hashes, positions, sizes = hashes[~lost], positions[~lost], sizes[~lost]
    quota, window = quotas[leaf], windows[leaf]
    needed = keys_to_read(quota, window, len(hashes), repeats)
    keys = list(zip(hashes[:needed].tolist(), positions[:needed].tolist(), strict=True))
    sel = leaf_selection(quota, window, len(hashes), keys, repeats)
    n_lost = int(lost.sum())
    if sel is None:
        return leaf, Choice(None, len(hashes), 0, n_lost)
    copies = copies_of([sel], np.zeros(len(hashes), np.int64), hashes, positions.astype(np.int64))
    ladder = np.zeros((0, 2), np.uint64)
    if contested and not sel.full_passes and sel.threshold is not None:
        ladder = np.stack([hashes, positions], axis=1)[quota - 1 : quota + contested]
    return leaf, Choice(
        sel,
        len(hashes),
        int((copies * sizes.astype(np.int64)).sum()),
        n_lost,
        excluded,  # every duplicate, not only those below the threshold: `resolve` may raise it
        ladder,
    )


def choose_parked(
    item: tuple[Leaf, Iterable[Parked]],
    quotas: dict[Leaf, int],
    windows: dict[Leaf, Window],
    repeats: bool,
) -> tuple[Leaf, Choice]:
    """`choose`, from the leaf's parked candidates."""
    leaf, parked = item
    return choose((leaf, fetch(parked)), quotas, windows, repeats)


def choose_deduplicated(
    item: tuple[Leaf, dict[str, list[Any]]],
    quotas: dict[Leaf, int],
    windows: dict[Leaf, Window],
    repeats: bool,
) -> tuple[Leaf, Choice]:
    """`choose`, from a CoGroupByKey of the candidates, the duplicates within the leaf and
    the number of its rows with a twin in another leaf."""
    leaf, grouped = item
    return choose(
        (leaf, fetch(grouped["candidates"])),
        quotas,
        windows,
        repeats,
        grouped["duplicates"],
        sum(grouped["contested"]),
        DEDUP_CANDIDATE,
    )


def dedup_parts(
    item: tuple[Leaf, Parked], leaf_ids: dict[Leaf, int], buckets: int
) -> Iterator[tuple[int, bytes]]:
    """A shard's parked candidates of one leaf, split by dedup key into buckets, as (key, rank
    hash, leaf id, position) rows: one element per bucket crosses the shuffle, not one per row."""
    leaf, parked = item
    (packed,) = fetch([parked])
    rows = np.frombuffer(packed, dtype=np.uint64).reshape(-1, DEDUP_CANDIDATE)
    if not len(rows):
        return
    keys = rows[:, 3]
    out = np.stack(
        [keys, rows[:, 0], np.full(len(rows), leaf_ids[leaf], np.uint64), rows[:, 1]], axis=1
    )
    bucket = (keys % np.uint64(buckets)).astype(np.int64)
    for b in np.unique(bucket).tolist():
        yield b, out[bucket == b].tobytes()


def find_duplicates(item: tuple[int, Iterable[bytes]], leaves: list[Leaf]) -> Iterator[Any]:
    """One key bucket's duplicates (see hygiene.dedup.split_duplicates). Main output: (leaf,
    packed positions) of the rows with a twin in their own leaf. Tagged "contested": the
    packed rows of keys held by several leaves; "contested_counts": (leaf, their number)."""
    _, packed = item
    rows = np.frombuffer(b"".join(packed), dtype=np.uint64).reshape(-1, 4)
    within, contested = split_duplicates(rows)
    for leaf_id in np.unique(within[:, 2]).tolist():
        yield leaves[leaf_id], np.sort(within[within[:, 2] == leaf_id, 3]).tobytes()
    if len(contested):
        yield beam.pvalue.TaggedOutput("contested", contested.tobytes())
        ids, counts = np.unique(contested[:, 2], return_counts=True)
        for leaf_id, n in zip(ids.tolist(), counts.tolist(), strict=True):
            yield beam.pvalue.TaggedOutput("contested_counts", (leaves[leaf_id], n))


def resolve_choices(
    choices: list[tuple[Leaf, Choice]],
    contested: list[bytes],
    windows: dict[Leaf, Window],
    leaves: list[Leaf],
    repeats: bool,
) -> list[tuple[Leaf, Choice]]:
    """The choices once rows whose twin another leaf selects are dropped (hygiene.dedup)."""
    rows = np.frombuffer(b"".join(contested), dtype=np.uint64).reshape(-1, 4)
    return sorted(resolve(dict(choices), rows, windows, leaves, repeats).items())


def shard_count(choices: list[tuple[Leaf, Choice]], max_shard_bytes: int) -> int:
    """Output shards for the selected bytes; 0 when a window was too small (nothing is
    written: the build widens the windows and runs again)."""
    if any(c.selection is None for _, c in choices):
        return 0
    total = sum(c.bytes for _, c in choices)
    return max(1, -(-total // max_shard_bytes))


@contextmanager
def _beside(work: Callable[[Any], None]) -> Iterator[Callable[[Any], None]]:
    """`work` on each item in a second thread, one item at a time (so at most two items are
    held). Arrow's kernels release the GIL: the card's word counts run while the writer
    compresses, on a core a finished worker left idle."""
    with ThreadPoolExecutor(1) as pool:
        pending: list[Future[None]] = []

        def submit(item: Any) -> None:
            if pending:
                pending.pop().result()
            pending.append(pool.submit(work, item))

        yield submit
        if pending:
            pending.pop().result()


def write_shard(
    index: int,
    staging: str,
    num_shards: int,
    parts: list[SpillPart],
    choices: dict[Leaf, Choice],
    leaves: list[Leaf],
    layouts: LayoutOptions | None = None,
) -> dict[str, Any]:
    """Write output shard `index`: the selected spill rows of its hash range, in hash order,
    and shard `index` of every extra layout from the same rows."""
    selections = [choices[leaf].selection if leaf in choices else None for leaf in leaves]
    # Duplicates the selections would write, as leaf_id << 40 | position (positions < 2^40).
    excluded = np.sort(
        np.concatenate(
            [np.zeros(0, np.int64)]
            + [
                (np.int64(i) << 40) | choices[leaf].excluded.astype(np.int64)
                for i, leaf in enumerate(leaves)
                if leaf in choices
            ]
        )
    )

    def keep(table: Any) -> np.ndarray:
        ids, hashes, positions, copy = (
            np.asarray(table[c].to_numpy()) for c in ("leaf_id", "rank_hash", "position", "copy")
        )
        kept = copy < copies_of(selections, ids, hashes.astype(np.uint64), positions)
        if len(excluded):
            kept &= ~np.isin((ids.astype(np.int64) << 40) | positions, excluded)
        return kept

    name = shard_name(index, num_shards)
    lo, hi = shard_range(index, num_shards)
    counts = ShardCounts()  # the dataset card's row and length counts, made while writing
    extra = (
        LayoutShards(staging, index, num_shards, layouts, leaves)
        if layouts and layouts.any
        else None
    )

    def seen(table: Any) -> None:
        counts.add_table(table)
        if extra is not None:
            extra.add(table)

    try:
        with _beside(seen) as observe:
            info = write_range_shard(f"{staging}/{name}", parts, lo, hi, keep, observe)
    except BaseException:
        if extra is not None:
            extra.abort()  # no packer thread or open file outlives a failed shard
        raise
    if extra is not None:
        info["layouts"] = extra.close()
    release_malloc_heap()  # before the next shard: a worker writes many
    per_leaf = info.pop("leaves")
    written = {"/".join(leaves[i]): n for i, n in per_leaf.items()}
    return {
        "index": index,
        "path": name,
        **info,
        "leaves": dict(sorted(written.items())),
        "counts": counts,
    }
