"""Edits of world scenes, sloppy executions of them, and FIRM's execution / consistency truth.

An :class:`Edit` is one instruction (recolour, add, remove, move, replace, resize) addressed to
objects by a referring expression (:class:`Ref`, e.g. "the red circle", "all the squares").
:func:`apply_edit` executes it perfectly; :func:`sloppy_result` executes it the way a weak editor
would (partly, on the wrong object, with extra unintended changes, or not at all). The ground
truth never comes from the variant's name: it is read from the scene difference.

Scene difference (:func:`diff_scenes`). Objects of the source and the result are paired by a
minimum-cost assignment (Hungarian) with the cost::

    |centre_a - centre_b| / L + [shape differs] + [colour differs] + |ln(r_a / r_b)| / ln 2
    L = 0.6 when shape and colour are the same, else 0.25

and an object left unpaired costs ``UNMATCHED_COST`` (1.25), so a pair is kept when its cost is
below 2.5: a pure move stays one object however far it goes (at most 1.41 / 0.6), an object
recoloured *and* reshaped in place too, but a recoloured object that also moves by 0.4 of the
canvas is a removal plus an addition. Each pair and each unpaired object gives
:class:`Change` records, classified as in FIRM's consistency rubric:

    change       significant when                       minor when
    added        always                                 -
    removed      always                                 -
    recoloured   always (a colour name changed)         -
    reshaped     always (a shape name changed)          -
    moved        centre moved >= MOVE_SIGNIFICANT 0.12   >= MOVE_MINOR 0.03 (of the canvas side)
    resized      radius ratio >= RESIZE_SIGNIFICANT 1.25 >= RESIZE_MINOR 1.08 (either direction)
    rotated      never                                  >= ROTATE_MINOR 10 degrees (modulo symmetry)
    background   never                                  background seed changed ("background shift")

Smaller movements, size and rotation differences are not changes at all (rendering noise).

Execution (:func:`execution_score`, FIRM: 5 perfect; 4 a very subtle detail missing; 3 main
intent done but a significant requested element missing or wrong; 2 barely follows; 1 not
executed). Each targeted object gets a level from its counterpart in the result:

    recolour  new colour exactly 5; a neighbouring colour (NEAR_COLORS) 3; another new colour 2;
              unchanged or gone 1.
    remove    gone 5; still there but significantly changed (shrunk, recoloured...) 2; else 1.
    replace   requested shape (and colour, if the instruction names one) 5; requested shape with a
              neighbouring colour 4, another colour 3; capped at 4 if the replacement moved
              significantly or changed size by 1.5x or more; another new shape 2; only the
              colour changed, or the object removed without a replacement 2; unchanged 1.
    move      centre inside the destination region 5; within 0.06 of it 4; at least half way
              there (distance to the region halved) 3; moved >= MOVE_MINOR otherwise 2; else 1.
    resize    a = ln(ratio) / ln(requested factor): a >= 0.7 5 (but a > 2.0, far too much, 4);
              a >= 0.4 4; a >= 0.15 3; any other change >= RESIZE_MINOR 2; else (or gone) 1.
    add       (no target) the best new object, preferring the requested shape, then colour, then
              place: none added 1; wrong shape 2 (1 if the requested colour is wrong too); each
              other failed aspect caps the level: colour neighbouring 4 / other 3, size name
              wrong 4, relation to the anchor or destination region wrong 3; two or more failed
              aspects lower the lowest cap by one (never below 2).
The levels of several targets ("all the circles") combine as: every target >= 4 -> the lowest;
else at least half the targets >= 4, or every target >= 3 -> 3; else any target >= 2 -> 2; else 1.

Consistency (:func:`consistency_score`, FIRM: 5 only the instructed change; 4 one significant
and/or 1-2 minor unintended changes; 3 two-three significant and/or 3-4 minor; 2 four or more
significant and/or five or more minor; 1 almost entirely different). A change is *instructed*
(not counted) when it is the requested attribute of a targeted object (the recolouring of a
recolour target, the removal of a remove target, the movement of a move target, the size change
of a resize target), any change of an explicitly replaced target (FIRM: attributes of a replaced
entity do not count), or the one added object chosen as the execution of an add (unless its
execution level is 1: then it is just an unintended addition). With S significant and M minor
unintended changes, the level is ``min(level(S), level(M))`` with
level(0) = 5, level(S=1 | M=1..2) = 4, level(S=2..3 | M=3..4) = 3, otherwise 2; it is 1
("almost entirely different") when S >= 4, at least 75% of the objects not targeted by the edit
(non-target source objects plus unintended additions) carry a significant change, and the
background changed too (a new picture, not a busy edit of the old one).

Reports (:func:`difference_report`): the two passes of FIRM's difference-first pipeline,
"obvious" (each significantly changed object as it looks in each image, without comparing) and
"details" (every change by category: number, shape, colour, size, position, background), written
only with words the project's tokenizer knows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from common.world.geneval import relative_position
from common.world.levels import WorldLevel, get_level
from common.world.sampling import EDGE_MARGIN, GAP
from common.world.scene import Scene, SceneObject
from common.world.shapes import SYMMETRY, object_bbox
from common.world.vocab import COLORS, RELATIONS, SHAPE_PLURALS, SHAPES, SIZES

EDIT_KINDS: tuple[str, ...] = ("recolour", "add", "remove", "move", "replace", "resize")
"""The edit operations."""

EXECUTION_VARIANTS: tuple[str, ...] = ("perfect", "subtle", "partial", "barely", "none", "wrong_target")
"""How :func:`sloppy_result` executes the instruction (an aim; the truth comes from the diff)."""

CONSISTENCY_VARIANTS: tuple[str, ...] = ("clean", "minor", "significant", "mixed", "different")
"""Which unintended changes :func:`sloppy_result` adds to the objects the edit does not target."""

MOVE_MINOR = 0.03
MOVE_SIGNIFICANT = 0.12
RESIZE_MINOR = 1.08
RESIZE_SIGNIFICANT = 1.25
ROTATE_MINOR = 10.0
UNMATCHED_COST = 1.25
"""Cost of leaving an object unpaired in :func:`diff_scenes` (pairs cost below 2x this)."""

MOVE_NEAR = 0.06
"""A moved object whose centre is within this distance of its destination region scores 4."""

RESIZE_FACTOR = 1.5
"""The factor "bigger" / "smaller" asks for (smaller: 1 / 1.5)."""

MIN_RADIUS = 0.05
MAX_RADIUS = 0.22

_NEAR_PAIRS: tuple[tuple[str, str], ...] = (
    ("red", "orange"),
    ("red", "pink"),
    ("orange", "yellow"),
    ("orange", "brown"),
    ("yellow", "green"),
    ("yellow", "white"),
    ("green", "blue"),
    ("blue", "purple"),
    ("purple", "pink"),
    ("brown", "black"),
)
NEAR_COLORS: dict[str, frozenset[str]] = {
    c: frozenset({b for a, b in _NEAR_PAIRS if a == c} | {a for a, b in _NEAR_PAIRS if b == c})
    for c in COLORS
}
"""Colour -> its perceptual neighbours (a "near miss" when recolouring)."""

REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left": (0.0, 0.0, 1 / 3, 1.0),
    "right": (2 / 3, 0.0, 1.0, 1.0),
    "top": (0.0, 0.0, 1.0, 1 / 3),
    "bottom": (0.0, 2 / 3, 1.0, 1.0),
    "top left": (0.0, 0.0, 1 / 3, 1 / 3),
    "top right": (2 / 3, 0.0, 1.0, 1 / 3),
    "bottom left": (0.0, 2 / 3, 1 / 3, 1.0),
    "bottom right": (2 / 3, 2 / 3, 1.0, 1.0),
    "center": (1 / 3, 1 / 3, 2 / 3, 2 / 3),
}
"""Destination regions ``(x0, y0, x1, y1)`` (canvas fractions) an object's centre must reach."""

_REGION_PHRASE: dict[str, str] = {
    "left": "the left side",
    "right": "the right side",
    "top": "the top",
    "bottom": "the bottom",
    "top left": "the top left corner",
    "top right": "the top right corner",
    "bottom left": "the bottom left corner",
    "bottom right": "the bottom right corner",
    "center": "the center",
}
_RELATION_PHRASE: dict[str, str] = {
    "left of": "to the left of",
    "right of": "to the right of",
    "above": "above",
    "below": "below",
}

# ----------------------------------------------------------------------------- references and edits


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class Ref:
    """A referring expression: objects of ``shape`` (and ``color``); ``every`` for "all the ..."."""

    shape: str
    color: str | None = None
    every: bool = False

    def matches(self, obj: SceneObject) -> bool:
        return obj.shape == self.shape and (self.color is None or obj.color == self.color)

    def select(self, scene: Scene) -> tuple[int, ...]:
        """Indices of the objects of ``scene`` this expression refers to."""
        return tuple(i for i, o in enumerate(scene.objects) if self.matches(o))

    def text(self) -> str:
        """ "the red circle", "all the squares", ..."""
        if self.every:
            noun = SHAPE_PLURALS[self.shape]
            return f"all the {self.color} {noun}" if self.color else f"all the {noun}"
        return f"the {self.color} {self.shape}" if self.color else f"the {self.shape}"


@dataclass(frozen=True)
class Edit:
    """One edit instruction.

    Fields by kind (others stay ``None``):
        recolour  target, color (the new colour)
        add       shape, optional color, size (a :data:`SIZES` name), and a place: relation +
                  anchor ("to the left of the blue circle") or region ("in the top left corner")
        remove    target
        move      target (singular), region
        replace   target (singular), shape, optional color of the replacement
        resize    target, factor (> 1 bigger, < 1 smaller)
    """

    kind: str
    target: Ref | None = None
    color: str | None = None
    shape: str | None = None
    size: str | None = None
    region: str | None = None
    relation: str | None = None
    anchor: Ref | None = None
    factor: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {self.kind!r}; known: {', '.join(EDIT_KINDS)}")
        if (self.kind == "add") != (self.target is None):
            raise ValueError("add takes no target; every other edit needs one")
        if self.color is not None and self.color not in COLORS:
            raise ValueError(f"unknown colour {self.color!r}")
        if self.shape is not None and self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}")
        if self.size is not None and self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}")
        if self.region is not None and self.region not in REGIONS:
            raise ValueError(f"unknown region {self.region!r}")
        if self.relation is not None and (self.relation not in RELATIONS or self.anchor is None):
            raise ValueError("a relation needs a known relation name and an anchor")
        need = {"recolour": ("color",), "add": ("shape",), "move": ("region",), "replace": ("shape",)}
        need["resize"] = ("factor",)
        for name in need.get(self.kind, ()):
            if getattr(self, name) is None:
                raise ValueError(f"{self.kind} needs {name}")

    # -- text -------------------------------------------------------------------------------
    @property
    def instruction(self) -> str:
        """The canonical instruction text (see :func:`instruction_text` for variants)."""
        return instruction_text(self, 0)

    def targets(self, scene: Scene) -> tuple[int, ...]:
        """Indices of the source objects the edit addresses (empty for add)."""
        return () if self.target is None else self.target.select(scene)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edit:
        d = dict(data)
        for key in ("target", "anchor"):
            if d.get(key) is not None:
                d[key] = Ref(**d[key])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> Edit:
        return cls.from_dict(json.loads(text))


def place_phrase(region: str) -> str:
    """ "in the top left corner", "on the left side", "at the top", "in the center"."""
    prep = "at" if region in ("top", "bottom") else ("on" if region in ("left", "right") else "in")
    return f"{prep} {_REGION_PHRASE[region]}"


def _new_object_phrase(edit: Edit) -> str:
    words = [w for w in (edit.size if edit.kind == "add" else None, edit.color, edit.shape) if w]
    return _a(" ".join(words))


def instruction_text(edit: Edit, style: int = 0) -> str:
    """The instruction for ``edit`` in one of a few phrasings (``style`` picks one, modulo)."""
    k = edit.kind
    ref = edit.target.text() if edit.target else ""
    if k == "recolour":
        forms = (
            f"change the colour of {ref} to {edit.color}",
            f"make {ref} {edit.color}",
            f"turn {ref} {edit.color}",
        )
    elif k == "remove":
        forms = (f"remove {ref}", f"delete {ref}")
    elif k == "move":
        assert edit.region is not None
        forms = (
            f"move {ref} to {_REGION_PHRASE[edit.region]}",
            f"put {ref} {place_phrase(edit.region)}",
        )
    elif k == "replace":
        new = _new_object_phrase(edit)
        forms = (f"replace {ref} with {new}", f"turn {ref} into {new}")
    elif k == "resize":
        assert edit.factor is not None
        forms = (
            (f"make {ref} bigger", f"make {ref} larger")
            if edit.factor > 1
            else (f"make {ref} smaller", f"make {ref} smaller")
        )
    else:  # add
        new = _new_object_phrase(edit)
        place = ""
        if edit.relation is not None and edit.anchor is not None:
            place = f" {_RELATION_PHRASE[edit.relation]} {edit.anchor.text()}"
        elif edit.region is not None:
            place = f" {place_phrase(edit.region)}"
        forms = (f"add {new}{place}", f"put {new}{place}")
    return forms[style % len(forms)]


# ----------------------------------------------------------------------------- geometry helpers


def size_name(radius: float) -> str:
    """The :data:`SIZES` name closest to ``radius`` (in log space)."""
    return min(SIZES, key=lambda n: abs(math.log(radius / SIZES[n])))


def region_of(x: float, y: float) -> str:
    """The 3x3-grid name of a point: "top left", "top", ..., "center", ..., "bottom right"."""
    col = "left" if x < 1 / 3 else ("right" if x > 2 / 3 else "")
    row = "top" if y < 1 / 3 else ("bottom" if y > 2 / 3 else "")
    return " ".join(w for w in (row, col) if w) or "center"


def region_distance(x: float, y: float, region: str) -> float:
    """Euclidean distance from a point to a destination region (0 inside)."""
    x0, y0, x1, y1 = REGIONS[region]
    dx = max(x0 - x, 0.0, x - x1)
    dy = max(y0 - y, 0.0, y - y1)
    return math.hypot(dx, dy)


def _fits(obj: SceneObject) -> bool:
    m = obj.radius + EDGE_MARGIN
    return m <= obj.x <= 1 - m and m <= obj.y <= 1 - m


def _clear(objs: Sequence[SceneObject], cand: SceneObject, skip: Sequence[int] = ()) -> bool:
    return _fits(cand) and all(
        math.hypot(o.x - cand.x, o.y - cand.y) >= o.radius + cand.radius + GAP
        for j, o in enumerate(objs)
        if j not in skip
    )


_GRID = np.linspace(0.0, 1.0, 41)


def _find_spot(
    objs: Sequence[SceneObject],
    obj: SceneObject,
    preferred: tuple[float, float],
    *,
    skip: Sequence[int] = (),
    accept: Any = None,
) -> SceneObject | None:
    """``obj`` moved to the free grid point nearest ``preferred`` (that ``accept`` allows)."""
    pts = [(float(x), float(y)) for x in _GRID for y in _GRID]
    pts.sort(key=lambda p: (math.hypot(p[0] - preferred[0], p[1] - preferred[1]), p))
    for x, y in pts:
        cand = obj.moved(round(x, 4), round(y, 4))
        if (accept is None or accept(cand)) and _clear(objs, cand, skip):
            return cand
    return None


def _region_point(region: str, obj: SceneObject) -> tuple[float, float]:
    x0, y0, x1, y1 = REGIONS[region]
    px = obj.x if (x0, x1) == (0.0, 1.0) else (x0 + x1) / 2
    py = obj.y if (y0, y1) == (0.0, 1.0) else (y0 + y1) / 2
    return px, py


def _relation_ok(new: SceneObject, anchor: SceneObject, relation: str) -> bool:
    return relation in relative_position(object_bbox(new), object_bbox(anchor))


def _relation_point(anchor: SceneObject, r: float, relation: str) -> tuple[float, float]:
    d = anchor.radius + r + GAP + 0.02
    return {
        "left of": (anchor.x - d, anchor.y),
        "right of": (anchor.x + d, anchor.y),
        "above": (anchor.x, anchor.y - d),
        "below": (anchor.x, anchor.y + d),
    }[relation]


def _free_point(objs: Sequence[SceneObject]) -> tuple[float, float]:
    """The grid point farthest from every object (where an unplaced addition goes)."""
    best, best_d = (0.5, 0.5), -1.0
    for x in _GRID[4:-4:2]:
        for y in _GRID[4:-4:2]:
            d = min((math.hypot(o.x - x, o.y - y) - o.radius for o in objs), default=1.0)
            if d > best_d + 1e-12:
                best, best_d = (float(x), float(y)), d
    return best


def _rot_delta(a: SceneObject, b: SceneObject) -> float:
    if a.shape != b.shape or a.shape == "circle":
        return 0.0
    period = SYMMETRY[a.shape]
    d = (b.rotation - a.rotation) % period
    return min(d, period - d)


# ----------------------------------------------------------------------------- applying edits


class EditError(ValueError):
    """The edit cannot be applied to this scene (no target, no room...)."""


def _new_for_add(edit: Edit, objs: Sequence[SceneObject]) -> SceneObject:
    assert edit.shape is not None
    r = SIZES[edit.size or "medium"]
    color = edit.color or "red"
    proto = SceneObject(shape=edit.shape, color=color, x=0.5, y=0.5, radius=r)
    if edit.relation is not None and edit.anchor is not None:
        anchors = [o for o in objs if edit.anchor.matches(o)]
        if len(anchors) != 1:
            raise EditError(f"anchor {edit.anchor.text()!r} must name exactly one object")
        anc = anchors[0]
        rel = edit.relation
        spot = _find_spot(
            objs, proto, _relation_point(anc, r, rel), accept=lambda c: _relation_ok(c, anc, rel)
        )
    elif edit.region is not None:
        region = edit.region
        spot = _find_spot(
            objs, proto, _region_point(region, proto), accept=lambda c: region_distance(c.x, c.y, region) == 0
        )
    else:
        spot = _find_spot(objs, proto, _free_point(objs))
    if spot is None:
        raise EditError(f"no room for {instruction_text(edit)!r}")
    return spot


def apply_edit(scene: Scene, edit: Edit) -> Scene:
    """The perfectly executed edit (deterministic; raises :class:`EditError` if impossible).

    recolour/replace keep position and size (replace resets the rotation); resize keeps the
    centre; move and add take the free grid point nearest the natural spot (the region's centre
    line, or beside the anchor) that satisfies the instruction; add without a place takes the
    emptiest spot. Removed objects are dropped, added ones appended.
    """
    objs = list(scene.objects)
    targets = edit.targets(scene)
    if edit.kind != "add" and not targets:
        raise EditError(f"{edit.target.text() if edit.target else '?'} is not in the scene")
    if edit.target is not None and not edit.target.every and len(targets) != 1:
        raise EditError(f"{edit.target.text()!r} must name exactly one object, found {len(targets)}")
    k = edit.kind
    if k == "recolour":
        assert edit.color is not None
        for i in targets:
            objs[i] = objs[i].recoloured(edit.color)
    elif k == "remove":
        objs = [o for i, o in enumerate(objs) if i not in targets]
    elif k == "replace":
        assert edit.shape is not None
        for i in targets:
            objs[i] = replace(objs[i], shape=edit.shape, color=edit.color or objs[i].color, rotation=0.0)
    elif k == "resize":
        assert edit.factor is not None
        for i in targets:
            r = float(np.clip(objs[i].radius * edit.factor, MIN_RADIUS * 0.8, MAX_RADIUS * 1.2))
            objs[i] = replace(objs[i], radius=round(r, 5))
    elif k == "move":
        assert edit.region is not None
        (i,) = targets
        region = edit.region
        spot = _find_spot(
            objs,
            objs[i],
            _region_point(region, objs[i]),
            skip=(i,),
            accept=lambda c: region_distance(c.x, c.y, region) == 0,
        )
        if spot is None:
            raise EditError(f"no room to {instruction_text(edit)!r}")
        objs[i] = spot
    else:
        objs.append(_new_for_add(edit, objs))
    return scene.with_objects(objs)


# ----------------------------------------------------------------------------- the diff


@dataclass(frozen=True)
class Change:
    """One difference between a source and a result scene.

    ``source`` / ``result`` are object indices in each scene (``None`` for added / removed /
    background); ``before`` / ``after`` the attribute values (colour, shape, centre, radius...).
    """

    kind: str
    significant: bool
    source: int | None = None
    result: int | None = None
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SceneDiff:
    """Changes plus the object pairing ``pairs[source index] = result index``."""

    changes: tuple[Change, ...]
    pairs: dict[int, int] = field(default_factory=dict)
    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()

    @property
    def significant(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.significant)

    @property
    def minor(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.significant)

    def of_source(self, i: int) -> tuple[Change, ...]:
        """Changes of source object ``i`` (its removal included)."""
        return tuple(c for c in self.changes if c.source == i)


def _pair_cost(a: SceneObject, b: SceneObject) -> float:
    return (
        math.hypot(a.x - b.x, a.y - b.y) / (0.6 if (a.shape, a.color) == (b.shape, b.color) else 0.25)
        + float(a.shape != b.shape)
        + float(a.color != b.color)
        + abs(math.log(a.radius / b.radius)) / math.log(2.0)
    )


def diff_scenes(source: Scene, result: Scene) -> SceneDiff:
    """All differences between two scenes, classified significant / minor (module docstring)."""
    A, B = source.objects, result.objects
    n, m = len(A), len(B)
    pairs: dict[int, int] = {}
    if n and m:
        big = 1e6
        cost = np.full((n + m, m + n), 0.0)
        cost[:n, :m] = [[_pair_cost(a, b) for b in B] for a in A]
        cost[:n, m:] = big
        cost[n:, :m] = big
        for i in range(n):
            cost[i, m + i] = UNMATCHED_COST
        for j in range(m):
            cost[n + j, j] = UNMATCHED_COST
        rows, cols = linear_sum_assignment(cost)
        pairs = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if r < n and c < m}
    changes: list[Change] = []
    for i in range(n):
        if i not in pairs:
            changes.append(Change("removed", True, source=i, before=asdict(A[i])))
            continue
        j = pairs[i]
        a, b = A[i], B[j]
        if a.shape != b.shape:
            changes.append(Change("reshaped", True, i, j, a.shape, b.shape))
        if a.color != b.color:
            changes.append(Change("recoloured", True, i, j, a.color, b.color))
        dist = math.hypot(a.x - b.x, a.y - b.y)
        if dist >= MOVE_MINOR:
            changes.append(Change("moved", dist >= MOVE_SIGNIFICANT, i, j, (a.x, a.y), (b.x, b.y)))
        ratio = max(a.radius, b.radius) / min(a.radius, b.radius)
        if ratio >= RESIZE_MINOR:
            changes.append(Change("resized", ratio >= RESIZE_SIGNIFICANT, i, j, a.radius, b.radius))
        if _rot_delta(a, b) >= ROTATE_MINOR:
            changes.append(Change("rotated", False, i, j, a.rotation, b.rotation))
    matched = set(pairs.values())
    added = tuple(j for j in range(m) if j not in matched)
    changes.extend(Change("added", True, result=j, after=asdict(B[j])) for j in added)
    if source.background_seed != result.background_seed:
        changes.append(
            Change("background", False, before=source.background_seed, after=result.background_seed)
        )
    removed = tuple(i for i in range(n) if i not in pairs)
    return SceneDiff(changes=tuple(changes), pairs=pairs, added=added, removed=removed)


# ----------------------------------------------------------------------------- execution


def _combine(levels: Sequence[int]) -> int:
    if not levels:
        return 1
    if min(levels) >= 4:
        return min(levels)
    done = sum(v >= 4 for v in levels) / len(levels)
    if done >= 0.5 or min(levels) >= 3:
        return 3
    return 2 if max(levels) >= 2 else 1


def _color_level(asked: str | None, got: str, exact: int, near: int, other: int) -> int:
    if asked is None or got == asked:
        return exact
    return near if got in NEAR_COLORS[asked] else other


def _best_added(edit: Edit, source: Scene, result: Scene, diff: SceneDiff) -> tuple[int | None, int]:
    """The added object taken as the execution of an add edit, and its level."""
    best: tuple[int, int] | None = None  # (level, -index)
    for j in diff.added:
        lvl = _add_level(edit, source, result, diff, j)
        if best is None or (lvl, -j) > best:
            best = (lvl, -j)
    if best is None:
        return None, 1
    return -best[1], best[0]


def _add_level(edit: Edit, source: Scene, result: Scene, diff: SceneDiff, j: int) -> int:
    new = result.objects[j]
    if new.shape != edit.shape:
        return 2 if edit.color is None or new.color == edit.color else 1
    caps: list[int] = []
    if edit.color is not None and new.color != edit.color:
        caps.append(_color_level(edit.color, new.color, 5, 4, 3))
    if edit.size is not None and size_name(new.radius) != edit.size:
        caps.append(4)
    if edit.relation is not None and edit.anchor is not None:
        anchors = [i for i in edit.anchor.select(source) if i in diff.pairs]
        ok = any(_relation_ok(new, result.objects[diff.pairs[i]], edit.relation) for i in anchors)
        if not ok:
            caps.append(3)
    elif edit.region is not None and region_distance(new.x, new.y, edit.region) > 0:
        caps.append(3)
    if not caps:
        return 5
    level = min(caps)
    if len(caps) >= 2:
        level = max(2, level - 1)
    return level


def _replacement(edit: Edit, source: Scene, result: Scene, diff: SceneDiff, i: int) -> int | None:
    """For a replace target that left no counterpart: the nearest added object of the new shape."""
    a = source.objects[i]
    cands = [j for j in diff.added if result.objects[j].shape == edit.shape]
    return min(
        cands, key=lambda j: math.hypot(result.objects[j].x - a.x, result.objects[j].y - a.y), default=None
    )


def _target_level(edit: Edit, source: Scene, result: Scene, diff: SceneDiff, i: int) -> int:
    a = source.objects[i]
    j = diff.pairs.get(i)
    b = None if j is None else result.objects[j]
    k = edit.kind
    if k == "remove":
        if b is None:
            return 5
        return 2 if any(c.significant for c in diff.of_source(i)) else 1
    if k == "replace":
        if b is None:
            j = _replacement(edit, source, result, diff, i)
            if j is None:
                return 2
            b = result.objects[j]
        if b.shape == edit.shape:
            lvl = _color_level(edit.color, b.color, 5, 4, 3)
            moved = math.hypot(a.x - b.x, a.y - b.y) >= MOVE_SIGNIFICANT
            rescaled = max(a.radius, b.radius) / min(a.radius, b.radius) >= 1.5
            return min(lvl, 4) if (moved or rescaled) else lvl
        if b.shape != a.shape or b.color != a.color:
            return 2
        return 1
    if b is None:
        return 1
    if k == "recolour":
        assert edit.color is not None
        if b.color == edit.color:
            return 5
        if b.color == a.color:
            return 1
        return 3 if b.color in NEAR_COLORS[edit.color] else 2
    if k == "move":
        assert edit.region is not None
        d0 = region_distance(a.x, a.y, edit.region)
        d1 = region_distance(b.x, b.y, edit.region)
        if d1 == 0:
            return 5
        if d1 <= MOVE_NEAR:
            return 4
        if d0 > 0 and d1 <= 0.5 * d0:
            return 3
        return 2 if math.hypot(a.x - b.x, a.y - b.y) >= MOVE_MINOR else 1
    if k == "resize":
        assert edit.factor is not None
        ratio = b.radius / a.radius
        s = math.log(ratio) / math.log(edit.factor)
        if s > 2.0:
            return 4
        if s >= 0.7:
            return 5
        if s >= 0.4:
            return 4
        if s >= 0.15:
            return 3
        return 2 if max(ratio, 1 / ratio) >= RESIZE_MINOR else 1
    raise ValueError(f"unknown edit kind {k!r}")


def execution_levels(edit: Edit, source: Scene, result: Scene, diff: SceneDiff | None = None) -> list[int]:
    """Per-target execution levels (one entry for add: the best added object)."""
    diff = diff or diff_scenes(source, result)
    if edit.kind == "add":
        return [_best_added(edit, source, result, diff)[1]]
    return [_target_level(edit, source, result, diff, i) for i in edit.targets(source)]


def execution_score(edit: Edit, source: Scene, result: Scene, diff: SceneDiff | None = None) -> int:
    """FIRM execution (1-5) of ``edit`` from ``source`` to ``result`` (module docstring)."""
    return _combine(execution_levels(edit, source, result, diff))


# ----------------------------------------------------------------------------- consistency


def instructed(edit: Edit, source: Scene, result: Scene, diff: SceneDiff | None = None) -> tuple[bool, ...]:
    """For each change of ``diff``: whether the instruction asked for it (not counted)."""
    diff = diff or diff_scenes(source, result)
    targets = set(edit.targets(source))
    chosen, level = _best_added(edit, source, result, diff) if edit.kind == "add" else (None, 0)
    if level < 2:  # an addition that does not even resemble the request is not the edit
        chosen = None
    if edit.kind == "replace":  # a replacement drawn elsewhere is the replaced entity too
        lone = [_replacement(edit, source, result, diff, i) for i in targets if i not in diff.pairs]
        replacements = {j for j in lone if j is not None}
    own = {"recolour": "recoloured", "remove": "removed", "move": "moved", "resize": "resized"}
    out = []
    for c in diff.changes:
        if edit.kind == "add":
            ok = c.kind == "added" and c.result == chosen
        elif edit.kind == "replace" and c.kind == "added":
            ok = c.result in replacements
        elif c.source is None or c.source not in targets:
            ok = False
        elif edit.kind == "replace":
            ok = True
        else:
            ok = c.kind == own[edit.kind]
        out.append(ok)
    return tuple(out)


def unintended_changes(
    edit: Edit, source: Scene, result: Scene, diff: SceneDiff | None = None
) -> list[Change]:
    """The changes the consistency rubric counts."""
    diff = diff or diff_scenes(source, result)
    flags = instructed(edit, source, result, diff)
    return [c for c, ok in zip(diff.changes, flags, strict=True) if not ok]


def _count_level(n: int, one: int, few: int) -> int:
    if n == 0:
        return 5
    if n <= one:
        return 4
    if n <= few:
        return 3
    return 2


def consistency_from_counts(
    significant: int, minor: int, *, affected_share: float = 0.0, background_changed: bool = False
) -> int:
    """FIRM consistency (1-5) from the numbers of unintended changes (module docstring)."""
    if significant >= 4 and affected_share >= 0.75 and background_changed:
        return 1
    return min(_count_level(significant, 1, 3), _count_level(minor, 2, 4))


def consistency_score(edit: Edit, source: Scene, result: Scene, diff: SceneDiff | None = None) -> int:
    """FIRM consistency (1-5) of ``result`` against ``source`` for ``edit`` (module docstring)."""
    diff = diff or diff_scenes(source, result)
    extra = unintended_changes(edit, source, result, diff)
    sig = [c for c in extra if c.significant]
    n_minor = len(extra) - len(sig)
    targets = set(edit.targets(source))
    others = [i for i in range(len(source.objects)) if i not in targets]
    hit_src = {c.source for c in sig if c.source is not None and c.source not in targets}
    added = [c for c in sig if c.kind == "added"]
    pool = len(others) + len(added)
    share = (len(hit_src) + len(added)) / pool if pool else 0.0
    background = any(c.kind == "background" for c in extra)
    return consistency_from_counts(len(sig), n_minor, affected_share=share, background_changed=background)


# ----------------------------------------------------------------------------- reports


def describe_object(obj: SceneObject, *, with_place: bool = True) -> str:
    """ "a small red circle at the top left"."""
    text = _a(f"{size_name(obj.radius)} {obj.color} {obj.shape}")
    return f"{text} at the {region_of(obj.x, obj.y)}" if with_place else text


def _name(obj: SceneObject) -> str:
    return f"the {obj.color} {obj.shape}"


def change_text(c: Change, source: Scene) -> str:
    """One change in words, naming the object as it was in ``source``: ``"the red circle turned
    blue"``, ``"the blue star was added"``, ``"the green square moved slightly"``..."""

    def named(d: Mapping[str, Any] | None) -> str:
        return f"the {d['color']} {d['shape']}" if d else "an object"

    src = _name(source.objects[c.source]) if c.source is not None else "an object"
    if c.kind == "added":
        return f"{named(c.after)} was added"
    if c.kind == "removed":
        return f"{named(c.before)} was removed"
    if c.kind == "recoloured":
        return f"{src} turned {c.after}"
    if c.kind == "reshaped":
        return f"{src} became a {c.after}"
    if c.kind == "moved":
        return f"{src} moved" + ("" if c.significant else " slightly")
    if c.kind == "resized":
        return f"{src} got {'bigger' if c.after > c.before else 'smaller'}"
    if c.kind == "rotated":
        return f"{src} is slightly turned"
    return "the background changed slightly"


def significant_changes_text(source: Scene, result: Scene, diff: SceneDiff | None = None) -> str:
    """The significant changes from ``source`` to ``result``, ``"; "``-joined in diff order, or
    ``"no clear change"``: what the oracle's execution reasoning says it sees, and the answer of the
    VLMs' "what changed" pretraining items."""
    diff = diff or diff_scenes(source, result)
    changes = [change_text(c, source) for c in diff.significant]
    return "; ".join(changes) if changes else "no clear change"


def difference_report(source: Scene, result: Scene, diff: SceneDiff | None = None) -> dict[str, str]:
    """FIRM's difference report from the scene diff: ``{"obvious", "details", "report"}``.

    ``obvious`` describes each significantly changed object as it appears in each image (no
    comparison); ``details`` lists every change, minor ones included, by category. ``report``
    merges the two passes, as the FIRM edit pipeline does before scoring.
    """
    diff = diff or diff_scenes(source, result)
    A, B = source.objects, result.objects
    obvious: list[str] = []
    seen: set[tuple[int | None, int | None]] = set()
    for c in diff.significant:
        key = (c.source, c.result)
        if key in seen:
            continue
        seen.add(key)
        before = describe_object(A[c.source]) if c.source is not None else "no object here"
        after = describe_object(B[c.result]) if c.result is not None else "no object here"
        obvious.append(f"source image : {before} . edited image : {after} .")
    if not obvious:
        obvious.append("no obvious change : the two images show the same objects .")
    sections: dict[str, list[str]] = {
        k: [] for k in ("number", "shape", "colour", "size", "position", "background")
    }
    n0, n1 = len(A), len(B)
    if n0 != n1:
        sections["number"].append(f"the source image has {n0} objects and the edited image has {n1}")
    for c in diff.changes:
        if c.kind == "added":
            assert c.result is not None
            sections["number"].append(f"{describe_object(B[c.result])} is added")
        elif c.kind == "removed":
            assert c.source is not None
            sections["number"].append(f"{describe_object(A[c.source])} is removed")
        elif c.kind == "reshaped":
            assert c.source is not None
            sections["shape"].append(f"{_name(A[c.source])} becomes {_a(str(c.after))}")
        elif c.kind == "recoloured":
            assert c.source is not None
            sections["colour"].append(f"{_name(A[c.source])} is now {c.after}")
        elif c.kind == "resized":
            assert c.source is not None
            word = "bigger" if c.after > c.before else "smaller"
            how = "" if c.significant else "slightly "
            sections["size"].append(f"{_name(A[c.source])} is {how}{word}")
        elif c.kind == "moved":
            assert c.source is not None
            if c.significant:
                fr, to = region_of(*c.before), region_of(*c.after)
                where = f"from the {fr} to the {to}" if fr != to else f"inside the {to}"
                sections["position"].append(f"{_name(A[c.source])} moved {where}")
            else:
                sections["position"].append(f"{_name(A[c.source])} moved slightly")
        elif c.kind == "rotated":
            assert c.source is not None
            sections["position"].append(f"{_name(A[c.source])} is slightly turned")
        elif c.kind == "background":
            sections["background"].append("the background changed slightly")
    details = [
        f"{name} : " + (" ; ".join(items) if items else "no change") + " ."
        for name, items in sections.items()
    ]
    obvious_text = " ".join(obvious)
    details_text = " ".join(details)
    return {
        "obvious": obvious_text,
        "details": details_text,
        "report": f"obvious changes : {obvious_text} details : {details_text}",
    }


# ----------------------------------------------------------------------------- sampling edits


def _ref_for(scene: Scene, i: int, rng: np.random.Generator) -> Ref:
    """A singular expression naming exactly object ``i`` (shape alone when that suffices)."""
    o = scene.objects[i]
    if scene.count(o.shape) == 1 and rng.random() < 0.5:
        return Ref(o.shape)
    return Ref(o.shape, o.color)


def _unique(scene: Scene, i: int) -> bool:
    o = scene.objects[i]
    return scene.count(o.shape, o.color) == 1


def _choice(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _group_ref(scene: Scene, rng: np.random.Generator) -> Ref | None:
    """A plural expression ("all the circles") for a shape with several objects, if any."""
    groups: list[Ref] = []
    for shape in SHAPES:
        if scene.count(shape) >= 2:
            groups.append(Ref(shape, None, True))
            groups.extend(Ref(shape, c, True) for c in COLORS if scene.count(shape, c) >= 2)
    return _choice(rng, groups) if groups else None


def sample_edit(
    scene: Scene,
    rng: np.random.Generator,
    kinds: Sequence[str] = EDIT_KINDS,
    tries: int = 30,
    level: str | WorldLevel | None = None,
) -> Edit:
    """A random edit of ``kinds`` that :func:`apply_edit` can execute on ``scene``.

    ``level`` (:mod:`common.world.levels`; ``None``: full) names the shapes and sizes that added
    and replacing objects take; the full level draws exactly as before levels existed."""
    lv = get_level(level)
    singles = [i for i in range(len(scene.objects)) if _unique(scene, i)]
    for _ in range(tries):
        kind = _choice(rng, list(kinds))
        try:
            edit = _sample_kind(kind, scene, singles, rng, lv)
            if edit is None:
                continue
            apply_edit(scene, edit)
            return edit
        except EditError:
            continue
    raise EditError(f"no feasible edit of {list(kinds)} for a scene of {len(scene.objects)} objects")


def _sample_kind(
    kind: str, scene: Scene, singles: list[int], rng: np.random.Generator, lv: WorldLevel
) -> Edit | None:
    objs = scene.objects
    plural = _group_ref(scene, rng) if rng.random() < 0.35 else None
    if kind == "add":
        shape = _choice(rng, lv.shapes)
        color = _choice(rng, tuple(COLORS)) if rng.random() < 0.85 else None
        size = _choice(rng, lv.sizes) if rng.random() < 0.3 else None
        u = rng.random()
        if u < 0.45 and singles:
            anchor = _ref_for(scene, _choice(rng, singles), rng)
            return Edit(
                "add", shape=shape, color=color, size=size, relation=_choice(rng, RELATIONS), anchor=anchor
            )
        if u < 0.75:
            return Edit("add", shape=shape, color=color, size=size, region=_choice(rng, tuple(REGIONS)))
        return Edit("add", shape=shape, color=color, size=size)
    if not objs:
        return None
    if kind in ("recolour", "remove", "resize") and plural is not None:
        ref = plural
        idx = ref.select(scene)
    elif singles:
        i = _choice(rng, singles)
        ref, idx = _ref_for(scene, i, rng), (i,)
    else:
        return None
    if kind == "recolour":
        used = {objs[i].color for i in idx}
        return Edit("recolour", target=ref, color=_choice(rng, [c for c in COLORS if c not in used]))
    if kind == "remove":
        return Edit("remove", target=ref)
    if kind == "resize":
        r = max(objs[i].radius for i in idx)
        rmin = min(objs[i].radius for i in idx)
        bigger = r * RESIZE_FACTOR <= MAX_RADIUS and (rmin / RESIZE_FACTOR < MIN_RADIUS or rng.random() < 0.5)
        if not bigger and rmin / RESIZE_FACTOR < MIN_RADIUS:
            return None
        edit = Edit("resize", target=ref, factor=RESIZE_FACTOR if bigger else 1 / RESIZE_FACTOR)
        after = apply_edit(scene, edit)
        if any(not _clear(after.objects, after.objects[i], skip=(i,)) for i in idx):
            return None
        return edit
    (i,) = idx
    if kind == "move":
        o = objs[i]
        regions = [g for g in REGIONS if region_distance(o.x, o.y, g) > 0.1]
        return Edit("move", target=ref, region=_choice(rng, regions)) if regions else None
    if kind == "replace":
        shape = _choice(rng, [s for s in lv.shapes if s != objs[i].shape])
        color = _choice(rng, [c for c in COLORS if c != objs[i].color]) if rng.random() < 0.5 else None
        return Edit("replace", target=ref, shape=shape, color=color)
    raise ValueError(f"unknown edit kind {kind!r}")


# ----------------------------------------------------------------------------- sloppy results


@dataclass
class _Work:
    """A result under construction: objects plus the indices the edit owns (not to disturb)."""

    objs: list[SceneObject]
    owned: set[int]
    background_seed: int
    keep_out: list[tuple[float, float]] = field(default_factory=list)
    avoid_shapes: set[str] = field(default_factory=set)
    avoid_colors: set[str] = field(default_factory=set)
    shapes: tuple[str, ...] = SHAPES
    """The level's shapes: what unintended new or reshaped objects are drawn from."""
    """Unintended new objects (and reshaped / recoloured ones) keep ``KEEP_OUT`` away from the
    ``keep_out`` points and avoid these shapes and colours, so the diff cannot mistake them for
    an edited, added or removed target."""


def _far_color(rng: np.random.Generator, asked: str, avoid: Sequence[str]) -> str:
    pool = [c for c in COLORS if c != asked and c not in NEAR_COLORS[asked] and c not in avoid]
    return _choice(rng, pool)


def _near_color(rng: np.random.Generator, asked: str, avoid: Sequence[str]) -> str | None:
    pool = [c for c in sorted(NEAR_COLORS[asked]) if c not in avoid]
    return _choice(rng, pool) if pool else None


def _execute(
    source: Scene, edit: Edit, variant: str, rng: np.random.Generator, shapes: tuple[str, ...] = SHAPES
) -> _Work:
    """The result of executing ``edit`` the ``variant`` way (falls back to weaker variants)."""
    order = list(EXECUTION_VARIANTS[EXECUTION_VARIANTS.index(variant) :]) if variant != "wrong_target" else []
    if variant == "wrong_target":
        order = ["wrong_target", "none"]
    for v in order:
        work = _try_variant(source, edit, v, rng, shapes)
        if work is not None:
            return work
    return _Work(list(source.objects), set(), source.background_seed)


def _try_variant(
    source: Scene, edit: Edit, v: str, rng: np.random.Generator, shapes: tuple[str, ...] = SHAPES
) -> _Work | None:
    objs = list(source.objects)
    targets = list(edit.targets(source))
    k = edit.kind
    if v == "none":
        return _Work(objs, set(targets), source.background_seed)
    if v == "perfect":
        try:
            res = apply_edit(source, edit)
        except EditError:
            return None
        owned = set(targets) if k != "remove" else set()
        if k == "add":
            owned = {len(res.objects) - 1}
        elif k == "remove":
            return _Work(list(res.objects), set(), source.background_seed)
        return _Work(list(res.objects), owned, source.background_seed)
    if v == "wrong_target":
        return _wrong_target(source, edit, rng)
    try:
        return _degraded(source, edit, v, rng, objs, targets, shapes)
    except EditError:
        return None


def _wrong_target(source: Scene, edit: Edit, rng: np.random.Generator) -> _Work | None:
    objs = source.objects
    targets = set(edit.targets(source))
    if edit.kind == "add":
        if edit.anchor is None or edit.relation is None:
            return None
        anchors = set(edit.anchor.select(source))
        others = [i for i in range(len(objs)) if i not in anchors and _unique(source, i)]
        if not others:
            return None
        i = _choice(rng, others)
        wrong = replace(edit, anchor=Ref(objs[i].shape, objs[i].color))
    else:
        others = [i for i in range(len(objs)) if i not in targets and _unique(source, i)]
        if not others:
            return None
        i = _choice(rng, others)
        wrong = replace(edit, target=Ref(objs[i].shape, objs[i].color))
        if wrong.kind == "recolour" and objs[i].color == edit.color:
            return None
        if wrong.kind == "replace" and objs[i].shape == edit.shape:
            return None
    try:
        res = apply_edit(source, wrong)
    except EditError:
        return None
    owned = set(targets) if edit.kind not in ("add", "remove") else set()
    if edit.kind == "add":
        owned = {len(res.objects) - 1}
    if edit.kind == "remove":
        removed = set(wrong.targets(source))
        keep = [i for i in range(len(objs)) if i not in removed]
        owned = {keep.index(i) for i in targets}
    return _Work(list(res.objects), owned, source.background_seed)


def _subset(rng: np.random.Generator, idx: Sequence[int], share: str) -> list[int]:
    n = len(idx)
    m = math.ceil(n / 2) if share == "most" else max(1, (n - 1) // 2)
    m = min(m, n - 1)
    return sorted(int(i) for i in rng.choice(list(idx), size=m, replace=False))


def _degraded(
    source: Scene,
    edit: Edit,
    v: str,
    rng: np.random.Generator,
    objs: list[SceneObject],
    targets: list[int],
    shapes: tuple[str, ...] = SHAPES,
) -> _Work | None:
    """subtle / partial / barely executions per kind (None when the kind has no such variant)."""
    k = edit.kind
    bg = source.background_seed
    plural = len(targets) >= 2
    if k == "recolour":
        assert edit.color is not None
        if v == "subtle":
            return None
        if v == "partial" and plural:
            done = _subset(rng, targets, "most")
            for i in done:
                objs[i] = objs[i].recoloured(edit.color)
            return _Work(objs, set(targets), bg)
        avoid = [objs[i].color for i in targets]
        col = _near_color(rng, edit.color, avoid) if v == "partial" else _far_color(rng, edit.color, avoid)
        if col is None:
            return None
        few = plural and v == "barely" and len(targets) >= 3  # under half the targets, right colour
        for i in _subset(rng, targets, "few") if few else targets:
            objs[i] = objs[i].recoloured(edit.color if few else col)
        return _Work(objs, set(targets), bg)
    if k == "remove":
        if v == "subtle" or (v == "partial" and not plural):
            return None
        if v == "partial" or (v == "barely" and len(targets) >= 3):
            gone = set(_subset(rng, targets, "most" if v == "partial" else "few"))
            keep = [i for i in range(len(objs)) if i not in gone]
            return _Work([objs[i] for i in keep], {keep.index(i) for i in targets if i not in gone}, bg)
        for i in targets:  # barely: shrunk instead of removed
            objs[i] = replace(objs[i], radius=max(0.03, objs[i].radius / 1.6))
        return _Work(objs, set(targets), bg)
    if k == "replace":
        (i,) = targets
        o = objs[i]
        assert edit.shape is not None
        if v == "subtle":
            if edit.color is None:
                return None
            col = _near_color(rng, edit.color, [])
            if col is None:
                return None
            objs[i] = replace(o, shape=edit.shape, color=col, rotation=0.0)
        elif v == "partial":
            if edit.color is None:
                return None
            objs[i] = replace(o, shape=edit.shape, color=_far_color(rng, edit.color, []), rotation=0.0)
        else:
            shape = _choice(rng, [s for s in shapes if s not in (o.shape, edit.shape)])
            objs[i] = replace(o, shape=shape, color=edit.color or o.color, rotation=0.0)
        return _Work(objs, {i}, bg)
    if k == "resize":
        assert edit.factor is not None
        lo, hi = {"subtle": (0.45, 0.65), "partial": (0.2, 0.35), "barely": (-0.9, -0.5)}[v]
        chosen = targets
        if plural and v == "partial":
            chosen = _subset(rng, targets, "most")
            lo, hi = 1.0, 1.0
        for i in chosen:
            s = float(rng.uniform(lo, hi))
            r = objs[i].radius * edit.factor**s
            objs[i] = replace(objs[i], radius=round(float(np.clip(r, 0.03, 0.26)), 5))
            if not _clear(objs, objs[i], skip=(i,)):
                return None
        return _Work(objs, set(targets), bg)
    if k == "move":
        (i,) = targets
        o = objs[i]
        assert edit.region is not None
        region = edit.region
        d0 = region_distance(o.x, o.y, region)
        px, py = _region_point(region, o)
        if v == "barely":  # the wrong way
            want = (o.x - (px - o.x), o.y - (py - o.y))

            def accept(c: SceneObject) -> bool:
                return (
                    region_distance(c.x, c.y, region) > d0 + 0.02 and math.hypot(c.x - o.x, c.y - o.y) >= 0.08
                )
        else:
            band = (0.015, MOVE_NEAR - 0.01) if v == "subtle" else (MOVE_NEAR + 0.02, 0.5 * d0)
            if band[0] >= band[1]:
                return None
            t = float(rng.uniform(0.3, 0.7))
            want = (o.x + t * (px - o.x), o.y + t * (py - o.y))

            def accept(c: SceneObject) -> bool:
                return band[0] <= region_distance(c.x, c.y, region) <= band[1]

        spot = _find_spot(objs, o, want, skip=(i,), accept=accept)
        if spot is None:
            return None
        objs[i] = spot
        return _Work(objs, {i}, bg)
    # add
    assert edit.shape is not None
    new = _new_for_add(edit, objs)
    if v == "subtle":
        if edit.color is not None:
            col = _near_color(rng, edit.color, [])
            if col is None:
                return None
            new = new.recoloured(col)
        elif edit.size is not None:
            other = _choice(rng, [s for s in SIZES if s != edit.size])
            new = replace(new, radius=SIZES[other])
            if not _clear(objs, new):
                return None
        else:
            return None
    elif v == "partial":
        if edit.color is not None and (rng.random() < 0.5 or (edit.relation is None and edit.region is None)):
            new = new.recoloured(_far_color(rng, edit.color, []))
        elif edit.relation is not None or edit.region is not None:
            misplaced = _misplaced(edit, source, objs, new, rng)
            if misplaced is None:
                return None
            new = misplaced
        else:
            return None
    else:  # barely: the wrong shape
        new = replace(new, shape=_choice(rng, [s for s in shapes if s != edit.shape]), rotation=0.0)
    objs.append(new)
    return _Work(objs, {len(objs) - 1}, bg)


def _misplaced(
    edit: Edit, source: Scene, objs: list[SceneObject], new: SceneObject, rng: np.random.Generator
) -> SceneObject | None:
    """``new`` put where the instruction's relation / region does not hold (clear of others)."""
    anchors = [objs[i] for i in edit.anchor.select(source)] if edit.anchor is not None else []

    def wrong_place(c: SceneObject) -> bool:
        if edit.relation is not None:
            return not any(_relation_ok(c, a, edit.relation) for a in anchors)
        return edit.region is not None and region_distance(c.x, c.y, edit.region) > 0.1

    want = (float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.15, 0.85)))
    return _find_spot(objs, new, want, accept=wrong_place)


def _minor_change(work: _Work, rng: np.random.Generator, used: set[tuple[int, str]]) -> bool:
    free = [i for i in range(len(work.objs)) if i not in work.owned]
    options = ["background"] if (-2, "background") not in used else []
    for i in free:
        for kind in ("nudge", "scale", "rotate"):
            if (i, kind) not in used and not (kind == "rotate" and work.objs[i].shape == "circle"):
                options.append(f"{kind}:{i}")
    rng.shuffle(options)
    for opt in options:
        if opt == "background":
            work.background_seed = int(rng.integers(0, 2**31 - 1))
            used.add((-2, "background"))
            return True
        kind, idx = opt.split(":")
        i = int(idx)
        o = work.objs[i]
        if kind == "nudge":
            ang = rng.uniform(0, 2 * np.pi)
            d = rng.uniform(MOVE_MINOR + 0.01, MOVE_SIGNIFICANT - 0.03)
            cand = o.moved(round(o.x + d * math.cos(ang), 4), round(o.y + d * math.sin(ang), 4))
        elif kind == "scale":
            f = float(rng.uniform(RESIZE_MINOR + 0.03, RESIZE_SIGNIFICANT - 0.06))
            cand = replace(o, radius=round(o.radius * (f if rng.random() < 0.5 else 1 / f), 5))
        else:
            period = SYMMETRY[o.shape]
            cand = replace(o, rotation=round((o.rotation + rng.uniform(0.25, 0.45) * period) % period, 2))
        if _clear(work.objs, cand, skip=(i,)):
            work.objs[i] = cand
            used.add((i, kind))
            return True
    return False


KEEP_OUT = 0.3


def _away(obj: SceneObject, points: Sequence[tuple[float, float]]) -> bool:
    return all(math.hypot(obj.x - px, obj.y - py) >= KEEP_OUT for px, py in points)


def _pool(values: Sequence[str], avoid: set[str], also: str | None = None) -> list[str]:
    pool = [v for v in values if v not in avoid and v != also]
    return pool or [v for v in values if v != also]


def _significant_change(work: _Work, rng: np.random.Generator, used: set[tuple[int, str]]) -> bool:
    free = [i for i in range(len(work.objs)) if i not in work.owned and not any(u[0] == i for u in used)]
    options = ["add"] + [f"{k}:{i}" for i in free for k in ("recolour", "remove", "reshape", "jump", "grow")]
    rng.shuffle(options)
    for opt in options:
        if opt == "add":
            shape = _choice(rng, _pool(work.shapes, work.avoid_shapes))
            color = _choice(rng, _pool(tuple(COLORS), work.avoid_colors))
            proto = SceneObject(shape, color, 0.5, 0.5, SIZES[_choice(rng, ("small", "medium"))])
            want = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)))
            cand = _find_spot(work.objs, proto, want, accept=lambda c: _away(c, work.keep_out))
            if cand is None:
                continue
            work.objs.append(cand)
            j = len(work.objs) - 1
            work.owned.add(j)  # never changed again (counts once)
            used.add((j, "add"))
            return True
        kind, idx = opt.split(":")
        i = int(idx)
        o = work.objs[i]
        if kind == "remove":
            work.objs.pop(i)
            work.owned = {j - (j > i) for j in work.owned}
            shifted = {(j - (j > i), u) for j, u in used if j != i}
            used.clear()
            used.update(shifted)
            used.add((-1, "remove"))
            return True
        if kind == "recolour":
            cand = o.recoloured(_choice(rng, _pool(tuple(COLORS), work.avoid_colors, o.color)))
        elif kind == "reshape":
            shape = _choice(rng, _pool(work.shapes, work.avoid_shapes, o.shape))
            cand = replace(o, shape=shape, rotation=0.0)
        elif kind == "grow":
            f = float(rng.uniform(1.4, 1.7))
            cand = replace(o, radius=round(o.radius * (f if o.radius * f <= MAX_RADIUS else 1 / f), 5))
        else:
            ang = rng.uniform(0, 2 * np.pi)
            d = rng.uniform(MOVE_SIGNIFICANT + 0.05, 0.3)
            cand = o.moved(round(o.x + d * math.cos(ang), 4), round(o.y + d * math.sin(ang), 4))
        if _clear(work.objs, cand, skip=(i,)):
            work.objs[i] = cand
            used.add((i, kind))
            return True
    return False


def _different(work: _Work, rng: np.random.Generator, add_shape: str | None) -> None:
    keep = [i for i, o in enumerate(work.objs) if i in work.owned or o.shape == add_shape]
    work.objs = [work.objs[i] for i in keep]
    work.owned = set(range(len(work.objs)))
    work.background_seed = int(rng.integers(0, 2**31 - 1))
    used: set[tuple[int, str]] = set()
    n = int(rng.integers(4, 6))
    for _ in range(n):
        _significant_change(work, rng, used)


@dataclass(frozen=True)
class EditExample:
    """A source scene, an edit, one (possibly sloppy) result and its ground truth."""

    source: Scene
    edit: Edit
    instruction: str
    result: Scene
    execution: int
    consistency: int
    execution_variant: str
    consistency_variant: str
    diff: SceneDiff

    def report(self) -> dict[str, str]:
        return difference_report(self.source, self.result, self.diff)


def sloppy_result(
    source: Scene,
    edit: Edit,
    rng: np.random.Generator,
    *,
    execution: str = "perfect",
    consistency: str = "clean",
    n_changes: int | None = None,
    level: str | WorldLevel | None = None,
) -> Scene:
    """``edit`` executed the ``execution`` way plus ``consistency``-kind unintended changes.

    ``level`` (``None``: full) names the shapes that wrong, unintended or replacing objects take.

    execution: perfect | subtle (a detail off, aims at 4) | partial (a requested element
    missing or wrong, or only some targets; aims at 3) | barely (wrong colour / shape /
    direction; aims at 2) | none | wrong_target (the edit applied to another object). A kind
    without such a variant falls back to the next weaker one.
    consistency: clean | minor (``n_changes`` small moves, size changes, rotations, a background
    shift) | significant (``n_changes`` additions, removals, recolourings, reshapes, jumps,
    growths of objects the edit does not touch) | mixed (both) | different (every other object
    replaced and a new background).
    """
    if execution not in EXECUTION_VARIANTS:
        raise ValueError(f"execution must be one of {EXECUTION_VARIANTS}")
    if consistency not in CONSISTENCY_VARIANTS:
        raise ValueError(f"consistency must be one of {CONSISTENCY_VARIANTS}")
    shapes = get_level(level).shapes
    work = _execute(source, edit, execution, rng, shapes)
    work.shapes = shapes
    if edit.kind == "add" and edit.anchor is not None:  # the anchor stays put (source order kept)
        work.owned |= set(edit.anchor.select(source))
    work.keep_out = [(source.objects[i].x, source.objects[i].y) for i in edit.targets(source)]
    work.keep_out += [(work.objs[j].x, work.objs[j].y) for j in sorted(work.owned)]
    work.avoid_shapes = {source.objects[i].shape for i in edit.targets(source)}
    work.avoid_colors = {source.objects[i].color for i in edit.targets(source)}
    avoid = edit.shape if edit.kind == "add" else None
    if avoid is not None:
        work.avoid_shapes.add(avoid)
    used: set[tuple[int, str]] = set()
    n = n_changes if n_changes is not None else int(rng.integers(1, 6))
    if consistency == "minor":
        for _ in range(n):
            _minor_change(work, rng, used)
    elif consistency == "significant":
        for _ in range(n):
            _significant_change(work, rng, used)
    elif consistency == "mixed":
        for _ in range(max(1, n // 2)):
            _significant_change(work, rng, used)
        for _ in range(n - max(1, n // 2) + 1):
            _minor_change(work, rng, used)
    elif consistency == "different":
        _different(work, rng, avoid)
    return Scene(
        objects=tuple(work.objs),
        background_seed=work.background_seed,
        canvas=source.canvas,
        meta=dict(source.meta),
        background=source.background,
    )


def make_example(
    source: Scene,
    edit: Edit,
    rng: np.random.Generator,
    *,
    execution: str = "perfect",
    consistency: str = "clean",
    n_changes: int | None = None,
    style: int | None = None,
    level: str | WorldLevel | None = None,
) -> EditExample:
    """A sloppy result of ``edit`` with its diff and FIRM scores (``level``: see :func:`sloppy_result`)."""
    result = sloppy_result(
        source, edit, rng, execution=execution, consistency=consistency, n_changes=n_changes, level=level
    )
    diff = diff_scenes(source, result)
    text = instruction_text(edit, int(rng.integers(3)) if style is None else style)
    return EditExample(
        source=source,
        edit=edit,
        instruction=text,
        result=result,
        execution=execution_score(edit, source, result, diff),
        consistency=consistency_score(edit, source, result, diff),
        execution_variant=execution,
        consistency_variant=consistency,
        diff=diff,
    )
