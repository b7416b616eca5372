"""The GRPO task's comparison of the trained evaluator with its starting checkpoint."""

from __future__ import annotations

import pytest

from t2ieval_r1.tasks.grpo import correlation_gain


def test_gain_is_trained_minus_start_with_undefined_correlations_as_zero() -> None:
    trained = {
        "t2i_eval/overall/spearman": 0.25,
        "imagereward/accuracy": 0.6,
        "tifa/kendall": None,
        "flag": True,
    }
    start = {
        "t2i_eval/overall/spearman": None,
        "imagereward/accuracy": 0.5,
        "tifa/kendall": 0.1,
        "flag": False,
    }
    gain, as_zero = correlation_gain(trained, start)
    assert gain["t2i_eval/overall/spearman"] == pytest.approx(0.25)
    assert gain["imagereward/accuracy"] == pytest.approx(0.1)
    assert gain["tifa/kendall"] == pytest.approx(-0.1)
    assert "flag" not in gain and sorted(as_zero) == ["t2i_eval/overall/spearman", "tifa/kendall"]


def test_a_nan_correlation_is_undefined_too() -> None:
    """What the metrics give for a constant evaluator in memory (NaN; None only after JSON)."""
    key = "t2i_eval/overall/spearman"
    gain, as_zero = correlation_gain({key: float("nan")}, {key: -0.1})
    assert gain == {key: pytest.approx(0.1)} and as_zero == [key]


def test_undefined_non_correlations_are_left_out() -> None:
    gain, as_zero = correlation_gain({"imagereward/accuracy": None}, {"imagereward/accuracy": 0.5})
    assert gain == {} and as_zero == []
