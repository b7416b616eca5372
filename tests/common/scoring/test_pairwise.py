"""Pairwise preference accuracy with and without ties, by hand."""

from __future__ import annotations

import math

import pytest

from common.scoring.pairwise import (
    accuracy_from_relations,
    group_pair_counts,
    pairwise_accuracy,
    pairwise_accuracy_grouped,
    relation,
    tie_calibrated_accuracy,
    within_group_pairs,
)

# pred relations [+1, -1, 0, -1, 0]; human relations [+1, -1, 0, +1, 0]
PA, PB = [3, 1, 2, 2, 5], [1, 2, 2, 4, 5]
HA, HB = [5, 1, 3, 2, 4], [4, 3, 3, 1, 4]


def test_relation() -> None:
    assert relation(PA, PB).tolist() == [1, -1, 0, -1, 0]
    assert relation(PA, PB, tol=1.0).tolist() == [1, 0, 0, -1, 0]
    with pytest.raises(ValueError, match=">= 0"):
        relation(PA, PB, tol=-1)


def test_accuracy_with_and_without_ties() -> None:
    r = pairwise_accuracy(PA, PB, HA, HB)
    # all 5 pairs: right on 0, 1, 2 (tie = tie), 4 (tie = tie); wrong on 3 -> 4/5
    assert r.accuracy_with_ties == pytest.approx(0.8)
    # human non-ties are pairs 0, 1, 3; right on 0, 1 -> 2/3
    assert r.accuracy == pytest.approx(2 / 3)
    assert (r.n_pairs, r.n_human_ties, r.n_pred_ties, r.n_correct, r.n_correct_with_ties) == (5, 2, 2, 2, 4)


def test_prediction_tie_tolerance() -> None:
    # pred relations with tol 1: [+1, 0, 0, -1, 0]; a predicted tie on non-tie pair 1 is wrong
    r = pairwise_accuracy(PA, PB, HA, HB, tie_tolerance=1.0)
    assert r.accuracy_with_ties == pytest.approx(3 / 5)
    assert r.accuracy == pytest.approx(1 / 3)


def test_human_tie_tolerance() -> None:
    # human relations with tol 1: [0, -1, 0, 0, 0] -> only pair 1 is a non-tie
    r = pairwise_accuracy(PA, PB, HA, HB, human_tie_tolerance=1.0)
    assert r.accuracy == pytest.approx(1.0)
    assert r.accuracy_with_ties == pytest.approx(3 / 5)
    assert r.n_human_ties == 4


def test_preference_labels_as_human_side() -> None:
    labels = [1, -1, 0, 1, 0]  # a wins / b wins / tie
    r = pairwise_accuracy(PA, PB, labels, [0] * 5)
    assert r == pairwise_accuracy(PA, PB, HA, HB)


def test_all_human_ties_gives_nan_without_ties() -> None:
    r = accuracy_from_relations([1, 0], [0, 0])
    assert math.isnan(r.accuracy) and r.accuracy_with_ties == 0.5
    with pytest.raises(ValueError, match="-1, 0 or"):
        accuracy_from_relations([2], [1])


def test_grouped_pairs_by_hand() -> None:
    groups = ["a", "a", "a", "b", "b"]
    i, j = within_group_pairs(groups)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2), (3, 4)]
    # pairs: (0,1) right, (0,2) right, (1,2) human tie predicted as '<', (3,4) wrong
    r = pairwise_accuracy_grouped([1, 2, 3, 10, 20], [1, 2, 2, 5, 4], groups)
    assert r.accuracy == pytest.approx(2 / 3)
    assert r.accuracy_with_ties == pytest.approx(2 / 4)
    counts = group_pair_counts([1, 2, 3, 10, 20], [1, 2, 2, 5, 4], groups)
    assert counts["n_pairs"].tolist() == [3, 1]
    assert counts["n_nontie"].tolist() == [2, 1]
    assert counts["n_correct"].tolist() == [2, 0]
    assert counts["n_correct_with_ties"].tolist() == [2, 0]
    assert counts["n_pred_ties"].tolist() == [0, 0]


def test_tie_calibration_by_hand() -> None:
    # human [+1, -1, 0, +1, 0]; |diff| = [2, 1, 0, 2, 0.5]
    # tol 0: [+1,-1,0,-1,+1] -> 3/5; tol 0.5: [+1,-1,0,-1,0] -> 4/5; tol 1: 3/5; tol 2: 2/5
    acc, tol = tie_calibrated_accuracy([2, -1, 0, -2, 0.5], [1, -1, 0, 1, 0])
    assert (acc, tol) == (pytest.approx(0.8), 0.5)
    # no zero diffs and nothing gained by ties: tolerance 0 wins
    acc, tol = tie_calibrated_accuracy([1.0, -2.0], [1, -1])
    assert (acc, tol) == (1.0, 0.0)
