"""The pairwise benchmarks: ``pairwise`` (T2I-Eval-R1's training corpus, ties left out) and
``imagereward`` (ImageReward-like test pairs, ties kept).

Several images per prompt, each scored overall (0-10) by three simulated raters; a pair's
preference is the higher mean score, a tie when the means differ by less than :data:`TIE_MARGIN`.
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

from common.world.benchmarks.base import (
    F32,
    I32,
    IMG,
    LIST_F32,
    STR,
    BuildArgs,
    Built,
    dataset_from_rows,
    prompt_columns,
    rounded,
)
from common.world.benchmarks.items import draw_prompts, rng_for, sample_gen_item
from common.world.benchmarks.truth import t2i_eval_truth
from common.world.raters import T2I_ASPECT_NOISE, T2I_EVAL_PANEL, pairwise_agreement
from common.world.vocab import GENEVAL_TAGS

TIE_MARGIN = 0.5
"""Two images whose mean rater overall scores (0-10) differ by less than this are a tie."""

PAIR_FEATURES = datasets.Features(
    {
        "id": STR,
        "group": STR,
        "prompt": STR,
        "tag": STR,
        "metadata": STR,
        "image_a": IMG,
        "image_b": IMG,
        "score_a": F32,
        "score_b": F32,
        "ratings_a": LIST_F32,
        "ratings_b": LIST_F32,
        "truth_a": F32,
        "truth_b": F32,
        "preference": STR,
        "label": I32,
    }
)
PAIR_DOCS = {
    "id": "pair id",
    "group": "prompt group id: pairs of one group share the prompt (and images)",
    "prompt": "the text prompt",
    "tag": "GenEval task tag",
    "metadata": "the prompt as a GenEval metadata record (JSON)",
    "image_a": "first image",
    "image_b": "second image",
    "score_a": "mean of the three raters' overall scores (0-10) of image a",
    "score_b": "the same for image b",
    "ratings_a": "the three raters' overall scores of image a",
    "ratings_b": "the same for image b",
    "truth_a": "ground-truth overall (0-10) of image a",
    "truth_b": "ground-truth overall (0-10) of image b",
    "preference": "'a', 'b' or 'tie' (mean scores within TIE_MARGIN = 0.5)",
    "label": "0 = a preferred, 1 = b preferred, 2 = tie",
}


def _pairs(
    name: str, split: str, side: str, args: BuildArgs, per_prompt: int, keep_ties: bool
) -> tuple[datasets.Dataset, dict]:
    n = args.sizes[split]
    rng = rng_for(args.seed, name, split)
    rows: list[dict[str, Any]] = []
    all_a, all_b = [], []
    group = 0
    bar = iter(args.progress(range(n), f"{name}/{split}", n))
    while len(rows) < n:
        prompt = draw_prompts(1, rng, side, tags=[_tag_cycle(group)], level=args.level)[0]
        items = [
            sample_gen_item(prompt, rng, canvas=args.canvas, level=args.level) for _ in range(per_prompt)
        ]
        truth = np.array([t2i_eval_truth(it.prompt, it.drawn, it.defects)["overall"] for it in items])
        ratings = T2I_EVAL_PANEL.with_noise(T2I_ASPECT_NOISE["overall"]).rate(truth, rng)
        means = ratings.mean(axis=1)
        for a in range(per_prompt):
            for b in range(a + 1, per_prompt):
                if len(rows) >= n:
                    break
                i, j = (a, b) if rng.random() < 0.5 else (b, a)
                d = means[i] - means[j]
                pref = "tie" if abs(d) < TIE_MARGIN else ("a" if d > 0 else "b")
                if pref == "tie" and not keep_ties:
                    continue
                rows.append(
                    {
                        "id": f"{name}-{split}-{len(rows):05d}",
                        "group": f"{name}-{split}-g{group:04d}",
                        **prompt_columns(prompt),
                        "image_a": items[i].image,
                        "image_b": items[j].image,
                        "score_a": rounded(means[i]),
                        "score_b": rounded(means[j]),
                        "ratings_a": [float(v) for v in ratings[i]],
                        "ratings_b": [float(v) for v in ratings[j]],
                        "truth_a": rounded(truth[i]),
                        "truth_b": rounded(truth[j]),
                        "preference": pref,
                        "label": {"a": 0, "b": 1, "tie": 2}[pref],
                    }
                )
                all_a.append(ratings[i])
                all_b.append(ratings[j])
                next(bar, None)
        group += 1
    prefs = [r["preference"] for r in rows]
    decided = [r for r in rows if r["preference"] != "tie" and r["truth_a"] != r["truth_b"]]
    right = sum((r["truth_a"] > r["truth_b"]) == (r["preference"] == "a") for r in decided)
    stats = {
        "n": len(rows),
        "groups": group,
        "preferences": {k: prefs.count(k) for k in ("a", "b", "tie")},
        "rater_pair_agreement": round(pairwise_agreement(np.array(all_a), np.array(all_b), TIE_MARGIN), 4),
        "label_matches_truth": round(right / max(len(decided), 1), 4),
    }
    return dataset_from_rows(rows, PAIR_FEATURES, split), stats


def _tag_cycle(i: int) -> str:
    return GENEVAL_TAGS[i % len(GENEVAL_TAGS)]


def build_pairwise(args: BuildArgs) -> Built:
    """Pairwise training corpus: 4 images per train prompt, all non-tied pairs."""
    data, stats = _pairs("pairwise", "train", "train", args, per_prompt=4, keep_ties=False)
    return Built(datasets.DatasetDict({"train": data}), {"train": stats})


def build_imagereward(args: BuildArgs) -> Built:
    """ImageReward-like test pairs: 3 images per held-out prompt, every pair, ties kept."""
    data, stats = _pairs("imagereward", "test", "heldout", args, per_prompt=3, keep_ties=True)
    return Built(datasets.DatasetDict({"test": data}), {"test": stats})
