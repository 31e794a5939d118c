"""The stateless hashes and the draw streams every seeded choice comes from."""

from __future__ import annotations

import collections

import pytest

from flanmix.hashing import HashRandom, seeded_rng, stable_hash


def test_stable_hash_is_fixed() -> None:
    # A change here changes every selection, shard and choice of every build.
    assert stable_hash(0, "task", "id") == stable_hash(0, "task", "id")
    assert stable_hash(0, "task", "id") != stable_hash(1, "task", "id")
    assert 0 <= stable_hash("x") < 2**64


def test_draws_are_a_pure_function_of_the_parts() -> None:
    a, b, other = seeded_rng(3, "t", "e"), seeded_rng(3, "t", "e"), seeded_rng(3, "t", "f")
    draws = [a.randrange(1000) for _ in range(50)]  # past one digest's eight draws
    assert draws == [b.randrange(1000) for _ in range(50)]
    assert draws != [other.randrange(1000) for _ in range(50)]
    # the separator keeps the parts apart: ("ab", "c") is not ("a", "bc")
    assert seeded_rng("ab", "c").randrange(2**32) != seeded_rng("a", "bc").randrange(2**32)


def test_randrange_choice_and_shuffle() -> None:
    rng = HashRandom("methods")
    assert all(5 <= rng.randrange(5, 9) < 9 for _ in range(200))
    assert rng.choice(["only"]) == "only"
    items = list(range(20))
    rng.shuffle(items)
    assert sorted(items) == list(range(20)) and items != list(range(20))
    with pytest.raises(ValueError, match="empty range"):
        rng.randrange(3, 3)
    with pytest.raises(IndexError):
        rng.choice([])


def test_draws_are_close_to_uniform() -> None:
    # 30,000 draws over 6 values: each count within 5 standard deviations of 5,000.
    counts = collections.Counter(seeded_rng("uniform", i).randrange(6) for i in range(30_000))
    assert set(counts) == set(range(6))
    assert all(abs(n - 5_000) < 5 * (30_000 * (1 / 6) * (5 / 6)) ** 0.5 for n in counts.values())
    # every order of three items shows up about equally often under shuffle
    orders: collections.Counter[tuple[int, ...]] = collections.Counter()
    for i in range(6_000):
        items = [0, 1, 2]
        seeded_rng("perm", i).shuffle(items)
        orders[tuple(items)] += 1
    assert len(orders) == 6 and all(800 < n < 1_200 for n in orders.values())
