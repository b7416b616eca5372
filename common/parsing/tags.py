"""The ``<think>reasoning</think><answer>...</answer>`` structure of a completion (T2I-Eval-R1 format)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


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
