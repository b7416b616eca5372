"""World data for base pretraining: captions, simple VQA, (prompt, image) pairs and edit triples.

Everything here is a pure function of a seed, so a resumed build sees the same data.

Captions (the VLMs' "describe" target)
    :func:`common.world.captions.describe`: objects in reading order, each as
    ``"a {colour} {shape} at the {position}"`` (format in :mod:`common.world.captions`).

VQA (short answers, one token)
    ``count``     "how many {shapes} are there ?" -> "0" .. "6"
    ``color``     "what colour is the {shape} ?" (the shape occurs once) -> colour name
    ``relation``  "is the {B} {relation} the {A} ?" (both occur once, GenEval's relation rule on
                  the true boxes, pairs whose relation is within ``RELATION_MARGIN`` of flipping
                  are not asked) -> "yes" / "no"
    ``exists``    "is there a {colour} {shape} ?" (half of them true) -> "yes" / "no"

What changed (two images: a source and a sloppy edit of it)
    ``difference``  "what changed from the first image to the second ?" -> the significant
                  changes as :func:`common.world.edits.significant_changes_text` words them
                  (``"the red circle turned blue ; the blue star was added"``, or ``"no clear
                  change"``); results drawn by :func:`common.world.edits.make_example` with
                  execution and consistency variants uniform, so a result may miss the edit,
                  overdo it or change other objects. With ``captions``, the answer first
                  describes both images, then names the changes: ``"first : <caption> second :
                  <caption> changes : <changes>"`` (the comparison done on the words).

Edits (the editor's triples)
    The world's own edits (:mod:`common.world.edits`: recolour, add, remove, move, replace,
    resize, with its instruction phrasings and its perfect execution ``apply_edit``), applied to
    scenes that match random world prompts. :func:`edit_verdict` judges an edited image from
    pixels: what had to appear, disappear and stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from PIL import Image

from common.models.vocabulary import canonical_text
from common.world.captions import article, describe
from common.world.checker import detect_objects, upsample_for_checker
from common.world.edits import (
    CONSISTENCY_VARIANTS,
    EDIT_KINDS,
    EXECUTION_VARIANTS,
    Edit,
    EditExample,
    apply_edit,
    instruction_text,
    make_example,
    sample_edit_sources,
    significant_changes_text,
)
from common.world.geneval import relation_margin, relative_position
from common.world.levels import WorldLevel, get_level
from common.world.prompts import sample_prompts
from common.world.render import object_alpha, render_at
from common.world.sampling import MODES, sample_scene
from common.world.scene import Scene, SceneObject
from common.world.shapes import object_bbox
from common.world.vocab import COLORS, GENEVAL_TAGS, RELATIONS, SHAPE_PLURALS, SHAPES

DESCRIBE_QUESTION = "describe the image ."
VQA_KINDS: tuple[str, ...] = ("count", "color", "relation", "exists")
RELATION_MARGIN = 0.06
"""Relation questions are asked only when GenEval's relation is this far from flipping."""

# ----------------------------------------------------------------------------- scenes


def world_scenes(
    n: int,
    seed: int,
    *,
    modes: Sequence[str] = MODES,
    distractors: Sequence[int] | None = None,
    sizes: Sequence[str] | None = None,
    level: str | WorldLevel | None = None,
) -> list[tuple[Any, Scene]]:
    """``n`` (GenEval prompt, scene) pairs at ``level``; tags cycle, modes are drawn uniformly.

    ``match`` scenes fit the prompt; ``partial`` / ``miss`` scenes give the VLMs varied contents.
    ``distractors``: (min, max) objects the prompt does not mention; ``sizes``: the object size
    names drawn from (``None``: the level's, :mod:`common.world.levels`).
    """
    lv = get_level(level)
    lo, hi = (int(d) for d in (lv.distractors if distractors is None else distractors))
    rng = np.random.default_rng([seed, 0x5CE])
    prompts = sample_prompts(n, rng, GENEVAL_TAGS, level=lv)
    out = []
    for p in prompts:
        mode = modes[int(rng.integers(len(modes)))]
        out.append((p, sample_scene(p, rng, mode=mode, distractors=(lo, hi), sizes=sizes, level=lv).scene))
    return out


def single_object_scenes(n: int, seed: int, level: str | WorldLevel | None = None) -> list[Scene]:
    """``n`` scenes of exactly one object (random shape of ``level``, colour, size and place)."""
    rng = np.random.default_rng([seed, 0x51])
    prompts = sample_prompts(n, rng, ("colors",), level=level)
    return [sample_scene(p, rng, mode="match", distractors=(0, 0), level=level).scene for p in prompts]


DENSE_COVERAGE = 0.3
"""A grid cell is labelled with the top-most object covering at least this share of its area."""


def dense_cell_labels(scene: Scene, grid_h: int, grid_w: int) -> tuple[list[int], list[int]]:
    """Per grid cell (row-major), the shape and colour index of the object on top there.

    The image is cut into ``grid_h x grid_w`` cells (a VLM's merged image tokens); a cell takes the
    last-drawn object whose coverage of the cell is at least :data:`DENSE_COVERAGE`. Indices are
    into :data:`SHAPES` / :data:`COLORS`; background cells get ``len(SHAPES)`` / ``len(COLORS)``.
    """
    shapes = np.full((grid_h, grid_w), len(SHAPES), dtype=np.int64)
    colors = np.full((grid_h, grid_w), len(COLORS), dtype=np.int64)
    names = list(COLORS)
    for obj in scene.objects:  # drawing order: later objects are on top
        big = object_alpha(obj, int(np.lcm(grid_h, grid_w)) * 8, supersample=2)
        cover = big.reshape(grid_h, big.shape[0] // grid_h, grid_w, big.shape[1] // grid_w).mean(axis=(1, 3))
        on = cover >= DENSE_COVERAGE
        shapes[on] = SHAPES.index(obj.shape)
        colors[on] = names.index(obj.color)
    return shapes.ravel().tolist(), colors.ravel().tolist()


# ----------------------------------------------------------------------------- VQA


@dataclass(frozen=True)
class QA:
    """One VLM training / evaluation item: question and answer about one image."""

    kind: str
    question: str
    answer: str


def describe_item(scene: Scene) -> QA:
    return QA("describe", DESCRIBE_QUESTION, describe(scene))


def _unique_shapes(scene: Scene) -> list[SceneObject]:
    return [o for o in scene.objects if scene.count(o.shape) == 1]


def vqa_item(scene: Scene, kind: str, rng: np.random.Generator, shapes: Sequence[str] = SHAPES) -> QA | None:
    """A question of ``kind`` about ``scene`` with its true answer (None if it cannot be asked).

    ``shapes``: the shapes count and existence questions may ask about when they ask about an
    object that need not be there (the world level's shapes: a basic-level question never names
    a shape the level does not draw; the full level's are all of :data:`SHAPES`)."""
    if kind == "count":
        present = sorted({o.shape for o in scene.objects})
        # Half of the questions about a shape that is there, the rest about any shape.
        pool = present if present and rng.random() < 0.5 else list(shapes)
        shape = pool[int(rng.integers(len(pool)))]
        return QA(kind, f"how many {SHAPE_PLURALS[shape]} are there ?", str(scene.count(shape)))
    if kind == "color":
        uniq = _unique_shapes(scene)
        if not uniq:
            return None
        o = uniq[int(rng.integers(len(uniq)))]
        return QA(kind, f"what colour is the {o.shape} ?", o.color)
    if kind == "relation":
        uniq = _unique_shapes(scene)
        if len(uniq) < 2:
            return None
        i, j = rng.choice(len(uniq), size=2, replace=False)
        b, a = uniq[int(i)], uniq[int(j)]
        bb, ba = object_bbox(b), object_bbox(a)
        if relation_margin(bb, ba) < RELATION_MARGIN:
            return None
        rel = RELATIONS[int(rng.integers(len(RELATIONS)))]
        holds = rel in relative_position(bb, ba)
        return QA(kind, f"is the {b.shape} {rel} the {a.shape} ?", "yes" if holds else "no")
    if kind == "exists":
        if scene.objects and rng.random() < 0.5:
            o = scene.objects[int(rng.integers(len(scene.objects)))]
            color, shape = o.color, o.shape
        else:
            color = tuple(COLORS)[int(rng.integers(len(COLORS)))]
            shape = shapes[int(rng.integers(len(shapes)))]
        there = scene.count(shape, color) > 0
        return QA(kind, f"is there {article(color)} {color} {shape} ?", "yes" if there else "no")
    raise ValueError(f"unknown VQA kind {kind!r}; known: {', '.join(VQA_KINDS)}")


def sample_qa(
    scene: Scene, rng: np.random.Generator, describe_share: float, shapes: Sequence[str] = SHAPES
) -> QA:
    """A describe item with probability ``describe_share``, else a VQA item of a random kind
    (``shapes``: see :func:`vqa_item`)."""
    if rng.random() < describe_share:
        return describe_item(scene)
    for _ in range(8):
        kind = VQA_KINDS[int(rng.integers(len(VQA_KINDS)))]
        item = vqa_item(scene, kind, rng, shapes)
        if item is not None:
            return item
    return describe_item(scene)


def vlm_eval_items(
    scenes: Sequence[Scene], seed: int, shapes: Sequence[str] = SHAPES
) -> list[tuple[int, QA]]:
    """(scene index, item) pairs: one describe item per scene, then one VQA item per scene with
    the kinds cycling (a scene where the turn's kind cannot be asked gets the next kind;
    ``shapes``: see :func:`vqa_item`)."""
    rng = np.random.default_rng([seed, 0xE7A1])
    items = [(i, describe_item(s)) for i, s in enumerate(scenes)]
    for i, s in enumerate(scenes):
        for k in range(len(VQA_KINDS)):
            item = vqa_item(s, VQA_KINDS[(i + k) % len(VQA_KINDS)], rng, shapes)
            if item is not None:
                items.append((i, item))
                break
    return items


# ----------------------------------------------------------------------------- what changed

DIFFERENCE_QUESTION = "what changed from the first image to the second ?"


@dataclass(frozen=True)
class DifferencePair:
    """A source scene, a sloppy edit of it, and the canonical "what changed" answer."""

    source: Scene
    result: Scene
    answer: str

    def qa(self) -> QA:
        return QA("difference", DIFFERENCE_QUESTION, self.answer)


def difference_pairs(
    n: int, seed: int, level: str | WorldLevel | None = None, *, captions: bool = False
) -> list[DifferencePair]:
    """``n`` (source, result) pairs: a scene matching a random world prompt (one to three
    distractors, as FIRM's edit sources), a random edit, and a result of a uniformly drawn
    execution and consistency variant (:func:`common.world.edits.make_example`). ``captions``:
    answers that describe both images before the changes (module docstring)."""
    rng = np.random.default_rng([seed, 0xD1FF])

    def sloppy(scene: Scene, edit: Edit) -> EditExample:
        return make_example(
            scene,
            edit,
            rng,
            execution=EXECUTION_VARIANTS[int(rng.integers(len(EXECUTION_VARIANTS)))],
            consistency=CONSISTENCY_VARIANTS[int(rng.integers(len(CONSISTENCY_VARIANTS)))],
            level=level,
        )

    out: list[DifferencePair] = []
    for ex in islice(sample_edit_sources(rng, level=level, distractors=(1, 3), make=sloppy), n):
        answer = canonical_text(significant_changes_text(ex.source, ex.result, ex.diff))
        if captions:
            answer = f"first : {describe(ex.source)} second : {describe(ex.result)} {CHANGES_MARK} {answer}"
        out.append(DifferencePair(ex.source, ex.result, answer))
    return out


CHANGES_MARK = "changes :"
"""Where the changes start in a "what changed" answer that describes both images first."""


def changes_part(answer: str) -> str:
    """The changes of a "what changed" answer: the text after :data:`CHANGES_MARK` if the answer
    has one (an answer that describes the images first), else the whole answer."""
    _, mark, tail = answer.rpartition(CHANGES_MARK)
    return (tail if mark else answer).strip()


def difference_changes(answer: str) -> list[str]:
    """The change phrases of a "what changed" answer (``[]`` for "no clear change")."""
    parts = [p.strip() for p in changes_part(answer).split(";")]
    return [p for p in parts if p and p != "no clear change"]


# ----------------------------------------------------------------------------- edits


@dataclass(frozen=True)
class EditTriple:
    """A world edit (:class:`common.world.edits.Edit`) with its source and perfectly edited scenes.

    Attributes:
        edit: the world's edit (kind, target, attributes).
        instruction: the text given to the editor (one of the world's phrasings).
        source / target: the scene before and after :func:`common.world.edits.apply_edit`.
        new: objects of the target that the source does not have (must appear).
        gone: objects of the source that the target does not have (must disappear).
        kept: objects the edit leaves as they were (must stay).
    """

    edit: Any
    instruction: str
    source: Scene
    target: Scene
    new: tuple[SceneObject, ...] = ()
    gone: tuple[SceneObject, ...] = ()
    kept: tuple[SceneObject, ...] = field(default=())

    @property
    def op(self) -> str:
        return str(self.edit.kind)


def _multiset_minus(a: Sequence[SceneObject], b: Sequence[SceneObject]) -> list[SceneObject]:
    rest = list(b)
    out = []
    for o in a:
        if o in rest:
            rest.remove(o)
        else:
            out.append(o)
    return out


def edit_triple(source: Scene, edit: Any, instruction: str | None = None) -> EditTriple:
    """The :class:`EditTriple` of a world edit applied perfectly to ``source``."""
    target = apply_edit(source, edit)
    new = _multiset_minus(target.objects, source.objects)
    gone = _multiset_minus(source.objects, target.objects)
    kept = _multiset_minus(source.objects, gone)
    return EditTriple(
        edit=edit,
        instruction=instruction if instruction is not None else instruction_text(edit, 0),
        source=source,
        target=target,
        new=tuple(new),
        gone=tuple(gone),
        kept=tuple(kept),
    )


def world_edits(
    n: int,
    seed: int,
    kinds: Sequence[str] | None = None,
    *,
    phrasings: bool = False,
    level: str | WorldLevel | None = None,
) -> list[EditTriple]:
    """``n`` edits of world scenes drawn by :func:`common.world.edits.sample_edit`.

    Kinds cycle through ``kinds`` (default: all of ``common.world.edits.EDIT_KINDS``) so they are
    balanced. ``phrasings``: pick one of the world's phrasings of each instruction at random
    (training); otherwise the canonical one (evaluation). ``level``: the world level of the
    source scenes and of added / replacing shapes.
    """
    rng = np.random.default_rng([seed, 0xED17])
    names = list(kinds) if kinds is not None else list(EDIT_KINDS)
    distractors = get_level(level).distractors  # a generated scene's, not a source's
    out: list[EditTriple] = []
    draws = sample_edit_sources(rng, level=level, kinds=names, cycle_kinds=True, distractors=distractors)
    for scene, edit in islice(draws, n):
        style = int(rng.integers(0, 4)) if phrasings else 0
        out.append(edit_triple(scene, edit, instruction_text(edit, style)))
    return out


# ----------------------------------------------------------------------------- edit checking

POSITION_TOLERANCE = 0.1
"""An object counts as present when a detection of its colour and shape has its centroid this
close (fraction of the canvas side) to the object's centre."""

RESIZE_AREA_RATIO = 1.5
"""A resized object must have grown (shrunk) by at least this area ratio against its detection in
the source image (the world's factor 1.5 in radius is 2.25 in area)."""


def _match(obj: SceneObject, detections: Sequence[Any]) -> Any | None:
    best, best_d = None, POSITION_TOLERANCE
    for d in detections:
        dist = float(np.hypot(d.centroid[0] - obj.x, d.centroid[1] - obj.y))
        if d.color == obj.color and d.shape == obj.shape and dist <= best_d:
            best, best_d = d, dist
    return best


def _resized(triple: EditTriple, source_dets: Sequence[Any], dets: Sequence[Any]) -> bool:
    """Every resized object's detection changed area by the requested direction."""
    bigger = float(triple.edit.factor) > 1
    for old, new in zip(triple.gone, triple.new, strict=True):
        before, after = _match(old, source_dets), _match(new, dets)
        if before is None or after is None:
            return False
        ratio = after.area / max(before.area, 1e-9)
        if (bigger and ratio < RESIZE_AREA_RATIO) or (not bigger and ratio > 1 / RESIZE_AREA_RATIO):
            return False
    return True


def edit_verdict(
    triple: EditTriple,
    image: Image.Image,
    *,
    source_image: Image.Image | None = None,
    shapes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Checker-based judgment of an edited image (model resolution) against the edit's truth.

    ``execution``: every ``new`` object is detected (colour, shape, position) and no ``gone``
    object is; for resize (same colour, shape and place) instead the object's detected area
    changed by :data:`RESIZE_AREA_RATIO` in the requested direction against ``source_image``
    (rendered from the source scene when not given). ``consistency``: every ``kept`` object is
    detected and there are no more detected objects than the target scene has. ``correct``:
    both. ``kept_share``: share of kept objects detected (partial credit). ``n_detected``: how
    many objects the checker read in ``image``. ``shapes``: the shapes the checker may read (the
    world level's; ``None``: all).
    """
    dets = detect_objects(upsample_for_checker(image), shapes=shapes)
    if triple.op == "resize":
        src = source_image if source_image is not None else render_at(triple.source, image.size[0])
        execution = _resized(triple, detect_objects(upsample_for_checker(src), shapes=shapes), dets)
    else:
        execution = all(_match(o, dets) is not None for o in triple.new) and not any(
            _match(o, dets) is not None for o in triple.gone
        )
    kept = [_match(o, dets) is not None for o in triple.kept]
    consistency = all(kept) and len(dets) <= len(triple.target.objects)
    return {
        "op": triple.op,
        "execution": bool(execution),
        "consistency": bool(consistency),
        "correct": bool(execution and consistency),
        "kept_share": float(np.mean(kept)) if kept else 1.0,
        "n_detected": len(dets),
    }
