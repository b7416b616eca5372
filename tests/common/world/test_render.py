"""Rendering: size, determinism, anti-aliasing and a background that never looks like an object."""

from __future__ import annotations

import numpy as np

from common.world.defects import Defects
from common.world.render import object_alpha, render, render_array, render_background
from common.world.scene import Scene, SceneObject
from common.world.shapes import shape_vertices
from common.world.vocab import COLORS, SHAPES


def _scene(seed: int = 7, canvas: int = 128) -> Scene:
    objs = (
        SceneObject("star", "red", 0.3, 0.3, 0.12, rotation=10.0),
        SceneObject("hexagon", "white", 0.7, 0.35, 0.1),
        SceneObject("cross", "black", 0.45, 0.75, 0.14, rotation=33.0),
    )
    return Scene(objects=objs, background_seed=seed, canvas=canvas)


def test_render_size_and_mode() -> None:
    im = render(_scene())
    assert im.mode == "RGB" and im.size == (128, 128)
    assert render(_scene(canvas=96)).size == (96, 96)


def test_render_is_deterministic_bytes() -> None:
    a = render(_scene()).tobytes()
    assert a == render(_scene()).tobytes()
    assert a != render(_scene(seed=8)).tobytes()
    d = Defects(blur=1, noise=2, blotches=1, cutoff=1, melt=1)
    assert render(_scene(), defects=d).tobytes() == render(_scene(), defects=d.to_dict()).tobytes()
    assert render(_scene(), defects=d).tobytes() != a


def test_background_far_from_every_palette_colour() -> None:
    palette = np.array(list(COLORS.values()), dtype=np.float32)
    worst = np.inf
    for seed in range(150):
        bg = render_background(seed, 64).reshape(-1, 3)
        d = np.linalg.norm(bg[:, None, :] - palette[None], axis=-1).min()
        worst = min(worst, float(d))
    assert worst > 55.0, worst


def test_antialiased_coverage_is_exact_area() -> None:
    for shape in SHAPES:
        obj = SceneObject(shape, "red", 0.5, 0.5, 0.3, rotation=12.0)
        a = object_alpha(obj, 128)
        assert ((a > 0) & (a < 1)).sum() > 0  # partial edge pixels exist

        v = shape_vertices(shape, 0.3 * 128, 12.0)
        x, y = v[:, 0], v[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        assert abs(a.sum() - area) / area < 0.02, shape


def test_objects_drawn_in_their_colour() -> None:
    img = render_array(_scene()).astype(int)
    assert np.abs(img[38, 38] - np.array(COLORS["red"])).max() <= 8
    assert np.abs(img[45, 90] - np.array(COLORS["white"])).max() <= 8
