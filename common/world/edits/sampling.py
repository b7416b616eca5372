"""Drawing edits: a random feasible edit of a scene (:func:`sample_edit`), and the one loop
that draws edit sources, prompt -> scene -> edit, skipping infeasible draws
(:func:`sample_edit_sources`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from common.world.edits.apply import apply_edit
from common.world.edits.geometry import MAX_RADIUS, MIN_RADIUS, REGIONS, is_clear, region_distance
from common.world.edits.model import EDIT_KINDS, Edit, EditError, Ref
from common.world.geneval import GenEvalPrompt
from common.world.levels import WorldLevel, get_level
from common.world.prompts import sample_prompt
from common.world.sampling import sample_scene
from common.world.scene import Scene
from common.world.vocab import COLORS, GENEVAL_TAGS, RELATIONS, SHAPES

RESIZE_FACTOR = 1.5
"""The factor "bigger" / "smaller" asks for (smaller: 1 / 1.5)."""


def _ref_for(scene: Scene, i: int, rng: np.random.Generator) -> Ref:
    """A singular expression naming exactly object ``i`` (shape alone when that suffices)."""
    o = scene.objects[i]
    if scene.count(o.shape) == 1 and rng.random() < 0.5:
        return Ref(o.shape)
    return Ref(o.shape, o.color)


def uniquely_named(scene: Scene, i: int) -> bool:
    o = scene.objects[i]
    return scene.count(o.shape, o.color) == 1


def pick(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _group_ref(scene: Scene, rng: np.random.Generator) -> Ref | None:
    """A plural expression ("all the circles") for a shape with several objects, if any."""
    groups: list[Ref] = []
    for shape in SHAPES:
        if scene.count(shape) >= 2:
            groups.append(Ref(shape, None, True))
            groups.extend(Ref(shape, c, True) for c in COLORS if scene.count(shape, c) >= 2)
    return pick(rng, groups) if groups else None


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
    singles = [i for i in range(len(scene.objects)) if uniquely_named(scene, i)]
    for _ in range(tries):
        kind = pick(rng, list(kinds))
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
        shape = pick(rng, lv.shapes)
        color = pick(rng, tuple(COLORS)) if rng.random() < 0.85 else None
        size = pick(rng, lv.sizes) if rng.random() < 0.3 else None
        u = rng.random()
        if u < 0.45 and singles:
            anchor = _ref_for(scene, pick(rng, singles), rng)
            return Edit(
                "add", shape=shape, color=color, size=size, relation=pick(rng, RELATIONS), anchor=anchor
            )
        if u < 0.75:
            return Edit("add", shape=shape, color=color, size=size, region=pick(rng, tuple(REGIONS)))
        return Edit("add", shape=shape, color=color, size=size)
    if not objs:
        return None
    if kind in ("recolour", "remove", "resize") and plural is not None:
        ref = plural
        idx = ref.select(scene)
    elif singles:
        i = pick(rng, singles)
        ref, idx = _ref_for(scene, i, rng), (i,)
    else:
        return None
    if kind == "recolour":
        used = {objs[i].color for i in idx}
        return Edit("recolour", target=ref, color=pick(rng, [c for c in COLORS if c not in used]))
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
        if any(not is_clear(after.objects, after.objects[i], skip=(i,)) for i in idx):
            return None
        return edit
    (i,) = idx
    if kind == "move":
        o = objs[i]
        regions = [g for g in REGIONS if region_distance(o.x, o.y, g) > 0.1]
        return Edit("move", target=ref, region=pick(rng, regions)) if regions else None
    if kind == "replace":
        shape = pick(rng, [s for s in lv.shapes if s != objs[i].shape])
        color = pick(rng, [c for c in COLORS if c != objs[i].color]) if rng.random() < 0.5 else None
        return Edit("replace", target=ref, shape=shape, color=color)
    raise ValueError(f"unknown edit kind {kind!r}")


# ----------------------------------------------------------------------------- edit sources


def sample_source(
    prompt: GenEvalPrompt,
    rng: np.random.Generator,
    canvas: int = 128,
    *,
    distractors: tuple[int, int] | None = None,
    level: str | WorldLevel | None = None,
) -> Scene:
    """A clean source scene for editing at ``level``: the prompt's objects plus ``distractors``
    (``None``: the level's :attr:`~common.world.levels.WorldLevel.source_distractors`; full: one to
    three)."""
    lv = get_level(level)
    dis = lv.source_distractors if distractors is None else distractors
    return sample_scene(prompt, rng, mode="match", canvas=canvas, distractors=dis, level=lv).scene


def sample_edit_sources(
    rng: np.random.Generator,
    *,
    level: str | WorldLevel | None = None,
    kinds: Sequence[str] = EDIT_KINDS,
    cycle_kinds: bool = False,
    distractors: tuple[int, int] | None = None,
    canvas: int = 128,
    prompt: GenEvalPrompt | None = None,
    make: Callable[[Scene, Edit], Any] | None = None,
) -> Iterator[Any]:
    """Valid edit draws, endlessly: the one loop prompt -> source scene -> edit of the world.

    Each draw takes, from ``rng`` in this order: a prompt (``prompt`` when given, else one of a
    uniformly drawn tag at ``level``), a source scene for it (:func:`sample_source` with
    ``distractors`` and ``canvas``), an edit (:func:`sample_edit` at ``level``) and, with ``make``,
    ``make(source, edit)`` (e.g. a sloppy result: :func:`~common.world.edits.sloppy.make_example`).
    A draw where the edit or ``make`` raises :class:`EditError` is dropped and the next one drawn.
    Yields ``(source, edit)``, or what ``make`` returns. Draws happen only when the next item is
    asked for, so a caller may draw from ``rng`` between items.

    ``kinds``: the edit kinds drawn among; with ``cycle_kinds`` the k-th yielded edit is of kind
    ``kinds[k % len(kinds)]`` instead (balanced kinds).
    """
    lv = get_level(level)
    names = list(kinds)
    k = 0
    while True:
        p = prompt
        if p is None:
            p = sample_prompt(GENEVAL_TAGS[int(rng.integers(len(GENEVAL_TAGS)))], rng, level=lv)
        source = sample_source(p, rng, canvas, distractors=distractors, level=lv)
        try:
            edit = sample_edit(
                source, rng, kinds=(names[k % len(names)],) if cycle_kinds else names, level=lv
            )
            item = (source, edit) if make is None else make(source, edit)
        except EditError:
            continue
        k += 1
        yield item
