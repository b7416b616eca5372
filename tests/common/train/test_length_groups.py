"""Length-grouped micro-batches: the split that computes the fewest padded positions."""

from __future__ import annotations

import itertools

import pytest

from common.train.length_groups import length_groups, padded_positions


def _best_by_enumeration(lengths: list[int], k: int) -> int:
    """The least padded positions over every assignment of items to exactly k non-empty groups."""
    best = None
    for labels in itertools.product(range(k), repeat=len(lengths)):
        groups = [[i for i, g in enumerate(labels) if g == j] for j in range(k)]
        if all(groups):
            cost = padded_positions(lengths, groups)
            best = cost if best is None else min(best, cost)
    assert best is not None
    return best


@pytest.mark.parametrize(
    "lengths",
    [[76, 170, 80, 165, 90, 170, 60], [5, 5, 5, 5], [1, 100, 2, 99, 3], [10, 9, 8, 7, 6, 5]],
)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_length_groups_is_optimal_and_a_partition(lengths: list[int], k: int) -> None:
    groups = length_groups(lengths, k)
    assert len(groups) == k and all(groups)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert padded_positions(lengths, groups) == _best_by_enumeration(lengths, k)


def test_two_kinds_of_items_split_by_kind() -> None:
    lengths = [80, 170, 76, 150, 84, 78, 165]  # captions at 0, 2, 4, 5; "what changed" items at 1, 3, 6
    groups = length_groups(lengths, 2)
    assert groups == [[0, 2, 4, 5], [1, 3, 6]]
    assert padded_positions(lengths, groups) == 4 * 84 + 3 * 170  # against 7 * 170 in one batch


def test_more_groups_than_items_and_bad_counts() -> None:
    assert length_groups([3, 1], 5) == [[1], [0]]
    assert length_groups([], 2) == []
    with pytest.raises(ValueError, match="groups must be >= 1"):
        length_groups([1, 2], 0)
