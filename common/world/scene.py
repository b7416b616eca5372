"""The scene data model of the embedded world: what is drawn, independent of how.

A :class:`Scene` is the ground truth behind every world image. Rendering (``common/world/render.py``) turns
it into pixels; the checker (``common/world/checker.py``) reads pixels back without ever seeing the scene.
Coordinates are fractions of the canvas side, origin top-left, ``y`` growing downwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from common.world.vocab import COLORS, SHAPES


@dataclass(frozen=True)
class SceneObject:
    """One drawn object.

    Attributes:
        shape: one of :data:`common.world.vocab.SHAPES`.
        color: one of the keys of :data:`common.world.vocab.COLORS`.
        x, y: centre, as fractions of the canvas side in [0, 1].
        radius: half the object's extent, as a fraction of the canvas side.
        rotation: degrees, applied by the renderer where the shape is not rotation-invariant.
    """

    shape: str
    color: str
    x: float
    y: float
    radius: float
    rotation: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; known: {', '.join(SHAPES)}")
        if self.color not in COLORS:
            raise ValueError(f"unknown colour {self.color!r}; known: {', '.join(COLORS)}")
        if not (0.0 < self.radius < 0.5):
            raise ValueError(f"radius must be in (0, 0.5) of the canvas, got {self.radius}")

    def moved(self, x: float, y: float) -> SceneObject:
        return replace(self, x=x, y=y)

    def recoloured(self, color: str) -> SceneObject:
        return replace(self, color=color)


@dataclass(frozen=True)
class Scene:
    """Objects on a background. ``background_seed`` fixes the background's colour and texture;
    ``background`` is how it is painted (``textured`` or ``plain``, see :mod:`common.world.levels`)."""

    objects: tuple[SceneObject, ...] = ()
    background_seed: int = 0
    canvas: int = 128
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    background: str = "textured"

    def __post_init__(self) -> None:
        if self.background not in ("textured", "plain"):
            raise ValueError(f"background must be 'textured' or 'plain', got {self.background!r}")

    def with_objects(self, objects: tuple[SceneObject, ...] | list[SceneObject]) -> Scene:
        return replace(self, objects=tuple(objects))

    def count(self, shape: str, color: str | None = None) -> int:
        """Number of objects of ``shape`` (and ``color`` if given)."""
        return sum(1 for o in self.objects if o.shape == shape and (color is None or o.color == color))

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``background`` is written only when not ``textured`` (so scenes of the
        full level serialise exactly as before levels existed)."""
        out: dict[str, Any] = {
            "objects": [asdict(o) for o in self.objects],
            "background_seed": self.background_seed,
            "canvas": self.canvas,
            "meta": dict(self.meta),
        }
        if self.background != "textured":
            out["background"] = self.background
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        return cls(
            objects=tuple(SceneObject(**o) for o in data.get("objects", [])),
            background_seed=int(data.get("background_seed", 0)),
            canvas=int(data.get("canvas", 128)),
            meta=dict(data.get("meta", {})),
            background=str(data.get("background", "textured")),
        )
