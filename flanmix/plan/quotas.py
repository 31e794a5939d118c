"""Integer quotas from rates and an epoch rule; largest-remainder rounding so sums are exact."""

from __future__ import annotations

import math
from collections.abc import Sequence

from flanmix.errors import PlanError


def apportion(
    total: int, weights: Sequence[float], bounds: Sequence[int] | None = None
) -> list[int]:
    """Split `total` into integers proportional to `weights` (largest remainder, ties to the
    earlier index). With `bounds`, no share exceeds its bound: a bounded share is fixed at the
    bound and the rest is split again among the others (water filling)."""
    n = len(weights)
    if bounds is not None and total > sum(bounds):
        raise PlanError(f"cannot place {total} rows: the bounds allow only {sum(bounds)}")
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in fixed]
        remaining = total - sum(fixed.values())
        weight = sum(weights[i] for i in free)
        ideal = {i: remaining * weights[i] / weight if weight > 0 else 0.0 for i in free}
        over = [i for i in free if bounds is not None and ideal[i] > bounds[i]]
        if not over:
            break
        for i in over:
            fixed[i] = bounds[i]  # type: ignore[index]
    out = [0] * n
    for i, v in fixed.items():
        out[i] = v
    floors = {i: math.floor(ideal[i]) for i in free}
    for i, v in floors.items():
        out[i] = v
    left = remaining - sum(floors.values())
    order = sorted(
        (i for i in free if bounds is None or out[i] < bounds[i]),
        key=lambda i: (-(ideal[i] - floors[i]), i),
    )
    for i in order[:left]:
        out[i] += 1
    return out


def first_exhausted(counts: Sequence[int], shares: Sequence[float]) -> list[int]:
    """seqio's single epoch: the output ends when the first leaf runs out.

    The output size is min(n / p). The leaf that sets it (and any leaf tied with it, as leaves
    of one proportional group always are) gives all its rows; the others split the rest in
    proportion to their shares, each kept below its own count, so no other leaf is exhausted
    (the output is then slightly smaller than min(n / p) where tiny leaves cannot take a row).
    """
    ratios = [n / p for n, p in zip(counts, shares, strict=True)]
    size = min(ratios)
    # Ties are judged with a tolerance: n / p of equal leaves differs in the last float bits.
    tied = [i for i, r in enumerate(ratios) if math.isclose(r, size, rel_tol=1e-9)]
    others = [i for i in range(len(counts)) if i not in tied]
    rest = max(0, math.floor(size + 1e-6) - sum(counts[i] for i in tied))
    # Below its own count (not exhausted), and at most its share rounded up: rows that tiny
    # leaves cannot take are left out rather than piled onto the one leaf with room.
    bounds = [min(counts[i] - 1, math.ceil(shares[i] * size - 1e-9)) for i in others]
    split = apportion(min(rest, sum(bounds)), [shares[i] for i in others], bounds)
    out = list(counts)
    for i, q in zip(others, split, strict=True):
        out[i] = q
    return out


def fixed_total(
    total: int, counts: Sequence[int], shares: Sequence[float], repeats: bool
) -> list[int]:
    """Exactly `total` rows. Without repeats no leaf gives more than it has (the excess is
    redistributed over the others); with repeats leaves repeat whole passes as needed."""
    if repeats:
        return apportion(total, shares)
    if total > sum(counts):
        raise PlanError(
            f"epoch total {total} cannot be met without repeats: the leaves have "
            f"{sum(counts)} rows in all",
            hint="lower `total` or set `repeats: true`",
        )
    return apportion(total, shares, counts)
