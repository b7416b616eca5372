"""Format reward: did the completion follow ``<think>...</think><answer>...</answer>``?

Source: T2I-Eval-R1 (docs/papers/t2i_eval_r1.md §3): ``r_format = 1`` if the completion is well
formed (see :func:`common.parsing.parse_completion`) AND its answer parses as the
expected kind (one score in [lo, hi] by default), else 0. Set ``answer="any"`` to check only the
tag structure (any non-empty answer).
"""

from __future__ import annotations

from typing import Any

from common.parsing import AnswerKind, ParseOutcome, parse_answer, parse_completion
from common.rewards.registry import ITEM_REWARDS

__all__ = ["format_reward"]


@ITEM_REWARDS.register("format")
def format_reward(
    completion: Any,
    *,
    answer: AnswerKind = "score",
    scale: tuple[float, float] | None = None,
) -> float:
    """1.0 if ``completion`` is well formed and its answer parses as ``answer``, else 0.0."""
    parsed = parse_completion(completion)
    if not parsed.well_formed:
        return 0.0
    lo, hi = scale if scale is not None else (None, None)
    result = parse_answer(parsed.answer, answer, lo, hi)
    return 1.0 if result.outcome is ParseOutcome.OK else 0.0
