"""Selection before rendering: windows, the selection from a window, widening."""

from __future__ import annotations

import random

import numpy as np
import pytest

from flanmix.plan.selection import (
    FULL,
    Selection,
    Window,
    copies_of,
    first_window,
    leaf_selection,
    max_copies,
    widen,
    window_rows,
)


def test_first_window_takes_every_row_when_the_quota_needs_most_of_them() -> None:
    assert first_window(0, 100) == Window(0)
    assert first_window(5, 0) == Window(0)
    assert first_window(100, 100) == Window(FULL, 1)
    assert first_window(250, 100) == Window(FULL, 3)  # repeats: up to 3 copies of a row
    assert first_window(60, 100) == Window(FULL)  # quota + margin > rows


def test_first_window_covers_quota_and_margin_in_expectation() -> None:
    window = first_window(10_000, 1_000_000)
    want = 10_000 + 10_000 // 16 + 4 * 100 + 16
    assert not window.full and window.copies == 1
    assert window.below / FULL == pytest.approx(want / 1_000_000, rel=1e-9)
    assert window.holds(window.below - 1) and not window.holds(window.below)
    held = first_window(10_000, 1_000_000, held=64)  # exemplar hold-outs widen it
    assert held.below / FULL == pytest.approx((want + 64) / 1_000_000, rel=1e-9)
    assert abs(window_rows(window, 1_000_000) - want) <= 1
    assert window_rows(Window(FULL, 3), 10) == 30


def brute_force(keys: list[tuple[int, int]], dropped: set[int], quota: int) -> set[int]:
    return {p for _, p in sorted(k for k in keys if k[1] not in dropped)[:quota]}


@pytest.mark.parametrize("drop_rate", [0.0, 0.05, 0.3, 0.7])
def test_the_rows_chosen_never_depend_on_the_window(drop_rate: float) -> None:
    rng = random.Random(drop_rate)
    n, quota = 5_000, 400
    keys = [(rng.getrandbits(64), p) for p in range(n)]
    dropped = {p for p in range(n) if rng.random() < drop_rate}
    window, attempts = first_window(quota, n), 0
    while True:  # what the build does: widen and run again until the window decides
        attempts += 1
        valid = sorted(k for k in keys if window.holds(k[0]) and k[1] not in dropped)
        sel = leaf_selection(quota, window, len(valid), valid[:quota], repeats=False)
        if sel is not None:
            break
        window = widen(window, quota, len(valid))
    chosen = {p for h, p in valid if sel.copies((h, p))}
    assert chosen == brute_force(keys, dropped, quota)
    assert sel.written == quota
    assert (attempts == 1) == (drop_rate <= 0.05)  # the margin absorbs a few drops


def test_a_full_window_writes_what_rendered_when_short() -> None:
    valid = [(5, 0), (9, 1)]
    sel = leaf_selection(3, Window(FULL), 2, valid, repeats=False)
    assert sel is not None and sel.written == 2  # no repeats: short, nothing more to take


def test_repeats_need_enough_spilled_copies() -> None:
    valid = [(1, 0), (2, 1)]  # 2 rows rendered for a quota of 5: 3 copies of the first
    assert leaf_selection(5, Window(FULL, 2), 2, valid, repeats=True) is None
    wider = widen(Window(FULL, 2), 5, 2)
    assert wider == Window(FULL, 3)
    sel = leaf_selection(5, wider, 2, valid, repeats=True)
    assert sel is not None and max_copies(sel) == 3
    assert [sel.copies(k) for k in valid] == [3, 2]


def test_widen_grows_by_the_shortfall_and_reaches_every_row() -> None:
    window = Window(FULL // 10)
    assert widen(window, 100, 100).below == FULL // 10 * 2  # at least double
    assert widen(Window(FULL // 100), 100, 10).below == FULL // 100 * 5 * 156 // 40
    assert widen(Window(FULL // 2), 100, 0) == Window(FULL)


def test_copies_of_many_rows_equals_copies_of_each() -> None:
    rng = random.Random(7)
    big = (1 << 64) - 1  # keys near the top of the range: no float rounding in the comparison
    selections: list[Selection | None] = [
        Selection(valid=10, full_passes=0, threshold=(big - 5, 3), remainder=4),
        Selection(valid=10, full_passes=2, threshold=None),
        None,
        Selection(valid=10, full_passes=1, threshold=(1 << 40, 9), remainder=2),
    ]
    rows = [
        (rng.randrange(4), rng.choice([big - 5, big - 4, big - 6, 1 << 40, rng.getrandbits(64)]))
        for _ in range(2_000)
    ]
    positions = [rng.randrange(12) for _ in rows]
    got = copies_of(
        selections,
        np.array([leaf for leaf, _ in rows], np.int64),
        np.array([h for _, h in rows], np.uint64),
        np.array(positions, np.int64),
    )
    want = [
        0 if (sel := selections[leaf]) is None else sel.copies((h, p))
        for (leaf, h), p in zip(rows, positions, strict=True)
    ]
    assert got.tolist() == want
