"""Deduplication's pure parts: the normalised key, the split into duplicates within a leaf
and keys several leaves hold, and `resolve`, checked against a walk over every row in hash
order (write a row unless its leaf is full or its text is already written)."""

from __future__ import annotations

from array import array

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flanmix.hygiene.dedup import dedup_key, normal_text, resolve, split_duplicates
from flanmix.pipeline.transforms import DEDUP_CANDIDATE, choose
from flanmix.plan.selection import FULL, Window


def test_keys_fold_case_and_whitespace_and_keep_the_scope() -> None:
    assert normal_text("  Hello\t WORLD \n") == "hello world"
    a = dedup_key("task", "t1", "Hello  World", "Yes")
    assert a == dedup_key("task", "t1", "hello world", " yes")
    assert a != dedup_key("task", "t2", "hello world", "yes")
    assert dedup_key("mixture", "t1", "x", "y") == dedup_key("mixture", "t2", "x", "y")
    assert dedup_key("task", "t", "a b", "c") != dedup_key("task", "t", "a", "b c")


def test_split_keeps_the_smallest_hash_per_leaf_and_finds_shared_keys() -> None:
    rows = np.array(
        [  # key, rank, leaf, position
            [7, 30, 0, 3],
            [7, 10, 0, 1],  # leaf 0 keeps this one of key 7
            [7, 20, 1, 2],  # leaf 1 holds key 7 too: contested
            [8, 5, 1, 4],
        ],
        np.uint64,
    )
    within, contested = split_duplicates(rows)
    assert within.tolist() == [[7, 30, 0, 3]]
    assert sorted(contested.tolist()) == [[7, 10, 0, 1], [7, 20, 1, 2]]


def written_rows(rows: list[tuple[int, int, int]], quotas: list[int]) -> set[int]:
    """choose per leaf, then resolve: the positions written. rows: (leaf, key, rank)."""
    leaves = [("t", f"l{i}") for i in range(len(quotas))]
    windows = {leaf: Window(FULL) for leaf in leaves}
    table = np.array(
        [[key, rank, leaf, pos] for pos, (leaf, key, rank) in enumerate(rows)], np.uint64
    ).reshape(-1, 4)
    within, contested = split_duplicates(table)
    choices = {}
    for i, leaf in enumerate(leaves):
        mine = [(rank, pos, 1, key) for pos, (lf, key, rank) in enumerate(rows) if lf == i]
        lost = within[within[:, 2] == i, 3]
        _, choices[leaf] = choose(
            (leaf, [array("Q", [v for r in mine for v in r]).tobytes()]),
            {leaf: quotas[i]},
            windows,
            False,
            [lost.tobytes()],
            int((contested[:, 2] == i).sum()),
            DEDUP_CANDIDATE,
        )
    final = resolve(choices, contested, windows, leaves, repeats=False)
    out = set()
    for pos, (i, _, rank) in enumerate(rows):
        c = final[leaves[i]]
        if c.selection and c.selection.copies((rank, pos)) and pos not in c.excluded:
            out.add(pos)
    return out


def greedy(rows: list[tuple[int, int, int]], quotas: list[int]) -> set[int]:
    taken, full, out = set(), [0] * len(quotas), set()
    for pos in sorted(range(len(rows)), key=lambda p: (rows[p][2], rows[p][0], p)):
        leaf, key, _ = rows[pos]
        if full[leaf] < quotas[leaf] and key not in taken:
            taken.add(key)
            full[leaf] += 1
            out.add(pos)
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_resolve_writes_what_a_walk_in_hash_order_writes(data: st.DataObject) -> None:
    n_leaves = data.draw(st.integers(1, 4))
    pairs = data.draw(
        st.lists(st.tuples(st.integers(0, n_leaves - 1), st.integers(0, 6)), max_size=30)
    )
    ranks = data.draw(st.permutations(range(1, len(pairs) + 1)))
    rows = [(leaf, key, rank * 1000) for (leaf, key), rank in zip(pairs, ranks, strict=True)]
    quotas = data.draw(st.lists(st.integers(0, 9), min_size=n_leaves, max_size=n_leaves))
    assert written_rows(rows, quotas) == greedy(rows, quotas)


def test_a_leaf_whose_twin_is_written_elsewhere_takes_its_next_row() -> None:
    # key 1 is in both leaves; leaf 0's copy has the smaller hash and is selected, so leaf 1
    # drops its copy and takes its next row (key 3) instead.
    rows = [(0, 1, 10), (1, 1, 20), (1, 2, 30), (1, 3, 40), (0, 4, 50)]
    assert written_rows(rows, [1, 2]) == {0, 2, 3}
    # Leaf 0 full with another row: its copy of key 1 is not written, leaf 1 keeps its own.
    rows = [(0, 5, 5), (0, 1, 10), (1, 1, 20), (1, 2, 30)]
    assert written_rows(rows, [1, 2]) == {0, 2, 3}
