"""Robust parsing of evaluator completions: tags, scores, score pairs and verdicts.

Every parser here accepts ANY value (not only ``str``) and never raises because of it: a reward
function must not crash a training step because a policy wrote something odd (only a bad
configuration, such as an unknown answer kind, raises). Failures are
reported as a :class:`ParseOutcome`, so trainers can count them by reason.

Output format (T2I-Eval-R1, docs/papers/t2i_eval_r1.md §3)::

    <think>reasoning</think><answer>score</answer>

FIRM's reward models answer without tags (docs/papers/firm.md §2-3): the edit RM returns JSON
``{"reasoning": "...", "score": n}``, the generation RM ends with ``Final Alignment Rating: X`` and
``\\boxed{X}``. :func:`parse_score` reads all of these.

Choices made here (documented, tested):

* Text is NFKC-normalised first (full-width digits and braces become ASCII; U+2212 MINUS SIGN and
  the fraction slashes become ``-`` and ``/``). After that only ASCII digits count as digits.
* ``"X/Y"`` and ``"X out of Y"`` mean *X on a Y-point scale*: the value is X, never rescaled.
  When ``hi`` is given and ``Y != hi`` the answer is on another scale than the one asked for, and
  the parse fails with ``SCALE_MISMATCH`` (a silently rescaled score would be noise).
* A value outside ``[lo, hi]`` is a parse failure (``OUT_OF_RANGE``), not a clipped score: the
  prompt states the scale, so answering outside it is a format violation.
* NaN and infinities (``nan``, ``inf``, ``1e400``, JSON ``NaN``) fail with ``NOT_FINITE``.
* Where one number is expected, two different numbers are ``CONFLICT`` (no guessing), unless
  ``mode="last"`` is asked for, which takes the last one (useful for long FIRM-style analyses).
* Source priority for a single score: a JSON object with a ``score`` key wins outright; otherwise
  the explicit markers ``\\boxed{n}`` and ``Score: n`` / ``Rating: n`` /
  ``Final Alignment Rating: n`` must all agree; otherwise the answer must contain exactly one
  distinct bare number.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Any, Literal

__all__ = [
    "AnswerKind",
    "PairLabel",
    "PairParse",
    "ParseOutcome",
    "ParsedAnswer",
    "PreferenceParse",
    "ScoreParse",
    "parse_answer",
    "parse_completion",
    "parse_pair_scores",
    "parse_pair_scores_detailed",
    "parse_preference",
    "parse_preference_detailed",
    "parse_score",
    "parse_score_detailed",
]

PairLabel = Literal["a", "b", "tie"]
ScoreMode = Literal["strict", "last"]


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


# --------------------------------------------------------------------------------------------
# <think> / <answer> structure
# --------------------------------------------------------------------------------------------


@dataclass
class ParsedAnswer:
    """The structure of a completion.

    ``well_formed`` is True iff the completion is exactly one ``<think>...</think>`` followed by
    exactly one ``<answer>...</answer>`` with nothing but whitespace outside them (tag names are
    case-insensitive and may contain whitespace, e.g. ``< /answer >``). ``think``/``answer`` are
    filled on a best-effort basis even for malformed text (the answer is the LAST complete
    ``<answer>`` block, else the text after an unclosed ``<answer>``); both are stripped.
    ``problems`` lists what is wrong (empty when well formed).
    """

    think: str | None
    answer: str | None
    well_formed: bool
    problems: list[str] = field(default_factory=list)


# Possessive quantifiers: "<" followed by a long run of spaces must not backtrack quadratically.
_TAG_RE = re.compile(r"<\s*+(/?)\s*+(think|answer)\s*+>", re.IGNORECASE)


@dataclass(frozen=True)
class _Tag:
    start: int
    end: int
    closing: bool
    name: str


def _tags(text: str) -> list[_Tag]:
    return [_Tag(m.start(), m.end(), m.group(1) == "/", m.group(2).lower()) for m in _TAG_RE.finditer(text)]


def _block(text: str, tags: list[_Tag], name: str, last: bool) -> str | None:
    """Best-effort contents of the first (or last) complete ``name`` block, else an unclosed one."""
    pairs: list[tuple[int, int]] = []
    open_at: _Tag | None = None
    for tag in tags:
        if tag.name != name:
            continue
        if not tag.closing:
            open_at = tag
        elif open_at is not None:
            pairs.append((open_at.end, tag.start))
            open_at = None
    if pairs:
        start, end = pairs[-1] if last else pairs[0]
        return text[start:end].strip()
    if open_at is not None:  # unclosed: take what follows, up to the next tag of any kind
        following = [t.start for t in tags if t.start >= open_at.end]
        end = following[0] if following else len(text)
        return text[open_at.end : end].strip()
    return None


def parse_completion(text: Any) -> ParsedAnswer:
    """Split a completion into its ``<think>`` and ``<answer>`` parts; never raises."""
    if not isinstance(text, str):
        return ParsedAnswer(None, None, False, ["not_text"])
    if not text.strip():
        return ParsedAnswer(None, None, False, ["empty"])
    tags = _tags(text)
    problems: list[str] = []
    for name in ("think", "answer"):
        n_open = sum(1 for t in tags if t.name == name and not t.closing)
        n_close = sum(1 for t in tags if t.name == name and t.closing)
        if n_open == 0 and n_close == 0:
            problems.append(f"missing_{name}")
            continue
        if n_open > 1 or n_close > 1:
            problems.append(f"multiple_{name}")
        if n_open > n_close:
            problems.append(f"unclosed_{name}")
        elif n_close > n_open:
            problems.append(f"unmatched_close_{name}")
    # nesting / order problems (only meaningful when each tag kind is present)
    stack: list[str] = []
    n_open_by_name = {"think": 0, "answer": 0}
    nested = False
    for tag in tags:
        if not tag.closing:
            nested = nested or bool(stack)
            stack.append(tag.name)
            n_open_by_name[tag.name] += 1
        elif stack and stack[-1] == tag.name:
            n_open_by_name[stack.pop()] -= 1
        elif n_open_by_name[tag.name] > 0:  # closes an outer tag before the inner one
            nested = True
            while stack:
                name = stack.pop()
                n_open_by_name[name] -= 1
                if name == tag.name:
                    break
    if nested:
        problems.append("nested_tags")
    expected = [("think", False), ("think", True), ("answer", False), ("answer", True)]
    seq = [(t.name, t.closing) for t in tags]
    if sorted(seq) == sorted(expected) and seq != expected and "nested_tags" not in problems:
        problems.append("wrong_order")
    if seq == expected:
        gaps = [text[: tags[0].start], text[tags[1].end : tags[2].start], text[tags[3].end :]]
        if any(g.strip() for g in gaps):
            problems.append("text_outside_tags")
    return ParsedAnswer(
        think=_block(text, tags, "think", last=False),
        answer=_block(text, tags, "answer", last=True),
        well_formed=not problems and seq == expected,
        problems=problems,
    )


# --------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class ScoreParse:
    """Result of :func:`parse_score_detailed`: the value (None on failure) and why."""

    value: float | None
    outcome: ParseOutcome
    source: str | None = None  # "json", "explicit" (boxed / labelled) or "plain"


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


def parse_score_detailed(
    text: Any, lo: float | None = None, hi: float | None = None, *, mode: ScoreMode = "strict"
) -> ScoreParse:
    """Read one score from ``text`` (an answer, or a FIRM-style reply); never raises.

    See the module docstring for the rules; ``mode="last"`` takes the last value found instead of
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


# --------------------------------------------------------------------------------------------
# pairs of scores
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------

_EXACT: dict[str, PairLabel] = {}
for _word in ("a", "1", "one", "first", "left", "option a"):
    _EXACT[_word] = "a"
for _word in ("b", "2", "two", "second", "right", "option b"):
    _EXACT[_word] = "b"
for _prefix in ("image", "img", "picture", "the image", "the picture"):
    for _suffix, _lab in (("a", "a"), ("1", "a"), ("one", "a"), ("b", "b"), ("2", "b"), ("two", "b")):
        _EXACT[f"{_prefix} {_suffix}"] = _lab  # type: ignore[assignment]
for _word in ("first image", "the first image", "the first", "left image", "the left image"):
    _EXACT[_word] = "a"
for _word in ("second image", "the second image", "the second", "right image", "the right image"):
    _EXACT[_word] = "b"
for _word in (
    "tie",
    "tied",
    "a tie",
    "it's a tie",
    "draw",
    "equal",
    "equally good",
    "same",
    "both",
    "both equally",
    "both are equal",
    "neither",
    "no preference",
    "none",
):
    _EXACT[_word] = "tie"

_TOKEN_A = r"(?:(?:image|img|picture)[\s_-]*(?:a|1|one)|(?:the\s+)?first(?:\s+image)?|a|1)"
_TOKEN_B = r"(?:(?:image|img|picture)[\s_-]*(?:b|2|two)|(?:the\s+)?second(?:\s+image)?|b|2)"
_TOKEN_TIE = r"(?:(?:a\s+)?tie|tied|draw|equal|same|both|neither|no\s+preference)"
_TOKEN = rf"(?P<tie>{_TOKEN_TIE})|(?P<a>{_TOKEN_A})|(?P<b>{_TOKEN_B})"
_VERDICT_LABEL_RE = re.compile(
    r"\b(?:final\s+)?(?:preference|preferred(?:\s+image)?|verdict|winner|choice|answer|decision|"
    rf"better(?:\s+image)?){_SEP}[:=]{_SEP}(?:{_TOKEN})\b",
    re.IGNORECASE | re.ASCII,
)
_VERDICT_PHRASE_RE = re.compile(
    r"\b(?:(?P<a>(?:image|img|picture)[\s_-]*(?:a|1|one))|(?P<b>(?:image|img|picture)[\s_-]*(?:b|2|two)))\b"
    r"\s+(?:is\s+(?:clearly\s+|slightly\s+|much\s+)?(?:better|preferred|superior)|wins\b)"
    r"|\bprefer\s+(?:(?P<a2>(?:image|img|picture)[\s_-]*(?:a|1|one))|(?P<b2>(?:image|img|picture)[\s_-]*(?:b|2|two)))\b",
    re.IGNORECASE | re.ASCII,
)
_MENTION_RE = re.compile(
    r"\b(?:(?P<a>(?:image|img|picture)[\s_-]*(?:a|1|one))|(?P<b>(?:image|img|picture)[\s_-]*(?:b|2|two))"
    r"|(?P<tie>tie|tied|draw|equally\s+(?:good|aligned|well)|no\s+preference))\b",
    re.IGNORECASE | re.ASCII,
)
_STRIP_CHARS = " \t\r\n*_`\"'.,;:!?()[]{}<>"


@dataclass(frozen=True)
class PreferenceParse:
    """Result of :func:`parse_preference_detailed`."""

    value: PairLabel | None
    outcome: ParseOutcome
    source: str | None = None


def _exact(text: str) -> PairLabel | None:
    key = re.sub(r"\s+", " ", text.strip(_STRIP_CHARS).lower())
    return _EXACT.get(key)


def _labels_of(matches: Iterable[re.Match[str]]) -> set[PairLabel]:
    found: set[PairLabel] = set()
    for m in matches:
        groups = m.groupdict()
        if groups.get("a") or groups.get("a2"):
            found.add("a")
        if groups.get("b") or groups.get("b2"):
            found.add("b")
        if groups.get("tie"):
            found.add("tie")
    return found


def parse_preference_detailed(text: Any) -> PreferenceParse:
    """Read a pairwise verdict ("a", "b" or "tie"); never raises.

    In order: the whole answer is one token (``Image 1``, ``B``, ``2``, ``tie``, ``equal``...);
    ``\\boxed{...}`` holding such a token; a label (``Preference: Image 2``, ``Winner: A``);
    a phrase (``Image 1 is better``, ``I prefer Image B``); otherwise the set of images/tie words
    mentioned must hold exactly one verdict. Disagreeing verdicts at one level -> ``CONFLICT``.
    """
    if not isinstance(text, str):
        return PreferenceParse(None, ParseOutcome.NOT_TEXT)
    try:
        s = _normalize(text)
        if not s.strip():
            return PreferenceParse(None, ParseOutcome.EMPTY)
        exact = _exact(s)
        if exact is not None:
            return PreferenceParse(exact, ParseOutcome.OK, "exact")
        boxed = [_exact(inner) for inner, _ in _boxed_contents(s)]
        if boxed:
            found_boxed = {b for b in boxed if b is not None}
            if len(found_boxed) == 1 and None not in boxed:
                return PreferenceParse(found_boxed.pop(), ParseOutcome.OK, "boxed")
            return PreferenceParse(None, ParseOutcome.CONFLICT if found_boxed else ParseOutcome.NO_VERDICT)
        for source, regex in (
            ("labelled", _VERDICT_LABEL_RE),
            ("phrase", _VERDICT_PHRASE_RE),
            ("mention", _MENTION_RE),
        ):
            found = _labels_of(regex.finditer(s))
            if len(found) == 1:
                return PreferenceParse(found.pop(), ParseOutcome.OK, source)
            if len(found) > 1:
                return PreferenceParse(None, ParseOutcome.CONFLICT, source)
        return PreferenceParse(None, ParseOutcome.NO_VERDICT)
    except Exception:  # pragma: no cover - never crash training
        return PreferenceParse(None, ParseOutcome.NO_VERDICT)


def parse_preference(text: Any) -> PairLabel | None:
    """The verdict in ``text`` ("a", "b", "tie") or None; see :func:`parse_preference_detailed`."""
    return parse_preference_detailed(text).value


# --------------------------------------------------------------------------------------------
# dispatch by answer kind
# --------------------------------------------------------------------------------------------

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
