"""Held-out validation during training: greedy decoding on a validation corpus.

Not the meta-evaluation of the paper (that is ``t2ieval_r1.evaluate``), a learning curve: for
single-wise items, Spearman rho and Kendall tau-b between the parsed scores and the labels
(unparsable answers filled with the mean of the parsed ones, as T2I-Eval does, and counted);
for pairwise items, the share of pairs whose two scores order the images as the label does
(ties: equal scores). Both report the parse-failure rate and the mean training reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from common.models.vlm_bundle import VLMBundle
from common.models.vlm_sampling import sample_vlm
from common.scoring import apply_missing_policy, kendall_tau_b, spearman
from t2ieval_r1.grpo.items import EvalItem
from t2ieval_r1.grpo.rewards import RewardFn

__all__ = ["greedy_completions", "validate_items"]


def greedy_completions(
    bundle: VLMBundle,
    items: Sequence[EvalItem],
    *,
    template: str = "default",
    max_new_tokens: int = 64,
    batch_size: int = 16,
    banned: Sequence[int] = (),
    model: Any = None,
) -> list[str]:
    """One greedy completion per item, in batches of ``batch_size`` prompts."""
    texts: list[str] = []
    for lo in range(0, len(items), batch_size):
        part = items[lo : lo + batch_size]
        batch = bundle.encode_chat([it.messages(template) for it in part])
        out = sample_vlm(
            bundle, batch, temperature=0.0, max_new_tokens=max_new_tokens, banned=banned, model=model
        )
        texts += out.texts
    return texts


def validate_items(
    bundle: VLMBundle,
    items: Sequence[EvalItem],
    reward_fn: RewardFn,
    *,
    template: str = "default",
    max_new_tokens: int = 64,
    banned: Sequence[int] = (),
    model: Any = None,
) -> dict[str, float]:
    """``val/*`` metrics of greedy completions on ``items`` (see the module docstring)."""
    texts = greedy_completions(
        bundle, items, template=template, max_new_tokens=max_new_tokens, banned=banned, model=model
    )
    result = reward_fn(texts, items)
    n = max(len(items), 1)
    out: dict[str, float] = {
        "val/reward_mean": float(np.mean(result.totals)) if result.totals else 0.0,
        "val/failure_rate": sum(r is not None for r in result.failure_reasons) / n,
        "val/n": float(len(items)),
    }
    single = [(p, it) for p, it in zip(result.predictions, items, strict=True) if it.kind == "single"]
    if len(single) >= 3:
        preds = [float(p) if isinstance(p, int | float) else None for p, _ in single]
        labels = np.array([float(it.label) for _, it in single])
        if any(p is not None for p in preds):
            filled = apply_missing_policy(preds, labels, "mean_fill")
            out["val/spearman"] = float(spearman(filled.pred, filled.human))
            out["val/kendall"] = float(kendall_tau_b(filled.pred, filled.human))
        else:
            out["val/spearman"] = out["val/kendall"] = float("nan")
        out["val/pred_std"] = float(np.std([p for p in preds if p is not None])) if any(preds) else 0.0
    pairs = [(p, it) for p, it in zip(result.predictions, items, strict=True) if it.kind == "pair"]
    if pairs:
        correct = 0
        for p, it in pairs:
            if isinstance(p, tuple) and len(p) == 2:
                verdict = "a" if p[0] > p[1] else "b" if p[1] > p[0] else "tie"
                correct += verdict == it.label
        out["val/pair_accuracy"] = correct / len(pairs)
    return out
