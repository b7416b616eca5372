"""Format reward: well formed AND the answer parses as the expected kind."""

from __future__ import annotations

import pytest
from hypothesis import given

from common.rewards import format_reward

from .strategies import completion_text


@pytest.mark.parametrize(
    ("completion", "kwargs", "expected"),
    [
        ("<think>x</think><answer>7</answer>", {}, 1.0),
        ("<think>x</think><answer>7</answer>", {"scale": (0, 10)}, 1.0),
        ("<think>x</think><answer>7</answer>", {"scale": (1, 5)}, 0.0),  # out of range
        ("<think>x</think><answer>seven</answer>", {}, 0.0),  # no number
        ("<think>x</think><answer>seven</answer>", {"answer": "any"}, 1.0),  # structure only
        ("<think>x</think><answer> </answer>", {"answer": "any"}, 0.0),
        ("<think>x</think><answer>7 or 8</answer>", {}, 0.0),
        ("<think>x</think><answer>7, 4</answer>", {"answer": "pair_scores"}, 1.0),
        ("<think>x</think><answer>7, 4</answer>", {}, 0.0),  # two numbers where one is expected
        ("<think>x</think><answer>Image 2</answer>", {"answer": "verdict"}, 1.0),
        ("<answer>7</answer>", {}, 0.0),
        ("<think>x</think><answer>7</answer><answer>7</answer>", {}, 0.0),
        ("<think>x</think><answer>7", {}, 0.0),
        ("7", {}, 0.0),
        ("", {}, 0.0),
    ],
)
def test_format_reward(completion: str, kwargs: dict, expected: float) -> None:
    assert format_reward(completion, **kwargs) == expected


def test_non_string() -> None:
    assert format_reward(None) == 0.0
    assert format_reward(7) == 0.0


@given(completion_text)
def test_format_reward_is_binary(text: str) -> None:
    for answer in ("score", "pair_scores", "verdict", "any"):
        assert format_reward(text, answer=answer, scale=(0, 10)) in (0.0, 1.0)
