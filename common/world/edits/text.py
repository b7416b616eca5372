"""Edits and scene differences in words: instruction phrasings (:func:`instruction_text`) and
the reports of FIRM's difference-first pipeline.

Reports (:func:`difference_report`): the two passes of FIRM's difference-first pipeline,
"obvious" (each significantly changed object as it looks in each image, without comparing) and
"details" (every change by category: number, shape, colour, size, position, background), written
only with words the project's tokenizer knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.world.captions import cell_of
from common.world.edits.diff import Change, SceneDiff, diff_scenes
from common.world.edits.geometry import region_of, size_name
from common.world.edits.model import Edit
from common.world.scene import Scene, SceneObject

_REGION_PHRASE: dict[str, str] = {
    "left": "the left side",
    "right": "the right side",
    "top": "the top",
    "bottom": "the bottom",
    "top left": "the top left corner",
    "top right": "the top right corner",
    "bottom left": "the bottom left corner",
    "bottom right": "the bottom right corner",
    "center": "the center",
}
_RELATION_PHRASE: dict[str, str] = {
    "left of": "to the left of",
    "right of": "to the right of",
    "above": "above",
    "below": "below",
}


def with_article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def place_phrase(region: str) -> str:
    """ "in the top left corner", "on the left side", "at the top", "in the center"."""
    prep = "at" if region in ("top", "bottom") else ("on" if region in ("left", "right") else "in")
    return f"{prep} {_REGION_PHRASE[region]}"


def _new_object_phrase(edit: Edit) -> str:
    words = [w for w in (edit.size if edit.kind == "add" else None, edit.color, edit.shape) if w]
    return with_article(" ".join(words))


def instruction_text(edit: Edit, style: int = 0) -> str:
    """The instruction for ``edit`` in one of a few phrasings (``style`` picks one, modulo)."""
    k = edit.kind
    ref = edit.target.text() if edit.target else ""
    if k == "recolour":
        forms = (
            f"change the colour of {ref} to {edit.color}",
            f"make {ref} {edit.color}",
            f"turn {ref} {edit.color}",
        )
    elif k == "remove":
        forms = (f"remove {ref}", f"delete {ref}")
    elif k == "move":
        assert edit.region is not None
        forms = (
            f"move {ref} to {_REGION_PHRASE[edit.region]}",
            f"put {ref} {place_phrase(edit.region)}",
        )
    elif k == "replace":
        new = _new_object_phrase(edit)
        forms = (f"replace {ref} with {new}", f"turn {ref} into {new}")
    elif k == "resize":
        assert edit.factor is not None
        forms = (
            (f"make {ref} bigger", f"make {ref} larger")
            if edit.factor > 1
            else (f"make {ref} smaller", f"make {ref} smaller")
        )
    else:  # add
        new = _new_object_phrase(edit)
        place = ""
        if edit.relation is not None and edit.anchor is not None:
            place = f" {_RELATION_PHRASE[edit.relation]} {edit.anchor.text()}"
        elif edit.region is not None:
            place = f" {place_phrase(edit.region)}"
        forms = (f"add {new}{place}", f"put {new}{place}")
    return forms[style % len(forms)]


def describe_object(obj: SceneObject, *, with_place: bool = True) -> str:
    """ "a small red circle at the top left"."""
    text = with_article(f"{size_name(obj.radius)} {obj.color} {obj.shape}")
    return f"{text} at the {region_of(obj.x, obj.y)}" if with_place else text


def _name(obj: SceneObject) -> str:
    return f"the {obj.color} {obj.shape}"


def change_text(c: Change, source: Scene) -> str:
    """One change in words, naming the object as it was in ``source``: ``"the red circle turned
    blue"``, ``"the blue star was added"``, ``"the green square moved slightly"``..."""

    def named(d: Mapping[str, Any] | None) -> str:
        return f"the {d['color']} {d['shape']}" if d else "an object"

    src = _name(source.objects[c.source]) if c.source is not None else "an object"
    if c.kind == "added":
        return f"{named(c.after)} was added"
    if c.kind == "removed":
        return f"{named(c.before)} was removed"
    if c.kind == "recoloured":
        return f"{src} turned {c.after}"
    if c.kind == "reshaped":
        return f"{src} became a {c.after}"
    if c.kind == "moved":
        return f"{src} moved" + ("" if c.significant else " slightly")
    if c.kind == "resized":
        return f"{src} got {'bigger' if c.after > c.before else 'smaller'}"
    if c.kind == "rotated":
        return f"{src} is slightly turned"
    return "the background changed slightly"


CHANGE_KINDS: tuple[str, ...] = (
    "added",
    "removed",
    "recoloured",
    "reshaped",
    "moved",
    "resized",
    "rotated",
    "background",
)
"""The kinds of change :func:`change_text` words (``"background"``: every other change)."""


def change_kind(text: str) -> str | None:
    """The kind of change a :func:`change_text` phrase words, read from its verb (the inverse of
    :func:`change_text` on its kinds; ``None`` for a phrase it does not write)."""
    t = " ".join(text.split())
    if t.endswith(" was added"):
        return "added"
    if t.endswith(" was removed"):
        return "removed"
    if t.endswith(" is slightly turned"):
        return "rotated"
    if t.endswith((" moved", " moved slightly")):
        return "moved"
    if t.endswith((" got bigger", " got smaller")):
        return "resized"
    if t == "the background changed slightly":
        return "background"
    words = t.split()
    if len(words) >= 2 and words[-2] == "turned":
        return "recoloured"
    if len(words) >= 3 and words[-3] == "became":
        return "reshaped"
    return None


def significant_changes_text(source: Scene, result: Scene, diff: SceneDiff | None = None) -> str:
    """The significant changes from ``source`` to ``result``, ``"; "``-joined, or ``"no clear
    change"``: what the oracle's execution reasoning says it sees, and the answer of the VLMs'
    "what changed" pretraining items.

    Order: reading order (:func:`common.world.captions.reading_order`'s key) of the objects as
    they were in ``source``, then the added objects in reading order of ``result``, then the
    background; an object's own changes keep the diff's order (shape, colour, place, size). A
    reader of the two images can follow this order; the diff's own order (object indices) is
    invisible in the pictures.
    """
    diff = diff or diff_scenes(source, result)
    ordered = sorted(diff.significant, key=lambda c: _reading_key(c, source, result))
    changes = [change_text(c, source) for c in ordered]
    return "; ".join(changes) if changes else "no clear change"


def _reading_key(c: Change, source: Scene, result: Scene) -> tuple[int, int, float, float]:
    if c.source is not None:
        group, obj = 0, source.objects[c.source]
    elif c.result is not None:
        group, obj = 1, result.objects[c.result]
    else:
        return (2, 0, 0.0, 0.0)
    return (group, cell_of(obj.x, obj.y), obj.y, obj.x)


def difference_report(source: Scene, result: Scene, diff: SceneDiff | None = None) -> dict[str, str]:
    """FIRM's difference report from the scene diff: ``{"obvious", "details", "report"}``.

    ``obvious`` describes each significantly changed object as it appears in each image (no
    comparison); ``details`` lists every change, minor ones included, by category. ``report``
    merges the two passes, as the FIRM edit pipeline does before scoring.
    """
    diff = diff or diff_scenes(source, result)
    A, B = source.objects, result.objects
    obvious: list[str] = []
    seen: set[tuple[int | None, int | None]] = set()
    for c in diff.significant:
        key = (c.source, c.result)
        if key in seen:
            continue
        seen.add(key)
        before = describe_object(A[c.source]) if c.source is not None else "no object here"
        after = describe_object(B[c.result]) if c.result is not None else "no object here"
        obvious.append(f"source image : {before} . edited image : {after} .")
    if not obvious:
        obvious.append("no obvious change : the two images show the same objects .")
    sections: dict[str, list[str]] = {
        k: [] for k in ("number", "shape", "colour", "size", "position", "background")
    }
    n0, n1 = len(A), len(B)
    if n0 != n1:
        sections["number"].append(f"the source image has {n0} objects and the edited image has {n1}")
    for c in diff.changes:
        if c.kind == "added":
            assert c.result is not None
            sections["number"].append(f"{describe_object(B[c.result])} is added")
        elif c.kind == "removed":
            assert c.source is not None
            sections["number"].append(f"{describe_object(A[c.source])} is removed")
        elif c.kind == "reshaped":
            assert c.source is not None
            sections["shape"].append(f"{_name(A[c.source])} becomes {with_article(str(c.after))}")
        elif c.kind == "recoloured":
            assert c.source is not None
            sections["colour"].append(f"{_name(A[c.source])} is now {c.after}")
        elif c.kind == "resized":
            assert c.source is not None
            word = "bigger" if c.after > c.before else "smaller"
            how = "" if c.significant else "slightly "
            sections["size"].append(f"{_name(A[c.source])} is {how}{word}")
        elif c.kind == "moved":
            assert c.source is not None
            if c.significant:
                fr, to = region_of(*c.before), region_of(*c.after)
                where = f"from the {fr} to the {to}" if fr != to else f"inside the {to}"
                sections["position"].append(f"{_name(A[c.source])} moved {where}")
            else:
                sections["position"].append(f"{_name(A[c.source])} moved slightly")
        elif c.kind == "rotated":
            assert c.source is not None
            sections["position"].append(f"{_name(A[c.source])} is slightly turned")
        elif c.kind == "background":
            sections["background"].append("the background changed slightly")
    details = [
        f"{name} : " + (" ; ".join(items) if items else "no change") + " ."
        for name, items in sections.items()
    ]
    obvious_text = " ".join(obvious)
    details_text = " ".join(details)
    return {
        "obvious": obvious_text,
        "details": details_text,
        "report": f"obvious changes : {obvious_text} details : {details_text}",
    }
