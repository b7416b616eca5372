"""Reading numbers from free text and JSON: the rules every score parser shares.

NFKC normalisation, ``X/Y`` and ``X out of Y`` scales, ``\\boxed{n}``, ``Score: n`` labels, JSON
objects with score keys, and :func:`_resolve`, which turns the candidates found into one value or
a :class:`~common.parsing.outcome.ParseOutcome`. The helpers are private to :mod:`common.parsing`.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from common.parsing.outcome import ParseOutcome

ScoreMode = Literal["strict", "last"]

_TRANSLATE = str.maketrans({"\u2212": "-", "\u2044": "/", "\u2215": "/", "\u00a0": " "})

_NUM = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_NONFINITE = r"[-+]?(?:nan|inf(?:inity)?)\b"
_VALUE = rf"(?:{_NUM}|{_NONFINITE})(?:\s*(?:/|\bout\s+of\b)\s*{_NUM})?"
_VALUE_FULL_RE = re.compile(
    rf"\s*(?P<num>{_NUM}|{_NONFINITE})(?:\s*(?:/|\bout\s+of\b)\s*(?P<den>{_NUM}))?\s*",
    re.IGNORECASE | re.ASCII,
)
# A bare number: not glued to a word or to another number ("v2", "7th", "1.2.3" are not numbers).
_PLAIN_RE = re.compile(rf"(?<![\w.])(?:{_VALUE})(?![\w]|\.\d)", re.IGNORECASE | re.ASCII)
_SEP = r"[\s*\"'`]*"
_LABELLED_RE = re.compile(
    rf"\b(?:final\s+)?(?:(?:alignment|overall|quality)\s+)?(?:rating|score)\b{_SEP}"
    rf"(?:[:=]|\bis\b){_SEP}({_VALUE})(?![\w]|\.\d)",
    re.IGNORECASE | re.ASCII,
)
_BOXED_RE = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}", re.ASCII)
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}", re.ASCII)

_SCORE_KEYS = {"score", "finalscore", "rating", "overallscore", "finalrating"}
_A_KEYS = {"scorea", "score1", "imagea", "image1", "a", "imageascore", "image1score"}
_B_KEYS = {"scoreb", "score2", "imageb", "image2", "b", "imagebscore", "image2score"}
_PAIR_LIST_KEYS = {"scores", "pairscores"}


@dataclass(frozen=True)
class _Val:
    value: float
    den: float | None
    pos: int


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATE)


def _read_value(span: str, pos: int) -> _Val | None:
    m = _VALUE_FULL_RE.fullmatch(span)
    if m is None:
        return None
    try:
        value = float(m.group("num"))
        den = float(m.group("den")) if m.group("den") is not None else None
    except (ValueError, OverflowError):  # pragma: no cover - the regex admits only float syntax
        return None
    return _Val(value, den, pos)


def _plain_values(text: str, offset: int = 0) -> list[_Val]:
    out = []
    for m in _PLAIN_RE.finditer(text):
        v = _read_value(m.group(0), offset + m.start())
        if v is not None:
            out.append(v)
    return out


def _labelled_values(text: str) -> list[_Val]:
    out = []
    for m in _LABELLED_RE.finditer(text):
        v = _read_value(m.group(1), m.start(1))
        if v is not None:
            out.append(v)
    return out


def _boxed_contents(text: str) -> list[tuple[str, int]]:
    out = []
    for m in _BOXED_RE.finditer(text):
        inner = _TEXT_CMD_RE.sub(r"\1", m.group(1))
        out.append((inner, m.start(1)))
    return out


def _boxed_values(text: str) -> list[_Val]:
    out: list[_Val] = []
    for inner, pos in _boxed_contents(text):
        out.extend(_plain_values(inner, pos))
    return out


def _json_objects(text: str, limit: int = 32) -> list[tuple[dict[str, Any], int]]:
    """Top-level JSON objects found in ``text`` (at most ``limit`` attempts); never raises."""
    decoder = json.JSONDecoder()
    found: list[tuple[dict[str, Any], int]] = []
    covered = -1
    for start in islice((m.start() for m in re.finditer(r"\{", text)), limit):
        if start < covered:
            continue
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            found.append((obj, start))
            covered = end
    return found


def _key(k: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(k).lower())


def _json_number(value: object, pos: int) -> _Val | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return _Val(float(value), None, pos)
        except OverflowError:  # a huge JSON int
            return _Val(math.inf, None, pos)
    if isinstance(value, str):
        return _read_value(_normalize(value), pos)
    return None


def _walk(obj: dict[str, Any], depth: int = 0) -> Iterable[tuple[str, Any]]:
    for k, v in obj.items():
        yield _key(k), v
        if isinstance(v, dict) and depth < 3:
            yield from _walk(v, depth + 1)


def _json_single(text: str) -> list[_Val]:
    out = []
    for obj, pos in _json_objects(text):
        for k, v in _walk(obj):
            if k in _SCORE_KEYS:
                val = _json_number(v, pos)
                if val is not None:
                    out.append(val)
    return out


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _resolve(
    cands: list[_Val], lo: float | None, hi: float | None, mode: ScoreMode
) -> tuple[float | None, ParseOutcome]:
    if not cands:
        return None, ParseOutcome.NO_NUMBER
    if mode == "last":
        cands = [max(cands, key=lambda c: c.pos)]
    if any(not math.isfinite(c.value) for c in cands):
        return None, ParseOutcome.NOT_FINITE
    first = cands[0]
    if any(not _same(c.value, first.value) for c in cands[1:]):
        return None, ParseOutcome.CONFLICT
    if hi is not None and any(c.den is not None and not _same(c.den, hi) for c in cands):
        return None, ParseOutcome.SCALE_MISMATCH
    if (lo is not None and first.value < lo) or (hi is not None and first.value > hi):
        return None, ParseOutcome.OUT_OF_RANGE
    return first.value, ParseOutcome.OK
