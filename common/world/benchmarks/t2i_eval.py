"""The T2I-Eval-like benchmark (``t2i_eval``): single-wise scores of (prompt, image) pairs.

Three simulated raters score each image 0-10 on T2I-Eval-Bench's four aspects (appearance,
intrinsic, relationship, overall); ``train`` uses train prompts, ``test`` held-out prompts.
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

from common.world.benchmarks.base import (
    F32,
    GEN_FEATURES,
    LIST_F32,
    STR,
    BuildArgs,
    Built,
    dataset_from_rows,
    gen_columns,
    prompt_columns,
    rounded,
)
from common.world.benchmarks.items import draw_prompts, rng_for, sample_gen_item
from common.world.benchmarks.truth import ASPECTS, t2i_eval_truth
from common.world.raters import T2I_ASPECT_NOISE, T2I_EVAL_PANEL, RaterPanel, agreement, consensus

T2I_FEATURES = datasets.Features(
    {
        "id": STR,
        **GEN_FEATURES,
        **{a: F32 for a in ASPECTS},
        **{f"{a}_ratings": LIST_F32 for a in ASPECTS},
        **{f"{a}_truth": F32 for a in ASPECTS},
    }
)


def _t2i_split(
    name: str, split: str, side: str, args: BuildArgs, panel: RaterPanel
) -> tuple[datasets.Dataset, dict]:
    n = args.sizes[split]
    rng = rng_for(args.seed, name, split)
    prompts = draw_prompts(n, rng, side, level=args.level)
    items = [
        sample_gen_item(p, rng, canvas=args.canvas, level=args.level)
        for p in args.progress(prompts, f"{name}/{split}", n)
    ]
    truth = np.array([[t2i_eval_truth(it.prompt, it.drawn, it.defects)[a] for a in ASPECTS] for it in items])
    ratings = np.stack(
        [panel.with_noise(T2I_ASPECT_NOISE[a]).rate(truth[:, j], rng) for j, a in enumerate(ASPECTS)], axis=1
    )  # (n, aspects, raters)
    means = consensus(ratings)
    rows = []
    for i, it in enumerate(items):
        row: dict[str, Any] = {
            "id": f"{name}-{split}-{i:05d}",
            **prompt_columns(it.prompt),
            "image": it.image,
        }
        row.update(gen_columns(it))
        for j, a in enumerate(ASPECTS):
            row[a] = rounded(means[i, j])
            row[f"{a}_ratings"] = [float(v) for v in ratings[i, j]]
            row[f"{a}_truth"] = rounded(truth[i, j])
        rows.append(row)
    stats = {
        "agreement": {a: round(agreement(ratings[:, j, :]), 4) for j, a in enumerate(ASPECTS)},
        "n": len(rows),
    }
    return dataset_from_rows(rows, T2I_FEATURES, split), stats


def build_t2i_eval(args: BuildArgs) -> Built:
    """T2I-Eval-like single-wise scores: train (train prompts) and test (held-out prompts)."""
    out, stats = {}, {}
    for split, side in (("train", "train"), ("test", "heldout")):
        out[split], stats[split] = _t2i_split("t2i_eval", split, side, args, T2I_EVAL_PANEL)
    return Built(datasets.DatasetDict(out), stats)
