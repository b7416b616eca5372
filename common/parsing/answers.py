"""Parsing an answer by kind: one score, two scores, a verdict, or any non-empty text."""

from __future__ import annotations

from typing import Any, Literal

from common.parsing.outcome import ParseOutcome
from common.parsing.pairs import PairParse, parse_pair_scores_detailed
from common.parsing.preferences import PreferenceParse, parse_preference_detailed
from common.parsing.scores import ScoreParse, parse_score_detailed

AnswerKind = Literal["score", "pair_scores", "verdict", "any"]


def parse_answer(
    text: Any, kind: AnswerKind = "score", lo: float | None = None, hi: float | None = None
) -> ScoreParse | PairParse | PreferenceParse:
    """Parse an answer as ``kind``: one score, two scores, a verdict, or ``"any"`` (non-empty text).

    Never raises because of ``text``; an unknown ``kind`` is a configuration error and raises
    ``ValueError``.
    """
    if kind == "score":
        return parse_score_detailed(text, lo, hi)
    if kind == "pair_scores":
        return parse_pair_scores_detailed(text, lo, hi)
    if kind == "verdict":
        return parse_preference_detailed(text)
    if kind == "any":
        if not isinstance(text, str):
            return ScoreParse(None, ParseOutcome.NOT_TEXT)
        return ScoreParse(None, ParseOutcome.OK if text.strip() else ParseOutcome.EMPTY, "any")
    raise ValueError(f"unknown answer kind {kind!r}; known: score, pair_scores, verdict, any")
