"""Render a :class:`~common.world.scene.Scene` to pixels.

Public API:
    render(scene, *, defects=None) -> PIL.Image.Image
        RGB, ``scene.canvas`` x ``scene.canvas``. Objects are drawn in order (later ones on top).
        ``defects`` is a :class:`common.world.defects.Defects` (or a ``{kind: severity}`` dict);
        the cut-off defect moves an object across the canvas edge, so compute ground truth on
        ``common.world.defects.prepare_scene(scene, defects)``, the scene actually drawn.
    render_array(scene, *, defects=None) -> np.ndarray (H, W, 3) uint8, same pixels.
    render_background(seed, canvas, style="textured") -> np.ndarray (H, W, 3) float32 in [0, 255]
    object_alpha(obj, canvas, supersample=4) -> np.ndarray (H, W) float32 coverage in [0, 1]
    object_rgb(obj, index, background_seed) -> np.ndarray (3,) float32 jittered colour

How it looks:
    * Background (``plain``, the basic level: only the base grey and tint below, flat;
      ``textured``, the full level): a seeded, low-saturation mid-tone (grey level 145-180 with a small tint),
      a linear gradient, a soft low-frequency "cloud" texture and a fine grain. Its range
      (about 120-205 per channel) keeps it far from every palette colour in RGB, white and
      black included (nearest is pink, about 70 away), so objects always stand out.
    * Objects: each shape's exact coverage is drawn at ``supersample`` x resolution and
      box-downsampled, i.e. the alpha of a pixel is the fraction of its area the shape covers
      (anti-aliasing without ringing). The colour is the palette RGB plus a seeded jitter of
      at most +-8 per channel.
    * Deterministic: the same scene and defects give identical bytes (all randomness comes
      from ``numpy.random.default_rng`` seeded by ``scene.background_seed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw

from common.world import defects as dfx
from common.world.scene import Scene, SceneObject
from common.world.shapes import object_polygon
from common.world.vocab import COLORS

COLOR_JITTER = 8
"""Largest per-channel deviation of an object's colour from its palette RGB."""

SUPERSAMPLE = 4


def _seed(*parts: int) -> list[int]:
    return [int(p) & 0xFFFFFFFF for p in parts]


def render_background(seed: int, canvas: int, style: str = "textured") -> np.ndarray:
    """The background for ``seed`` as float32 RGB in [0, 255].

    ``textured``: base grey, tint, gradient, clouds and grain (module docstring). ``plain``: the
    same seeded base grey and tint, flat (the ``basic`` world level)."""
    rng = np.random.default_rng(_seed(seed, 0xB6))
    base = rng.uniform(145.0, 180.0)
    tint = rng.uniform(-6.0, 6.0, size=3)
    if style == "plain":
        return np.broadcast_to(base + tint, (canvas, canvas, 3)).astype(np.float32)
    if style != "textured":
        raise ValueError(f"background style must be 'textured' or 'plain', got {style!r}")
    coords = (np.arange(canvas, dtype=np.float32) + 0.5) / canvas - 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    ang = rng.uniform(0.0, 2 * np.pi)
    amp = rng.uniform(3.0, 10.0)
    lum = base + 2.0 * amp * (xx * np.cos(ang) + yy * np.sin(ang))
    for _ in range(4):  # soft clouds: a few random plane waves, at most +-5 in total
        a = rng.uniform(0.0, 2 * np.pi)
        f = rng.uniform(1.5, 4.0) * 2 * np.pi
        ph = rng.uniform(0.0, 2 * np.pi)
        lum = lum + 1.25 * np.sin(f * (xx * np.cos(a) + yy * np.sin(a)) + ph)
    grain = rng.normal(0.0, 1.2, size=(canvas, canvas)).clip(-3.5, 3.5)
    bg = (lum + grain)[..., None] + tint[None, None, :]
    return bg.astype(np.float32)


def object_alpha(obj: SceneObject, canvas: int, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """Area coverage of ``obj`` per pixel (float32 in [0, 1]), exact up to 1/supersample^2."""
    big = canvas * supersample
    im = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(im)
    if obj.shape == "circle":
        cx, cy, r = obj.x * big, obj.y * big, obj.radius * big
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        pts = object_polygon(obj, canvas) * supersample
        draw.polygon([(float(x), float(y)) for x, y in pts], fill=255)
    small = im.resize((canvas, canvas), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def object_rgb(obj: SceneObject, index: int, background_seed: int) -> np.ndarray:
    """The jittered RGB of the ``index``-th object of a scene (float32)."""
    rng = np.random.default_rng(_seed(background_seed, 0xC0, index))
    jitter = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
    return (np.asarray(COLORS[obj.color], dtype=np.float32) + jitter).clip(0, 255)


def render_array(scene: Scene, *, defects: object = None) -> np.ndarray:
    """Render ``scene`` (with optional ``defects``) to a uint8 (H, W, 3) array."""
    d = dfx.as_defects(defects)
    drawn = dfx.prepare_scene(scene, d)
    canvas = drawn.canvas
    img = render_background(drawn.background_seed, canvas, drawn.background)
    melted = dfx.melt_targets(drawn, d)
    for i, obj in enumerate(drawn.objects):
        alpha = object_alpha(obj, canvas)
        if i in melted:
            alpha = dfx.melt_alpha(alpha, obj, d.melt, _seed(drawn.background_seed, 0x3E, i))
        col = object_rgb(obj, i, drawn.background_seed)
        a = alpha[..., None]
        img = img * (1.0 - a) + col[None, None, :] * a
    img = dfx.apply_image_defects(img, d, drawn.background_seed)
    return np.floor(img.clip(0.0, 255.0) + 0.5).astype(np.uint8)


def render(scene: Scene, *, defects: object | Mapping[str, int] | None = None) -> Image.Image:
    """Render ``scene`` to an RGB PIL image (see the module docstring)."""
    return Image.fromarray(render_array(scene, defects=defects))


def render_at(scene: Scene, size: int) -> Image.Image:
    """Render ``scene`` on a ``size``-pixel canvas (the renderer is resolution independent)."""
    return render(replace(scene, canvas=size))
