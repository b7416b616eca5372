"""Pearson, Spearman, Kendall tau-b and MAE/RMSE against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from common.scoring.correlation import kendall_tau_b, kendall_tau_b_pairs, pearson, spearman
from common.scoring.errors import mae, rmse

X = [1.0, 2.0, 3.0, 4.0]
Y = [2.0, 4.0, 5.0, 4.0]  # one tie in y (items 2 and 4)


def test_pearson_by_hand() -> None:
    # dx = [-1.5, -.5, .5, 1.5], dy = [-1.75, .25, 1.25, .25]: sxy = 3.5, sxx = 5, syy = 4.75
    # r = 3.5 / sqrt(23.75) = 7 / sqrt(95)
    assert pearson(X, Y) == pytest.approx(7 / math.sqrt(95), abs=1e-12)
    assert pearson(X, [-v for v in Y]) == pytest.approx(-7 / math.sqrt(95), abs=1e-12)


def test_spearman_with_ties_by_hand() -> None:
    # ranks of Y = [1, 2.5, 4, 2.5]; Pearson of ranks: sxy = 3, sxx = 5, syy = 4.5 -> 3 / sqrt(22.5)
    assert spearman(X, Y) == pytest.approx(math.sqrt(0.4), abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        # C = 4, D = 1, n0 = 6, n1 = 0, n2 = 1 (pair 2-4 tied in y): 3 / sqrt(6 * 5)
        (X, Y, 3 / math.sqrt(30)),
        # pairs: (1,2) tied in x; (2,3) tied in y; the other 4 concordant: 4 / sqrt(5 * 5)
        ([1, 1, 2, 3], [1, 2, 2, 3], 0.8),
        # (1,2) tied in both (counts in n1 and n2); (1,3), (2,3) discordant: -2 / sqrt(2 * 2)
        ([1, 1, 2], [3, 3, 1], -1.0),
        # no ties, C = 2, D = 1 (pair 2-3 discordant): 1 / 3
        ([1, 2, 3], [1, 3, 2], 1 / 3),
    ],
)
def test_kendall_tau_b_by_hand(x: list[float], y: list[float], expected: float) -> None:
    assert kendall_tau_b(x, y) == pytest.approx(expected, abs=1e-12)
    assert kendall_tau_b_pairs(x, y) == pytest.approx(expected, abs=1e-12)


def test_undefined_correlations_are_nan_without_warnings() -> None:
    with np.errstate(all="raise"):
        for fn in (pearson, spearman, kendall_tau_b):
            assert math.isnan(fn([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
            assert math.isnan(fn([0.1] * 50, list(range(50))))
            assert math.isnan(fn([1.0], [2.0]))


def test_batched_equals_row_by_row() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(5, 30)).astype(float)
    y = x + rng.normal(size=(5, 30))
    for fn in (pearson, spearman, kendall_tau_b, mae, rmse):
        batch = fn(x, y)
        assert isinstance(batch, np.ndarray) and batch.shape == (5,)
        np.testing.assert_allclose(batch, [fn(a, b) for a, b in zip(x, y, strict=True)], atol=1e-12)


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="same shape"):
        pearson([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        spearman([1, float("nan"), 3], [1, 2, 3])
    with pytest.raises(ValueError, match="scalars"):
        kendall_tau_b(1.0, 2.0)


def test_mae_rmse_by_hand() -> None:
    # |errors| = [1, 2, 2, 0] -> MAE 5/4; squares [1, 4, 4, 0] -> RMSE sqrt(9/4) = 1.5
    assert mae(X, Y) == pytest.approx(1.25)
    assert rmse(X, Y) == pytest.approx(1.5)


ints = st.lists(st.integers(0, 3), min_size=2, max_size=25)


@given(st.data())
def test_kendall_matches_pair_counting_definition(data: st.DataObject) -> None:
    x = data.draw(ints)
    y = data.draw(st.lists(st.integers(0, 3), min_size=len(x), max_size=len(x)))
    a, b = kendall_tau_b(x, y), kendall_tau_b_pairs(x, y)
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


@given(st.data())
def test_pearson_spearman_match_scipy(data: st.DataObject) -> None:
    x = data.draw(ints)
    y = data.draw(st.lists(st.integers(-5, 5), min_size=len(x), max_size=len(x)))
    if len(set(x)) < 2 or len(set(y)) < 2:
        return
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-9)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
    assert -1.0 <= kendall_tau_b(x, y) <= 1.0
