"""Ground-truth judgments of (prompt, image) pairs in the embedded world.

Every function reads the *drawn* scene (``defects.prepare_scene(scene, defects)``: cut-off moves
an object) and, where quality matters, the defects. Nothing here looks at pixels.

T2I-Eval aspects (0-10, :func:`t2i_eval_truth`):
    intrinsic     attribute consistency of the prompt's objects: the mean over requirement
                  parts of how much of each holds. An ``include`` item of count ``n`` with ``f``
                  objects of its class gives ``min(f, n) / n`` (times ``n / f`` if the prompt's
                  ``exclude`` says ``f`` is too many); an item with a colour adds ``min(g, n) / n``
                  with ``g`` objects of the class in that colour. Times 10.
    relationship  position prompts: 10 if the relation holds (GenEval's rule), else
                  ``6 * (1 + cos) / 2`` with ``cos`` the cosine between the actual and the
                  requested direction of B from A (0 when an object is missing); other prompts:
                  10 x the share of included classes present (the composition holds together).
    appearance    ``10 * (mean(aesthetics, quality, structure) - 1) / 4`` from
                  :func:`common.world.defects.quality_scores` (10 for a clean image).
    overall       ``0.45 intrinsic + 0.25 relationship + 0.30 appearance``.

FIRM generation rubric (1-5, :func:`generation_level`), from the GenEval requirements: a class is
*present* with at least one object; *completeness* is the mean over ``include`` items of
``min(found, count) / count``; "details" are the other violated requirements (a wrong count of a
present class, a colour, a relation, an excluded count), not counting those that only fail
because an object is missing.
    5 every requirement holds.
    4 every class present, one detail off: a colour, or a count off by one.
    3 every class present, but a relation wrong, a count off by more than one, or two or more
      details off; or a class missing with nothing else wrong (completeness >= 0.5).
    2 most subjects missing or wrong: completeness below 0.5 (e.g. one of four requested
      circles), or a class missing and a detail off.
    1 none of the prompt's classes (an irrelevant image).

TIFA faithfulness (1-5, :func:`faithfulness_truth`): ``1 + 4 * (0.55 intrinsic + 0.35
relationship + 0.10 appearance) / 10`` (annotators of faithfulness are swayed a little by quality).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from common.world.defects import as_defects, quality_scores
from common.world.geneval import GenEvalPrompt, Verdict, relative_position
from common.world.sampling import truth_verdict
from common.world.scene import Scene
from common.world.shapes import object_bbox

ASPECTS: tuple[str, ...] = ("appearance", "intrinsic", "relationship", "overall")
"""T2I-Eval-Bench's aspects, in its order."""

OVERALL_WEIGHTS: dict[str, float] = {"intrinsic": 0.45, "relationship": 0.25, "appearance": 0.30}
FAITHFULNESS_WEIGHTS: dict[str, float] = {"intrinsic": 0.55, "relationship": 0.35, "appearance": 0.10}

_DIRECTIONS: dict[str, tuple[float, float]] = {
    "left of": (-1.0, 0.0),
    "right of": (1.0, 0.0),
    "above": (0.0, -1.0),
    "below": (0.0, 1.0),
}


def intrinsic_truth(prompt: GenEvalPrompt, scene: Scene) -> float:
    """Intrinsic-attribute consistency, 0-10 (module docstring)."""
    parts: list[float] = []
    too_many = {it.cls: it.count for it in prompt.exclude}
    for it in prompt.include:
        found = [o for o in scene.objects if o.shape == it.cls]
        f, n = len(found), it.count
        part = min(f, n) / n
        if it.cls in too_many and f >= too_many[it.cls]:
            part *= n / f
        parts.append(part)
        if it.color is not None:
            g = sum(o.color == it.color for o in found)
            parts.append(min(g, n) / n)
    return 10.0 * sum(parts) / len(parts)


def relationship_truth(prompt: GenEvalPrompt, scene: Scene) -> float:
    """Relationship-attribute consistency, 0-10 (module docstring)."""
    present = [any(o.shape == it.cls for o in scene.objects) for it in prompt.include]
    positioned = [(i, it) for i, it in enumerate(prompt.include) if it.position is not None]
    if not positioned:
        return 10.0 * sum(present) / len(present)
    scores = []
    for _, it in positioned:
        assert it.position is not None
        rel, j = it.position
        a_objs = [o for o in scene.objects if o.shape == prompt.include[j].cls]
        b_objs = [o for o in scene.objects if o.shape == it.cls]
        if not (a_objs and b_objs):
            scores.append(0.0)
            continue
        if any(rel in relative_position(object_bbox(b), object_bbox(a)) for a in a_objs for b in b_objs):
            scores.append(10.0)
            continue
        want = _DIRECTIONS[rel]
        best = -1.0
        for a in a_objs:
            for b in b_objs:
                dx, dy = b.x - a.x, b.y - a.y
                norm = math.hypot(dx, dy) or 1.0
                best = max(best, (dx * want[0] + dy * want[1]) / norm)
        scores.append(6.0 * (1.0 + best) / 2.0)
    return sum(scores) / len(scores)


def appearance_truth(defects: object) -> float:
    """Appearance quality, 0-10, from FIRM's three quality sub-scores of the defects."""
    q = quality_scores(as_defects(defects))
    return 10.0 * (sum(q.values()) / len(q) - 1.0) / 4.0


def t2i_eval_truth(prompt: GenEvalPrompt, scene: Scene, defects: object = None) -> dict[str, float]:
    """The four T2I-Eval aspects, 0-10, for the drawn ``scene`` with ``defects``."""
    out = {
        "appearance": appearance_truth(defects),
        "intrinsic": intrinsic_truth(prompt, scene),
        "relationship": relationship_truth(prompt, scene),
    }
    out["overall"] = sum(w * out[k] for k, w in OVERALL_WEIGHTS.items())
    return out


def faithfulness_truth(prompt: GenEvalPrompt, scene: Scene, defects: object = None) -> float:
    """TIFA-style faithfulness, 1-5 (continuous)."""
    t = t2i_eval_truth(prompt, scene, defects)
    return 1.0 + 4.0 * sum(w * t[k] for k, w in FAITHFULNESS_WEIGHTS.items()) / 10.0


def generation_level(prompt: GenEvalPrompt, scene: Scene) -> int:
    """FIRM's generation (instruction-following) score 1-5 (module docstring)."""
    counts = {it.cls: sum(o.shape == it.cls for o in scene.objects) for it in prompt.include}
    return generation_level_of(prompt, truth_verdict(prompt, scene), counts)


def generation_level_of(prompt: GenEvalPrompt, verdict: Verdict, counts: Mapping[str, int]) -> int:
    """:func:`generation_level` from a GenEval ``verdict`` and the number of objects of each
    class the prompt includes (``counts``), however they were found: the scene's objects (the
    truth) or the checker's detections (the RL oracle, :mod:`firm.rl.critics`)."""
    if verdict.correct:
        return 5
    counts = {it.cls: int(counts.get(it.cls, 0)) for it in prompt.include}
    present = [counts[it.cls] > 0 for it in prompt.include]
    share = sum(present) / len(present)
    if share == 0:
        return 1
    parts = [min(counts[it.cls], it.count) / it.count for it in prompt.include]
    if sum(parts) / len(parts) < 0.5:
        return 2
    details = 0
    critical = False
    for req in verdict.violated:
        kind, _, attr = req.partition(".")
        idx = int(kind[kind.index("[") + 1 : kind.index("]")])
        if kind.startswith("include"):
            it = prompt.include[idx]
            if not all(present) and (counts[it.cls] == 0 or attr == "position"):
                continue  # a missing subject, or a consequence of one: not a detail
            details += 1
            if attr == "count" and abs(counts[it.cls] - it.count) > 1:
                critical = True
            if attr == "position":
                critical = True
        else:
            ex = prompt.exclude[idx]
            details += 1
            base = next((it.count for it in prompt.include if it.cls == ex.cls), ex.count - 1)
            if counts.get(ex.cls, 0) - base > 1:
                critical = True
    if share == 1.0:
        if details <= 1 and not critical:
            return 4
        return 3
    if share >= 0.5:
        return 3 if details == 0 else 2
    return 2
