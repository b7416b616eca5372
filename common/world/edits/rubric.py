"""FIRM's execution and consistency truth of an edit, read from the scene difference.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from common.world.edits.diff import MOVE_MINOR, MOVE_SIGNIFICANT, RESIZE_MINOR, Change, SceneDiff, diff_scenes
from common.world.edits.geometry import region_distance, relation_ok, size_name
from common.world.edits.model import Edit
from common.world.scene import Scene
from common.world.vocab import COLORS

MOVE_NEAR = 0.06
"""A moved object whose centre is within this distance of its destination region scores 4."""

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
        ok = any(relation_ok(new, result.objects[diff.pairs[i]], edit.relation) for i in anchors)
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
