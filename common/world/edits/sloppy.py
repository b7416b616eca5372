"""Sloppy results: an edit executed the way a weak editor would (partly, on the wrong object,
with unintended changes, or not at all): :func:`sloppy_result`. Its truth never comes from the
variant's name: :mod:`common.world.edits.examples` reads it from the scene difference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from common.world.edits.apply import apply_edit, new_for_add
from common.world.edits.diff import (
    MOVE_MINOR,
    MOVE_SIGNIFICANT,
    RESIZE_MINOR,
    RESIZE_SIGNIFICANT,
)
from common.world.edits.geometry import (
    MAX_RADIUS,
    find_spot,
    is_clear,
    region_distance,
    region_point,
    relation_ok,
)
from common.world.edits.model import Edit, EditError, Ref
from common.world.edits.rubric import MOVE_NEAR, NEAR_COLORS
from common.world.edits.sampling import pick, uniquely_named
from common.world.levels import WorldLevel, get_level
from common.world.scene import Scene, SceneObject
from common.world.shapes import SYMMETRY
from common.world.vocab import COLORS, SHAPES, SIZES

EXECUTION_VARIANTS: tuple[str, ...] = ("perfect", "subtle", "partial", "barely", "none", "wrong_target")
"""How :func:`sloppy_result` executes the instruction (an aim; the truth comes from the diff)."""

CONSISTENCY_VARIANTS: tuple[str, ...] = ("clean", "minor", "significant", "mixed", "different")
"""Which unintended changes :func:`sloppy_result` adds to the objects the edit does not target."""


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
    return pick(rng, pool)


def _near_color(rng: np.random.Generator, asked: str, avoid: Sequence[str]) -> str | None:
    pool = [c for c in sorted(NEAR_COLORS[asked]) if c not in avoid]
    return pick(rng, pool) if pool else None


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
        others = [i for i in range(len(objs)) if i not in anchors and uniquely_named(source, i)]
        if not others:
            return None
        i = pick(rng, others)
        wrong = replace(edit, anchor=Ref(objs[i].shape, objs[i].color))
    else:
        others = [i for i in range(len(objs)) if i not in targets and uniquely_named(source, i)]
        if not others:
            return None
        i = pick(rng, others)
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
            shape = pick(rng, [s for s in shapes if s not in (o.shape, edit.shape)])
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
            if not is_clear(objs, objs[i], skip=(i,)):
                return None
        return _Work(objs, set(targets), bg)
    if k == "move":
        (i,) = targets
        o = objs[i]
        assert edit.region is not None
        region = edit.region
        d0 = region_distance(o.x, o.y, region)
        px, py = region_point(region, o)
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

        spot = find_spot(objs, o, want, skip=(i,), accept=accept)
        if spot is None:
            return None
        objs[i] = spot
        return _Work(objs, {i}, bg)
    # add
    assert edit.shape is not None
    new = new_for_add(edit, objs)
    if v == "subtle":
        if edit.color is not None:
            col = _near_color(rng, edit.color, [])
            if col is None:
                return None
            new = new.recoloured(col)
        elif edit.size is not None:
            other = pick(rng, [s for s in SIZES if s != edit.size])
            new = replace(new, radius=SIZES[other])
            if not is_clear(objs, new):
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
        new = replace(new, shape=pick(rng, [s for s in shapes if s != edit.shape]), rotation=0.0)
    objs.append(new)
    return _Work(objs, {len(objs) - 1}, bg)


def _misplaced(
    edit: Edit, source: Scene, objs: list[SceneObject], new: SceneObject, rng: np.random.Generator
) -> SceneObject | None:
    """``new`` put where the instruction's relation / region does not hold (clear of others)."""
    anchors = [objs[i] for i in edit.anchor.select(source)] if edit.anchor is not None else []

    def wrong_place(c: SceneObject) -> bool:
        if edit.relation is not None:
            return not any(relation_ok(c, a, edit.relation) for a in anchors)
        return edit.region is not None and region_distance(c.x, c.y, edit.region) > 0.1

    want = (float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.15, 0.85)))
    return find_spot(objs, new, want, accept=wrong_place)


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
        if is_clear(work.objs, cand, skip=(i,)):
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
            shape = pick(rng, _pool(work.shapes, work.avoid_shapes))
            color = pick(rng, _pool(tuple(COLORS), work.avoid_colors))
            proto = SceneObject(shape, color, 0.5, 0.5, SIZES[pick(rng, ("small", "medium"))])
            want = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)))
            cand = find_spot(work.objs, proto, want, accept=lambda c: _away(c, work.keep_out))
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
            cand = o.recoloured(pick(rng, _pool(tuple(COLORS), work.avoid_colors, o.color)))
        elif kind == "reshape":
            shape = pick(rng, _pool(work.shapes, work.avoid_shapes, o.shape))
            cand = replace(o, shape=shape, rotation=0.0)
        elif kind == "grow":
            f = float(rng.uniform(1.4, 1.7))
            cand = replace(o, radius=round(o.radius * (f if o.radius * f <= MAX_RADIUS else 1 / f), 5))
        else:
            ang = rng.uniform(0, 2 * np.pi)
            d = rng.uniform(MOVE_SIGNIFICANT + 0.05, 0.3)
            cand = o.moved(round(o.x + d * math.cos(ang), 4), round(o.y + d * math.sin(ang), 4))
        if is_clear(work.objs, cand, skip=(i,)):
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
