"""Geometry of edits on the canvas: size names, the 3x3 regions, free spots for placed objects."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.world.geneval import relative_position
from common.world.sampling import EDGE_MARGIN, GAP
from common.world.scene import SceneObject
from common.world.shapes import object_bbox
from common.world.vocab import SIZES

MIN_RADIUS = 0.05
MAX_RADIUS = 0.22

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


def is_clear(objs: Sequence[SceneObject], cand: SceneObject, skip: Sequence[int] = ()) -> bool:
    return _fits(cand) and all(
        math.hypot(o.x - cand.x, o.y - cand.y) >= o.radius + cand.radius + GAP
        for j, o in enumerate(objs)
        if j not in skip
    )


_GRID = np.linspace(0.0, 1.0, 41)


def find_spot(
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
        if (accept is None or accept(cand)) and is_clear(objs, cand, skip):
            return cand
    return None


def region_point(region: str, obj: SceneObject) -> tuple[float, float]:
    x0, y0, x1, y1 = REGIONS[region]
    px = obj.x if (x0, x1) == (0.0, 1.0) else (x0 + x1) / 2
    py = obj.y if (y0, y1) == (0.0, 1.0) else (y0 + y1) / 2
    return px, py


def relation_ok(new: SceneObject, anchor: SceneObject, relation: str) -> bool:
    return relation in relative_position(object_bbox(new), object_bbox(anchor))


def relation_point(anchor: SceneObject, r: float, relation: str) -> tuple[float, float]:
    d = anchor.radius + r + GAP + 0.02
    return {
        "left of": (anchor.x - d, anchor.y),
        "right of": (anchor.x + d, anchor.y),
        "above": (anchor.x, anchor.y - d),
        "below": (anchor.x, anchor.y + d),
    }[relation]


def free_point(objs: Sequence[SceneObject]) -> tuple[float, float]:
    """The grid point farthest from every object (where an unplaced addition goes)."""
    best, best_d = (0.5, 0.5), -1.0
    for x in _GRID[4:-4:2]:
        for y in _GRID[4:-4:2]:
            d = min((math.hypot(o.x - x, o.y - y) - o.radius for o in objs), default=1.0)
            if d > best_d + 1e-12:
                best, best_d = (float(x), float(y)), d
    return best
