"""FIRM's CME / QMA and the linear combiners: corners, midpoints, floats vs arrays vs tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from common.rewards import (
    NAIVE_EQUAL,
    NAIVE_WEIGHTED,
    cme,
    linear_combination,
    qma,
    quality_from_subscores,
    to_unit,
)

CME_TABLE = [
    # (E, C, expected) with w1 = 0.6, w2 = 0.4: E * (0.6 + 0.4 C)
    (0.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),  # the "lazy" unchanged image earns nothing
    (1.0, 0.0, 0.6),
    (1.0, 1.0, 1.0),
    (0.5, 0.5, 0.4),  # 0.5 * (0.6 + 0.2)
    (0.75, 0.25, 0.525),  # 0.75 * (0.6 + 0.1)
]
QMA_TABLE = [
    # (I, Q, expected) with w1 = 0.4, w2 = 0.6: I * (0.4 + 0.6 Q)
    (0.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (1.0, 0.0, 0.4),
    (1.0, 1.0, 1.0),
    (0.5, 0.5, 0.35),  # 0.5 * (0.4 + 0.3)
    (0.25, 0.75, 0.2125),  # 0.25 * (0.4 + 0.45)
]


@pytest.mark.parametrize(("e", "c", "expected"), CME_TABLE)
def test_cme_by_hand(e: float, c: float, expected: float) -> None:
    assert cme(e, c) == pytest.approx(expected)


@pytest.mark.parametrize(("i", "q", "expected"), QMA_TABLE)
def test_qma_by_hand(i: float, q: float, expected: float) -> None:
    assert qma(i, q) == pytest.approx(expected)


def test_tensors_arrays_and_floats_agree() -> None:
    for fn, table in ((cme, CME_TABLE), (qma, QMA_TABLE)):
        a = [row[0] for row in table]
        b = [row[1] for row in table]
        expected = [row[2] for row in table]
        t = fn(torch.tensor(a), torch.tensor(b))
        assert isinstance(t, torch.Tensor)
        assert t.dtype == torch.float32
        assert t.tolist() == pytest.approx(expected)
        n = fn(np.array(a), np.array(b))
        assert isinstance(n, np.ndarray)
        assert n.tolist() == pytest.approx(expected)
        # mixed: a tensor with a float broadcasts
        assert fn(torch.tensor(a), 0.5).tolist() == pytest.approx([fn(x, 0.5) for x in a])
        assert fn(0.5, torch.tensor(b, dtype=torch.float64)).dtype == torch.float64


def test_broadcasting() -> None:
    e = torch.tensor([[0.0], [0.5], [1.0]])  # (3, 1)
    c = torch.tensor([0.0, 1.0])  # (2,)
    out = cme(e, c)
    assert out.shape == (3, 2)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0], [0.3, 0.5], [0.6, 1.0]]))


def test_integer_tensors_become_float() -> None:
    assert cme(torch.tensor([1, 0]), torch.tensor([1, 1])).tolist() == pytest.approx([1.0, 0.0])


def test_qma_fallbacks() -> None:
    assert qma(0.7, None) == pytest.approx(0.7)
    assert qma(0.7, math.nan) == pytest.approx(0.7)
    i = torch.tensor([1.0, 0.5, 0.2])
    q = torch.tensor([math.nan, 0.5, math.nan])
    assert qma(i, q).tolist() == pytest.approx([1.0, 0.35, 0.2])
    assert qma(i, None).tolist() == pytest.approx([1.0, 0.5, 0.2])
    assert qma(np.array([1.0, 0.5]), np.array([np.nan, 0.5])).tolist() == pytest.approx([1.0, 0.35])
    with pytest.raises(ValueError, match="instruction"):
        qma(None, 0.5)  # type: ignore[arg-type]


def test_nan_base_propagates() -> None:
    assert math.isnan(cme(math.nan, 0.5))
    assert torch.isnan(cme(torch.tensor([math.nan]), torch.tensor([0.5]))).all()


def test_clamping_and_weights() -> None:
    assert cme(1.5, 1.0) == 1.0
    assert cme(-0.5, 1.0) == 0.0
    assert qma(torch.tensor([2.0]), None).tolist() == [1.0]
    # weights that do not sum to 1 are normalised: (1, 1) -> E * (1 + C) / 2
    assert cme(1.0, 0.0, w1=1.0, w2=1.0) == pytest.approx(0.5)
    assert cme(0.5, 0.5, w1=1.0, w2=1.0) == pytest.approx(0.375)
    with pytest.raises(ValueError, match="weights"):
        cme(0.5, 0.5, w1=0.5, w2=-0.5)
    with pytest.raises(ValueError, match="consistency"):
        cme(0.5, None)  # type: ignore[arg-type]


def test_to_unit_and_quality() -> None:
    assert to_unit(1) == 0.0
    assert to_unit(3) == 0.5
    assert to_unit(5) == 1.0
    assert to_unit(7, 0, 10) == pytest.approx(0.7)
    assert to_unit(None) is None
    assert to_unit(torch.tensor([1.0, 5.0])).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError):
        to_unit(3, 5, 1)
    assert quality_from_subscores(5, 3, 4) == pytest.approx(0.5)  # (3 - 1) / 4
    assert quality_from_subscores(5, 5, 5) == 1.0
    assert quality_from_subscores(1, 5, 5) == 0.0
    assert quality_from_subscores(5, None, 5) is None
    assert math.isnan(quality_from_subscores(5, math.nan, 5))
    t = quality_from_subscores(torch.tensor([5.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([4.0, 5.0]))
    assert t.tolist() == pytest.approx([0.5, 0.25])
    n = quality_from_subscores(np.array([5, 2]), np.array([3, 4]), np.array([4, 5]))
    assert n.tolist() == pytest.approx([0.5, 0.25])


def test_firm_pipeline_end_to_end_by_hand() -> None:
    # edit RM: execution 4/5, consistency 5/5 -> E = 0.75, C = 1 -> CME = 0.75 * (0.6 + 0.4)
    assert cme(to_unit(4), to_unit(5)) == pytest.approx(0.75)
    # gen RM: instruction 5/5; quality sub-scores 4, 3, 5 -> Q = 0.5 -> QMA = 1 * (0.4 + 0.3)
    assert qma(to_unit(5), quality_from_subscores(4, 3, 5)) == pytest.approx(0.7)
    # quality prompt failed -> fall back to I
    assert qma(to_unit(4), quality_from_subscores(None, 3, 5)) == pytest.approx(0.75)


def test_linear_combination() -> None:
    v = {"execution": 1.0, "consistency": 0.0}
    assert linear_combination(v, NAIVE_EQUAL) == pytest.approx(0.5)
    assert linear_combination(v, NAIVE_WEIGHTED) == pytest.approx(0.6)
    assert linear_combination({"execution": 0.5, "consistency": 1.0}, NAIVE_WEIGHTED) == pytest.approx(0.7)
    # the "lazy" edit (E = 0, C = 1) still earns 0.5 / 0.4 under the naive combiners, 0 under CME
    lazy = {"execution": 0.0, "consistency": 1.0}
    assert linear_combination(lazy, NAIVE_EQUAL) == pytest.approx(0.5)
    assert linear_combination(lazy, NAIVE_WEIGHTED) == pytest.approx(0.4)
    assert cme(lazy["execution"], lazy["consistency"]) == 0.0
    assert linear_combination({"x": 2.0, "y": 4.0}, {"x": 1.0, "y": 3.0}, normalize=True) == pytest.approx(
        3.5
    )
    tensors = {"execution": torch.tensor([1.0, 0.0]), "consistency": torch.tensor([0.0, 1.0]), "extra": 9.0}
    assert linear_combination(tensors, NAIVE_EQUAL).tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(KeyError, match="consistency"):
        linear_combination({"execution": 1.0}, NAIVE_EQUAL)
    with pytest.raises(ValueError):
        linear_combination(v, {})
    with pytest.raises(ValueError, match="normalise"):
        linear_combination({"x": 1.0, "y": 1.0}, {"x": 1.0, "y": -1.0}, normalize=True)


unit = st.floats(0, 1)


@given(unit, unit)
def test_products_bounded_and_agree_with_tensors(a: float, b: float) -> None:
    for fn in (cme, qma):
        f = fn(a, b)
        assert 0.0 <= f <= 1.0
        assert f <= a + 1e-12  # the bonus never exceeds the base
        t = fn(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))
        assert t.item() == pytest.approx(f, abs=1e-12)


@given(unit, unit, unit)
def test_products_monotone(a: float, b1: float, b2: float) -> None:
    lo, hi = min(b1, b2), max(b1, b2)
    assert cme(a, lo) <= cme(a, hi) + 1e-12
    assert cme(lo, a) <= cme(hi, a) + 1e-12
    assert qma(a, lo) <= qma(a, hi) + 1e-12
