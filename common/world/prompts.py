"""World prompts in the GenEval metadata schema, with GenEval's prompt wording.

The ``class`` of every item is a shape name (:data:`common.world.vocab.SHAPES`); texts use only
:data:`PROMPT_WORDS`. Templates, as in GenEval's metadata:

    single_object  "a photo of a {A}"
    two_object     "a photo of a {A} and a {B}"                 (A != B)
    counting       "a photo of {n} {A plural}"                  exclude: A with count n + 1
    colors         "a photo of a {c} {A}"
    position       "a photo of a {B} {relation} a {A}"          include [A, B @ [relation, 0]]
    color_attr     "a photo of a {c1} {A} and a {c2} {B}"       (A != B, c1 != c2)

("an" before a vowel: "a photo of an orange star".)

Public API:
    make_prompt(tag, include, exclude=None) -> GenEvalPrompt   (text filled in)
    prompt_text(tag, include) -> str
    sample_prompt(tag, rng, *, counts=None, level=None) -> GenEvalPrompt
    sample_prompts(n, rng, tags=GENEVAL_TAGS, *, counts=None, level=None) -> list[GenEvalPrompt]
        (tags cycled)
    enumerate_prompts(tag, *, counts=None, level=None) -> list[GenEvalPrompt]
        (every distinct prompt of a tag)

``level`` (a :mod:`common.world.levels` name or level; ``None``: ``full``) sets the shapes prompts
draw from and, unless ``counts`` is given, the counts; the full level draws exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.world.geneval import GenEvalItem, GenEvalPrompt
from common.world.levels import LEVELS, WorldLevel, get_level
from common.world.vocab import COLORS, GENEVAL_TAGS, NUMBER_WORDS, RELATIONS, SHAPE_PLURALS, SHAPES

COUNTS: tuple[int, ...] = LEVELS["full"].counts
"""Counts used by counting prompts (GenEval uses 2-4)."""

PROMPT_WORDS: frozenset[str] = frozenset(
    {"a", "an", "photo", "of", "and", *SHAPES, *SHAPE_PLURALS.values(), *COLORS, *NUMBER_WORDS}
    | {w for r in RELATIONS for w in r.split()}
)
"""Every word a world prompt can contain."""

_COLOR_NAMES = tuple(COLORS)


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def prompt_text(tag: str, include: Sequence[GenEvalItem]) -> str:
    """GenEval-style text for a world prompt's ``include`` items."""
    if tag == "single_object":
        return f"a photo of {_a(include[0].cls)}"
    if tag == "two_object":
        return f"a photo of {_a(include[0].cls)} and {_a(include[1].cls)}"
    if tag == "counting":
        it = include[0]
        return f"a photo of {NUMBER_WORDS[it.count]} {SHAPE_PLURALS[it.cls]}"
    if tag == "colors":
        it = include[0]
        return f"a photo of {_a(f'{it.color} {it.cls}')}"
    if tag == "position":
        a, b = include
        assert b.position is not None
        return f"a photo of {_a(b.cls)} {b.position[0]} {_a(a.cls)}"
    if tag == "color_attr":
        a, b = include
        return f"a photo of {_a(f'{a.color} {a.cls}')} and {_a(f'{b.color} {b.cls}')}"
    raise ValueError(f"unknown tag {tag!r}")


def make_prompt(
    tag: str, include: Sequence[GenEvalItem], exclude: Sequence[GenEvalItem] | None = None
) -> GenEvalPrompt:
    """A validated world prompt; counting gets GenEval's ``exclude`` (count + 1) by default."""
    inc = tuple(include)
    if exclude is None:
        exclude = (GenEvalItem(inc[0].cls, inc[0].count + 1),) if tag == "counting" else ()
    p = GenEvalPrompt(tag=tag, include=inc, exclude=tuple(exclude), prompt=prompt_text(tag, inc))
    return GenEvalPrompt.from_dict(p.to_dict(), vocabulary=SHAPES)


def _pick(rng: np.random.Generator, seq: Sequence[str], k: int) -> list[str]:
    return [seq[i] for i in rng.choice(len(seq), size=k, replace=False)]


def sample_prompt(
    tag: str,
    rng: np.random.Generator,
    *,
    counts: Sequence[int] | None = None,
    level: str | WorldLevel | None = None,
) -> GenEvalPrompt:
    """One random world prompt of ``tag`` at ``level``."""
    lv = get_level(level)
    shapes = lv.shapes
    counts = lv.counts if counts is None else counts
    if tag == "single_object":
        return make_prompt(tag, [GenEvalItem(_pick(rng, shapes, 1)[0])])
    if tag == "two_object":
        a, b = _pick(rng, shapes, 2)
        return make_prompt(tag, [GenEvalItem(a), GenEvalItem(b)])
    if tag == "counting":
        n = int(counts[int(rng.integers(len(counts)))])
        return make_prompt(tag, [GenEvalItem(_pick(rng, shapes, 1)[0], n)])
    if tag == "colors":
        return make_prompt(tag, [GenEvalItem(_pick(rng, shapes, 1)[0], 1, _pick(rng, _COLOR_NAMES, 1)[0])])
    if tag == "position":
        a, b = _pick(rng, shapes, 2)
        rel = RELATIONS[int(rng.integers(len(RELATIONS)))]
        return make_prompt(tag, [GenEvalItem(a), GenEvalItem(b, 1, None, (rel, 0))])
    if tag == "color_attr":
        a, b = _pick(rng, shapes, 2)
        c1, c2 = _pick(rng, _COLOR_NAMES, 2)
        return make_prompt(tag, [GenEvalItem(a, 1, c1), GenEvalItem(b, 1, c2)])
    raise ValueError(f"unknown tag {tag!r}; known: {', '.join(GENEVAL_TAGS)}")


def sample_prompts(
    n: int,
    rng: np.random.Generator,
    tags: Sequence[str] = GENEVAL_TAGS,
    *,
    counts: Sequence[int] | None = None,
    level: str | WorldLevel | None = None,
) -> list[GenEvalPrompt]:
    """``n`` random prompts at ``level``, tags taken in turn (balanced across ``tags``)."""
    lv = get_level(level)
    return [sample_prompt(tags[i % len(tags)], rng, counts=counts, level=lv) for i in range(n)]


def enumerate_prompts(
    tag: str, *, counts: Sequence[int] | None = None, level: str | WorldLevel | None = None
) -> list[GenEvalPrompt]:
    """Every distinct world prompt of ``tag`` at ``level`` (for splitting prompts into train / held-out)."""
    lv = get_level(level)
    shapes = lv.shapes
    counts = lv.counts if counts is None else counts
    out: list[GenEvalPrompt] = []
    pairs = [(a, b) for a in shapes for b in shapes if a != b]
    if tag == "single_object":
        out = [make_prompt(tag, [GenEvalItem(s)]) for s in shapes]
    elif tag == "two_object":
        out = [make_prompt(tag, [GenEvalItem(a), GenEvalItem(b)]) for a, b in pairs]
    elif tag == "counting":
        out = [make_prompt(tag, [GenEvalItem(s, n)]) for s in shapes for n in counts]
    elif tag == "colors":
        out = [make_prompt(tag, [GenEvalItem(s, 1, c)]) for s in shapes for c in _COLOR_NAMES]
    elif tag == "position":
        out = [
            make_prompt(tag, [GenEvalItem(a), GenEvalItem(b, 1, None, (r, 0))])
            for a, b in pairs
            for r in RELATIONS
        ]
    elif tag == "color_attr":
        out = [
            make_prompt(tag, [GenEvalItem(a, 1, c1), GenEvalItem(b, 1, c2)])
            for a, b in pairs
            for c1 in _COLOR_NAMES
            for c2 in _COLOR_NAMES
            if c1 != c2
        ]
    else:
        raise ValueError(f"unknown tag {tag!r}")
    return out
