"""Reading the evaluator's completions: the score (or score pair) and the rationale.

Completions follow ``<think> rationale </think> <answer> score </answer>`` (pairwise:
``<answer> s_a , s_b </answer>``; docs/papers/t2i_eval_r1.md §3). The structure is read by
:func:`common.parsing.parse_completion` and the answer by
:func:`common.parsing.parse_answer` (never raise; failures carry a reason). Policies:

* ``lenient`` (default, as an evaluation script that extracts the ``<answer>`` block would do):
  a completion that is not exactly well formed (text outside the tags, a missing ``</think>``)
  still counts when it holds an ``<answer>`` block (the last complete one, else an unclosed one)
  whose content parses; ``well_formed`` records whether the format was exact.
* ``strict`` (as the training reward): anything not well formed fails with ``malformed``.

A completion without any ``<answer>`` fails with ``malformed`` under both policies. A request the
backend could not answer fails with ``request_error``; a unit missing from a predictions file
with ``no_completion``. The answer must lie on the item's scale (``out_of_range`` otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.parsing import ParseOutcome, parse_answer, parse_completion

__all__ = ["ANSWER_POLICIES", "ParsedPrediction", "parse_prediction"]

ANSWER_POLICIES: tuple[str, ...] = ("lenient", "strict")
REQUEST_ERROR = "request_error"
NO_COMPLETION = "no_completion"


@dataclass(frozen=True)
class ParsedPrediction:
    """What a completion says.

    Attributes:
        value: the score (single-wise), the pair ``(s_a, s_b)`` (pairwise) or ``None``.
        failure: why there is no value (a :class:`ParseOutcome` value, ``request_error`` or
            ``no_completion``); ``None`` when it parsed.
        well_formed: the completion is exactly one think block then one answer block.
        think: the rationale (best effort, also for malformed completions), or ``None``.
    """

    value: float | tuple[float, float] | None
    failure: str | None
    well_formed: bool
    think: str | None

    def to_json(self) -> Any:
        return list(self.value) if isinstance(self.value, tuple) else self.value


def parse_prediction(
    text: Any, kind: str, scale: tuple[float, float], policy: str = "lenient", error: str | None = None
) -> ParsedPrediction:
    """Parse one completion of a ``single`` or ``pair`` unit (see the module docstring)."""
    if policy not in ANSWER_POLICIES:
        raise ValueError(f"answer policy must be one of {ANSWER_POLICIES}, got {policy!r}")
    if error is not None:
        return ParsedPrediction(None, REQUEST_ERROR, False, None)
    if text is None:
        return ParsedPrediction(None, NO_COMPLETION, False, None)
    parsed = parse_completion(text)
    if not parsed.well_formed and (policy == "strict" or parsed.answer is None):
        return ParsedPrediction(None, ParseOutcome.MALFORMED.value, False, parsed.think)
    answer_kind = "score" if kind == "single" else "pair_scores"
    result = parse_answer(parsed.answer, answer_kind, float(scale[0]), float(scale[1]))
    if result.outcome is not ParseOutcome.OK:
        return ParsedPrediction(None, result.outcome.value, parsed.well_formed, parsed.think)
    value = result.value
    value = (float(value[0]), float(value[1])) if isinstance(value, tuple) else float(value)  # type: ignore[arg-type]
    return ParsedPrediction(value, None, parsed.well_formed, parsed.think)
