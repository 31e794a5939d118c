"""Beam DoFns and CombineFns: thin wrappers over the pure functions in render/, plan/, publish/."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from flanmix.errors import FlanmixError
from flanmix.hashing import stable_hash
from flanmix.plan.plan import make_plan
from flanmix.plan.selection import RankKey, Selection, keys_needed, rank_key, select
from flanmix.publish.parquet import row_bytes, shard_name, write_shard
from flanmix.render.fewshot import held_out, keyed_pool
from flanmix.render.render import IN_EXEMPLAR_POOL, leaf_context, render_example
from flanmix.render.templates import CompiledFamily, compile_family
from flanmix.sources.files import Example, ReadShard, read_shard
from flanmix.spec.load import Family, Mixture, Task

Leaf = tuple[str, str]
READ = "read"


class ReadAndRender(beam.DoFn):
    """Read one source shard and render each example once per template type of its task.

    Main output: (leaf, (rank_key, row)), the rank key ending in the source position.
    Tagged output "counts": ((leaf, "read"|reason), n),
    summed per shard so that counting costs one element per shard, not one per row.
    """

    def __init__(
        self,
        tasks: dict[str, Task],
        families: dict[str, Family],
        types: dict[str, list[str]],
        seed: int,
    ) -> None:
        self._tasks, self._families, self._types, self._seed = tasks, families, types, seed
        self._compiled: dict[str, CompiledFamily] = {}

    def setup(self) -> None:
        self._compiled = {name: compile_family(f) for name, f in self._families.items()}

    def process(
        self, shard: ReadShard, pools: dict[str, list[Example]] | None = None
    ) -> Iterator[Any]:
        task = self._tasks[shard.task]
        family = self._compiled[task.family]
        contexts = [leaf_context(task, lt, self._seed) for lt in self._types[task.name]]
        pool = (pools or {}).get(task.name, [])
        hold = held_out(task, self._tasks, pools or {})
        counts: Counter[tuple[Leaf, str]] = Counter()
        for example in read_shard(task, shard):
            for ctx in contexts:
                leaf = (task.name, ctx.leaf_type)
                counts[(leaf, READ)] += 1
                if example.position in hold:
                    counts[(leaf, IN_EXEMPLAR_POOL)] += 1
                    continue
                row, reason = render_example(family, ctx, example, pool=pool)
                if row is None:
                    counts[(leaf, str(reason))] += 1
                    continue
                key = rank_key(
                    self._seed, task.name, example.example_id, ctx.leaf_type, example.position
                )
                yield leaf, (key, row)
        for item in sorted(counts.items()):
            yield beam.pvalue.TaggedOutput("counts", item)


def pool_candidates(
    shard: ReadShard, tasks: dict[str, Task], seed: int
) -> Iterator[tuple[str, tuple[str, tuple[RankKey, Example]]]]:
    """A shard's contribution to its task's exemplar pool: its `pool_size` smallest keys."""
    task = tasks[shard.task]
    for item in keyed_pool(seed, read_shard(task, shard), task.fewshot.pool_size):
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


def final_quotas(
    count_items: list[tuple[tuple[Leaf, str], int]], mixture: Mixture, repeats: bool
) -> dict[str, Any]:
    """Re-plan from the rows that rendered, so drops never leave a leaf short of its share.

    Returns the plan, and per leaf (quota, valid, keys needed); or the plan's error message,
    which the driver raises once the pipeline has finished.
    """
    valid: dict[Leaf, int] = {}
    for (leaf, name), n in count_items:
        valid[leaf] = valid.get(leaf, 0) + (n if name == READ else -n)
    try:
        plan = make_plan(mixture, valid)
    except FlanmixError as e:
        return {"error": str(e), "limits": dict.fromkeys(valid, 0)}
    quotas = {(lp.task, lp.template_type): lp.quota for lp in plan.leaves}
    return {
        "plan": plan,
        "valid": valid,
        "quotas": quotas,
        "limits": {leaf: keys_needed(quotas.get(leaf, 0), v, repeats) for leaf, v in valid.items()},
    }


def make_selection(
    item: tuple[Leaf, list[tuple[RankKey, None]]], final: dict[str, Any], repeats: bool
) -> tuple[Leaf, Selection]:
    leaf, pairs = item
    smallest = [rank for rank, _ in pairs]
    if "error" in final:
        return leaf, select(0, 0, [], repeats)
    return leaf, select(final["quotas"].get(leaf, 0), final["valid"][leaf], smallest, repeats)


# A selected row on its way to a shard: (leaf, source position, copy, row). Two leaves of a
# task (e.g. fs_opt and fs_opt+x_shot) render the same example into rows of the same
# template_type, so the leaf, not the row, says where a row belongs.
Placed = tuple[Leaf, int, int, dict[str, Any]]


def expand_copies(
    element: tuple[Leaf, tuple[RankKey, dict[str, Any]]], selections: dict[Leaf, Selection]
) -> Iterator[Placed]:
    """Emit a row as many times as its leaf's selection asks (0, 1 or more)."""
    leaf, (key, row) = element
    for copy in range(selections[leaf].copies(key)):
        yield leaf, key[1], copy, row


def shard_key(
    item: Placed, seed: int, num_shards: int
) -> tuple[int, tuple[int, str, str, int, int, dict[str, Any]]]:
    """Place a row in a shard by hash; the same hash orders rows inside the shard.

    (task, leaf type, source position, copy) is unique, unlike example ids, which may repeat,
    so the order never depends on the order rows arrive in."""
    (task, leaf_type), position, copy, row = item
    ident = (task, leaf_type, position, copy)
    h = stable_hash(seed, *ident, "shard")
    return h % num_shards, (h, *ident, row)


def write_sorted_shard(
    element: tuple[int, Iterable[Any]], staging: str, num_shards: int
) -> dict[str, Any]:
    index, items = element
    ordered = sorted(items, key=lambda it: it[:5])
    rows = [it[5] for it in ordered]
    name = shard_name(index, num_shards)
    info = write_shard(f"{staging}/{name}", rows)
    leaves = Counter(f"{task}/{leaf_type}" for _, task, leaf_type, *_ in ordered)
    return {"index": index, "path": name, **info, "leaves": dict(sorted(leaves.items()))}


def num_shards_for(total_bytes: int, max_shard_bytes: int) -> int:
    return max(1, -(-total_bytes // max_shard_bytes))


def size_of(item: Placed) -> int:
    return row_bytes(item[3])
