"""Sample scenes that match a prompt, partially match it, or miss it, with known ground truth.

Public API:
    sample_scene(prompt, rng, *, mode="match", canvas=128, distractors=None, sizes=None, level=None)
        -> SampledScene
    scene_detections(scene) -> list[Detection]      exact truth boxes (clipped to the canvas)
    truth_verdict(prompt, scene) -> Verdict          GenEval rule on the true scene
    place_objects(specs, rng, ...) -> list[SceneObject] | None   non-overlapping placement
    MODES = ("match", "partial", "miss")

Modes (the violated requirements are computed on the sampled scene with the same rule the
checker uses, :func:`common.world.geneval.evaluate_prompt`, and returned as ``violated``):
    match    every requirement holds (``violated`` is empty).
    partial  some of the prompt is there but at least one requirement fails:
             two_object one object missing; counting 1..n-1 or n+1..n+2 objects;
             colors the object in another colour; position both objects with the relation
             false (70%) or one missing; color_attr one colour wrong, colours swapped, or one
             object missing. single_object has a single requirement, so partial = miss.
    miss     no object of an included class at all (at least one distractor is drawn).

Placement: every object has a radius from :data:`common.world.vocab.SIZES` (+-10%; small and
medium only beyond four objects, small only beyond six), lies ``EDGE_MARGIN`` inside the canvas, and its
circumscribed circle keeps ``GAP`` from every other one. Position prompts place their two
objects so that the GenEval relation is at least ``RELATION_MARGIN`` away from flipping
(:func:`common.world.geneval.relation_margin`), so a detector's pixel-level box error cannot
change the answer. Distractors use shapes that the prompt does not mention, so they never
change a requirement. Rotations are uniform over each shape's symmetry period (zero at an
``upright`` level).

``level`` (:mod:`common.world.levels`; ``None``: ``full``) supplies the distractor shapes, the
sizes, the distractor range, uprightness and the background unless ``sizes`` / ``distractors``
are given; at the full level every draw is exactly as before levels existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.world.captions import GRID, cell_of
from common.world.geneval import (
    Detection,
    GenEvalPrompt,
    Verdict,
    evaluate_prompt,
    relation_margin,
    relative_position,
)
from common.world.levels import WorldLevel, get_level
from common.world.scene import Scene, SceneObject
from common.world.shapes import SYMMETRY, object_bbox
from common.world.vocab import COLORS, SIZES

MODES: tuple[str, ...] = ("match", "partial", "miss")
GAP = 0.035
EDGE_MARGIN = 0.02
RELATION_MARGIN = 0.06
_COLOR_NAMES = tuple(COLORS)


@dataclass(frozen=True)
class SampledScene:
    """A sampled scene with its prompt, the requested mode and the truly violated requirements."""

    scene: Scene
    prompt: GenEvalPrompt
    mode: str
    violated: frozenset[str]

    @property
    def matches(self) -> bool:
        return not self.violated


def scene_detections(scene: Scene) -> list[Detection]:
    """The true objects of ``scene`` as detections (boxes clipped to the visible canvas)."""
    out = []
    for o in scene.objects:
        x0, y0, x1, y1 = object_bbox(o)
        box = (max(x0, 0.0), max(y0, 0.0), min(x1, 1.0), min(y1, 1.0))
        out.append(Detection(cls=o.shape, bbox=box, color=o.color))
    return out


def truth_verdict(prompt: GenEvalPrompt, scene: Scene) -> Verdict:
    """GenEval correctness of the true scene (use ``defects.prepare_scene`` first if cut-off)."""
    return evaluate_prompt(prompt, scene_detections(scene))


@dataclass(frozen=True)
class _Spec:
    shape: str
    color: str | None = None


def size_names(sizes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The allowed size names in :data:`SIZES` order (all of them for ``None``); unknown names raise."""
    if sizes is None:
        return tuple(SIZES)
    wanted = set(sizes)
    if not wanted or wanted - set(SIZES):
        raise ValueError(f"object sizes must be a non-empty subset of {list(SIZES)}, got {list(sizes)}")
    return tuple(n for n in SIZES if n in wanted)


def _radius(rng: np.random.Generator, crowded: int, allowed: tuple[str, ...]) -> float:
    """A radius of one of the ``allowed`` size names (crowding drops the largest; one always stays)."""
    names = allowed[: max(1, len(allowed) - crowded)]
    return float(SIZES[names[int(rng.integers(len(names)))]] * rng.uniform(0.9, 1.1))


def _new_object(
    spec: _Spec, rng: np.random.Generator, radius: float, x: float, y: float, upright: bool = False
) -> SceneObject:
    color = spec.color if spec.color is not None else _COLOR_NAMES[int(rng.integers(len(_COLOR_NAMES)))]
    rot = 0.0 if spec.shape == "circle" or upright else float(rng.uniform(0.0, SYMMETRY[spec.shape]))
    return SceneObject(shape=spec.shape, color=color, x=x, y=y, radius=radius, rotation=round(rot, 2))


def _clear(objs: Sequence[SceneObject], x: float, y: float, r: float) -> bool:
    return all(np.hypot(o.x - x, o.y - y) >= o.radius + r + GAP for o in objs)


def place_objects(
    specs: Sequence[_Spec],
    rng: np.random.Generator,
    *,
    placed: Sequence[SceneObject] = (),
    crowded: int = 0,
    tries: int = 60,
    sizes: Sequence[str] | None = None,
    upright: bool = False,
    cell_jitter: float | None = None,
) -> list[SceneObject] | None:
    """Place ``specs`` at random non-overlapping positions next to ``placed``; None if stuck.

    ``sizes``: the size names radii are drawn from (``None``: all of :data:`SIZES`);
    ``upright``: objects keep rotation 0; ``cell_jitter``: ``None`` places centres anywhere,
    a number places each centre in a 3 x 3 grid cell no other object's centre is in, at most this
    far (per axis, fraction of the canvas) from the cell's centre and clamped inside the canvas
    margin (:func:`_cell_point`)."""
    allowed = size_names(sizes)
    objs = list(placed)
    for spec in specs:
        ok = False
        for _ in range(tries):
            r = _radius(rng, crowded, allowed)
            lo, hi = r + EDGE_MARGIN, 1.0 - r - EDGE_MARGIN
            if cell_jitter is None:
                x, y = rng.uniform(lo, hi, size=2)
            else:
                x, y = _cell_point(rng, objs, lo, hi, cell_jitter)
            if _clear(objs, x, y, r):
                objs.append(_new_object(spec, rng, r, float(x), float(y), upright))
                ok = True
                break
        if not ok:
            return None
    return objs[len(placed) :]


def _cell_point(
    rng: np.random.Generator, objs: Sequence[SceneObject], lo: float, hi: float, jitter: float
) -> tuple[float, float]:
    """A point near the centre of a random cell of the caption grid (:data:`common.world.captions.GRID`)
    that holds no object's centre yet (any cell if all do): ``cell centre + U(-jitter, jitter)``
    per axis, clamped to ``[lo, hi]``."""
    taken = {cell_of(o.x, o.y) for o in objs}
    free = [c for c in range(GRID * GRID) if c not in taken] or list(range(GRID * GRID))
    row, col = divmod(free[int(rng.integers(len(free)))], GRID)
    dx, dy = rng.uniform(-jitter, jitter, size=2)
    x = float(np.clip((col + 0.5) / GRID + dx, lo, hi))
    y = float(np.clip((row + 0.5) / GRID + dy, lo, hi))
    return x, y


def _place_pair(
    a: _Spec,
    b: _Spec,
    relation: str,
    holds: bool,
    rng: np.random.Generator,
    tries: int = 200,
    sizes: Sequence[str] | None = None,
    upright: bool = False,
    cell_jitter: float | None = None,
) -> list[SceneObject] | None:
    """Place A and B so that "B <relation> A" holds (or clearly does not), with a margin."""
    for _ in range(tries):
        pair = place_objects([a, b], rng, sizes=sizes, upright=upright, cell_jitter=cell_jitter)
        if pair is None:
            continue
        oa, ob = pair
        ba, bb = object_bbox(oa), object_bbox(ob)
        if relation_margin(bb, ba) < RELATION_MARGIN:
            continue
        if (relation in relative_position(bb, ba)) == holds:
            return [oa, ob]
    return None


def _other_color(rng: np.random.Generator, not_these: Sequence[str]) -> str:
    pool = [c for c in _COLOR_NAMES if c not in not_these]
    return pool[int(rng.integers(len(pool)))]


def _core_plan(prompt: GenEvalPrompt, mode: str, rng: np.random.Generator) -> tuple[list[_Spec], str | None]:
    """The prompt objects to draw for ``mode``; the second value names a position plan."""
    inc = prompt.include
    tag = prompt.tag
    if mode == "miss" or (mode == "partial" and tag == "single_object"):
        return [], None
    if tag == "single_object":
        return [_Spec(inc[0].cls)], None
    if tag == "two_object":
        specs = [_Spec(inc[0].cls), _Spec(inc[1].cls)]
        if mode == "partial":
            specs.pop(int(rng.integers(2)))
        return specs, None
    if tag == "counting":
        n = inc[0].count
        if mode == "match":
            k = n
        else:
            options = [k for k in range(1, n + 3) if k != n]
            k = options[int(rng.integers(len(options)))]
        return [_Spec(inc[0].cls)] * k, None
    if tag == "colors":
        c = inc[0].color
        assert c is not None
        return [_Spec(inc[0].cls, c if mode == "match" else _other_color(rng, [c]))], None
    if tag == "position":
        specs = [_Spec(inc[0].cls), _Spec(inc[1].cls)]
        if mode == "match":
            return specs, "holds"
        if rng.random() < 0.7:
            return specs, "fails"
        specs.pop(int(rng.integers(2)))
        return specs, None
    if tag == "color_attr":
        c1, c2 = inc[0].color, inc[1].color
        assert c1 is not None and c2 is not None
        a, b = _Spec(inc[0].cls, c1), _Spec(inc[1].cls, c2)
        if mode == "match":
            return [a, b], None
        kind = int(rng.integers(4))
        if kind == 0:
            return [_Spec(a.shape, _other_color(rng, [c1])), b], None
        if kind == 1:
            return [a, _Spec(b.shape, _other_color(rng, [c2]))], None
        if kind == 2:
            return [_Spec(a.shape, c2), _Spec(b.shape, c1)], None
        return [[a, b][int(rng.integers(2))]], None
    raise ValueError(f"unknown tag {tag!r}")


def sample_scene(
    prompt: GenEvalPrompt,
    rng: np.random.Generator,
    *,
    mode: str = "match",
    canvas: int = 128,
    distractors: tuple[int, int] | None = None,
    max_tries: int = 50,
    sizes: Sequence[str] | None = None,
    level: str | WorldLevel | None = None,
) -> SampledScene:
    """A random scene for ``prompt`` in ``mode`` (see the module docstring).

    ``sizes``: the size names object radii are drawn from (``None``: all of :data:`SIZES`, the
    world's default; e.g. ``("medium", "large")`` for a low-resolution generator's training
    scenes, whose small shapes are a few pixels across). Crowding drops the largest allowed sizes
    but always keeps the smallest allowed one."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    lv = get_level(level)
    sizes = size_names(lv.sizes if sizes is None else sizes)  # validated once, before any draw
    distractors = lv.distractors if distractors is None else distractors
    up = lv.upright
    jit = lv.cell_jitter
    free = [s for s in lv.shapes if s not in set(prompt.classes) | {it.cls for it in prompt.exclude}]
    for _ in range(max_tries):
        specs, plan = _core_plan(prompt, mode, rng)
        n_dis = int(rng.integers(distractors[0], distractors[1] + 1))
        if mode == "miss" or (mode == "partial" and prompt.tag == "single_object"):
            n_dis = max(n_dis, 1)
        dis = [_Spec(free[int(rng.integers(len(free)))]) for _ in range(n_dis)] if free else []
        crowded = int(len(specs) + len(dis) > 4) + int(len(specs) + len(dis) > 6)
        if plan is not None:
            rel = prompt.include[1].position
            assert rel is not None
            core = _place_pair(
                specs[0], specs[1], rel[0], plan == "holds", rng, sizes=sizes, upright=up, cell_jitter=jit
            )
        else:
            core = place_objects(specs, rng, crowded=crowded, sizes=sizes, upright=up, cell_jitter=jit)
        if core is None:
            continue
        extra = place_objects(
            dis, rng, placed=core, crowded=crowded, sizes=sizes, upright=up, cell_jitter=jit
        )
        if extra is None:
            continue
        objs = list(core) + list(extra)
        order = rng.permutation(len(objs))
        scene = Scene(
            objects=tuple(objs[i] for i in order),
            background_seed=int(rng.integers(0, 2**31 - 1)),
            canvas=canvas,
            meta={"mode": mode, "prompt": prompt.prompt},
            background=lv.background,
        )
        violated = truth_verdict(prompt, scene).violated
        if (mode == "match") != (not violated):
            raise AssertionError(f"sampler produced {sorted(violated)} for mode {mode}: {prompt.prompt}")
        return SampledScene(scene=scene, prompt=prompt, mode=mode, violated=violated)
    raise RuntimeError(f"could not place a {mode} scene for {prompt.prompt!r} in {max_tries} tries")
