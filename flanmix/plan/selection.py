"""Selecting a leaf's quota: keep the rows with the smallest stable hash.

"Smallest hash" is stable under re-sharding and worker count: a row's fate depends only on
its own key and the leaf's threshold, never on the order rows arrive in.

Selection comes before rendering. The plan fixes each leaf's quota from its source rows, and
the build renders only the rows inside the leaf's *window* (rank hash below a bound chosen so
that, in expectation, the quota plus a margin for drops fall inside). The quota is then the
smallest keys among the window's rows that rendered. When drops (or chance) leave a window
short, the build widens it and runs again, so the rows chosen never depend on the window:
they are always "the quota smallest keys among rows that render".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flanmix.hashing import stable_hash

RankKey = tuple[int, int]  # (hash, position): position breaks hash ties (and duplicate ids)


def rank_key(seed: int, task: str, example_id: str, template_type: str, position: int) -> RankKey:
    return stable_hash(seed, task, example_id, template_type, "select"), position


@dataclass(frozen=True)
class Selection:
    """Every valid row is written `full_passes` times, plus once more if key <= threshold."""

    valid: int
    full_passes: int
    threshold: RankKey | None
    remainder: int = 0  # rows written once more than full_passes

    def copies(self, key: RankKey) -> int:
        extra = 1 if self.threshold is not None and key <= self.threshold else 0
        return self.full_passes + extra

    @property
    def distinct(self) -> int:
        """How many different rows are written at least once (for `over_quota` drops)."""
        return self.valid if self.full_passes else self.remainder

    @property
    def written(self) -> int:
        return self.full_passes * self.valid + self.remainder


def copies_of(
    selections: Sequence[Selection | None],
    leaf_ids: np.ndarray,
    hashes: np.ndarray,
    positions: np.ndarray,
) -> np.ndarray:
    """`selections[leaf_id].copies((hash, position))` for many rows at once (0 for a leaf
    without a selection): the shard writers filter whole spill buckets with it."""
    n = len(selections)
    full = np.zeros(n, np.int64)
    has_threshold = np.zeros(n, bool)
    th_hash = np.zeros(n, np.uint64)
    th_pos = np.zeros(n, np.int64)
    for i, sel in enumerate(selections):
        if sel is None:
            continue
        full[i] = sel.full_passes
        if sel.threshold is not None:
            has_threshold[i] = True
            th_hash[i], th_pos[i] = sel.threshold
    th_h, th_p = th_hash[leaf_ids], th_pos[leaf_ids]
    below = (hashes < th_h) | ((hashes == th_h) & (positions <= th_p))
    return full[leaf_ids] + (has_threshold[leaf_ids] & below)


def keys_needed(quota: int, valid: int, repeats: bool) -> int:
    """How many of a leaf's smallest keys `select` needs: only those that set a threshold."""
    if valid == 0 or quota == 0 or quota == valid:
        return 0
    if quota < valid:
        return quota
    return quota % valid if repeats else 0


def select(quota: int, valid: int, smallest: Sequence[RankKey], repeats: bool) -> Selection:
    """The selection for a leaf with `valid` rows, given its `keys_needed` smallest keys in
    ascending order. Without repeats a leaf short of rows writes all it has."""
    if valid == 0 or quota == 0:
        return Selection(valid, 0, None)
    if quota < valid:
        return Selection(valid, 0, smallest[quota - 1], remainder=quota)
    if quota == valid or not repeats:
        return Selection(valid, 1, None)
    passes, rest = divmod(quota, valid)
    return Selection(valid, passes, smallest[rest - 1] if rest else None, remainder=rest)


FULL = 1 << 64  # a window bound of FULL takes every row (rank hashes are 64-bit)


@dataclass(frozen=True)
class Window:
    """The rows of a leaf the build renders: those whose rank hash is below `below`. Each is
    spilled `copies` times, the most copies any row can get under repeats."""

    below: int = FULL
    copies: int = 1

    @property
    def full(self) -> bool:
        return self.below >= FULL

    def holds(self, rank_hash: int) -> bool:
        return rank_hash < self.below


def first_window(quota: int, available: int, held: int = 0) -> Window:
    """A window expected to hold the quota, the rows held out as exemplars (`held`, an upper
    bound), a margin of 1/16 for drops, and four standard deviations of the binomial count:
    too small only when many rows fail to render."""
    if quota <= 0 or available <= 0:
        return Window(0)
    if quota >= available:
        return Window(FULL, -(-quota // available))
    want = quota + held + quota // 16 + 4 * math.isqrt(quota) + 16
    if want >= available:
        return Window(FULL)
    return Window(-(-FULL * want // available))


def window_rows(window: Window, available: int) -> int:
    """Rows a window is expected to spill, copies included."""
    return -(-available * min(window.below, FULL) // FULL) * window.copies


def max_copies(selection: Selection) -> int:
    return selection.full_passes + (1 if selection.threshold is not None else 0)


def keys_to_read(quota: int, window: Window, valid: int, repeats: bool) -> int:
    """How many of the smallest rendered keys `leaf_selection` needs."""
    return min(quota, valid) if not window.full else keys_needed(quota, valid, repeats)


def leaf_selection(
    quota: int, window: Window, valid: int, smallest: Sequence[RankKey], repeats: bool
) -> Selection | None:
    """The selection from the window's `valid` rows that rendered, given their `keys_to_read`
    smallest keys in ascending order; None when the window was too small to decide it (the
    build then widens it)."""
    if not window.full:
        if valid < quota:
            return None
        return select(quota, valid, smallest, repeats)
    sel = select(quota, valid, smallest, repeats)
    return sel if max_copies(sel) <= window.copies else None


def widen(window: Window, quota: int, valid: int) -> Window:
    """The next window for a leaf whose window was too small: with `valid` rows rendered out
    of the window, scale it by the shortfall (at least double), or take every row."""
    if window.full:  # every row rendered: only more copies can help
        return Window(FULL, -(-quota // max(valid, 1)))
    valid = max(valid, 1)
    target = quota + 4 * math.isqrt(quota) + 16  # the binomial slack again
    below = max(2 * window.below, window.below * 5 * target // (4 * valid))  # exact integers
    return Window(FULL) if below >= FULL else Window(below)
