"""The scene difference: :func:`diff_scenes` pairs the objects of a source and a result scene and
lists their :class:`Change` records, each significant or minor.

Objects of the source and the result are paired by a minimum-cost assignment (Hungarian) with the
cost::

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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from common.world.scene import Scene, SceneObject
from common.world.shapes import SYMMETRY

MOVE_MINOR = 0.03
MOVE_SIGNIFICANT = 0.12
RESIZE_MINOR = 1.08
RESIZE_SIGNIFICANT = 1.25
ROTATE_MINOR = 10.0
UNMATCHED_COST = 1.25
"""Cost of leaving an object unpaired in :func:`diff_scenes` (pairs cost below 2x this)."""


def _rot_delta(a: SceneObject, b: SceneObject) -> float:
    if a.shape != b.shape or a.shape == "circle":
        return 0.0
    period = SYMMETRY[a.shape]
    d = (b.rotation - a.rotation) % period
    return min(d, period - d)


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
