"""``+exp=firm_gen_curate``: FIRM's plan-then-score generation curation, plus the quality prompt.

Builds ``<out_dir>/instruction`` (1-5 instruction-following scores with the evaluator's analysis)
and ``<out_dir>/quality`` (three 1-5 quality sub-scores) as HF datasets (``save_to_disk``), a
``README.md`` card with the score histogram in the layout of the paper's Table 6 (published
FIRM-Gen-293K row beside it) and ``rejected.jsonl`` (every malformed annotation, with its
reason). With the OpenAI-compatible annotator a rerun after a crash or kill answers every
request already paid for from the response cache. The world level is the run's ``world.level``
(``world=full`` for the harder row).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from common.runtime import RunContext
from common.world.levels import run_level
from common.world.vocab import GENEVAL_TAGS
from firm.curation.assemble import RejectionLog, dataset_card, save_dataset, score_histogram
from firm.curation.gen import (
    GENERATOR_PROFILES,
    curate_gen,
    instruction_features,
    quality_features,
    sample_gen_items,
)
from firm.prompts.gen import GEN_PROMPT_VERSION
from firm.tasks._shared import annotator_config, build_annotator, output_dir, truth_agreement


def run(
    cfg: DictConfig,
    ctx: RunContext,
    n_prompts: int = 300,
    tags: Sequence[str] | None = None,
    mode_weights: Mapping[str, float] | None = None,
    generators: Sequence[str] | None = None,
    canvas: int = 128,
    chunk_size: int = 64,
    out_dir: str | None = None,
    describe_image: bool = False,
) -> dict[str, Any]:
    """Sample ``n_prompts`` world (prompt, image) pairs at the run's world level, annotate them,
    write the datasets."""
    start = time.perf_counter()
    level = run_level(ctx.settings)
    annotator = build_annotator(cfg, ctx.settings)
    tags = list(tags or GENEVAL_TAGS)
    items = sample_gen_items(
        int(n_prompts),
        int(ctx.seed),
        tags=tags,
        mode_weights=dict(mode_weights) if mode_weights else None,
        generators=list(generators) if generators else None,
        canvas=int(canvas),
        level=level,
    )
    out = output_dir(ctx, out_dir, "firm_gen")
    rejections = RejectionLog(out / "rejected.jsonl")
    records = curate_gen(
        items,
        annotator,
        rejections,
        chunk_size=int(chunk_size),
        progress=ctx.progress,
        describe_image=bool(describe_image),
    )

    save_dataset(records["instruction"], instruction_features(), out / "instruction")
    save_dataset(records["quality"], quality_features(), out / "quality")

    inst_hist = score_histogram(r["score"] for r in records["instruction"])
    truth_hist = score_histogram(r["gt_score"] for r in records["instruction"] if r["gt_score"] is not None)
    quality_min_hist = score_histogram(
        min(r["aesthetics"], r["quality"], r["structure"]) for r in records["quality"]
    )
    annotator_cfg = annotator_config(cfg)
    params = {
        "n_prompts": n_prompts,
        "tags": tags,
        "mode_weights": dict(mode_weights or {}),
        "generators": list(generators or GENERATOR_PROFILES),
        "canvas": canvas,
        "describe_image": bool(describe_image),
        "level": level,
        "seed": ctx.seed,
        "prompt_version": GEN_PROMPT_VERSION,
    }
    card = dataset_card(
        title="FIRM-Gen (world, tiny)",
        summary=(
            "Generation data curated with FIRM's plan-then-score pipeline on the project's embedded "
            f"world (level `{level}`): a planner turns each prompt into a checklist "
            "([Main Subject/Element], [Attribute/Action], [Style/Composition], [Negative Constraints]), "
            "an evaluator checks the "
            "image against it and rates instruction following on 1-5 (`\\boxed{X}`). A separate "
            "quality prompt gives three 1-5 sub-scores (aesthetics, quality, structure & texture) "
            "for QMA. Annotator: " + str(annotator_cfg.get("_target_", "?")) + "."
        ),
        histograms=[
            ("FIRM-Gen (world, this run)", "Instruction following", inst_hist),
            ("World ground truth (same rows)", "Instruction following", truth_hist),
            ("FIRM-Gen (world, this run)", "Quality: min of the three sub-scores", quality_min_hist),
        ],
        published=[("FIRM-Gen-293K", "Instruction following")],
        subsets={
            "instruction": {"rows": len(records["instruction"]), "columns": list(instruction_features())},
            "quality": {"rows": len(records["quality"]), "columns": list(quality_features())},
        },
        config={"task": params, "annotator": annotator_cfg},
        rejected=rejections.summary(),
        notes=[
            "`gt_*` columns are the world's ground truth (empty for images without it); the reward "
            "model is trained on `score` / `response`, never on the truth.",
            "The reward model sees (image, prompt) only: `plan` is kept for analysis, not as RM input.",
        ],
    )
    (out / "README.md").write_text(card)

    metrics: dict[str, Any] = {
        "out_dir": str(out),
        "level": level,
        "items": len(items),
        "rows": {k: len(v) for k, v in records.items()},
        "histogram": {
            "instruction": inst_hist,
            "instruction_truth": truth_hist,
            "quality_min": quality_min_hist,
        },
        "rejected": rejections.summary(),
        "rejected_total": rejections.total(),
        "agreement": {
            "instruction": truth_agreement(records["instruction"]),
            **{
                f"quality_{k}": truth_agreement(records["quality"], k, f"gt_{k}")
                for k in ("aesthetics", "quality", "structure")
            },
        },
        "annotator": getattr(annotator, "stats", None).to_dict() if hasattr(annotator, "stats") else {},
        "seconds": round(time.perf_counter() - start, 2),
    }
    ctx.log(
        {"rows_instruction": len(records["instruction"]), "rows_quality": len(records["quality"])}, step=0
    )
    print(card.split("## Subsets")[0], flush=True)
    return metrics
