"""World scenes in caption words: the 3 x 3 grid positions, reading order, the caption of a scene
and its (colour, shape, position) triples, and a caption read back.

Captions (the VLMs' "describe" target)
    Objects in reading order (3 x 3 grid cell row, then column, then y, x), each as
    ``"a {colour} {shape} at the {position}"``, joined by ``" , "`` and ended by ``" ."``;
    positions are the grid cell of the object's centre: ``top left``, ``top``, ``top right``,
    ``left``, ``center``, ``right``, ``bottom left``, ``bottom``, ``bottom right``. An empty
    scene is ``"nothing ."``. :func:`parse_caption` reads a caption back into (colour, shape,
    position) triples (object recall / precision).
"""

from __future__ import annotations

from common.world.scene import Scene, SceneObject
from common.world.vocab import COLORS, SHAPES

GRID = 3
"""Side of the grid whose cells name positions."""

POSITIONS: tuple[str, ...] = (
    "top left",
    "top",
    "top right",
    "left",
    "center",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
"""Position words of the 3 x 3 grid cells, row-major."""


def cell_of(x: float, y: float) -> int:
    """Index into :data:`POSITIONS` of the grid cell holding the point (x, y) (fractions)."""
    col = min(int(x * GRID), GRID - 1)
    row = min(int(y * GRID), GRID - 1)
    return row * GRID + col


def position_word(obj: SceneObject) -> str:
    """Where ``obj``'s centre is, as a :data:`POSITIONS` phrase."""
    return POSITIONS[cell_of(obj.x, obj.y)]


def reading_order(scene: Scene) -> list[SceneObject]:
    """Objects sorted by grid row, grid column, then y and x."""
    return sorted(scene.objects, key=lambda o: (cell_of(o.x, o.y), o.y, o.x))


def describe(scene: Scene) -> str:
    """The caption of ``scene`` (format in the module docstring)."""
    objs = reading_order(scene)
    if not objs:
        return "nothing ."
    parts = [f"{article(o.color)} {o.color} {o.shape} at the {position_word(o)}" for o in objs]
    return " , ".join(parts) + " ."


def article(word: str) -> str:
    """ "a" or "an" before ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def parse_caption(text: str) -> list[tuple[str, str, str]]:
    """(colour, shape, position) triples of a caption; malformed parts are skipped."""
    out = []
    body = text.strip().removesuffix(".").strip()
    for part in body.split(","):
        words = part.split()
        if len(words) < 5 or words[0] not in ("a", "an") or words[3:5] != ["at", "the"]:
            continue
        color, shape, pos = words[1], words[2], " ".join(words[5:])
        if color in COLORS and shape in SHAPES and pos in POSITIONS:
            out.append((color, shape, pos))
    return out


def caption_triples(scene: Scene) -> list[tuple[str, str, str]]:
    """The true (colour, shape, position) triples of ``scene``, in reading order."""
    return [(o.color, o.shape, position_word(o)) for o in reading_order(scene)]
