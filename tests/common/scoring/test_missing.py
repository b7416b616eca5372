"""The missing-prediction policies and their report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.scoring.missing import apply_missing_policy, is_missing

PRED = [1.0, None, 3.0, float("nan"), 5.0]
HUMAN = [1.0, 2.0, 3.0, 4.0, 5.0]


def test_is_missing() -> None:
    assert is_missing(None) and is_missing(float("nan")) and is_missing(float("inf"))
    assert not is_missing(0) and not is_missing(np.float32(2.5))
    for bad in ("3", True, [1]):
        with pytest.raises(TypeError, match="number or None"):
            is_missing(bad)


def test_mean_fill() -> None:
    res = apply_missing_policy(PRED, HUMAN, "mean_fill")
    # mean of the valid predictions (1, 3, 5) = 3
    assert res.pred.tolist() == [1.0, 3.0, 3.0, 3.0, 5.0]
    assert res.human.tolist() == HUMAN
    assert res.kept.all()
    assert res.report.as_dict() == {
        "missing_policy": "mean_fill",
        "n_total": 5,
        "n_missing": 2,
        "n_used": 5,
        "fill_value": 3.0,
    }


def test_drop() -> None:
    res = apply_missing_policy(PRED, HUMAN, "drop")
    assert res.pred.tolist() == [1.0, 3.0, 5.0]
    assert res.human.tolist() == [1.0, 3.0, 5.0]
    assert res.kept.tolist() == [True, False, True, False, True]
    assert (res.report.n_missing, res.report.n_used, res.report.fill_value) == (2, 3, None)


def test_nothing_missing_is_reported_too() -> None:
    for policy in ("mean_fill", "drop", "error"):
        rep = apply_missing_policy([1, 2], [2, 1], policy).report
        assert (rep.n_missing, rep.n_used, rep.policy) == (0, 2, policy)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"2 of 5 predictions are missing \(first at position 1\)"):
        apply_missing_policy(PRED, HUMAN, "error")
    with pytest.raises(ValueError, match="all 2 predictions are missing"):
        apply_missing_policy([None, None], [1, 2], "mean_fill")
    with pytest.raises(ValueError, match="unknown missing-prediction policy 'zero'"):
        apply_missing_policy(PRED, HUMAN, "zero")
    with pytest.raises(ValueError, match="human scores must all be finite"):
        apply_missing_policy([1, 2], [1, math.nan])
    with pytest.raises(ValueError, match="equal length"):
        apply_missing_policy([1, 2], [1, 2, 3])
