"""Appearance defects of world images, and FIRM's three 1-5 quality sub-scores derived from them.

A :class:`Defects` value gives each defect kind a severity from 0 (none) to 3 (strong):

    kind      what it does (canvas 128; lengths scale with the canvas)          sev 1 / 2 / 3
    blur      Gaussian blur of the whole image, sigma in px                      0.6 / 1.3 / 2.4
    noise     i.i.d. Gaussian pixel noise, sigma in grey levels                  4 / 11 / 22
    blotches  dark translucent stains; count / opacity                          2,.15 / 4,.35 / 7,.6
    cutoff    one object pushed across the nearest canvas edge; share of its
              bounding box outside the canvas                                   .15 / .30 / .45
    melt      ``severity`` objects smeared: drips below the object (length as a
              share of its radius) and a horizontal wobble in px                .3,.3 / .6,.8 / 1,1.5

``render(scene, defects=...)`` applies them (cut-off on the scene, melt on the objects'
coverage, the rest on the image); everything is seeded by ``scene.background_seed``, so the
result is deterministic. Cut-off changes the drawn geometry: ground truth must be computed on
:func:`prepare_scene`.

Quality sub-scores (FIRM's quality prompt asks for aesthetics, quality and structure&texture,
each 1-5). :func:`quality_scores` maps defects to them deterministically::

    score_axis = clip(round_half_up(5 - sum_kind severity_kind * W[kind][axis]), 1, 5)

    W         aesthetics  quality  structure
    blur        0.5        1.0      0.5
    noise       0.5        1.0      0.5
    blotches    1.0        0.5      0.5
    cutoff      0.5        0.0      1.0
    melt        0.5        0.0      4/3

A clean image scores (5, 5, 5); e.g. blur 2 -> (4, 3, 4); melt 3 -> (4, 5, 1).
FIRM's quality term is ``Q = (min(aesthetics, quality, structure) - 1) / 4``: :func:`quality_q`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from scipy import ndimage

from common.world.scene import Scene, SceneObject
from common.world.shapes import object_bbox

DEFECT_KINDS: tuple[str, ...] = ("blur", "noise", "blotches", "cutoff", "melt")
QUALITY_AXES: tuple[str, ...] = ("aesthetics", "quality", "structure")

BLUR_SIGMA = (0.0, 0.6, 1.3, 2.4)
NOISE_SIGMA = (0.0, 4.0, 11.0, 22.0)
BLOTCH_COUNT = (0, 2, 4, 7)
BLOTCH_OPACITY = (0.0, 0.15, 0.35, 0.6)
CUTOFF_SHARE = (0.0, 0.15, 0.30, 0.45)
MELT_DRIP = (0.0, 0.3, 0.6, 1.0)
MELT_WOBBLE = (0.0, 0.3, 0.8, 1.5)

QUALITY_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "blur": (0.5, 1.0, 0.5),
    "noise": (0.5, 1.0, 0.5),
    "blotches": (1.0, 0.5, 0.5),
    "cutoff": (0.5, 0.0, 1.0),
    "melt": (0.5, 0.0, 4.0 / 3.0),
}


@dataclass(frozen=True)
class Defects:
    """Severity (0 none .. 3 strong) of each defect kind."""

    blur: int = 0
    noise: int = 0
    blotches: int = 0
    cutoff: int = 0
    melt: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | np.integer) or not 0 <= int(v) <= 3:
                raise ValueError(f"defect severity {f.name}={v!r} must be an int in 0..3")

    @classmethod
    def single(cls, kind: str, severity: int) -> Defects:
        if kind not in DEFECT_KINDS:
            raise ValueError(f"unknown defect {kind!r}; known: {', '.join(DEFECT_KINDS)}")
        return cls(**{kind: int(severity)})

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> Defects:
        unknown = set(data) - set(DEFECT_KINDS)
        if unknown:
            raise ValueError(f"unknown defect kinds {sorted(unknown)}")
        return cls(**{k: int(v) for k, v in data.items()})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def clean(self) -> bool:
        return all(getattr(self, k) == 0 for k in DEFECT_KINDS)

    @property
    def max_severity(self) -> int:
        return max(getattr(self, k) for k in DEFECT_KINDS)


NO_DEFECTS = Defects()


def as_defects(value: object) -> Defects:
    """Accept ``None``, a :class:`Defects` or a ``{kind: severity}`` mapping."""
    if value is None:
        return NO_DEFECTS
    if isinstance(value, Defects):
        return value
    if isinstance(value, Mapping):
        return Defects.from_dict(value)
    raise TypeError(f"defects must be None, Defects or a mapping, got {type(value).__name__}")


def sample_defects(
    rng: np.random.Generator, *, severity: int | None = None, max_kinds: int = 2, p_clean: float = 0.0
) -> Defects:
    """Random defects: 1..max_kinds kinds, each at ``severity`` (or a random 1..3)."""
    if rng.random() < p_clean:
        return NO_DEFECTS
    k = int(rng.integers(1, max_kinds + 1))
    kinds = rng.choice(len(DEFECT_KINDS), size=k, replace=False)
    sev = {DEFECT_KINDS[i]: int(severity if severity is not None else rng.integers(1, 4)) for i in kinds}
    return Defects(**sev)


def _rnd(x: float) -> int:
    return math.floor(x + 0.5)


def quality_scores(defects: object) -> dict[str, int]:
    """FIRM's three quality sub-scores (1-5) for an image with ``defects`` (see module doc)."""
    d = as_defects(defects)
    pen = [0.0, 0.0, 0.0]
    for kind in DEFECT_KINDS:
        s = getattr(d, kind)
        for j, w in enumerate(QUALITY_WEIGHTS[kind]):
            pen[j] += s * w
    return {ax: min(5, max(1, _rnd(5.0 - p))) for ax, p in zip(QUALITY_AXES, pen, strict=True)}


def quality_q(defects: object) -> float:
    """FIRM's normalised quality ``Q = (min(sub-scores) - 1) / 4`` in [0, 1]."""
    return (min(quality_scores(defects).values()) - 1) / 4.0


# ----------------------------------------------------------------------------- scene-level


def _circle_clear(objs: list[SceneObject], i: int, cand: SceneObject, gap: float) -> bool:
    for j, o in enumerate(objs):
        if j == i:
            continue
        if math.hypot(o.x - cand.x, o.y - cand.y) < o.radius + cand.radius + gap:
            return False
    return True


def prepare_scene(scene: Scene, defects: object) -> Scene:
    """The scene actually drawn under ``defects``: applies the cut-off defect, else unchanged.

    Cut-off pushes one object straight towards the canvas edge it is nearest to, until
    ``CUTOFF_SHARE[severity]`` of its bounding box lies outside; among all (object, edge) moves
    that keep clear of the other objects it takes the shortest. ``meta["cutoff"]`` records it.
    """
    d = as_defects(defects)
    if d.cutoff == 0 or not scene.objects:
        return scene
    share = CUTOFF_SHARE[d.cutoff]
    objs = list(scene.objects)
    best: tuple[float, int, SceneObject] | None = None
    for i, o in enumerate(objs):
        x0, y0, x1, y1 = object_bbox(o)
        w, h = x1 - x0, y1 - y0
        moves = [
            (o.x - x0 - share * w, None),  # left edge: x0' = -share*w
            (1.0 - (x1 - o.x) + share * w, None),  # right edge
            (None, o.y - y0 - share * h),  # top
            (None, 1.0 - (y1 - o.y) + share * h),  # bottom
        ]
        for nx, ny in moves:
            cand = o.moved(o.x if nx is None else nx, o.y if ny is None else ny)
            dist = abs(cand.x - o.x) + abs(cand.y - o.y)
            if not _circle_clear(objs, i, cand, 0.02):
                continue
            if best is None or dist < best[0] - 1e-12:
                best = (dist, i, cand)
    if best is None:
        return scene
    _, i, cand = best
    objs[i] = cand
    meta = dict(scene.meta)
    meta["cutoff"] = i
    return replace(scene, objects=tuple(objs), meta=meta)


def melt_targets(scene: Scene, defects: object) -> set[int]:
    """Indices of the objects the melt defect smears (``severity`` of them, seeded)."""
    d = as_defects(defects)
    n = len(scene.objects)
    if d.melt == 0 or n == 0:
        return set()
    rng = np.random.default_rng([scene.background_seed & 0xFFFFFFFF, 0x3E1])
    k = min(n, d.melt)
    return {int(i) for i in rng.choice(n, size=k, replace=False)}


def melt_alpha(alpha: np.ndarray, obj: SceneObject, severity: int, seed: list[int]) -> np.ndarray:
    """Smear one object's coverage map: a horizontal wobble and drips running downwards."""
    if severity == 0:
        return alpha
    rng = np.random.default_rng(seed)
    canvas = alpha.shape[0]
    rows = np.arange(canvas, dtype=np.float32)
    period = rng.uniform(0.25, 0.5) * obj.radius * canvas * 2
    shift = MELT_WOBBLE[severity] * np.sin(2 * np.pi * rows / period + rng.uniform(0, 2 * np.pi))
    yy, xx = np.meshgrid(rows, rows, indexing="ij")
    out = ndimage.map_coordinates(alpha, [yy, xx - shift[:, None]], order=1, mode="constant")
    lmax = MELT_DRIP[severity] * obj.radius * canvas
    cols = (rows + 0.5) / canvas
    prof = np.zeros(canvas, dtype=np.float64)
    for _ in range(3):
        prof += np.sin(2 * np.pi * rng.uniform(1.0, 3.0) * cols / (2 * obj.radius) + rng.uniform(0, 6.3))
    length = lmax * (0.5 + 0.5 * np.tanh(prof)) ** 2  # per-column drip length in px
    base = out.copy()
    for dpx in range(1, math.ceil(lmax) + 1):
        w = np.clip(1.0 - dpx / np.maximum(length, 1e-6), 0.0, 1.0) ** 0.5
        shifted = np.zeros_like(base)
        shifted[dpx:] = base[:-dpx]
        out = np.maximum(out, shifted * w[None, :].astype(np.float32))
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- image-level


def _blotches(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    canvas = img.shape[0]
    n = BLOTCH_COUNT[severity]
    opacity = BLOTCH_OPACITY[severity]
    yy, xx = np.meshgrid(np.arange(canvas), np.arange(canvas), indexing="ij")
    mask = np.zeros((canvas, canvas), dtype=np.float32)
    for _ in range(n):
        cx, cy = rng.uniform(0, canvas, size=2)
        r = rng.uniform(0.04, 0.09) * canvas * (1 + 0.25 * severity)
        blob = np.zeros_like(mask)
        for _ in range(4):  # an irregular stain: a few overlapping soft discs
            ox, oy = rng.normal(0, 0.45 * r, size=2)
            rr = r * rng.uniform(0.5, 1.0)
            d2 = ((xx - cx - ox) ** 2 + (yy - cy - oy) ** 2) / (rr * rr)
            blob = np.maximum(blob, np.clip(1.5 - d2, 0, 1).astype(np.float32))
        mask = np.maximum(mask, blob)
    mask = ndimage.gaussian_filter(mask, 1.0) * opacity
    stain = img * np.array([0.45, 0.42, 0.38], dtype=np.float32)  # dark, slightly brown
    a = mask[..., None]
    return img * (1 - a) + stain * a


def apply_image_defects(img: np.ndarray, defects: object, background_seed: int) -> np.ndarray:
    """Blotches, then blur, then noise on a float (H, W, 3) image; seeded by the scene."""
    d = as_defects(defects)
    if d.blur == d.noise == d.blotches == 0:
        return img
    canvas = img.shape[0]
    base = background_seed & 0xFFFFFFFF
    if d.blotches:
        img = _blotches(img, d.blotches, np.random.default_rng([base, 0xB10]))
    if d.blur:
        sigma = BLUR_SIGMA[d.blur] * canvas / 128.0
        img = ndimage.gaussian_filter(img, sigma=(sigma, sigma, 0), mode="nearest")
    if d.noise:
        rng = np.random.default_rng([base, 0x401])
        img = img + rng.normal(0.0, NOISE_SIGMA[d.noise], size=img.shape).astype(np.float32)
    return img
