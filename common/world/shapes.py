"""Shape geometry of the embedded world: one place that says what each shape looks like.

Every shape is inscribed in a circle of radius ``radius`` around its centre, and its area
centroid is that centre (all shapes are regular), so the renderer, the ground-truth bounding
boxes and the checker's shape templates agree exactly.

Coordinates follow the image convention: ``x`` to the right, ``y`` downwards; angles are in
degrees, measured from the +x axis towards +y (i.e. clockwise on screen).

Public API:
    shape_vertices(shape, radius=1.0, rotation=0.0) -> (k, 2) array of offsets from the centre
    object_polygon(obj, canvas) -> (k, 2) array of pixel coordinates
    object_bbox(obj) -> (x0, y0, x1, y1) exact bounding box, fractions of the canvas side
    radial_profile(shape, angles_deg, rotation=0.0) -> boundary distance along each ray (radius 1)
    SYMMETRY: degrees after which each shape repeats itself under rotation
"""

from __future__ import annotations

import numpy as np

from common.world.scene import SceneObject

SYMMETRY: dict[str, float] = {
    "circle": 360.0,
    "square": 90.0,
    "triangle": 120.0,
    "star": 72.0,
    "cross": 90.0,
    "hexagon": 60.0,
}
"""Rotation period of each shape in degrees (the circle is treated as having no orientation)."""

STAR_INNER = 0.45
"""Inner radius of the five-pointed star as a fraction of its outer radius."""

CROSS_HALF_WIDTH = 0.32
"""Half the width of each arm of the cross as a fraction of its radius."""

CIRCLE_SEGMENTS = 96


def _polar(angles_deg: np.ndarray, radii: np.ndarray) -> np.ndarray:
    a = np.deg2rad(angles_deg)
    return np.stack([radii * np.cos(a), radii * np.sin(a)], axis=-1)


def shape_vertices(shape: str, radius: float = 1.0, rotation: float = 0.0) -> np.ndarray:
    """Polygon vertices of ``shape`` as offsets from its centre (circle: a fine polygon)."""
    if shape == "circle":
        ang = np.arange(CIRCLE_SEGMENTS) * 360.0 / CIRCLE_SEGMENTS
        return _polar(ang, np.full(CIRCLE_SEGMENTS, radius))
    if shape == "square":
        ang = 45.0 + 90.0 * np.arange(4)
        pts = _polar(ang, np.full(4, radius))
    elif shape == "triangle":
        ang = -90.0 + 120.0 * np.arange(3)
        pts = _polar(ang, np.full(3, radius))
    elif shape == "hexagon":
        ang = 60.0 * np.arange(6)
        pts = _polar(ang, np.full(6, radius))
    elif shape == "star":
        ang = -90.0 + 36.0 * np.arange(10)
        rad = np.where(np.arange(10) % 2 == 0, radius, radius * STAR_INNER)
        pts = _polar(ang, rad)
    elif shape == "cross":
        w, r = CROSS_HALF_WIDTH * radius, radius
        # Arms reach the inscribing circle: the corner of each arm end lies on radius r.
        e = float(np.sqrt(r * r - w * w))
        pts = np.array(
            [
                [w, -e], [w, -w], [e, -w], [e, w], [w, w], [w, e],
                [-w, e], [-w, w], [-e, w], [-e, -w], [-w, -w], [-w, -e],
            ]
        )  # fmt: skip
    else:
        raise ValueError(f"unknown shape {shape!r}")
    if rotation:
        t = np.deg2rad(rotation)
        c, s = np.cos(t), np.sin(t)
        pts = pts @ np.array([[c, s], [-s, c]])
    return pts


def object_polygon(obj: SceneObject, canvas: int) -> np.ndarray:
    """Vertices of ``obj`` in pixel coordinates of a ``canvas`` x ``canvas`` image."""
    pts = shape_vertices(obj.shape, obj.radius, obj.rotation)
    return (pts + np.array([obj.x, obj.y])) * canvas


def object_bbox(obj: SceneObject) -> tuple[float, float, float, float]:
    """Exact axis-aligned bounding box ``(x0, y0, x1, y1)`` of ``obj`` as canvas fractions."""
    if obj.shape == "circle":
        r = obj.radius
        return (obj.x - r, obj.y - r, obj.x + r, obj.y + r)
    pts = shape_vertices(obj.shape, obj.radius, obj.rotation) + np.array([obj.x, obj.y])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return (float(x0), float(y0), float(x1), float(y1))


def radial_profile(shape: str, angles_deg: np.ndarray, rotation: float = 0.0) -> np.ndarray:
    """Distance from the centre to the boundary along each ray, for a shape of radius 1.

    All shapes are star-shaped around their centre, so each ray leaves the shape once; the
    distance is the smallest positive intersection of the ray with a polygon edge.
    """
    angles_deg = np.asarray(angles_deg, dtype=float)
    if shape == "circle":
        return np.ones_like(angles_deg)
    v = shape_vertices(shape, 1.0, rotation)
    a = v
    b = np.roll(v, -1, axis=0)
    th = np.deg2rad(angles_deg)
    d = np.stack([np.cos(th), np.sin(th)], axis=-1)  # (n, 2)
    e = b - a  # (k, 2)
    # Solve t * d = a + u * e for t (ray) and u in [0, 1] (edge).
    den = d[:, None, 0] * e[None, :, 1] - d[:, None, 1] * e[None, :, 0]  # (n, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (a[None, :, 0] * e[None, :, 1] - a[None, :, 1] * e[None, :, 0]) / den
        u = (a[None, :, 0] * d[:, None, 1] - a[None, :, 1] * d[:, None, 0]) / den
    ok = (np.abs(den) > 1e-12) & (u >= -1e-9) & (u <= 1 + 1e-9) & (t > 1e-9)
    t = np.where(ok, t, np.inf)
    return t.min(axis=1)
