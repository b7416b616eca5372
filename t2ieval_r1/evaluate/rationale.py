"""Rationale accuracy: check the facts a rationale states against the item's scene.

Facts come from :func:`t2ieval_r1.evaluate.facts.parse_rationale`; the scene is the world's
ground truth (``meta["scene"]`` of a world corpus row, :class:`common.world.scene.Scene`). Rules
(``M(ref)`` = scene objects with the reference's shape, and its colour and grid cells where
stated; cells from :func:`common.world.captions.cell_of` of the object's centre):

* ``object``, new mention (``a red circle ...``): the new mentions of one rationale are matched
  one-to-one with scene objects (maximum bipartite matching, mention ``f`` may take an object of
  ``M(f)``); a mention is true iff it is matched. Two mentions of "a red circle" with one red
  circle in the image: one true, one false.
* ``object``, definite mention (``the red circle``): true iff ``M(ref)`` is not empty.
* ``count``: true iff ``|M(ref)|`` equals the stated number (position ignored).
* ``absence``: true iff ``M(ref)`` is empty.
* ``relation``: true iff some ``a`` in ``M(subject)`` and ``b`` in ``M(other)``, ``a`` not ``b``,
  satisfy GenEval's relation rule (:func:`common.world.geneval.relative_position` on the exact
  boxes of :func:`common.world.shapes.object_bbox`).
* ``empty``: true iff the scene has no object.

Per rationale (:class:`RationaleCheck`): facts, true facts, unparseable and other clauses, and
the *object recall* (scene objects matched by a new mention / scene objects). Over a set of
rationales (:func:`summarize_checks`), with ``F`` = all facts, ``T`` = true facts, ``U`` =
unparseable clauses:

* ``accuracy`` = ``T / F`` (micro-average: every fact counts once; ``None`` when ``F = 0``);
* ``accuracy_macro`` = mean over rationales with at least one fact of their own ``T / F``;
* ``facts_per_rationale`` = ``F / n``;
* ``unparseable_share`` = ``U / (F + U)``: the share of stated things the parser could not read;
* ``per_kind``: ``T / F`` and ``F`` per fact kind; ``object_recall``: micro-average over scenes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.world.captions import cell_of
from common.world.geneval import relative_position
from common.world.scene import Scene, SceneObject
from common.world.shapes import object_bbox
from t2ieval_r1.evaluate.facts import FACT_KINDS, Fact, ObjectRef, ParsedRationale, parse_rationale

__all__ = ["RationaleCheck", "check_facts", "check_rationale", "scene_from_meta", "summarize_checks"]


def _matches(ref: ObjectRef, obj: SceneObject) -> bool:
    if obj.shape != ref.shape or (ref.color is not None and obj.color != ref.color):
        return False
    return ref.cells is None or cell_of(obj.x, obj.y) in ref.cells


def _candidates(ref: ObjectRef, scene: Scene) -> list[int]:
    return [i for i, o in enumerate(scene.objects) if _matches(ref, o)]


def _max_matching(options: Sequence[Sequence[int]]) -> dict[int, int]:
    """Maximum bipartite matching (augmenting paths): mention index -> object index."""
    owner: dict[int, int] = {}  # object -> mention

    def augment(m: int, seen: set[int]) -> bool:
        for obj in options[m]:
            if obj in seen:
                continue
            seen.add(obj)
            if obj not in owner or augment(owner[obj], seen):
                owner[obj] = m
                return True
        return False

    for m in range(len(options)):
        augment(m, set())
    return {m: obj for obj, m in owner.items()}


def _relation_holds(fact: Fact, scene: Scene) -> bool:
    assert fact.subject is not None and fact.other is not None and fact.relation is not None
    for i in _candidates(fact.subject, scene):
        for j in _candidates(fact.other, scene):
            if i != j:
                rels = relative_position(object_bbox(scene.objects[i]), object_bbox(scene.objects[j]))
                if fact.relation in rels:
                    return True
    return False


@dataclass
class RationaleCheck:
    """The facts of one rationale with their truth values (see the module docstring)."""

    facts: list[Fact] = field(default_factory=list)
    truth: list[bool] = field(default_factory=list)
    n_unparseable: int = 0
    n_other: int = 0
    n_scene_objects: int = 0
    n_objects_recalled: int = 0

    @property
    def n_facts(self) -> int:
        return len(self.facts)

    @property
    def n_true(self) -> int:
        return sum(self.truth)

    @property
    def accuracy(self) -> float | None:
        """``T / F`` of this rationale, ``None`` without facts."""
        return self.n_true / self.n_facts if self.facts else None

    def to_dict(self) -> dict[str, Any]:
        """Counts and each fact with its verdict (for predictions.jsonl)."""
        return {
            "n_facts": self.n_facts,
            "n_true": self.n_true,
            "n_unparseable": self.n_unparseable,
            "n_other": self.n_other,
            "n_scene_objects": self.n_scene_objects,
            "n_objects_recalled": self.n_objects_recalled,
            "facts": [
                {"kind": f.kind, "text": f.text, "true": t}
                for f, t in zip(self.facts, self.truth, strict=True)
            ],
        }


def check_facts(parsed: ParsedRationale, scene: Scene) -> RationaleCheck:
    """Truth value of every fact of ``parsed`` in ``scene`` (rules in the module docstring)."""
    truth: list[bool | None] = [None] * len(parsed.facts)
    new_mentions = [k for k, f in enumerate(parsed.facts) if f.kind == "object" and f.new]
    options = [_candidates(parsed.facts[k].subject, scene) for k in new_mentions]  # type: ignore[arg-type]
    matched = _max_matching(options)
    for m, k in enumerate(new_mentions):
        truth[k] = m in matched
    for k, fact in enumerate(parsed.facts):
        if truth[k] is not None:
            continue
        if fact.kind == "object":
            assert fact.subject is not None
            truth[k] = bool(_candidates(fact.subject, scene))
        elif fact.kind == "count":
            assert fact.subject is not None
            truth[k] = len(_candidates(fact.subject, scene)) == fact.count
        elif fact.kind == "absence":
            assert fact.subject is not None
            truth[k] = not _candidates(fact.subject, scene)
        elif fact.kind == "relation":
            truth[k] = _relation_holds(fact, scene)
        elif fact.kind == "empty":
            truth[k] = not scene.objects
        else:  # pragma: no cover - FACT_KINDS is closed
            raise ValueError(f"unknown fact kind {fact.kind!r}")
    return RationaleCheck(
        facts=list(parsed.facts),
        truth=[bool(t) for t in truth],
        n_unparseable=len(parsed.unparseable),
        n_other=len(parsed.other),
        n_scene_objects=len(scene.objects),
        n_objects_recalled=len(matched),
    )


def check_rationale(text: str | None, scene: Scene) -> RationaleCheck:
    """Parse ``text`` and check its facts against ``scene``."""
    return check_facts(parse_rationale(text), scene)


def scene_from_meta(meta: Mapping[str, Any] | None) -> Scene | None:
    """The scene of a corpus row's ``meta`` (``meta["scene"]`` as a dict or JSON), or ``None``."""
    import json

    if not meta:
        return None
    scene = meta.get("scene")
    if isinstance(scene, str):
        try:
            scene = json.loads(scene)
        except json.JSONDecodeError:
            return None
    if not isinstance(scene, Mapping) or "objects" not in scene:
        return None
    try:
        return Scene.from_dict(dict(scene))
    except (TypeError, ValueError, KeyError):
        return None


def summarize_checks(checks: Sequence[RationaleCheck]) -> dict[str, Any]:
    """Rationale accuracy over ``checks`` (formulas in the module docstring)."""
    n = len(checks)
    n_facts = sum(c.n_facts for c in checks)
    n_true = sum(c.n_true for c in checks)
    n_unp = sum(c.n_unparseable for c in checks)
    per_rationale = [a for c in checks if (a := c.accuracy) is not None]
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in FACT_KINDS:
        verdicts = [t for c in checks for f, t in zip(c.facts, c.truth, strict=True) if f.kind == kind]
        per_kind[kind] = {"n": len(verdicts), "accuracy": sum(verdicts) / len(verdicts) if verdicts else None}
    n_objects = sum(c.n_scene_objects for c in checks)
    return {
        "n_rationales": n,
        "n_with_facts": len(per_rationale),
        "n_facts": n_facts,
        "n_true": n_true,
        "n_unparseable": n_unp,
        "n_other": sum(c.n_other for c in checks),
        "accuracy": n_true / n_facts if n_facts else None,
        "accuracy_macro": sum(per_rationale) / len(per_rationale) if per_rationale else None,
        "facts_per_rationale": n_facts / n if n else None,
        "unparseable_share": n_unp / (n_facts + n_unp) if (n_facts + n_unp) else None,
        "object_recall": sum(c.n_objects_recalled for c in checks) / n_objects if n_objects else None,
        "per_kind": per_kind,
    }
