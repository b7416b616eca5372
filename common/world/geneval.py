"""GenEval's prompt schema, its correctness rule and its scorer, for real and world prompts alike.

One type, :class:`GenEvalPrompt`, reads the real GenEval ``evaluation_metadata.jsonl`` (COCO
class names) and the world's prompts (shape names); the schema is checked, not the vocabulary.

Schema of one line: ``{"tag", "include": [item, ...], "exclude"?: [item, ...], "prompt"}`` where
an item is ``{"class": str, "count": int >= 1, "color"?: colour name,
"position"?: [relation, index of an earlier include item]}``. Per tag (all 553 real prompts
follow it): single_object 1 item; two_object 2; counting 1 item plus ``exclude`` of the same
class with count + 1; colors 1 item with a colour; position 2 items, the second with a position
relative to item 0; color_attr 2 items, both with colours.

Correctness (:func:`evaluate_prompt`), GenEval's rule with requirement-level results:
    ``include[i].count``     at least ``count`` detections of the class.
    ``include[i].color``     at least ``count`` of them have the colour (GenEval colours the
                             top-``count`` detections by confidence; the world has no confidence,
                             and its sampler never adds a second object of an included class
                             outside counting prompts, so the two agree there).
    ``include[i].position``  the item and its target item ``j`` are both matched (all their
                             requirements hold) and some detection of the item is ``relation``
                             of some detection of item ``j`` (GenEval checks every pair of the
                             top-``count`` detections; with count 1 this is the same).
    ``exclude[j].count``     fewer than ``count`` detections of the class.
    A prompt is correct when every requirement holds.

Relations (:func:`relative_position`, GenEval's rule with its margin ``POSITION_THRESHOLD``):
    offset = centre(a) - centre(b) of the bounding boxes; each component is shrunk towards 0 by
    0.1 * (size_a + size_b) along that axis; divided by |offset|, a component below -0.5 means
    "left of" / "above", above +0.5 means "right of" / "below". Several relations can hold.

Scoring (:func:`score_geneval`): accuracy per tag, and overall = the mean of the per-tag
accuracies (GenEval's definition, not the mean over prompts).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import InputError
from common.world.vocab import COLORS, GENEVAL_TAGS, RELATIONS

POSITION_THRESHOLD = 0.1
"""GenEval's margin: the share of the summed box sizes an offset must exceed per axis."""

VENDORED_PATH = (
    Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "geneval" / "evaluation_metadata.jsonl"
)
"""Where the foundation issue vendors the real GenEval metadata."""


class GenEvalSchemaError(InputError):
    """A prompt record does not follow the GenEval metadata schema."""


@dataclass(frozen=True)
class GenEvalItem:
    """One ``include`` / ``exclude`` entry. ``cls`` is the JSON ``class`` field."""

    cls: str
    count: int = 1
    color: str | None = None
    position: tuple[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls, "count": self.count}
        if self.color is not None:
            out["color"] = self.color
        if self.position is not None:
            out["position"] = [self.position[0], self.position[1]]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "item") -> GenEvalItem:
        if not isinstance(data, Mapping):
            raise GenEvalSchemaError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = set(data) - {"class", "count", "color", "position"}
        if unknown:
            raise GenEvalSchemaError(f"{where}: unknown keys {sorted(unknown)}")
        name = data.get("class")
        if not isinstance(name, str) or not name.strip():
            raise GenEvalSchemaError(f"{where}: 'class' must be a non-empty string")
        count = data.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise GenEvalSchemaError(f"{where}: 'count' must be an int >= 1, got {count!r}")
        color = data.get("color")
        if color is not None and color not in COLORS:
            raise GenEvalSchemaError(f"{where}: colour {color!r} is not a GenEval colour")
        pos = data.get("position")
        position = None
        if pos is not None:
            if (
                not isinstance(pos, Sequence)
                or isinstance(pos, str)
                or len(pos) != 2
                or pos[0] not in RELATIONS
                or not isinstance(pos[1], int)
                or isinstance(pos[1], bool)
            ):
                raise GenEvalSchemaError(f"{where}: 'position' must be [relation, index], got {pos!r}")
            position = (str(pos[0]), int(pos[1]))
        return cls(cls=name, count=count, color=color, position=position)


@dataclass(frozen=True)
class GenEvalPrompt:
    """A GenEval metadata record (real or world). ``from_dict`` validates the schema."""

    tag: str
    include: tuple[GenEvalItem, ...]
    exclude: tuple[GenEvalItem, ...] = ()
    prompt: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": self.tag, "include": [it.to_dict() for it in self.include]}
        if self.exclude:
            out["exclude"] = [it.to_dict() for it in self.exclude]
        out["prompt"] = self.prompt
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, vocabulary: Iterable[str] | None = None) -> GenEvalPrompt:
        """Parse and validate; with ``vocabulary``, classes must also belong to it."""
        if not isinstance(data, Mapping):
            raise GenEvalSchemaError(f"expected an object, got {type(data).__name__}")
        unknown = set(data) - {"tag", "include", "exclude", "prompt"}
        if unknown:
            raise GenEvalSchemaError(f"unknown keys {sorted(unknown)}")
        tag = data.get("tag")
        if tag not in GENEVAL_TAGS:
            raise GenEvalSchemaError(f"unknown tag {tag!r}; known: {', '.join(GENEVAL_TAGS)}")
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise GenEvalSchemaError("'prompt' must be a non-empty string")
        inc, exc = data.get("include"), data.get("exclude", [])
        if not isinstance(inc, list) or not inc:
            raise GenEvalSchemaError("'include' must be a non-empty list")
        if not isinstance(exc, list):
            raise GenEvalSchemaError("'exclude' must be a list")
        include = tuple(GenEvalItem.from_dict(d, f"include[{i}]") for i, d in enumerate(inc))
        exclude = tuple(GenEvalItem.from_dict(d, f"exclude[{i}]") for i, d in enumerate(exc))
        for i, it in enumerate(include):
            if it.position is not None and not 0 <= it.position[1] < i:
                raise GenEvalSchemaError(f"include[{i}]: position index must point to an earlier item")
        for i, it in enumerate(exclude):
            if it.color is not None or it.position is not None:
                raise GenEvalSchemaError(f"exclude[{i}]: only 'class' and 'count' are allowed")
        out = cls(tag=tag, include=include, exclude=exclude, prompt=prompt)
        out._check_tag_structure()
        if vocabulary is not None:
            vocab = set(vocabulary)
            bad = [it.cls for it in (*include, *exclude) if it.cls not in vocab]
            if bad:
                raise GenEvalSchemaError(f"classes outside the vocabulary: {bad}")
        return out

    @classmethod
    def from_json(cls, line: str, **kw: Any) -> GenEvalPrompt:
        return cls.from_dict(json.loads(line), **kw)

    def _check_tag_structure(self) -> None:
        inc, exc, tag = self.include, self.exclude, self.tag
        n_col = sum(it.color is not None for it in inc)
        n_pos = sum(it.position is not None for it in inc)

        def need(ok: bool, what: str) -> None:
            if not ok:
                raise GenEvalSchemaError(f"tag {tag}: {what}")

        need(tag == "counting" or not exc, "'exclude' is only used by counting prompts")
        if tag == "single_object":
            need(len(inc) == 1 and n_col == 0 and n_pos == 0, "one item without colour or position")
        elif tag == "two_object":
            need(len(inc) == 2 and n_col == 0 and n_pos == 0, "two items without colour or position")
        elif tag == "counting":
            need(len(inc) == 1 and n_col == 0 and n_pos == 0, "one item without colour or position")
            need(
                len(exc) == 1 and exc[0].cls == inc[0].cls and exc[0].count == inc[0].count + 1,
                "exclude must be the same class with count + 1",
            )
        elif tag == "colors":
            need(len(inc) == 1 and n_col == 1 and n_pos == 0, "one item with a colour")
        elif tag == "position":
            need(len(inc) == 2 and n_col == 0 and inc[1].position is not None, "two items, the second placed")
        elif tag == "color_attr":
            need(len(inc) == 2 and n_col == 2 and n_pos == 0, "two items, both with colours")

    @property
    def classes(self) -> tuple[str, ...]:
        """Included classes, in order."""
        return tuple(it.cls for it in self.include)

    @property
    def colors(self) -> frozenset[str]:
        """The colours the prompt names (empty when it names none)."""
        return frozenset(it.color for it in self.include if it.color is not None)

    def requirement_ids(self) -> tuple[str, ...]:
        """Names of the prompt's requirements, as in :attr:`Verdict.requirements`."""
        ids: list[str] = []
        for i, it in enumerate(self.include):
            ids.append(f"include[{i}].count")
            if it.color is not None:
                ids.append(f"include[{i}].color")
            if it.position is not None:
                ids.append(f"include[{i}].position")
        ids.extend(f"exclude[{j}].count" for j in range(len(self.exclude)))
        return tuple(ids)


def load_geneval_jsonl(path: str | Path, *, vocabulary: Iterable[str] | None = None) -> list[GenEvalPrompt]:
    """Read and validate a GenEval metadata JSONL file (blank lines skipped)."""
    out: list[GenEvalPrompt] = []
    vocab = None if vocabulary is None else set(vocabulary)
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(GenEvalPrompt.from_json(line, vocabulary=vocab))
            except (GenEvalSchemaError, json.JSONDecodeError) as e:
                raise GenEvalSchemaError(f"{path}:{n}: {e}") from e
    return out


def write_geneval_jsonl(prompts: Iterable[GenEvalPrompt], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for p in prompts:
            fh.write(p.to_json() + "\n")


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Detection:
    """A detected object: class, colour (None when unknown) and box ``(x0, y0, x1, y1)``."""

    cls: str
    bbox: tuple[float, float, float, float]
    color: str | None = None
    score: float = 1.0


@dataclass(frozen=True)
class Verdict:
    """GenEval correctness of one image for one prompt, with per-requirement results."""

    tag: str
    correct: bool
    requirements: dict[str, bool] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    @property
    def violated(self) -> frozenset[str]:
        return frozenset(k for k, v in self.requirements.items() if not v)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "correct": self.correct,
            "requirements": dict(self.requirements),
            "reasons": list(self.reasons),
        }


def _axis_values(
    box_a: Sequence[float], box_b: Sequence[float], threshold: float = POSITION_THRESHOLD
) -> tuple[float, float]:
    ca = ((box_a[0] + box_a[2]) / 2, (box_a[1] + box_a[3]) / 2)
    cb = ((box_b[0] + box_b[2]) / 2, (box_b[1] + box_b[3]) / 2)
    da = (abs(box_a[2] - box_a[0]), abs(box_a[3] - box_a[1]))
    db = (abs(box_b[2] - box_b[0]), abs(box_b[3] - box_b[1]))
    off = (ca[0] - cb[0], ca[1] - cb[1])
    norm = math.hypot(*off)
    if norm == 0:
        return 0.0, 0.0
    rev = [math.copysign(max(abs(off[k]) - threshold * (da[k] + db[k]), 0.0), off[k]) for k in (0, 1)]
    return rev[0] / norm, rev[1] / norm


def relative_position(
    box_a: Sequence[float], box_b: Sequence[float], threshold: float = POSITION_THRESHOLD
) -> set[str]:
    """Relations that hold for box A relative to box B (see the module docstring)."""
    dx, dy = _axis_values(box_a, box_b, threshold)
    rels = set()
    if dx < -0.5:
        rels.add("left of")
    if dx > 0.5:
        rels.add("right of")
    if dy < -0.5:
        rels.add("above")
    if dy > 0.5:
        rels.add("below")
    return rels


def relation_margin(
    box_a: Sequence[float], box_b: Sequence[float], threshold: float = POSITION_THRESHOLD
) -> float:
    """How far the pair is from flipping any relation: min distance of dx, dy to +-0.5."""
    dx, dy = _axis_values(box_a, box_b, threshold)
    return min(abs(abs(dx) - 0.5), abs(abs(dy) - 0.5))


def evaluate_prompt(prompt: GenEvalPrompt, detections: Sequence[Detection]) -> Verdict:
    """GenEval correctness of ``detections`` for ``prompt`` (rule in the module docstring)."""
    req: dict[str, bool] = {}
    reasons: list[str] = []
    groups: list[list[Detection] | None] = []
    by_cls: dict[str, list[Detection]] = {}
    for d in detections:
        by_cls.setdefault(d.cls, []).append(d)
    for i, it in enumerate(prompt.include):
        found = by_cls.get(it.cls, [])
        ok_count = len(found) >= it.count
        req[f"include[{i}].count"] = ok_count
        matched = ok_count
        if not ok_count:
            reasons.append(f"expected {it.cls}>={it.count}, found {len(found)}")
        group = found
        if it.color is not None:
            group = [d for d in found if d.color == it.color]
            ok_col = len(group) >= it.count
            req[f"include[{i}].color"] = ok_col
            matched = matched and ok_col
            if not ok_col:
                reasons.append(f"expected {it.color} {it.cls}>={it.count}, found {len(group)}")
        if it.position is not None:
            rel, j = it.position
            target = groups[j]
            ok_pos = False
            if matched and target:
                ok_pos = any(rel in relative_position(a.bbox, b.bbox) for a in group for b in target)
            req[f"include[{i}].position"] = ok_pos
            matched = matched and ok_pos
            if not ok_pos:
                reasons.append(f"expected {it.cls} {rel} {prompt.include[j].cls}")
        groups.append(group if matched else None)
    for j, it in enumerate(prompt.exclude):
        n = len(by_cls.get(it.cls, []))
        ok = n < it.count
        req[f"exclude[{j}].count"] = ok
        if not ok:
            reasons.append(f"expected {it.cls}<{it.count}, found {n}")
    return Verdict(tag=prompt.tag, correct=all(req.values()), requirements=req, reasons=tuple(reasons))


def color_presence(prompt: GenEvalPrompt, detections: Iterable[Any]) -> bool | None:
    """Every colour ``prompt`` names is on some detected object (any shape, objects with a
    ``color``); ``None`` when the prompt names no colour. Shape-agnostic: it credits colour control
    alone."""
    wanted = prompt.colors
    return None if not wanted else wanted <= {d.color for d in detections}


def score_geneval(verdicts: Iterable[Verdict | Mapping[str, Any]]) -> dict[str, Any]:
    """Per-tag accuracy and overall = mean of the per-tag accuracies (GenEval's definition).

    ``verdicts`` are :class:`Verdict` objects or mappings with ``tag`` and ``correct`` (e.g.
    lines of GenEval's own results file). Returns ``{"per_tag": {tag: acc}, "overall": float,
    "n_per_tag": {tag: n}, "n": total}``; tags are listed in GenEval's order, absent tags are
    left out (and do not enter the mean).
    """
    hits: dict[str, list[bool]] = {}
    for v in verdicts:
        tag, correct = (v.tag, v.correct) if isinstance(v, Verdict) else (v["tag"], v["correct"])
        hits.setdefault(str(tag), []).append(bool(correct))
    order = [t for t in GENEVAL_TAGS if t in hits] + sorted(t for t in hits if t not in GENEVAL_TAGS)
    per_tag = {t: sum(hits[t]) / len(hits[t]) for t in order}
    overall = sum(per_tag.values()) / len(per_tag) if per_tag else float("nan")
    return {
        "per_tag": per_tag,
        "overall": overall,
        "n_per_tag": {t: len(hits[t]) for t in order},
        "n": sum(len(h) for h in hits.values()),
    }
