"""FIRM's "plan-then-score" generation curation (docs/papers/firm.md §2), with the quality prompt.

Stages, each one batch of requests through the annotator (cached, resumable):

1. plan: the planner turns every distinct T2I prompt into a Markdown checklist
   (:func:`firm.prompts.gen.planner_messages`); quality: the quality prompt scores every image
   (independent of the plan, so it is sent in the same stage);
2. evaluate: the evaluator gets image + prompt + plan and ends with ``\\boxed{X}``.

Every answer is validated (:mod:`firm.curation.validate`); failures go to ``rejected.jsonl``.

World source (:func:`sample_gen_items`): GenEval-style world prompts, scenes sampled to match,
partly match or miss them (``mode_weights``), drawn by several simulated "generators" with
different defect habits (:data:`GENERATOR_PROFILES`, FIRM's point of mixing generators so the
reward model does not learn one generator's artifacts), all at one world level (``level``: a
:mod:`common.world.levels` name, ``None`` = ``full``). Ground truth travels in the requests'
side channel for the world oracle:

* the plan is derived from the prompt's GenEval requirements (:func:`plan_for_prompt`);
* the alignment score follows FIRM's 1-5 rubric as the world defines it,
  :func:`common.world.benchmarks.truth.generation_level` (the same truth FIRM-Bench-Gen's
  simulated raters start from, so curated data and benchmark agree on what a 4 is);
* quality sub-scores come from the image's defects (:func:`common.world.defects.quality_scores`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from common.annotators.oracle import oracle_meta
from common.annotators.types import Annotator, ChatRequest
from common.world.benchmarks.truth import generation_level
from common.world.captions import describe
from common.world.defects import DEFECT_KINDS, NO_DEFECTS, Defects, prepare_scene, quality_scores
from common.world.geneval import GenEvalPrompt, relative_position
from common.world.prompts import sample_prompts
from common.world.render import render
from common.world.sampling import MODES, sample_scene, scene_detections, truth_verdict
from common.world.scene import Scene
from common.world.vocab import GENEVAL_TAGS, NUMBER_WORDS, SHAPE_PLURALS
from firm.curation.assemble import ProgressFn, RejectionLog, annotate
from firm.curation.validate import validate_boxed_rating, validate_plan, validate_quality
from firm.prompts.gen import PLAN_GROUPS, evaluator_messages, planner_messages, quality_messages

__all__ = [
    "GENERATOR_PROFILES",
    "GenItem",
    "GenTruth",
    "alignment_truth",
    "curate_gen",
    "plan_for_prompt",
    "sample_gen_items",
]

GENERATOR_PROFILES: dict[str, dict[str, Any]] = {
    "crisp": {"p_clean": 0.85, "kinds": DEFECT_KINDS, "max_severity": 1},
    "soft": {"p_clean": 0.35, "kinds": ("blur",), "max_severity": 3},
    "grainy": {"p_clean": 0.35, "kinds": ("noise", "blotches"), "max_severity": 3},
    "glitchy": {"p_clean": 0.30, "kinds": ("melt", "cutoff", "blotches"), "max_severity": 3},
}
"""Simulated generators: probability of a clean image, defect kinds they produce, max severity."""

DEFAULT_MODE_WEIGHTS: dict[str, float] = {"match": 0.44, "partial": 0.50, "miss": 0.06}

_SEVERITY_WORDS = ("no", "slight", "noticeable", "strong")
_DEFECT_PHRASES = {
    "blur": "blur that softens the edges",
    "noise": "grainy pixel noise",
    "blotches": "dark stains on the picture",
    "cutoff": "an object cut off at the border",
    "melt": "objects that look melted and deformed",
}


@dataclass(frozen=True)
class GenTruth:
    """What the world oracle needs to answer a generation item's three prompts."""

    plan: str
    groups: dict[str, list[tuple[str, bool, str]]]
    score: int
    summary: str
    quality: dict[str, int]
    quality_reasoning: str
    description: str = ""
    """The drawn scene's caption (:func:`common.world.captions.describe`): what the image shows."""


@dataclass
class GenItem:
    """One (prompt, image) to annotate. ``truth`` is None for images without ground truth."""

    id: str
    prompt: str
    image: Image.Image
    tag: str = ""
    generator: str = ""
    truth: GenTruth | None = None
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- world truth


def _count_words(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else "many"


def _plural(shape: str, n: int) -> str:
    return shape if n == 1 else SHAPE_PLURALS[shape]


def plan_for_prompt(prompt: GenEvalPrompt) -> dict[str, list[tuple[str, str]]]:
    """The analysis plan of a GenEval-style prompt: ``{group: [(question, requirement key)]}``.

    Requirement keys are those of :func:`common.world.geneval.evaluate_prompt`. Groups follow
    :data:`firm.prompts.gen.PLAN_GROUPS`; [Negative Constraints] only when the prompt excludes.
    """
    main: list[tuple[str, str]] = []
    attr: list[tuple[str, str]] = []
    comp: list[tuple[str, str]] = []
    neg: list[tuple[str, str]] = []
    for i, it in enumerate(prompt.include):
        if it.count == 1:
            main.append((f"Is there a {it.cls} in the image?", f"include[{i}].count"))
        else:
            q = f"Are there at least {_count_words(it.count)} {SHAPE_PLURALS[it.cls]} in the image?"
            main.append((q, f"include[{i}].count"))
        if it.color is not None:
            attr.append((f"Is the {it.cls} {it.color}?", f"include[{i}].color"))
        if it.position is not None:
            rel, j = it.position
            comp.append((f"Is the {it.cls} {rel} the {prompt.include[j].cls}?", f"include[{i}].position"))
    for j, it in enumerate(prompt.exclude):
        n = it.count - 1
        neg.append((f"Are there no more than {_count_words(n)} {_plural(it.cls, n)}?", f"exclude[{j}].count"))
    groups = dict(zip(PLAN_GROUPS[:3], (main, attr, comp), strict=True))
    if neg:
        groups[PLAN_GROUPS[3]] = neg
    return groups


def render_plan(groups: Mapping[str, Sequence[tuple[str, Any]]]) -> str:
    """The Markdown checklist of ``groups`` (``- None`` under an empty group)."""
    lines: list[str] = []
    for group, items in groups.items():
        lines.append(f"[{group}]")
        lines += [f"- {q}" for q, _ in items] if items else ["- None"]
    return "\n".join(lines)


def alignment_truth(prompt: GenEvalPrompt, scene: Scene) -> int:
    """FIRM's 1-5 instruction-following truth of the drawn ``scene`` for ``prompt``.

    Delegates to :func:`common.world.benchmarks.truth.generation_level` (one definition of the
    world's generation rubric for curation and FIRM-Bench alike).
    """
    return int(generation_level(prompt, scene))


def _note(prompt: GenEvalPrompt, scene: Scene, key: str) -> str:
    """What the image shows about requirement ``key`` (words only: no digits)."""
    kind, _, what = key.partition(".")
    idx = int(kind[kind.index("[") + 1 : kind.index("]")])
    it = prompt.exclude[idx] if kind.startswith("exclude") else prompt.include[idx]
    found = scene.count(it.cls)
    if what == "count":
        return f"I see {_count_words(found)} {_plural(it.cls, found)}." if found else f"I see no {it.cls}."
    if what == "color":
        colours = sorted({o.color for o in scene.objects if o.shape == it.cls})
        return f"The {it.cls} is {' and '.join(colours)}." if colours else f"There is no {it.cls} to check."
    rel, j = it.position  # type: ignore[misc]
    other = prompt.include[j].cls
    if not found or not scene.count(other):
        return "One of the two objects is missing, so the relation cannot hold."
    return f"The {it.cls} is {'' if rel in _relations(scene, it.cls, other) else 'not '}{rel} the {other}."


def _relations(scene: Scene, a: str, b: str) -> set[str]:
    dets = scene_detections(scene)
    out: set[str] = set()
    for da in (d for d in dets if d.cls == a):
        for db in (d for d in dets if d.cls == b):
            out |= relative_position(da.bbox, db.bbox)
    return out


def _quality_reasoning(defects: Defects) -> str:
    if defects.clean:
        return "The image is sharp and clean, and every object is complete and well formed."
    parts = [
        f"{_SEVERITY_WORDS[getattr(defects, k)]} {_DEFECT_PHRASES[k]}"
        for k in DEFECT_KINDS
        if getattr(defects, k)
    ]
    return "The image shows " + "; ".join(parts) + "."


def world_truth(prompt: GenEvalPrompt, scene: Scene, defects: Defects) -> GenTruth:
    """The oracle's truth for a world image (``scene`` is the scene actually drawn)."""
    verdict = truth_verdict(prompt, scene)
    plan = plan_for_prompt(prompt)
    groups: dict[str, list[tuple[str, bool, str]]] = {
        g: [(q, bool(verdict.requirements[k]), _note(prompt, scene, k)) for q, k in items]
        for g, items in plan.items()
    }
    failed = [q for items in groups.values() for q, ok, _ in items if not ok]
    summary = (
        "Every item of the plan is satisfied."
        if not failed
        else "Not satisfied: " + " ".join(q.replace("?", ".") for q in failed)
    )
    q = quality_scores(defects)
    return GenTruth(
        plan=render_plan(plan),
        groups=groups,
        score=alignment_truth(prompt, scene),
        summary=summary,
        quality={"aesthetics": q["aesthetics"], "quality": q["quality"], "structure_texture": q["structure"]},
        quality_reasoning=_quality_reasoning(defects),
        description=describe(scene),
    )


def _sample_defects(profile: Mapping[str, Any], rng: np.random.Generator) -> Defects:
    if rng.random() < float(profile["p_clean"]):
        return NO_DEFECTS
    kinds = tuple(profile["kinds"])
    k = int(rng.integers(1, min(2, len(kinds)) + 1))
    chosen = [kinds[i] for i in rng.choice(len(kinds), size=k, replace=False)]
    return Defects(**{c: int(rng.integers(1, int(profile["max_severity"]) + 1)) for c in chosen})


def sample_gen_items(
    n: int,
    seed: int,
    *,
    tags: Sequence[str] = GENEVAL_TAGS,
    mode_weights: Mapping[str, float] | None = None,
    generators: Sequence[str] | None = None,
    canvas: int = 128,
    level: str | None = None,
) -> list[GenItem]:
    """``n`` world (prompt, image) items at world ``level`` with ground truth; deterministic in
    ``seed``."""
    weights = dict(mode_weights or DEFAULT_MODE_WEIGHTS)
    unknown = set(weights) - set(MODES)
    if unknown:
        raise ValueError(f"unknown modes {sorted(unknown)}; known: {MODES}")
    modes = list(weights)
    p = np.asarray([weights[m] for m in modes], dtype=float)
    p = p / p.sum()
    gens = list(generators or GENERATOR_PROFILES)
    rng = np.random.default_rng([seed, 0x6E4])
    prompts = sample_prompts(n, rng, tags=list(tags), level=level)
    items = []
    for i, prompt in enumerate(prompts):
        mode = modes[int(rng.choice(len(modes), p=p))]
        gen = gens[int(rng.integers(len(gens)))]
        sampled = sample_scene(prompt, rng, mode=mode, canvas=canvas, level=level)
        defects = _sample_defects(GENERATOR_PROFILES[gen], rng)
        drawn = prepare_scene(sampled.scene, defects)
        items.append(
            GenItem(
                id=f"gen-{seed}-{i:06d}",
                prompt=prompt.prompt,
                image=render(sampled.scene, defects=defects),
                tag=prompt.tag,
                generator=gen,
                truth=world_truth(prompt, drawn, defects),
                info={"mode": mode, "geneval": prompt.to_dict(), "defects": defects.to_dict()},
            )
        )
    return items


# ----------------------------------------------------------------------------- pipeline


def _plan_request(item: GenItem) -> ChatRequest:
    meta = oracle_meta("text", text=item.truth.plan) if item.truth else {}
    return ChatRequest(planner_messages(item.prompt), meta={**meta, "id": item.id, "stage": "plan"})


def _quality_request(item: GenItem) -> ChatRequest:
    meta = {}
    if item.truth is not None:
        meta = oracle_meta(
            "json_scores", scores=item.truth.quality, reasoning=item.truth.quality_reasoning, lo=1, hi=5
        )
    return ChatRequest(quality_messages(item.image), meta={**meta, "id": item.id, "stage": "quality"})


def _eval_request(item: GenItem, plan: str, describe_image: bool = False) -> ChatRequest:
    meta = {}
    if item.truth is not None:
        groups = {g: [list(t) for t in items] for g, items in item.truth.groups.items()}
        described = {"description": item.truth.description} if describe_image else {}
        meta = oracle_meta(
            "boxed_rating",
            score=item.truth.score,
            groups=groups,
            summary=item.truth.summary,
            lo=1,
            hi=5,
            **described,
        )
    messages = evaluator_messages(item.prompt, plan, item.image, describe_first=describe_image)
    return ChatRequest(messages, meta={**meta, "id": item.id, "stage": "eval"})


def curate_gen(
    items: Sequence[GenItem],
    annotator: Annotator,
    rejections: RejectionLog,
    *,
    chunk_size: int = 64,
    progress: ProgressFn | None = None,
    describe_image: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Annotate ``items``; returns validated records ``{"instruction": [...], "quality": [...]}``.
    ``describe_image``: the evaluator says what the image shows before checking the plan.

    Rejected annotations are logged to ``rejections`` under the datasets ``instruction`` and
    ``quality`` (a rejected plan drops the item from ``instruction``).
    """
    items = list(items)
    first = [_plan_request(it) for it in items] + [_quality_request(it) for it in items]
    answers = annotate(annotator, first, desc="plan + quality", chunk_size=chunk_size, progress=progress)
    plan_answers, quality_answers = answers[: len(items)], answers[len(items) :]

    quality_records = []
    for item, resp in zip(items, quality_answers, strict=True):
        v = validate_quality(resp.text) if resp.ok else None
        if v is None or not v.ok:
            reason = "request_error" if v is None else v.reason
            rejections.add("quality", item.id, "quality", reason, resp.error or resp.text)
            continue
        quality_records.append(_quality_record(item, resp.text, v.value, v.reasoning))

    planned: list[tuple[GenItem, str]] = []
    for item, resp in zip(items, plan_answers, strict=True):
        v = validate_plan(resp.text) if resp.ok else None
        if v is None or not v.ok:
            reason = "request_error" if v is None else v.reason
            rejections.add("instruction", item.id, "plan", reason, resp.error or resp.text)
            continue
        planned.append((item, v.value))

    eval_requests = [_eval_request(item, plan, describe_image) for item, plan in planned]
    eval_answers = annotate(
        annotator, eval_requests, desc="evaluate", chunk_size=chunk_size, progress=progress
    )
    records = []
    for (item, plan), resp in zip(planned, eval_answers, strict=True):
        v = validate_boxed_rating(resp.text) if resp.ok else None
        if v is None or not v.ok:
            reason = "request_error" if v is None else v.reason
            rejections.add("instruction", item.id, "evaluate", reason, resp.error or resp.text)
            continue
        records.append(_instruction_record(item, plan, resp.text, v.value, v.reasoning or ""))
    return {"instruction": records, "quality": quality_records}


def _gt(item: GenItem, name: str) -> int | None:
    if item.truth is None:
        return None
    return int(item.truth.score if name == "score" else item.truth.quality[name])


def _instruction_record(
    item: GenItem, plan: str, response: str, score: int, reasoning: str
) -> dict[str, Any]:
    return {
        "id": item.id,
        "image": item.image,
        "prompt": item.prompt,
        "tag": item.tag,
        "generator": item.generator,
        "plan": plan,
        "response": response,
        "reasoning": reasoning,
        "score": int(score),
        "gt_score": _gt(item, "score"),
        "info": json.dumps(item.info, sort_keys=True),
    }


def _quality_record(
    item: GenItem, response: str, scores: Mapping[str, int], reasoning: str | None
) -> dict[str, Any]:
    return {
        "id": item.id,
        "image": item.image,
        "prompt": item.prompt,
        "generator": item.generator,
        "response": response,
        "reasoning": reasoning or "",
        "aesthetics": int(scores["aesthetics"]),
        "quality": int(scores["quality"]),
        "structure": int(scores["structure"]),
        "gt_aesthetics": _gt(item, "aesthetics"),
        "gt_quality": _gt(item, "quality"),
        "gt_structure": _gt(item, "structure_texture"),
        "info": json.dumps(item.info, sort_keys=True),
    }


def instruction_features() -> Any:
    """HF features of the ``instruction`` subset."""
    from datasets import Features, Image, Value

    return Features(
        {
            "id": Value("string"),
            "image": Image(),
            "prompt": Value("string"),
            "tag": Value("string"),
            "generator": Value("string"),
            "plan": Value("string"),
            "response": Value("string"),
            "reasoning": Value("string"),
            "score": Value("int8"),
            "gt_score": Value("int8"),
            "info": Value("string"),
        }
    )


def quality_features() -> Any:
    """HF features of the ``quality`` subset."""
    from datasets import Features, Image, Value

    cols: dict[str, Any] = {
        "id": Value("string"),
        "image": Image(),
        "prompt": Value("string"),
        "generator": Value("string"),
        "response": Value("string"),
        "reasoning": Value("string"),
    }
    for name in ("aesthetics", "quality", "structure", "gt_aesthetics", "gt_quality", "gt_structure"):
        cols[name] = Value("int8")
    cols["info"] = Value("string")
    return Features(cols)
