"""Exact deduplication: rendered rows compared on a normalised key.

Two rows are duplicates when their `inputs` and their `targets` are equal once case-folded
and with runs of whitespace collapsed. In a scope (a task, or the whole mixture) each text is
written at most once, by the copy with the smallest selection hash that its leaf selects:

- Within a leaf, duplicates go before the quota is filled: of each text, the row with the
  smallest hash stays and the leaf's quota is the smallest hashes among what stays.
- Across leaves (another template type of the task, or another task), a row is dropped when a
  copy with a smaller hash is *selected* by its own leaf; the leaf then takes its next row.
  `resolve` settles this until nothing changes, from the rows whose key several leaves hold
  and, per leaf, the keys just past its threshold (its "ladder"). It is the same as walking
  every row in hash order and writing it unless its leaf is full or its text is written.

Both rules look only at rows inside the leaves' windows, and the selected rows always are, so
the result does not depend on the windows (nor on workers or read shards).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from flanmix.hashing import stable_hash
from flanmix.plan.selection import RankKey, Selection, Window

SCOPES = ("none", "task", "mixture")
Leaf = tuple[str, str]

NO_POSITIONS = np.zeros(0, np.int64)
NO_KEYS = np.zeros((0, 2), np.uint64)


def normal_text(text: str) -> str:
    return " ".join(text.casefold().split())


def dedup_key(scope: str, task: str, inputs: str, targets: str) -> int:
    """A 64-bit key equal for duplicates in the same scope (`task`: same task too)."""
    where = task if scope == "task" else ""
    return stable_hash("dedup", where, normal_text(inputs), normal_text(targets))


class Choice(NamedTuple):
    """A leaf's outcome: its selection (None when its window was too small), how many window
    rows rendered and were no duplicates, the bytes its selected rows take (copies included),
    its duplicates, the positions of those the selection would otherwise write (sorted), and
    the (rank hash, position) keys from its threshold on that `resolve` may need."""

    selection: Selection | None
    valid: int
    bytes: int
    duplicates: int = 0
    excluded: np.ndarray = NO_POSITIONS
    ladder: np.ndarray = NO_KEYS


def split_duplicates(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From (key, rank hash, leaf id, position) rows: those with a smaller-hash twin in their
    own leaf (dropped before quotas), and, of the others, those whose key several leaves
    hold (for `resolve`)."""
    rows = rows[np.lexsort((rows[:, 3], rows[:, 1], rows[:, 2], rows[:, 0]))]
    twin = np.zeros(len(rows), bool)
    twin[1:] = (rows[1:, 0] == rows[:-1, 0]) & (rows[1:, 2] == rows[:-1, 2])
    kept = rows[~twin]
    keys, counts = np.unique(kept[:, 0], return_counts=True)
    return rows[twin], kept[np.isin(kept[:, 0], keys[counts > 1])]


def resolve(
    choices: dict[Leaf, Choice],
    contested: np.ndarray,
    windows: dict[Leaf, Window],
    leaves: list[Leaf],
    repeats: bool,
) -> dict[Leaf, Choice]:
    """The choices once every text that several leaves select is kept by its smallest-hash
    copy only (see the module docstring). `contested` holds (key, rank hash, leaf id,
    position) rows of keys several leaves hold. A leaf left short of rendered rows gets no
    selection, so that the build widens its window. With repeats, whose point is to write
    rows more than once, nothing changes."""
    if repeats or not len(contested) or any(c.selection is None for c in choices.values()):
        return choices
    rows = contested[np.lexsort(tuple(contested[:, i] for i in (3, 2, 1, 0)))]
    groups = np.split(rows, np.flatnonzero(rows[1:, 0] != rows[:-1, 0]) + 1)
    groups = [g for g in groups if len(g) > 1]
    members = [[(int(r), int(i), int(p)) for _, r, i, p in g.tolist()] for g in groups]
    current = {leaf: c.selection for leaf, c in choices.items()}
    dropped: dict[Leaf, set[RankKey]] = {}
    while True:
        touched = set()
        for group in members:
            chosen = []
            for rank, leaf_id, position in group:  # in (rank, leaf, position) order
                leaf = leaves[leaf_id]
                sel = current[leaf]
                key = (rank, position)
                if sel and key not in dropped.get(leaf, ()) and sel.copies(key):
                    chosen.append((leaf, key))
            for leaf, key in chosen[1:]:
                dropped.setdefault(leaf, set()).add(key)
                touched.add(leaf)
        if not touched:
            break
        for leaf in touched:
            current[leaf] = _reselect(choices[leaf], dropped[leaf], windows[leaf])
        if any(current[leaf] is None for leaf in touched):
            break  # its window is too small: the build widens it and runs again
    out = dict(choices)
    for leaf, keys in dropped.items():
        c = choices[leaf]
        positions = np.array(sorted(p for _, p in keys), np.int64)
        out[leaf] = c._replace(
            selection=current[leaf],
            valid=c.valid - len(keys),
            duplicates=c.duplicates + len(keys),
            excluded=np.sort(np.concatenate([c.excluded, positions])),
            ladder=NO_KEYS,
        )
    return out


def _reselect(choice: Choice, dropped: set[RankKey], window: Window) -> Selection | None:
    """The leaf's selection without the `dropped` keys (all at or below its threshold): the
    next keys of its ladder take their places."""
    sel = choice.selection
    assert sel is not None
    valid = choice.valid - len(dropped)
    if not sel.full_passes:  # a quota below the rows: the threshold moves up the ladder
        quota = sel.remainder
        below = sorted(dropped)
        for i, (rank, position) in enumerate(choice.ladder.tolist()):
            key = (rank, position)
            # keys up to ladder[i]: quota + i in all, of which the dropped ones at or below it
            if key not in dropped and sum(1 for d in below if d <= key) == i:
                return Selection(valid, 0, key, remainder=quota)
    # Every rendered row is needed: all the rest, if the window held every row.
    return Selection(valid, 1, None) if window.full else None
