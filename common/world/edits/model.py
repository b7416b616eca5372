"""The edit model: the edit kinds, referring expressions (:class:`Ref`), one edit instruction
(:class:`Edit`, with its JSON form) and :class:`EditError`.

The destination regions are :data:`~common.world.edits.geometry.REGIONS`; an edit's instruction
text is :func:`~common.world.edits.text.instruction_text` (that module imports this one).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from common.world.edits.geometry import REGIONS
from common.world.scene import Scene, SceneObject
from common.world.vocab import COLORS, RELATIONS, SHAPE_PLURALS, SHAPES, SIZES

EDIT_KINDS: tuple[str, ...] = ("recolour", "add", "remove", "move", "replace", "resize")
"""The edit operations."""


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


class EditError(ValueError):
    """The edit cannot be applied to this scene (no target, no room...)."""
