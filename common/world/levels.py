"""Difficulty levels of the embedded world: which shapes, sizes, poses and backgrounds a scene uses.

The tiny scale exists to show that each stage *learns*; a world the tiny models cannot perceive
makes every later number noise. Two levels:

``full``
    The world as first built: six shapes (circle, square, triangle, star, cross, hexagon), three
    sizes, random rotation, counts 2-4, up to two distractors, a textured background. Kept as the
    harder row; every build at this level is byte-identical to the builds before levels existed.
``basic`` (the tiny-scale default)
    Four shapes whose silhouettes differ at 32 pixels (circle, square, triangle, cross), upright,
    medium and large only, counts 2-3, at most one distractor, a plain background (one flat
    low-saturation grey per scene), and each object centre near the centre of its own cell of the
    3 x 3 grid whose cells name positions (so "at the top left" is never a boundary call).
    Measured at 32 px (docs/experiments/world_levels.md): a small CNN and the tiny vision towers
    read these shapes; they do not read the full level's.

Public API:
    WorldLevel                     the frozen description of a level
    LEVELS                         name -> WorldLevel
    get_level(level) -> WorldLevel a name, a WorldLevel or None (``full``) -> WorldLevel
    run_level(settings) -> str     the level a run sets (``world.level``, RunSettings), for tasks
    DEFAULT_LEVEL = "full"         what library functions use when no level is passed

Library functions take the level as an argument (a name); only tasks read it from the run config
(``conf/world/<name>.yaml``, ``world=full`` on the command line), through :func:`run_level`.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.runtime import RunSettings
from common.world.vocab import SHAPES, SIZES

BACKGROUNDS: tuple[str, ...] = ("textured", "plain")
"""How :func:`common.world.render.render_background` paints a scene's background."""


@dataclass(frozen=True)
class WorldLevel:
    """One difficulty level of the world.

    Attributes:
        name: the level's name (``LEVELS`` key), written into dataset cards and cache keys.
        shapes: the object classes prompts, distractors and edits draw from (a subset of SHAPES,
            in SHAPES order); the checker reads only these.
        sizes: the size names (:data:`common.world.vocab.SIZES`) object radii are drawn from.
        upright: objects are drawn unrotated (rotation 0) instead of uniformly rotated.
        counts: the counts counting prompts ask for.
        distractors: (min, max) objects a scene holds that its prompt does not mention.
        background: ``textured`` or ``plain`` (:data:`BACKGROUNDS`).
        cell_jitter: ``None``: object centres anywhere; a number: each centre in its own cell of
            the 3 x 3 grid that names positions, at most this far from the cell's centre, so that
            no position word is ambiguous (:func:`common.world.sampling.place_objects`).
        role: what the level is for, in a few words (dataset cards).
    """

    name: str
    shapes: tuple[str, ...]
    sizes: tuple[str, ...]
    upright: bool
    counts: tuple[int, ...]
    distractors: tuple[int, int]
    background: str
    cell_jitter: float | None = None
    role: str = ""

    def __post_init__(self) -> None:
        if len(self.shapes) < 2 or set(self.shapes) - set(SHAPES):
            raise ValueError(f"level {self.name!r}: shapes must be at least two of {list(SHAPES)}")
        if tuple(s for s in SHAPES if s in self.shapes) != self.shapes:
            raise ValueError(f"level {self.name!r}: list shapes in the world's order {list(SHAPES)}")
        if not self.sizes or set(self.sizes) - set(SIZES):
            raise ValueError(f"level {self.name!r}: sizes must be a non-empty subset of {list(SIZES)}")
        if not self.counts or min(self.counts) < 2:
            raise ValueError(f"level {self.name!r}: counts must be whole numbers >= 2")
        lo, hi = self.distractors
        if not 0 <= lo <= hi:
            raise ValueError(f"level {self.name!r}: distractors must be (min, max) with 0 <= min <= max")
        if self.cell_jitter is not None and not 0.0 <= self.cell_jitter < 1.0 / 6.0:
            raise ValueError(f"level {self.name!r}: cell_jitter must be in [0, 1/6) (inside a grid cell)")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"level {self.name!r}: background must be one of {list(BACKGROUNDS)}")

    @property
    def source_distractors(self) -> tuple[int, int]:
        """(min, max) distractors of a clean source scene to edit: one to one more than a generated
        scene may hold (so an edit always has an object besides the prompt's to work on)."""
        return (1, self.distractors[1] + 1)

    def describe(self) -> str:
        """One sentence on what scenes of this level hold (for dataset cards and reports)."""
        lo, hi = self.distractors
        return (
            f"shapes {', '.join(self.shapes)}; sizes {', '.join(self.sizes)}; "
            f"{'upright' if self.upright else 'randomly rotated'} objects; counting prompts ask for "
            f"{', '.join(str(c) for c in self.counts)}; {lo}-{hi} distractors; {self.background} background"
            + (
                "."
                if self.cell_jitter is None
                else f"; one object centre per grid cell (jitter {self.cell_jitter:g})."
            )
        )


LEVELS: dict[str, WorldLevel] = {
    "full": WorldLevel(
        name="full",
        shapes=SHAPES,
        sizes=tuple(SIZES),
        upright=False,
        counts=(2, 3, 4),
        distractors=(0, 2),
        background="textured",
        role="the world as first built, kept as the harder row",
    ),
    "basic": WorldLevel(
        name="basic",
        shapes=("circle", "square", "triangle", "cross"),
        sizes=("medium", "large"),
        upright=True,
        counts=(2, 3),
        distractors=(0, 1),
        background="plain",
        cell_jitter=0.05,
        role="the tiny-scale default: shapes the tiny models can tell apart",
    ),
}
"""The world's levels by name."""

DEFAULT_LEVEL = "full"
"""The level of a library call that names none: the world as it always was (byte-identical)."""


def get_level(level: str | WorldLevel | None = None) -> WorldLevel:
    """The :class:`WorldLevel` for a name (``None``: :data:`DEFAULT_LEVEL`); unknown names raise."""
    if isinstance(level, WorldLevel):
        return level
    name = DEFAULT_LEVEL if level is None else str(level)
    if name not in LEVELS:
        raise ValueError(f"unknown world level {name!r}; known levels: {', '.join(LEVELS)} (set world.level)")
    return LEVELS[name]


def run_level(settings: RunSettings | None) -> str:
    """The level name a run sets (``settings.world_level``, from ``world.level``; checked), for
    tasks to pass on to library functions; a config without a ``world`` group (e.g. one built by
    hand) or no settings gets :data:`DEFAULT_LEVEL`."""
    return get_level(RunSettings.of(settings).world_level).name
