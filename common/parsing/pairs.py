"""Reading the two scores of a pairwise answer (image A/1 first, image B/2 second)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common.parsing.numbers import (
    _A_KEYS,
    _B_KEYS,
    _PAIR_LIST_KEYS,
    _SEP,
    _VALUE,
    _boxed_contents,
    _json_number,
    _json_objects,
    _normalize,
    _plain_values,
    _read_value,
    _resolve,
    _Val,
    _walk,
)
from common.parsing.outcome import ParseOutcome

_SIDE = {
    "a": r"(?:\b(?:image|img|picture)[\s_-]*(?:a|1|one)\b|\bscore[\s_-]*(?:a|1)\b)",
    "b": r"(?:\b(?:image|img|picture)[\s_-]*(?:b|2|two)\b|\bscore[\s_-]*(?:b|2)\b)",
}
_CONNECT = r"(?:[:=\-]|\bis\b|\bgets\b|\bscores?\b|\breceives\b|\brated\b)"
_PAIR_LABEL_RE = {
    side: re.compile(
        rf"{pat}{_SEP}(?:(?:score|rating)\b{_SEP})?(?:{_CONNECT}{_SEP})?({_VALUE})(?![\w]|\.\d)",
        re.IGNORECASE | re.ASCII,
    )
    for side, pat in _SIDE.items()
}
# Bare capital letters only with an explicit ':' or '=' ("A: 7, B: 4"); case-sensitive on purpose.
_PAIR_LETTER_RE = {
    side: re.compile(rf"(?<![\w(])\(?{side.upper()}\)?{_SEP}[:=]{_SEP}({_VALUE})(?![\w]|\.\d)", re.ASCII)
    for side in ("a", "b")
}


@dataclass(frozen=True)
class PairParse:
    """Result of :func:`parse_pair_scores_detailed`."""

    value: tuple[float, float] | None
    outcome: ParseOutcome
    source: str | None = None


def _check_pair(
    a: list[_Val], b: list[_Val], lo: float | None, hi: float | None
) -> tuple[tuple[float, float] | None, ParseOutcome]:
    va, oa = _resolve(a, lo, hi, "strict")
    vb, ob = _resolve(b, lo, hi, "strict")
    for outcome in (oa, ob):
        if outcome is not ParseOutcome.OK:
            return None, outcome
    assert va is not None and vb is not None
    return (va, vb), ParseOutcome.OK


def _json_pairs(text: str) -> tuple[list[_Val], list[_Val]]:
    a: list[_Val] = []
    b: list[_Val] = []
    for obj, pos in _json_objects(text):
        for k, v in _walk(obj):
            if k in _A_KEYS or k in _B_KEYS:
                val = _json_number(v, pos)
                if val is not None:
                    (a if k in _A_KEYS else b).append(val)
            elif k in _PAIR_LIST_KEYS and isinstance(v, list) and len(v) == 2:
                va, vb = _json_number(v[0], pos), _json_number(v[1], pos)
                if va is not None and vb is not None:
                    a.append(va)
                    b.append(vb)
    return a, b


def parse_pair_scores_detailed(text: Any, lo: float | None = None, hi: float | None = None) -> PairParse:
    """Read two scores (image A/1 first, image B/2 second); never raises.

    Accepted, in priority order: JSON (``{"score_a": 7, "score_b": 4}``, ``score_1``/``image_1``
    keys, or ``{"scores": [7, 4]}``); labelled text (``Image 1: 7; Image 2: 4``,
    ``Image A gets 7``, ``A: 7, B: 4``); the contents of ``\\boxed{7, 4}``; otherwise the answer
    must hold exactly two bare numbers (``7, 4``, ``[7, 4]``, ``7 vs 4``). Each score follows the
    single-score rules (fractions, range, NaN). One side only -> ``MISSING_VALUE``.
    """
    if not isinstance(text, str):
        return PairParse(None, ParseOutcome.NOT_TEXT)
    try:
        s = _normalize(text)
        if not s.strip():
            return PairParse(None, ParseOutcome.EMPTY)
        a, b = _json_pairs(s)
        source = "json"
        if not a and not b:
            source = "labelled"
            for side, out in (("a", a), ("b", b)):
                for regex in (_PAIR_LABEL_RE[side], _PAIR_LETTER_RE[side]):
                    for m in regex.finditer(s):
                        v = _read_value(m.group(1), m.start(1))
                        if v is not None:
                            out.append(v)
        if a or b:
            if not a or not b:
                return PairParse(None, ParseOutcome.MISSING_VALUE, source)
            value, outcome = _check_pair(a, b, lo, hi)
            return PairParse(value, outcome, source)
        boxed = _boxed_contents(s)
        if boxed:
            nums = [v for inner, pos in boxed for v in _plain_values(inner, pos)]
            source = "boxed"
        else:
            nums = _plain_values(s)
            source = "plain"
        if not nums:
            return PairParse(None, ParseOutcome.NO_NUMBER, source)
        if len(nums) == 1:
            return PairParse(None, ParseOutcome.MISSING_VALUE, source)
        if len(nums) > 2:
            return PairParse(None, ParseOutcome.CONFLICT, source)
        value, outcome = _check_pair([nums[0]], [nums[1]], lo, hi)
        return PairParse(value, outcome, source)
    except Exception:  # pragma: no cover - never crash training
        return PairParse(None, ParseOutcome.NO_NUMBER)


def parse_pair_scores(
    text: Any, lo: float | None = None, hi: float | None = None
) -> tuple[float, float] | None:
    """The two scores ``(p_a, p_b)`` in ``text`` or None; see :func:`parse_pair_scores_detailed`."""
    return parse_pair_scores_detailed(text, lo, hi).value
