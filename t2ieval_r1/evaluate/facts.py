"""Facts stated in an evaluator's rationale (the ``<think>`` part), parsed into checkable claims.

T2I-Eval-R1 judges the quality of its evaluator's reasoning (docs/papers/t2i_eval_r1.md §1); in the
embedded world every fact a rationale states about the image can be checked against the scene
(§3). This module turns text into :class:`Fact` objects; :mod:`t2ieval_r1.evaluate.rationale`
checks them against a scene.

What is read (world vocabulary only: :data:`common.world.vocab.COLORS`, ``SHAPES``,
``NUMBER_WORDS``, the 3 x 3 grid positions of :data:`common.world.captions.POSITIONS`):

==========  =========================================  ========================================
kind        examples                                   claim
==========  =========================================  ========================================
object      ``a red circle at the top left`` (the      an object of that shape (colour,
            tiny models' caption format),              position) is in the image
            ``the circle is red``, ``a star``
count       ``two red circles``, ``3 stars``,          exactly that many objects of that shape
            ``there is one cross``                     (and colour)
absence     ``no blue square``, ``the star is          no object of that shape (and colour)
            missing``
relation    ``the red circle is left of the blue       GenEval's relation holds between some
            square``, ``a star above a cross``         pair of such objects
empty       ``nothing`` (the caption of an empty       the image holds no object
            scene), ``the image is empty``
==========  =========================================  ========================================

Positions. ``at the <cell>`` with one of the caption's nine cell phrases (``top left``, ``top``,
..., ``center``, ..., ``bottom right``) names exactly that grid cell, as the caption format
does. Any other position phrase names a region: ``in the top left corner`` -> that cell;
``on the left`` / ``left side`` -> the left column; ``at the top of the image`` / ``upper
part`` -> the top row; ``in the middle`` / ``centre`` -> the centre cell. ``upper`` / ``lower``
read as ``top`` / ``bottom``, ``middle`` / ``centre`` as ``center``.

Mentions. An object introduced with ``a`` / ``an`` (or no article) is a new object: such
mentions are matched one-to-one with scene objects (two mentions of "a red circle" need two red
circles). ``the ...`` refers to an object mentioned before and only needs one to exist.

How text is cut. The text is lower-cased, hyphens become spaces, then split into sentences at
``. ; ! ?`` and new lines. A sentence that opens with ``the prompt asks for`` (``asks`` /
``requests`` / ``wants`` / ``says``) restates the prompt, whatever it lists ("the prompt asks for a
red circle and a blue square"): it is ``other`` up to ``but`` / ``while`` / ``whereas`` /
``however`` or ``the image`` / ``this picture``, and what follows is read as usual ("the prompt
asks for a red circle but the image shows a blue square" states one fact, a blue square). The
rest is split into *clauses* at ``. ; ! ?``, new lines, commas and the words ``and``, ``but``,
``while``, ``whereas``. Each clause
is searched for the patterns above (relations first, then absences, counts, colour predicates,
objects; a matched span is not read twice). A clause with no fact is

* ``other`` when it has no colour or shape word (evaluative or procedural text: "the image
  matches the prompt") or when it talks about the prompt rather than the image (``prompt``,
  ``asks``, ``requires``, ``should``, ``expected`` ...): not a claim about the image;
* ``unparseable`` otherwise: it mentions world objects but no pattern reads it (a truncated
  caption ``a red``, free text the patterns do not know). These are counted, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from common.world.captions import POSITIONS
from common.world.vocab import COLORS, NUMBER_WORDS, SHAPE_PLURALS, SHAPES

__all__ = [
    "FACT_KINDS",
    "Fact",
    "ObjectRef",
    "ParsedRationale",
    "parse_position",
    "parse_rationale",
    "split_clauses",
]

FactKind = Literal["object", "count", "absence", "relation", "empty"]
FACT_KINDS: tuple[str, ...] = ("object", "count", "absence", "relation", "empty")

_PLURAL_TO_SHAPE = {p: s for s, p in SHAPE_PLURALS.items()}
_COLOR = "|".join(sorted(COLORS, key=len, reverse=True))
_SG = "|".join(sorted(SHAPES, key=len, reverse=True))
_PL = "|".join(sorted(SHAPE_PLURALS.values(), key=len, reverse=True))
_ANY_SHAPE = f"{_PL}|{_SG}"  # plurals first: "circles" before "circle"
_NUM = "|".join([*NUMBER_WORDS, r"\d+"])
_POS_WORD = r"top|bottom|center|left|right"
_POS_NOUN = r"corner|side|part|half|edge|area|region|of the image|of the picture|of the canvas"
_POS = (
    rf"(?P<{{p}}prep>at|in|on|near|towards|toward)\s+the\s+"
    rf"(?P<{{p}}pos>(?:{_POS_WORD})(?:\s+(?:{_POS_WORD}))?)"
    rf"(?:\s+(?P<{{p}}noun>{_POS_NOUN}))?"
)
_LINK = r"(?:(?:is|are|sits|lies|appears|which is|that is)\s+)?(?:(?:located|placed|positioned|drawn)\s+)?"

_OBJECT_RE = re.compile(
    rf"\b(?:(?P<det>a|an|the)\s+)?(?:(?P<color>{_COLOR})\s+)?(?P<shape>{_SG})\b"
    rf"(?:\s+{_LINK}{_POS.format(p='')}\b)?"
)
_COLOR_PRED_RE = re.compile(rf"\b(?P<det>a|an|the)\s+(?P<shape>{_SG})\s+(?:is|looks)\s+(?P<color>{_COLOR})\b")
_COUNT_RE = re.compile(rf"\b(?P<num>{_NUM})\s+(?:(?P<color>{_COLOR})\s+)?(?P<shape>{_ANY_SHAPE})\b")
_PLURAL_RE = re.compile(rf"\b(?:some\s+|several\s+)?(?:(?P<color>{_COLOR})\s+)?(?P<shape>{_PL})\b")
_ABSENCE_RES = (
    re.compile(rf"\bno\s+(?:(?P<color>{_COLOR})\s+)?(?P<shape>{_ANY_SHAPE})\b"),
    re.compile(
        rf"\b(?:(?:a|an|the)\s+)?(?:(?P<color>{_COLOR})\s+)?(?P<shape>{_ANY_SHAPE})\s+(?:is|are)\s+"
        r"(?:missing|absent|not (?:shown|present|visible|there|drawn))\b"
    ),
    re.compile(
        rf"\b(?:missing|lacks?|without)\s+(?:(?:a|an|the|any)\s+)?(?:(?P<color>{_COLOR})\s+)?(?P<shape>{_ANY_SHAPE})\b"
    ),
)
_REL_WORDS = {
    "to the left of": "left of",
    "on the left of": "left of",
    "left of": "left of",
    "to the right of": "right of",
    "on the right of": "right of",
    "right of": "right of",
    "on top of": "above",
    "above": "above",
    "over": "above",
    "below": "below",
    "under": "below",
    "beneath": "below",
    "underneath": "below",
}
_REL = "|".join(sorted((re.escape(k) for k in _REL_WORDS), key=len, reverse=True))
_REL_RE = re.compile(
    rf"\b(?:(?P<det1>a|an|the)\s+)?(?:(?P<color1>{_COLOR})\s+)?(?P<shape1>{_SG})\s+{_LINK}"
    rf"(?P<rel>{_REL})\s+(?:(?P<det2>a|an|the)\s+)?(?:(?P<color2>{_COLOR})\s+)?(?P<shape2>{_SG})\b"
)
_EMPTY_RES = (
    re.compile(r"^\s*nothing\s*$"),
    re.compile(r"\b(?:the\s+)?(?:image|canvas|picture)\s+is\s+(?:empty|blank)\b"),
    re.compile(r"\bno objects?\b"),
    re.compile(r"\bthere is nothing\b"),
)
_ABOUT_PROMPT_RE = re.compile(
    r"\b(?:prompt|asks?|asked|asking|requires?|required|requests?|requested|should|expected|wants?|"
    r"supposed|needs?)\b"
)
_PROMPT_SENTENCE_RE = re.compile(r"^\s*(?:the\s+)?prompt\s+(?:asks|asked|requests|wants|says)\b")
_RESTATEMENT_END_RE = re.compile(r"\b(?:but|while|whereas|however)\b|\b(?:the|this)\s+(?:image|picture)\b")
_SENTENCE_SPLIT_RE = re.compile(r"[.;!?\n]")
_WORLD_WORD_RE = re.compile(rf"\b(?:{_COLOR}|{_ANY_SHAPE})\b")
_CLAUSE_SPLIT_RE = re.compile(r"[.;!?\n,]|\b(?:and|but|while|whereas)\b")
_NORMALISE = (
    (re.compile(r"[-_/]"), " "),
    (re.compile(r"\bcentre\b|\bmiddle\b"), "center"),
    (re.compile(r"\bupper\b"), "top"),
    (re.compile(r"\blower\b"), "bottom"),
    (re.compile(r"\bcolou?red\b"), ""),
)

_ROW_CELLS = {"top": (0, 1, 2), "center": (3, 4, 5), "bottom": (6, 7, 8)}
_COL_CELLS = {"left": (0, 3, 6), "center": (1, 4, 7), "right": (2, 5, 8)}


@dataclass(frozen=True)
class ObjectRef:
    """An object as a rationale describes it: a shape, maybe a colour, maybe a place.

    ``cells`` are indices into :data:`~common.world.captions.POSITIONS` (row-major 3 x 3
    grid) the object's centre may be in; ``None`` when no position was stated.
    """

    shape: str
    color: str | None = None
    cells: frozenset[int] | None = None

    def describe(self) -> str:
        where = "" if self.cells is None else " at " + "/".join(POSITIONS[c] for c in sorted(self.cells))
        return f"{self.color + ' ' if self.color else ''}{self.shape}{where}"


@dataclass(frozen=True)
class Fact:
    """One checkable claim (kinds in the module docstring).

    Attributes:
        kind: ``object``, ``count``, ``absence``, ``relation`` or ``empty``.
        text: the span of the (normalised) rationale it was read from.
        subject: the object the claim is about (``None`` for ``empty``).
        count: the stated number (``count`` facts).
        relation: ``left of`` / ``right of`` / ``above`` / ``below`` (``relation`` facts: the
            subject is in that relation to ``other``).
        other: the reference object of a relation.
        new: ``True`` for an indefinite mention (``a red circle``), matched one-to-one with
            scene objects; ``False`` for ``the red circle`` (needs one to exist).
    """

    kind: FactKind
    text: str
    subject: ObjectRef | None = None
    count: int | None = None
    relation: str | None = None
    other: ObjectRef | None = None
    new: bool = False


@dataclass
class ParsedRationale:
    """The facts of a rationale, and the clauses that stated none (see the module docstring)."""

    facts: list[Fact] = field(default_factory=list)
    unparseable: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @property
    def n_facts(self) -> int:
        return len(self.facts)


def normalise(text: str) -> str:
    """Lower case, hyphens as spaces, ``centre``/``middle`` -> ``center``, ``upper``/``lower`` ->
    ``top``/``bottom``, runs of spaces collapsed."""
    s = text.lower()
    for pattern, repl in _NORMALISE:
        s = pattern.sub(repl, s)
    return re.sub(r"[ \t]+", " ", s)


def split_clauses(text: str) -> list[str]:
    """The clauses of ``text`` (normalised; empty ones dropped)."""
    return [c.strip() for c in _CLAUSE_SPLIT_RE.split(normalise(text)) if c and c.strip()]


def parse_position(prep: str | None, words: str | None, noun: str | None = None) -> frozenset[int] | None:
    """Grid cells named by a position phrase ``<prep> the <words> [<noun>]`` (module docstring)."""
    if not words:
        return None
    words = " ".join(words.split())
    if prep == "at" and noun is None and words in POSITIONS:
        return frozenset({POSITIONS.index(words)})
    parts = words.split()
    rows = [w for w in parts if w in ("top", "bottom")]
    cols = [w for w in parts if w in ("left", "right")]
    if len(rows) > 1 or len(cols) > 1:
        return None
    if not rows and not cols:  # "center", "center center"
        return frozenset({4})
    cells = set(range(9))
    if rows:
        cells &= set(_ROW_CELLS[rows[0]])
    elif "center" in parts:  # "center left" -> the middle row
        cells &= set(_ROW_CELLS["center"])
    if cols:
        cells &= set(_COL_CELLS[cols[0]])
    elif "center" in parts:  # "top center" -> the middle column
        cells &= set(_COL_CELLS["center"])
    return frozenset(cells) if cells else None


def _shape(word: str) -> str:
    return _PLURAL_TO_SHAPE.get(word, word)


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.index(word) if word in NUMBER_WORDS else None


def _blank(text: str, span: tuple[int, int]) -> str:
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]


def _clause_facts(clause: str) -> list[Fact]:
    facts: list[Fact] = []
    rest = clause
    for pattern in _EMPTY_RES:
        m = pattern.search(rest)
        if m:
            facts.append(Fact("empty", m.group(0).strip()))
            rest = _blank(rest, m.span())
    for m in _REL_RE.finditer(rest):
        subject = ObjectRef(m.group("shape1"), m.group("color1"))
        other = ObjectRef(m.group("shape2"), m.group("color2"))
        rel = _REL_WORDS[" ".join(m.group("rel").split())]
        facts.append(Fact("relation", m.group(0), subject, relation=rel, other=other))
    rest = _REL_RE.sub(lambda m: " " * len(m.group(0)), rest)
    for pattern in _ABSENCE_RES:
        for m in pattern.finditer(rest):
            facts.append(Fact("absence", m.group(0), ObjectRef(_shape(m.group("shape")), m.group("color"))))
        rest = pattern.sub(lambda m: " " * len(m.group(0)), rest)
    for m in _COUNT_RE.finditer(rest):
        n = _number(m.group("num"))
        if n is not None:
            ref = ObjectRef(_shape(m.group("shape")), m.group("color"))
            facts.append(Fact("count", m.group(0), ref, count=n))
    rest = _COUNT_RE.sub(lambda m: " " * len(m.group(0)), rest)
    for m in _COLOR_PRED_RE.finditer(rest):
        ref = ObjectRef(m.group("shape"), m.group("color"))
        facts.append(Fact("object", m.group(0), ref, new=m.group("det") != "the"))
    rest = _COLOR_PRED_RE.sub(lambda m: " " * len(m.group(0)), rest)
    for m in _OBJECT_RE.finditer(rest):
        cells = parse_position(m.group("prep"), m.group("pos"), m.group("noun"))
        ref = ObjectRef(m.group("shape"), m.group("color"), cells)
        facts.append(Fact("object", m.group(0).strip(), ref, new=m.group("det") != "the"))
    rest = _OBJECT_RE.sub(lambda m: " " * len(m.group(0)), rest)
    for m in _PLURAL_RE.finditer(rest):  # "red circles" without a number: at least one exists
        ref = ObjectRef(_shape(m.group("shape")), m.group("color"))
        facts.append(Fact("object", m.group(0).strip(), ref, new=False))
    return facts


def parse_rationale(text: str | None) -> ParsedRationale:
    """The facts, unparseable clauses and other clauses of ``text`` (module docstring); never raises."""
    out = ParsedRationale()
    if not isinstance(text, str) or not text.strip():
        return out
    clauses: list[str] = []
    for sentence in _SENTENCE_SPLIT_RE.split(normalise(text)):
        restates = _PROMPT_SENTENCE_RE.search(sentence)
        if restates is None:
            clauses += split_clauses(sentence)
            continue
        end = _RESTATEMENT_END_RE.search(sentence, restates.end())
        cut = end.start() if end else len(sentence)
        clauses += [sentence[:cut].strip(), *split_clauses(sentence[cut:])]
    for clause in clauses:
        if _ABOUT_PROMPT_RE.search(clause):
            out.other.append(clause)
            continue
        facts = _clause_facts(clause)
        if facts:
            out.facts += facts
        elif _WORLD_WORD_RE.search(clause):
            out.unparseable.append(clause)
        else:
            out.other.append(clause)
    return out
