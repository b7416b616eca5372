"""The FIRM-Bench-like benchmarks: ``firm_bench_edit`` (execution and consistency splits of
sloppy world edits) and ``firm_bench_gen`` (easy and hard held-out prompts' images).

Ground truth follows FIRM's rubrics (1-5); three simulated raters (``FIRM_PANEL``) score each item
and ``score`` is their mean rounded half up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np

from common.world.benchmarks.base import (
    GEN_FEATURES,
    I32,
    IMG,
    LIST_I32,
    STR,
    BuildArgs,
    Built,
    dataset_from_rows,
    gen_columns,
    prompt_columns,
)
from common.world.benchmarks.items import (
    EASY_TAGS,
    HARD_TAGS,
    draw_prompts,
    rng_for,
    sample_edit_item,
    sample_gen_item,
)
from common.world.benchmarks.truth import generation_level
from common.world.defects import QUALITY_AXES, quality_scores
from common.world.raters import FIRM_PANEL, agreement, consensus

EDIT_FEATURES = datasets.Features(
    {
        "id": STR,
        "task": STR,
        "instruction": STR,
        "kind": STR,
        "edit": STR,
        "source_image": IMG,
        "edited_image": IMG,
        "score": I32,
        "human_scores": LIST_I32,
        "truth": I32,
        "execution_truth": I32,
        "consistency_truth": I32,
        "execution_variant": STR,
        "consistency_variant": STR,
        "report": STR,
        "source_scene": STR,
        "edited_scene": STR,
        "source_prompt": STR,
    }
)
EDIT_DOCS = {
    "id": "item id",
    "task": "execution or consistency: which rubric `score` follows",
    "instruction": "the edit instruction",
    "kind": "edit operation: recolour, add, remove, move, replace, resize",
    "edit": "the edit as JSON (common.world.edits.Edit.to_json)",
    "source_image": "image before the edit",
    "edited_image": "image after a (possibly sloppy) edit",
    "score": "human-like 1-5 score on the split's rubric: the three raters' mean, rounded half up",
    "human_scores": "the three simulated raters' 1-5 scores",
    "truth": "ground truth 1-5 on the split's rubric (from the scene difference)",
    "execution_truth": "ground-truth execution 1-5",
    "consistency_truth": "ground-truth consistency 1-5",
    "execution_variant": "how the simulated editor executed the instruction (perfect, subtle, ...)",
    "consistency_variant": "which unintended changes it made (clean, minor, significant, ...)",
    "report": "FIRM difference report (obvious + details) written from the scene difference",
    "source_scene": "source scene (JSON)",
    "edited_scene": "edited scene (JSON)",
    "source_prompt": "GenEval prompt the source scene was sampled for",
}

CONSISTENCY_SPLIT_EXECUTION: dict[str, float] = {
    "perfect": 0.55,
    "subtle": 0.15,
    "partial": 0.15,
    "barely": 0.05,
    "none": 0.10,
}
"""Executions in the consistency split: mostly done, some "no change" (the lazy-editor case)."""

CONSISTENCY_SPLIT_CONSISTENCY: dict[str, float] = {
    "clean": 0.18,
    "minor": 0.28,
    "significant": 0.26,
    "mixed": 0.18,
    "different": 0.10,
}


def _edit_split(
    task: str,
    n: int,
    args: BuildArgs,
    ew: Mapping[str, float] | None = None,
    cw: Mapping[str, float] | None = None,
) -> tuple[datasets.Dataset, dict]:
    rng = rng_for(args.seed, "firm_bench_edit", task)
    prompts = draw_prompts(n, rng, "heldout", level=args.level)
    kw: dict[str, Any] = {"level": args.level}
    if ew is not None:
        kw["execution_weights"] = ew
    if cw is not None:
        kw["consistency_weights"] = cw
    items = [
        sample_edit_item(p, rng, canvas=args.canvas, **kw)
        for p in args.progress(prompts, f"firm_bench_edit/{task}", n)
    ]
    truth = np.array([getattr(it.example, task) for it in items], dtype=np.float64)
    ratings = FIRM_PANEL.rate(truth, rng)
    human = consensus(ratings, "rounded")
    rows = []
    for i, it in enumerate(items):
        ex = it.example
        rows.append(
            {
                "id": f"firm_bench_edit-{task}-{i:05d}",
                "task": task,
                "instruction": ex.instruction,
                "kind": ex.edit.kind,
                "edit": ex.edit.to_json(),
                "source_image": it.source_image,
                "edited_image": it.edited_image,
                "score": int(human[i]),
                "human_scores": [int(v) for v in ratings[i]],
                "truth": int(truth[i]),
                "execution_truth": ex.execution,
                "consistency_truth": ex.consistency,
                "execution_variant": ex.execution_variant,
                "consistency_variant": ex.consistency_variant,
                "report": ex.report()["report"],
                "source_scene": json.dumps(ex.source.to_dict(), sort_keys=True),
                "edited_scene": json.dumps(ex.result.to_dict(), sort_keys=True),
                "source_prompt": it.prompt.prompt,
            }
        )
    stats = _human_stats(ratings, human, truth)
    return dataset_from_rows(rows, EDIT_FEATURES, task), stats


def _human_stats(ratings: np.ndarray, human: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    return {
        "n": len(truth),
        "agreement": round(agreement(ratings), 4),
        "human_equals_truth": round(float(np.mean(human == truth)), 4),
        "human_truth_mae": round(float(np.mean(np.abs(human - truth))), 4),
        "truth_levels": {str(k): int(np.sum(truth == k)) for k in range(1, 6)},
    }


def build_firm_bench_edit(args: BuildArgs) -> Built:
    """FIRM-Bench-Edit-like: execution and consistency splits of sloppy world edits."""
    ex, ex_stats = _edit_split("execution", args.sizes["execution"], args)
    co, co_stats = _edit_split(
        "consistency",
        args.sizes["consistency"],
        args,
        CONSISTENCY_SPLIT_EXECUTION,
        CONSISTENCY_SPLIT_CONSISTENCY,
    )
    return Built(
        datasets.DatasetDict({"execution": ex, "consistency": co}),
        {"execution": ex_stats, "consistency": co_stats},
    )


GENB_FEATURES = datasets.Features(
    {
        "id": STR,
        **{k: v for k, v in GEN_FEATURES.items()},
        "difficulty": STR,
        "score": I32,
        "human_scores": LIST_I32,
        "truth": I32,
        **{ax: I32 for ax in QUALITY_AXES},
    }
)

GEN_BENCH_MODES: dict[str, float] = {"match": 0.35, "partial": 0.5, "miss": 0.15}


def build_firm_bench_gen(args: BuildArgs) -> Built:
    """FIRM-Bench-Gen-like: half easy, half hard held-out prompts, human-like 1-5 scores."""
    n = args.sizes["test"]
    rng = rng_for(args.seed, "firm_bench_gen", "test")
    n_easy = n // 2
    prompts = draw_prompts(n_easy, rng, "heldout", EASY_TAGS, level=args.level) + draw_prompts(
        n - n_easy, rng, "heldout", HARD_TAGS, level=args.level
    )
    items = [
        sample_gen_item(p, rng, canvas=args.canvas, mode_weights=GEN_BENCH_MODES, level=args.level)
        for p in args.progress(prompts, "firm_bench_gen/test", n)
    ]
    truth = np.array([generation_level(it.prompt, it.drawn) for it in items], dtype=np.float64)
    ratings = FIRM_PANEL.rate(truth, rng)
    human = consensus(ratings, "rounded")
    rows = []
    for i, it in enumerate(items):
        row = {"id": f"firm_bench_gen-test-{i:05d}", **prompt_columns(it.prompt), "image": it.image}
        row.update(gen_columns(it))
        row["difficulty"] = "easy" if i < n_easy else "hard"
        row.update(
            {"score": int(human[i]), "human_scores": [int(v) for v in ratings[i]], "truth": int(truth[i])}
        )
        row.update(quality_scores(it.defects))
        rows.append(row)
    stats = {"test": _human_stats(ratings, human, truth)}
    for diff in ("easy", "hard"):
        sel = np.array([r["difficulty"] == diff for r in rows])
        stats["test"][f"{diff}_agreement"] = round(agreement(ratings[sel]), 4)
    return Built(datasets.DatasetDict({"test": dataset_from_rows(rows, GENB_FEATURES, "test")}), stats)
