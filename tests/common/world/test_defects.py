"""Defects: validation, the documented quality mapping, cut-off geometry, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from common.world.defects import (
    DEFECT_KINDS,
    Defects,
    as_defects,
    prepare_scene,
    quality_q,
    quality_scores,
    sample_defects,
)
from common.world.render import render_array
from common.world.scene import Scene, SceneObject
from common.world.shapes import object_bbox


def test_quality_mapping_examples() -> None:
    assert quality_scores(None) == {"aesthetics": 5, "quality": 5, "structure": 5}
    assert quality_scores(Defects(blur=2)) == {"aesthetics": 4, "quality": 3, "structure": 4}
    assert quality_scores(Defects(melt=3)) == {"aesthetics": 4, "quality": 5, "structure": 1}
    assert quality_scores(Defects(noise=3, blotches=3)) == {"aesthetics": 1, "quality": 1, "structure": 2}
    assert quality_q(Defects(melt=3)) == 0.0 and quality_q(None) == 1.0


def test_quality_monotone_in_severity() -> None:
    for kind in DEFECT_KINDS:
        prev = quality_scores(None)
        for s in (1, 2, 3):
            cur = quality_scores(Defects.single(kind, s))
            assert all(cur[k] <= prev[k] for k in cur)
            assert all(1 <= v <= 5 for v in cur.values())
            prev = cur
        assert min(prev.values()) < 5


def test_validation() -> None:
    with pytest.raises(ValueError):
        Defects(blur=4)
    with pytest.raises(ValueError):
        as_defects({"smudge": 1})
    assert as_defects({"noise": 2}) == Defects(noise=2)
    d = sample_defects(np.random.default_rng(0), severity=1)
    assert d.max_severity == 1 and not d.clean


def test_cutoff_pushes_one_object_over_the_edge() -> None:
    objs = (SceneObject("square", "red", 0.2, 0.5, 0.1), SceneObject("star", "blue", 0.6, 0.5, 0.1))
    sc = Scene(objects=objs, background_seed=1)
    for sev in (1, 2, 3):
        drawn = prepare_scene(sc, Defects(cutoff=sev))
        moved = [i for i in range(2) if drawn.objects[i] != objs[i]]
        assert moved == [0] and drawn.meta["cutoff"] == 0
        x0, _, x1, _ = object_bbox(drawn.objects[0])
        assert x0 < 0 < x1
        assert abs(-x0 / (x1 - x0) - (0.15 * sev)) < 1e-9
    assert prepare_scene(sc, Defects(blur=2)) is sc


def test_defects_change_pixels_deterministically() -> None:
    sc = Scene(objects=(SceneObject("circle", "green", 0.5, 0.5, 0.2),), background_seed=3)
    clean = render_array(sc)
    for kind in DEFECT_KINDS:
        a = render_array(sc, defects=Defects.single(kind, 2))
        assert not np.array_equal(a, clean), kind
        assert np.array_equal(a, render_array(sc, defects=Defects.single(kind, 2)))
