"""The closed vocabulary of the embedded world.

Every word a world prompt, instruction or rationale can contain comes from here, so the
project's own tokenizer (common.models) covers the domain exactly. Colour names are GenEval's ten
colours; relations are GenEval's four position relations.
"""

from __future__ import annotations

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "hexagon")
"""Object classes. They play the role of GenEval's COCO classes."""

SHAPE_PLURALS: dict[str, str] = {
    s: s + ("es" if s.endswith(("ss", "x", "sh", "ch")) else "s") for s in SHAPES
}
"""Plural forms used in counting prompts ("three crosses")."""

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (40, 160, 50),
    "blue": (30, 70, 220),
    "purple": (130, 40, 170),
    "pink": (245, 130, 190),
    "brown": (120, 70, 30),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
}
"""GenEval's colour names with the canonical RGB each is rendered with (before jitter)."""

SIZES: dict[str, float] = {"small": 0.09, "medium": 0.13, "large": 0.18}
"""Size names -> object radius as a fraction of the canvas side."""

RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
"""GenEval position relations: ``[relation, index]`` reads "this object is <relation> include[index]"."""

NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six")
"""Count words, indexed by the count."""

GENEVAL_TAGS: tuple[str, ...] = (
    "single_object",
    "two_object",
    "counting",
    "colors",
    "position",
    "color_attr",
)
"""The six GenEval task tags."""
