"""Pairwise rewards against hand-computed values, including ties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.rewards import (
    normalize_pair_label,
    pair_continuous,
    pair_discrete,
    pair_sigmoid,
    pair_verdict,
)


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(
    ("pred", "label", "lo", "hi", "expected"),
    [
        ((7, 4), "a", 0, 10, 0.65),  # 0.5 + 3/20
        ((7, 4), "b", 0, 10, 0.35),  # 0.5 - 3/20
        ((7, 4), "tie", 0, 10, 0.7),  # 1 - 3/10
        ((5, 5), "a", 0, 10, 0.5),
        ((5, 5), "tie", 0, 10, 1.0),
        ((10, 0), "a", 0, 10, 1.0),
        ((10, 0), "b", 0, 10, 0.0),
        ((10, 0), "tie", 0, 10, 0.0),
        ((5, 1), "a", 1, 5, 1.0),  # 0.5 + 4/8
        ((2, 4), "b", 1, 5, 0.75),  # 0.5 + 2/8
        ((12, 0), "a", 0, 10, 1.0),  # unclipped 1.1 -> 1
    ],
)
def test_continuous(pred: tuple[float, float], label: str, lo: float, hi: float, expected: float) -> None:
    assert pair_continuous(pred, label, lo=lo, hi=hi) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pred", "label", "temperature", "expected"),
    [
        ((7, 4), "a", 1.0, _sig(3)),  # 0.9526
        ((7, 4), "b", 1.0, _sig(-3)),  # 0.0474
        ((7, 4), "tie", 1.0, 2 * _sig(-3)),  # 0.0949
        ((5, 5), "a", 1.0, 0.5),
        ((5, 5), "tie", 1.0, 1.0),
        ((7, 4), "a", 2.0, _sig(1.5)),  # 0.8176
        ((0, 1000), "a", 1.0, 0.0),  # no overflow
    ],
)
def test_sigmoid(pred: tuple[float, float], label: str, temperature: float, expected: float) -> None:
    assert pair_sigmoid(pred, label, temperature=temperature) == pytest.approx(expected, abs=1e-12)
    assert pair_sigmoid((7, 4), "a") == pytest.approx(0.9525741268)


@pytest.mark.parametrize(
    ("pred", "label", "tie_tol", "expected"),
    [
        ((7, 4), "a", 0.0, 1.0),
        ((7, 4), "b", 0.0, 0.0),
        ((7, 4), "tie", 0.0, 0.0),
        ((5, 5), "a", 0.0, 0.0),
        ((5, 5), "b", 0.0, 0.0),
        ((5, 5), "tie", 0.0, 1.0),
        ((5, 4.5), "a", 1.0, 0.0),  # within the tie tolerance: not a win
        ((5, 4.5), "tie", 1.0, 1.0),
        ((4, 5.5), "b", 1.0, 1.0),
    ],
)
def test_discrete(pred: tuple[float, float], label: str, tie_tol: float, expected: float) -> None:
    assert pair_discrete(pred, label, tie_tol=tie_tol) == expected


def test_verdict() -> None:
    assert pair_verdict("a", "a") == 1.0
    assert pair_verdict("b", "a") == 0.0
    assert pair_verdict("tie", "TIE") == 1.0
    assert pair_verdict("Image 2", "b") == 1.0
    assert pair_verdict(None, "a") == 0.0
    assert pair_verdict("banana", "a") == 0.0


@pytest.mark.parametrize("fn", [pair_continuous, pair_sigmoid, pair_discrete])
@pytest.mark.parametrize(
    "pred", [None, (7,), (7, 4, 3), (math.nan, 4), (7, math.inf), "7, 4", ("x", 4), ("7", "4"), 7, {}]
)
def test_missing_prediction_gets_zero(fn, pred) -> None:  # type: ignore[no-untyped-def]
    for label in ("a", "b", "tie"):
        assert fn(pred, label) == 0.0


def test_labels() -> None:
    assert normalize_pair_label("A") == "a"
    assert normalize_pair_label(" Image 2 ") == "b"
    assert normalize_pair_label("Tie") == "tie"
    assert normalize_pair_label("1") == "a"
    for bad in ("c", "", None, 0, 1, 0.5):
        with pytest.raises(ValueError, match="pairwise label"):
            normalize_pair_label(bad)
    with pytest.raises(ValueError, match="pairwise label"):
        pair_continuous((7, 4), "c")


def test_bad_parameters_raise() -> None:
    with pytest.raises(ValueError, match="scale"):
        pair_continuous((7, 4), "a", lo=5, hi=5)
    with pytest.raises(ValueError, match="temperature"):
        pair_sigmoid((7, 4), "a", temperature=0)
    with pytest.raises(ValueError, match="tie_tol"):
        pair_discrete((7, 4), "a", tie_tol=-1)


scores = st.floats(0, 10)
labels = st.sampled_from(["a", "b", "tie"])


@given(st.tuples(st.floats(), st.floats()), labels)
def test_rewards_in_unit_interval(pred: tuple[float, float], label: str) -> None:
    for fn in (pair_continuous, pair_sigmoid, pair_discrete):
        assert 0.0 <= fn(pred, label) <= 1.0


@given(scores, scores)
def test_mirror_symmetry(pa: float, pb: float) -> None:
    for fn in (pair_continuous, pair_sigmoid, pair_discrete):
        assert fn((pa, pb), "a") == pytest.approx(fn((pb, pa), "b"))
        assert fn((pa, pb), "tie") == pytest.approx(fn((pb, pa), "tie"))
    # within the scale nothing is clipped: the "a" and "b" rewards split one unit
    assert pair_continuous((pa, pb), "a") + pair_continuous((pa, pb), "b") == pytest.approx(1.0)
    assert pair_sigmoid((pa, pb), "a") + pair_sigmoid((pa, pb), "b") == pytest.approx(1.0)


@given(scores, scores)
def test_discrete_outcomes_partition(pa: float, pb: float) -> None:
    total = sum(pair_discrete((pa, pb), label, tie_tol=0.5) for label in ("a", "b", "tie"))
    assert total == 1.0
