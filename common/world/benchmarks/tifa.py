"""The TIFA-like benchmark (``tifa``): faithfulness judgments of held-out prompts' images.

Two simulated annotators score faithfulness 1-5, under the field names of TIFA v1.0's human
annotations (text_id, text, human_scores, human_avg; the real file is vendored as
t2ieval_r1/benchmarks/data/tifa_v1_human/human_annotations_with_scores.json).
"""

from __future__ import annotations

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
    rounded,
)
from common.world.benchmarks.items import draw_prompts, rng_for, sample_gen_item
from common.world.benchmarks.truth import faithfulness_truth
from common.world.raters import TIFA_PANEL, agreement

TIFA_FEATURES = datasets.Features(
    {
        "id": STR,
        "text_id": STR,
        "text": STR,
        **{k: v for k, v in GEN_FEATURES.items() if k != "prompt"},
        "human_scores": LIST_F32,
        "human_avg": F32,
        "truth": F32,
    }
)


def build_tifa(args: BuildArgs) -> Built:
    """TIFA-like: held-out prompts, 2 raters, faithfulness 1-5 (the real file's field names)."""
    n = args.sizes["test"]
    rng = rng_for(args.seed, "tifa", "test")
    prompts = draw_prompts(n, rng, "heldout", level=args.level)
    items = [
        sample_gen_item(p, rng, canvas=args.canvas, level=args.level)
        for p in args.progress(prompts, "tifa/test", n)
    ]
    truth = np.array([faithfulness_truth(it.prompt, it.drawn, it.defects) for it in items])
    ratings = TIFA_PANEL.rate(truth, rng)
    text_ids: dict[str, str] = {}
    rows = []
    for i, it in enumerate(items):
        tid = text_ids.setdefault(it.prompt.prompt, f"world_{len(text_ids):04d}")
        row = {"id": f"tifa-test-{i:05d}", "text_id": tid, "text": it.prompt.prompt, "image": it.image}
        row.update({"tag": it.prompt.tag, "metadata": it.prompt.to_json(), **gen_columns(it)})
        row.update({"human_scores": [float(v) for v in ratings[i]], "human_avg": rounded(ratings[i].mean())})
        row["truth"] = rounded(truth[i])
        rows.append(row)
    stats = {
        "test": {
            "n": n,
            "agreement": round(agreement(ratings), 4),
            "identical_scores": round(float(np.mean(ratings[:, 0] == ratings[:, 1])), 4),
        }
    }
    return Built(datasets.DatasetDict({"test": dataset_from_rows(rows, TIFA_FEATURES, "test")}), stats)
