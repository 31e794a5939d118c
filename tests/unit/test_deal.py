"""Read shards are ordered so that the local runner's round-robin deal splits them evenly."""

from hypothesis import given
from hypothesis import strategies as st

from flanmix.build import deal


def test_deal_is_a_snake_draft() -> None:
    costs = [1.0, 9.0, 5.0, 7.0, 3.0]
    assert deal(costs, 2) == [1, 3, 4, 2, 0]  # rounds (9, 7), (3, 5) reversed, (1)
    assert deal(costs, 1) == [1, 3, 2, 4, 0]


@given(st.lists(st.floats(0, 1000), max_size=60), st.integers(1, 4))
def test_round_robin_of_the_deal_is_balanced(costs: list[float], workers: int) -> None:
    order = deal(costs, workers)
    assert sorted(order) == list(range(len(costs)))
    loads = [sum(costs[i] for i in order[w::workers]) for w in range(workers)]
    # A snake draft is never off by more than the largest item.
    assert max(loads, default=0) - min(loads, default=0) <= max(costs, default=0) + 1e-6
