"""Applying an edit perfectly: :func:`apply_edit` (raises :class:`EditError` when impossible)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from common.world.edits.geometry import (
    MAX_RADIUS,
    MIN_RADIUS,
    find_spot,
    free_point,
    region_distance,
    region_point,
    relation_ok,
    relation_point,
)
from common.world.edits.model import Edit, EditError
from common.world.edits.text import instruction_text
from common.world.scene import Scene, SceneObject
from common.world.vocab import SIZES


def new_for_add(edit: Edit, objs: Sequence[SceneObject]) -> SceneObject:
    assert edit.shape is not None
    r = SIZES[edit.size or "medium"]
    color = edit.color or "red"
    proto = SceneObject(shape=edit.shape, color=color, x=0.5, y=0.5, radius=r)
    if edit.relation is not None and edit.anchor is not None:
        anchors = [o for o in objs if edit.anchor.matches(o)]
        if len(anchors) != 1:
            raise EditError(f"anchor {edit.anchor.text()!r} must name exactly one object")
        anc = anchors[0]
        rel = edit.relation
        spot = find_spot(objs, proto, relation_point(anc, r, rel), accept=lambda c: relation_ok(c, anc, rel))
    elif edit.region is not None:
        region = edit.region
        spot = find_spot(
            objs, proto, region_point(region, proto), accept=lambda c: region_distance(c.x, c.y, region) == 0
        )
    else:
        spot = find_spot(objs, proto, free_point(objs))
    if spot is None:
        raise EditError(f"no room for {instruction_text(edit)!r}")
    return spot


def apply_edit(scene: Scene, edit: Edit) -> Scene:
    """The perfectly executed edit (deterministic; raises :class:`EditError` if impossible).

    recolour/replace keep position and size (replace resets the rotation); resize keeps the
    centre; move and add take the free grid point nearest the natural spot (the region's centre
    line, or beside the anchor) that satisfies the instruction; add without a place takes the
    emptiest spot. Removed objects are dropped, added ones appended.
    """
    objs = list(scene.objects)
    targets = edit.targets(scene)
    if edit.kind != "add" and not targets:
        raise EditError(f"{edit.target.text() if edit.target else '?'} is not in the scene")
    if edit.target is not None and not edit.target.every and len(targets) != 1:
        raise EditError(f"{edit.target.text()!r} must name exactly one object, found {len(targets)}")
    k = edit.kind
    if k == "recolour":
        assert edit.color is not None
        for i in targets:
            objs[i] = objs[i].recoloured(edit.color)
    elif k == "remove":
        objs = [o for i, o in enumerate(objs) if i not in targets]
    elif k == "replace":
        assert edit.shape is not None
        for i in targets:
            objs[i] = replace(objs[i], shape=edit.shape, color=edit.color or objs[i].color, rotation=0.0)
    elif k == "resize":
        assert edit.factor is not None
        for i in targets:
            r = float(np.clip(objs[i].radius * edit.factor, MIN_RADIUS * 0.8, MAX_RADIUS * 1.2))
            objs[i] = replace(objs[i], radius=round(r, 5))
    elif k == "move":
        assert edit.region is not None
        (i,) = targets
        region = edit.region
        spot = find_spot(
            objs,
            objs[i],
            region_point(region, objs[i]),
            skip=(i,),
            accept=lambda c: region_distance(c.x, c.y, region) == 0,
        )
        if spot is None:
            raise EditError(f"no room to {instruction_text(edit)!r}")
        objs[i] = spot
    else:
        objs.append(new_for_add(edit, objs))
    return scene.with_objects(objs)
