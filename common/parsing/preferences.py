"""Reading a pairwise verdict ("a", "b" or "tie") from an answer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from common.parsing.numbers import _SEP, _boxed_contents, _normalize
from common.parsing.outcome import ParseOutcome

PairLabel = Literal["a", "b", "tie"]

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
