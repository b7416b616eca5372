"""FIRM's "difference-first" edit curation (docs/papers/firm.md §2), with FIRM-style rebalancing.

Stages, each one batch of requests through the annotator (cached, resumable):

1. difference report: two passes over (source, edited): "obvious" and "detailed"
   (:func:`firm.prompts.edit.difference_messages`), merged by :func:`firm.prompts.edit.merge_report`;
2. scoring: execution and consistency rubrics on (report, both images, instruction), each
   answered as JSON ``{"reasoning", "score"}``.

Rebalancing (FIRM rewrote part of the instructions on purpose because low scores were scarce):
a share ``mismatch_share`` of the examples gets its instruction rewritten before annotation, by
``swap`` (the instruction of another example, about another edit) or ``perturb`` (the same
operation with a wrong value: another colour, region, shape, size direction or target). Those
examples are scored for execution against the rewritten instruction and are left out of the
consistency subset (what changed is unchanged, only the request is wrong: consistency would
judge an instruction the editor never received).

World source (:func:`sample_edit_items`, drawn by :func:`common.world.edits.sample_edit_sources`):
a source scene, a random edit (:func:`common.world.edits.sample_edit`), and an execution by a
simulated editor of a given quality (:func:`common.world.edits.make_example`, variants drawn with
``execution_weights`` / ``consistency_weights``), all at one world level (``level``: a
:mod:`common.world.levels` name, ``None`` = ``full``; prompts, scenes, edits, sloppy results and
perturbed shapes stay in it).
Ground truth comes from the scene difference:
:func:`common.world.edits.execution_score`, :func:`~common.world.edits.consistency_score` and
:func:`~common.world.edits.difference_report` (the two passes the oracle answers with).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

import numpy as np
from PIL import Image

from common.annotators.oracle import oracle_meta
from common.annotators.types import Annotator, ChatRequest
from common.world.captions import describe
from common.world.edits import (
    CONSISTENCY_VARIANTS,
    EDIT_KINDS,
    EXECUTION_VARIANTS,
    REGIONS,
    Edit,
    EditError,
    EditExample,
    Ref,
    SceneDiff,
    change_text,
    difference_report,
    execution_score,
    instruction_text,
    make_example,
    region_of,
    sample_edit_sources,
    significant_changes_text,
    unintended_changes,
)
from common.world.levels import get_level
from common.world.render import render
from common.world.scene import Scene
from common.world.vocab import COLORS
from firm.curation.assemble import ProgressFn, RejectionLog, annotate, assign_donors, select_mismatches
from firm.curation.validate import validate_json_score, validate_text
from firm.prompts.edit import consistency_messages, difference_messages, execution_messages, merge_report

__all__ = [
    "DEFAULT_CONSISTENCY_WEIGHTS",
    "DEFAULT_EXECUTION_WEIGHTS",
    "MISMATCH_STRATEGIES",
    "EditItem",
    "EditTruth",
    "curate_edit",
    "perturb_edit",
    "rebalance",
    "sample_edit_items",
]

DEFAULT_EXECUTION_WEIGHTS: dict[str, float] = {
    "perfect": 0.36,
    "subtle": 0.18,
    "partial": 0.18,
    "barely": 0.12,
    "none": 0.06,
    "wrong_target": 0.10,
}
DEFAULT_CONSISTENCY_WEIGHTS: dict[str, float] = {
    "clean": 0.30,
    "minor": 0.38,
    "significant": 0.14,
    "mixed": 0.15,
    "different": 0.03,
}
MISMATCH_STRATEGIES: tuple[str, ...] = ("swap", "perturb")


@dataclass(frozen=True)
class EditTruth:
    """What the world oracle needs: the edit, both scenes and their diff."""

    edit: Edit
    source: Scene
    result: Scene
    diff: SceneDiff
    execution: int
    consistency: int | None


@dataclass
class EditItem:
    """One (source, edited, instruction) to annotate. ``truth`` is None without ground truth.

    ``original_instruction`` is the instruction the edit was made with; ``instruction`` differs
    from it when rebalancing rewrote it (``mismatch`` names the strategy, "" otherwise).
    """

    id: str
    source_image: Image.Image
    edited_image: Image.Image
    instruction: str
    original_instruction: str = ""
    edit_kind: str = ""
    mismatch: str = ""
    truth: EditTruth | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _weighted(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = list(weights)
    p = np.asarray([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_edit_items(
    n: int,
    seed: int,
    *,
    kinds: Sequence[str] = EDIT_KINDS,
    execution_weights: Mapping[str, float] | None = None,
    consistency_weights: Mapping[str, float] | None = None,
    canvas: int = 128,
    level: str | None = None,
) -> list[EditItem]:
    """``n`` world edit examples at world ``level`` with ground truth; deterministic in ``seed``."""
    ew = dict(execution_weights or DEFAULT_EXECUTION_WEIGHTS)
    cw = dict(consistency_weights or DEFAULT_CONSISTENCY_WEIGHTS)
    for name, w, known in (("execution", ew, EXECUTION_VARIANTS), ("consistency", cw, CONSISTENCY_VARIANTS)):
        if set(w) - set(known):
            raise ValueError(f"unknown {name} variants {sorted(set(w) - set(known))}; known: {known}")
    rng = np.random.default_rng([seed, 0xED17])

    def sloppy(source: Scene, edit: Edit) -> EditExample:
        execution, consistency = _weighted(rng, ew), _weighted(rng, cw)
        return make_example(source, edit, rng, execution=execution, consistency=consistency, level=level)

    items: list[EditItem] = []
    for ex in islice(sample_edit_sources(rng, level=level, kinds=kinds, canvas=canvas, make=sloppy), n):
        source, edit = ex.source, ex.edit
        truth = EditTruth(edit, source, ex.result, ex.diff, ex.execution, ex.consistency)
        items.append(
            EditItem(
                id=f"edit-{seed}-{len(items):06d}",
                source_image=render(source),
                edited_image=render(ex.result),
                instruction=ex.instruction,
                original_instruction=ex.instruction,
                edit_kind=edit.kind,
                truth=truth,
                info={
                    "edit": edit.to_dict(),
                    "execution_variant": ex.execution_variant,
                    "consistency_variant": ex.consistency_variant,
                },
            )
        )
    return items


# ----------------------------------------------------------------------------- rebalancing


def _other(rng: np.random.Generator, pool: Sequence[str], current: str | None) -> str:
    options = [p for p in pool if p != current]
    return options[int(rng.integers(len(options)))]


def perturb_edit(
    edit: Edit, source: Scene, rng: np.random.Generator, level: str | None = None
) -> Edit | None:
    """The same operation with a wrong value (None when no valid variant exists).

    recolour: another colour; move: another region (not the current one of the target);
    replace / add: another shape (of world ``level``); resize: the opposite direction; remove:
    another object.
    """
    k = edit.kind
    try:
        if k == "recolour":
            return replace(edit, color=_other(rng, tuple(COLORS), edit.color))
        if k in ("replace", "add"):
            return replace(edit, shape=_other(rng, get_level(level).shapes, edit.shape))
        if k == "resize":
            assert edit.factor is not None
            return replace(edit, factor=1.0 / edit.factor)
        if k == "move":
            assert edit.target is not None
            here = {region_of(source.objects[i].x, source.objects[i].y) for i in edit.targets(source)}
            pool = [r for r in REGIONS if r not in here]
            return replace(edit, region=_other(rng, pool, edit.region))
        if k == "remove":
            assert edit.target is not None
            targets = set(edit.targets(source))
            others = [o for i, o in enumerate(source.objects) if i not in targets]
            others = [o for o in others if not edit.target.matches(o)]
            if not others:
                return None
            o = others[int(rng.integers(len(others)))]
            return replace(edit, target=Ref(o.shape, o.color))
    except (ValueError, AssertionError):
        return None
    return None  # pragma: no cover - every kind is handled above


def _safe_execution(edit: Edit, truth: EditTruth) -> int | None:
    try:
        return int(execution_score(edit, truth.source, truth.result, truth.diff))
    except (EditError, ValueError, KeyError, IndexError):
        return None


def _lowest_perturbation(
    truth: EditTruth, rng: np.random.Generator, tries: int = 4, level: str | None = None
) -> Edit | None:
    """Of a few perturbations, the one with the lowest execution truth (a perturbation can
    happen to describe what a sloppy editor really did; the aim is a mismatch)."""
    best: tuple[int, Edit] | None = None
    for _ in range(tries):
        cand = perturb_edit(truth.edit, truth.source, rng, level)
        score = _safe_execution(cand, truth) if cand is not None else None
        if cand is not None and score is not None and (best is None or score < best[0]):
            best = (score, cand)
    return None if best is None else best[1]


def rebalance(
    items: Sequence[EditItem],
    share: float,
    seed: int,
    *,
    strategies: Mapping[str, float] | None = None,
    level: str | None = None,
) -> list[EditItem]:
    """Rewrite ``round(share * len(items))`` instructions into mismatches (module docstring);
    perturbed shapes are ``level``'s.

    Returns new items (the input is not modified). With ground truth, the execution truth is
    recomputed for the rewritten instruction (a swapped instruction usually names objects the
    source does not hold: execution 1) and the consistency truth dropped. Items whose rewrite is
    impossible keep their instruction, so the realised share can be a little lower (the task
    reports it).
    """
    weights = dict(strategies or {"swap": 0.5, "perturb": 0.5})
    if set(weights) - set(MISMATCH_STRATEGIES):
        raise ValueError(f"unknown mismatch strategies {sorted(set(weights) - set(MISMATCH_STRATEGIES))}")
    rng = np.random.default_rng([seed, 0x4EBA])
    out = [replace(it, info=dict(it.info)) for it in items]
    selected = select_mismatches(len(out), share, rng)
    plan = {i: _weighted(rng, weights) for i in selected}
    swaps = [i for i, s in plan.items() if s == "swap"]
    donors = assign_donors(
        len(out), swaps, rng, lambda i, j: out[i].original_instruction != out[j].original_instruction
    )
    for i, strategy in plan.items():
        it = out[i]
        new_edit: Edit | None = None
        if strategy == "swap":
            if i not in donors:
                continue
            donor = out[donors[i]]
            text = donor.original_instruction
            if donor.truth is not None:
                new_edit = donor.truth.edit
        else:
            if it.truth is None:
                continue  # perturbing needs the structured edit
            new_edit = _lowest_perturbation(it.truth, rng, level=level)
            if new_edit is None:
                continue
            text = instruction_text(new_edit, int(rng.integers(3)))
        truth = it.truth
        if truth is not None and new_edit is not None:
            score = _safe_execution(new_edit, truth)
            if score is None:
                continue
            truth = replace(truth, edit=new_edit, execution=score, consistency=None)
        it.instruction = text
        it.mismatch = strategy
        it.truth = truth
        it.info["mismatch_edit"] = new_edit.to_dict() if new_edit is not None else None
    return out


# ----------------------------------------------------------------------------- oracle truth text


def _execution_reasoning(item: EditItem, truth: EditTruth) -> str:
    seen = significant_changes_text(truth.source, truth.result, truth.diff)
    return f'The instruction asks: "{item.instruction}". In the edited image: {seen}.'


def _consistency_reasoning(truth: EditTruth) -> str:
    extra = unintended_changes(truth.edit, truth.source, truth.result, truth.diff)
    if not extra:
        return "Apart from the instructed change, the edited image matches the original."
    sig = [change_text(c, truth.source) for c in extra if c.significant]
    minor = [change_text(c, truth.source) for c in extra if not c.significant]
    parts = []
    if sig:
        parts.append("significant unintended changes: " + "; ".join(sig))
    if minor:
        parts.append("minor unintended changes: " + "; ".join(minor))
    return "Besides the instructed edit there are " + ". Also ".join(parts) + "."


# ----------------------------------------------------------------------------- pipeline


def _diff_request(item: EditItem, pass_name: str) -> ChatRequest:
    meta: dict[str, Any] = {"id": item.id, "stage": f"difference_{pass_name}"}
    if item.truth is not None:
        report = difference_report(item.truth.source, item.truth.result, item.truth.diff)
        meta.update(oracle_meta("text", text=report["obvious" if pass_name == "obvious" else "details"]))
    return ChatRequest(difference_messages(pass_name, item.source_image, item.edited_image), meta=meta)


def both_images_text(truth: EditTruth) -> str:
    """What the two images show, in the pretraining captions' words: ``"The original image shows
    <caption>. The edited image shows <caption>."`` (:func:`common.world.captions.describe`)."""
    return (
        f"The original image shows {describe(truth.source)} The edited image shows {describe(truth.result)}"
    )


def _score_request(item: EditItem, dimension: str, report: str, describe_images: bool = False) -> ChatRequest:
    build = execution_messages if dimension == "execution" else consistency_messages
    meta: dict[str, Any] = {"id": item.id, "stage": dimension}
    truth = item.truth
    if truth is not None:
        seen = f"{both_images_text(truth)} " if describe_images else ""
        if dimension == "execution":
            reasoning = seen + _execution_reasoning(item, truth)
            meta.update(oracle_meta("json_score", score=truth.execution, reasoning=reasoning))
        elif truth.consistency is not None:
            reasoning = seen + _consistency_reasoning(truth)
            meta.update(oracle_meta("json_score", score=truth.consistency, reasoning=reasoning))
    messages = build(
        item.instruction, report, item.source_image, item.edited_image, describe_first=describe_images
    )
    return ChatRequest(messages, meta=meta)


def curate_edit(
    items: Sequence[EditItem],
    annotator: Annotator,
    rejections: RejectionLog,
    *,
    chunk_size: int = 64,
    progress: ProgressFn | None = None,
    describe_images: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Annotate ``items``; returns validated records ``{"execution": [...], "consistency": [...]}``.
    ``describe_images``: the judge says what both images show before its reasoning.

    Mismatched items (``item.mismatch``) are scored for execution only. A failed difference pass
    drops the item from both subsets (logged once per subset it would have entered).
    """
    items = list(items)
    diff_requests = [_diff_request(it, "obvious") for it in items] + [
        _diff_request(it, "detailed") for it in items
    ]
    answers = annotate(
        annotator, diff_requests, desc="difference report", chunk_size=chunk_size, progress=progress
    )
    reports: list[tuple[EditItem, str]] = []
    for k, item in enumerate(items):
        parts = []
        for pass_name, resp in (("obvious", answers[k]), ("detailed", answers[len(items) + k])):
            v = validate_text(resp.text) if resp.ok else None
            if v is None or not v.ok:
                reason = "request_error" if v is None else v.reason
                for subset in ("execution", "consistency") if not item.mismatch else ("execution",):
                    rejections.add(
                        subset, item.id, f"difference_{pass_name}", reason, resp.error or resp.text
                    )
                break
            parts.append(v.value)
        else:
            reports.append((item, merge_report(parts[0], parts[1])))

    jobs = [(item, "execution", report) for item, report in reports]
    jobs += [(item, "consistency", report) for item, report in reports if not item.mismatch]
    score_requests = [_score_request(item, dim, report, describe_images) for item, dim, report in jobs]
    scored = annotate(annotator, score_requests, desc="score", chunk_size=chunk_size, progress=progress)
    out: dict[str, list[dict[str, Any]]] = {"execution": [], "consistency": []}
    for (item, dim, report), resp in zip(jobs, scored, strict=True):
        v = validate_json_score(resp.text) if resp.ok else None
        if v is None or not v.ok:
            reason = "request_error" if v is None else v.reason
            rejections.add(dim, item.id, dim, reason, resp.error or resp.text)
            continue
        out[dim].append(_record(item, dim, report, resp.text, int(v.value), v.reasoning or ""))
    return out


def _gt(item: EditItem, dim: str) -> int | None:
    if item.truth is None:
        return None
    value = item.truth.execution if dim == "execution" else item.truth.consistency
    return None if value is None else int(value)


def _record(
    item: EditItem, dim: str, report: str, response: str, score: int, reasoning: str
) -> dict[str, Any]:
    return {
        "id": item.id,
        "source_image": item.source_image,
        "edited_image": item.edited_image,
        "instruction": item.instruction,
        "original_instruction": item.original_instruction or item.instruction,
        "mismatch": item.mismatch,
        "edit_kind": item.edit_kind,
        "report": report,
        "response": response,
        "reasoning": reasoning,
        "score": score,
        "gt_score": _gt(item, dim),
        "info": json.dumps(item.info, sort_keys=True),
    }


def edit_features() -> Any:
    """HF features of the ``execution`` and ``consistency`` subsets (the same columns)."""
    from datasets import Features, Value
    from datasets import Image as ImageFeature

    return Features(
        {
            "id": Value("string"),
            "source_image": ImageFeature(),
            "edited_image": ImageFeature(),
            "instruction": Value("string"),
            "original_instruction": Value("string"),
            "mismatch": Value("string"),
            "edit_kind": Value("string"),
            "report": Value("string"),
            "response": Value("string"),
            "reasoning": Value("string"),
            "score": Value("int8"),
            "gt_score": Value("int8"),
            "info": Value("string"),
        }
    )
