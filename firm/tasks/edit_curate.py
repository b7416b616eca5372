"""``+exp=firm_edit_curate``: FIRM's difference-first edit curation with rebalancing.

Builds ``<out_dir>/execution`` and ``<out_dir>/consistency`` (1-5 scores with the evaluator's
JSON reasoning, the merged difference report, both images) as HF datasets (``save_to_disk``), a
``README.md`` card with the score histograms in the layout of the paper's Table 6 (published
FIRM-Edit-370K rows beside them) and ``rejected.jsonl``. ``mismatch_share`` of the instructions
are rewritten into mismatches before annotation (FIRM's way of creating low execution scores).
With the OpenAI-compatible annotator a rerun after a crash or kill resumes from the cache. The
world level is the run's ``world.level`` (``world=full`` for the harder row).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from common.runtime import RunContext
from common.world.edits import EDIT_KINDS
from common.world.levels import run_level
from firm.curation.assemble import RejectionLog, dataset_card, save_dataset, score_histogram
from firm.curation.edit import curate_edit, edit_features, rebalance, sample_edit_items
from firm.prompts.edit import EDIT_PROMPT_VERSION
from firm.tasks._shared import annotator_config, build_annotator, output_dir, truth_agreement


def run(
    cfg: DictConfig,
    ctx: RunContext,
    n_examples: int = 300,
    mismatch_share: float = 0.2,
    mismatch_strategies: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None,
    execution_weights: Mapping[str, float] | None = None,
    consistency_weights: Mapping[str, float] | None = None,
    canvas: int = 128,
    chunk_size: int = 64,
    out_dir: str | None = None,
    describe_images: bool = False,
) -> dict[str, Any]:
    """Sample ``n_examples`` world edits at the run's world level, rebalance, annotate, write the
    datasets."""
    start = time.perf_counter()
    level = run_level(ctx.settings)
    annotator = build_annotator(cfg, ctx.settings)
    kinds = list(kinds or EDIT_KINDS)
    items = sample_edit_items(
        int(n_examples),
        int(ctx.seed),
        kinds=kinds,
        execution_weights=dict(execution_weights) if execution_weights else None,
        consistency_weights=dict(consistency_weights) if consistency_weights else None,
        canvas=int(canvas),
        level=level,
    )
    strategies = dict(mismatch_strategies) if mismatch_strategies else None
    items = rebalance(items, float(mismatch_share), int(ctx.seed), strategies=strategies, level=level)
    n_mismatch = sum(1 for it in items if it.mismatch)

    out = output_dir(ctx, out_dir, "firm_edit")
    rejections = RejectionLog(out / "rejected.jsonl")
    records = curate_edit(
        items,
        annotator,
        rejections,
        chunk_size=int(chunk_size),
        progress=ctx.progress,
        describe_images=bool(describe_images),
    )
    features = edit_features()
    for subset in ("execution", "consistency"):
        save_dataset(records[subset], features, out / subset)

    hist = {k: score_histogram(r["score"] for r in v) for k, v in records.items()}
    truth = {
        k: score_histogram(r["gt_score"] for r in v if r["gt_score"] is not None) for k, v in records.items()
    }
    annotator_cfg = annotator_config(cfg)
    params = {
        "n_examples": n_examples,
        "mismatch_share": mismatch_share,
        "mismatch_strategies": strategies or {"swap": 0.5, "perturb": 0.5},
        "kinds": kinds,
        "execution_weights": dict(execution_weights or {}),
        "consistency_weights": dict(consistency_weights or {}),
        "canvas": canvas,
        "describe_images": bool(describe_images),
        "level": level,
        "seed": ctx.seed,
        "prompt_version": EDIT_PROMPT_VERSION,
    }
    card = dataset_card(
        title="FIRM-Edit (world, tiny)",
        summary=(
            "Editing data curated with FIRM's difference-first pipeline on the project's embedded "
            f"world (level `{level}`): an MLLM describes the differences between source and edited "
            "image in two passes (obvious, detailed), the passes are merged into one report, and an "
            "evaluator scores "
            'execution and consistency on 1-5 as JSON `{"reasoning", "score"}`. '
            f"{n_mismatch} of {len(items)} instructions were rewritten into mismatches before "
            "annotation (FIRM's rebalancing; execution subset only). Annotator: "
            + str(annotator_cfg.get("_target_", "?"))
            + "."
        ),
        histograms=[
            ("FIRM-Edit (world, this run)", "Execution", hist["execution"]),
            ("FIRM-Edit (world, this run)", "Consistency", hist["consistency"]),
            ("World ground truth (same rows)", "Execution", truth["execution"]),
            ("World ground truth (same rows)", "Consistency", truth["consistency"]),
        ],
        published=[("FIRM-Edit-370K", "Execution"), ("FIRM-Edit-370K", "Consistency")],
        subsets={k: {"rows": len(v), "columns": list(features)} for k, v in records.items()},
        config={"task": params, "annotator": annotator_cfg},
        rejected=rejections.summary(),
        notes=[
            "`mismatch` names the rewrite strategy (`swap`: another example's instruction; `perturb`: "
            "the same operation with a wrong value) or is empty; `original_instruction` is the one the "
            "edit was made with.",
            "`gt_score` is the world's ground truth; the reward model is trained on `score` / "
            "`response` without the difference report in its input.",
        ],
    )
    (out / "README.md").write_text(card)
    metrics: dict[str, Any] = {
        "out_dir": str(out),
        "level": level,
        "items": len(items),
        "mismatched": n_mismatch,
        "mismatch_share_realised": n_mismatch / len(items) if items else 0.0,
        "rows": {k: len(v) for k, v in records.items()},
        "histogram": hist,
        "histogram_truth": truth,
        "rejected": rejections.summary(),
        "rejected_total": rejections.total(),
        "agreement": {k: truth_agreement(v) for k, v in records.items()},
        "annotator": getattr(annotator, "stats", None).to_dict() if hasattr(annotator, "stats") else {},
        "seconds": round(time.perf_counter() - start, 2),
    }
    ctx.log({f"rows_{k}": len(v) for k, v in records.items()}, step=0)
    print(card.split("## Subsets")[0], flush=True)
    return metrics
