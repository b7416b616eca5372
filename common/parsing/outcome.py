"""Why a parse of an evaluator completion succeeded or failed: :class:`ParseOutcome`."""

from __future__ import annotations

from enum import StrEnum


class ParseOutcome(StrEnum):
    """Why a parse succeeded or failed (the value is a stable string, good as a metrics key)."""

    OK = "ok"
    NOT_TEXT = "not_text"  # the input was not a str
    EMPTY = "empty"  # empty or whitespace only
    MALFORMED = "malformed"  # the <think>/<answer> structure is broken
    NO_NUMBER = "no_number"  # no number where one was expected
    MISSING_VALUE = "missing_value"  # pairwise: only one of the two scores found
    CONFLICT = "conflicting_values"  # several different values where one was expected
    NOT_FINITE = "not_finite"  # NaN or an infinity
    OUT_OF_RANGE = "out_of_range"  # outside [lo, hi]
    SCALE_MISMATCH = "scale_mismatch"  # "X/Y" or "X out of Y" with Y != hi
    NO_VERDICT = "no_verdict"  # pairwise verdict: nothing recognisable
