"""Reading one score from an answer or a FIRM-style reply: :func:`parse_score`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.parsing.numbers import (
    ScoreMode,
    _boxed_values,
    _json_single,
    _labelled_values,
    _normalize,
    _plain_values,
    _resolve,
)
from common.parsing.outcome import ParseOutcome


@dataclass(frozen=True)
class ScoreParse:
    """Result of :func:`parse_score_detailed`: the value (None on failure) and why."""

    value: float | None
    outcome: ParseOutcome
    source: str | None = None  # "json", "explicit" (boxed / labelled) or "plain"


def parse_score_detailed(
    text: Any, lo: float | None = None, hi: float | None = None, *, mode: ScoreMode = "strict"
) -> ScoreParse:
    """Read one score from ``text`` (an answer, or a FIRM-style reply); never raises.

    See :mod:`common.parsing` for the rules; ``mode="last"`` takes the last value found instead of
    requiring all values to agree.
    """
    if not isinstance(text, str):
        return ScoreParse(None, ParseOutcome.NOT_TEXT)
    try:
        s = _normalize(text)
        if not s.strip():
            return ScoreParse(None, ParseOutcome.EMPTY)
        for source, finder in (
            ("json", _json_single),
            ("explicit", lambda t: _boxed_values(t) + _labelled_values(t)),
            ("plain", _plain_values),
        ):
            cands = finder(s)
            if cands:
                value, outcome = _resolve(cands, lo, hi, mode)
                return ScoreParse(value, outcome, source)
        return ScoreParse(None, ParseOutcome.NO_NUMBER)
    except Exception:  # pragma: no cover - belt and braces: a parser must never crash training
        return ScoreParse(None, ParseOutcome.NO_NUMBER)


def parse_score(
    text: Any, lo: float | None = None, hi: float | None = None, *, mode: ScoreMode = "strict"
) -> float | None:
    """The score in ``text`` or None (no number, conflicting numbers, NaN/inf, out of [lo, hi])."""
    return parse_score_detailed(text, lo, hi, mode=mode).value
