"""Single-wise score rewards against hand-computed values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.rewards import score_continuous, score_discrete, score_gaussian


@pytest.mark.parametrize(
    ("pred", "label", "lo", "hi", "expected"),
    [
        (7, 8, 0, 10, 0.9),  # 1 - 1/10
        (8, 8, 0, 10, 1.0),
        (0, 10, 0, 10, 0.0),
        (3, 5, 1, 5, 0.5),  # 1 - 2/4
        (4.5, 3, 1, 5, 0.625),  # 1 - 1.5/4
        (12, 1, 0, 10, 0.0),  # 1 - 11/10 < 0 -> clipped
    ],
)
def test_continuous(pred: float, label: float, lo: float, hi: float, expected: float) -> None:
    assert score_continuous(pred, label, lo=lo, hi=hi) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pred", "label", "sigma", "expected"),
    [
        (5, 5, 1.0, 1.0),
        (7, 8, 1.0, math.exp(-0.5)),  # 0.6065...
        (2, 5, 2.0, math.exp(-9 / 8)),  # 0.3247...
        (0, 10, 1.0, math.exp(-50)),
    ],
)
def test_gaussian(pred: float, label: float, sigma: float, expected: float) -> None:
    assert score_gaussian(pred, label, lo=0, hi=10, sigma=sigma) == pytest.approx(expected)
    assert score_gaussian(7, 8) == pytest.approx(0.6065306597)


@pytest.mark.parametrize(
    ("pred", "label", "tol", "expected"),
    [
        (7, 7, 0.0, 1.0),
        (7.5, 7, 0.5, 1.0),
        (6.5, 7, 0.5, 1.0),
        (7.6, 7, 0.5, 0.0),
        (7, 6.67, 0.5, 1.0),
        (8, 7, 0.0, 0.0),
        (8, 7, 1.0, 1.0),
    ],
)
def test_discrete(pred: float, label: float, tol: float, expected: float) -> None:
    assert score_discrete(pred, label, lo=0, hi=10, tol=tol) == expected


@pytest.mark.parametrize("fn", [score_continuous, score_gaussian, score_discrete])
@pytest.mark.parametrize("pred", [None, math.nan, math.inf, -math.inf, "7", True])
def test_missing_prediction_gets_zero(fn, pred) -> None:  # type: ignore[no-untyped-def]
    assert fn(pred, 7.0, lo=0, hi=10) == 0.0


@pytest.mark.parametrize("fn", [score_continuous, score_gaussian, score_discrete])
def test_bad_config_raises(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="scale"):
        fn(5, 5, lo=10, hi=0)
    with pytest.raises(ValueError, match="scale"):
        fn(5, 5, lo=0, hi=math.inf)
    with pytest.raises(ValueError, match="label"):
        fn(5, math.nan, lo=0, hi=10)
    with pytest.raises(ValueError, match="label"):
        fn(5, None, lo=0, hi=10)


def test_bad_parameters_raise() -> None:
    with pytest.raises(ValueError, match="sigma"):
        score_gaussian(5, 5, sigma=0.0)
    with pytest.raises(ValueError, match="tol"):
        score_discrete(5, 5, tol=-1.0)


finite = st.floats(-100, 100, allow_nan=False)


@given(st.one_of(st.none(), st.floats()), st.floats(0, 10))
def test_rewards_in_unit_interval(pred: float | None, label: float) -> None:
    for fn in (score_continuous, score_gaussian, score_discrete):
        r = fn(pred, label, lo=0, hi=10)
        assert 0.0 <= r <= 1.0


@given(st.floats(0, 10), st.floats(0, 10), st.floats(0, 10))
def test_continuous_is_monotone_in_error(y: float, p1: float, p2: float) -> None:
    if abs(p1 - y) <= abs(p2 - y):
        assert score_continuous(p1, y) >= score_continuous(p2, y)
        assert score_gaussian(p1, y) >= score_gaussian(p2, y)
        assert score_discrete(p1, y) >= score_discrete(p2, y)


@given(st.floats(0, 10), st.floats(0, 10))
def test_continuous_is_symmetric(p: float, y: float) -> None:
    assert score_continuous(p, y) == pytest.approx(score_continuous(y, p))
