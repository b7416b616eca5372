"""The trainer's reward path: completions + items -> rewards, components and failure reasons.

Default (:class:`EvaluatorReward`): T2I-Eval-R1's ``total = r_score + lambda * r_format``
(docs/papers/t2i_eval_r1.md §3) computed by :class:`common.rewards.CompositeReward`, with the
single-wise score reward (continuous ``1 - |p - y| / (hi - lo)`` by default; gaussian or discrete
by config) for single-wise items and the pairwise reward (continuous margin reward by default)
for pairwise items, each on the item's own scale. Malformed or unparsable completions get 0 and
a failure reason (``malformed``, ``no_number``, ``out_of_range`` ...); nothing a policy writes can
raise. Any callable with the same signature as :meth:`EvaluatorReward.__call__` can replace it
(``GRPOTrainer(reward_fn=...)``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.rewards import CompositeReward
from t2ieval_r1.grpo.config import RewardConfig
from t2ieval_r1.grpo.items import EvalItem

__all__ = ["EvaluatorReward", "RewardFn", "RewardResult"]


@dataclass
class RewardResult:
    """Rewards of a batch of completions (parallel lists).

    Attributes:
        totals: the reward GRPO optimises.
        components: named parts of the reward (``score``, ``format``), each a list.
        failure_reasons: why a completion got no score (None where it parsed).
        predictions: the parsed score / score pair (None on failure).
    """

    totals: list[float]
    components: dict[str, list[float]] = field(default_factory=dict)
    failure_reasons: list[str | None] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.totals)
        if not self.failure_reasons:
            self.failure_reasons = [None] * n
        if not self.predictions:
            self.predictions = [None] * n
        for name, values in self.components.items():
            if len(values) != n:
                raise ValueError(f"reward component {name!r} has {len(values)} values for {n} completions")
        bad = [t for t in self.totals if not math.isfinite(t)]
        if bad:
            raise ValueError(f"rewards must be finite, got {bad[:3]}")

    @property
    def failure_counts(self) -> dict[str, int]:
        return dict(Counter(r for r in self.failure_reasons if r is not None))


class RewardFn(Protocol):
    """``reward_fn(completions, items) -> RewardResult`` (one item per completion)."""

    def __call__(self, completions: Sequence[str], items: Sequence[EvalItem]) -> RewardResult: ...


class EvaluatorReward:
    """T2I-Eval-R1's evaluator reward for mixed single-wise / pairwise batches (module docstring)."""

    def __init__(self, cfg: RewardConfig | None = None) -> None:
        self.cfg = cfg or RewardConfig()
        self._cache: dict[tuple[str, float, float], CompositeReward] = {}

    def reward_for(self, kind: str, scale: tuple[float, float]) -> CompositeReward:
        """The configured :class:`CompositeReward` of one item kind and scale (cached)."""
        key = (kind, float(scale[0]), float(scale[1]))
        if key not in self._cache:
            single = kind == "single"
            self._cache[key] = CompositeReward(
                kind="single" if single else "pair",
                scale=(key[1], key[2]),
                score_fn=self.cfg.score_fn if single else self.cfg.pair_score_fn,
                format_weight=self.cfg.format_weight,
                score_kwargs=dict(self.cfg.score_kwargs if single else self.cfg.pair_score_kwargs),
            )
        return self._cache[key]

    def __call__(self, completions: Sequence[str], items: Sequence[EvalItem]) -> RewardResult:
        if len(completions) != len(items):
            raise ValueError(f"{len(completions)} completions but {len(items)} items")
        totals, scores, formats, reasons, preds = [], [], [], [], []
        for text, item in zip(completions, items, strict=True):
            b = self.reward_for(item.kind, item.scale)(text, item.label)
            totals.append(b.total)
            scores.append(b.score)
            formats.append(b.format)
            reasons.append(b.failure_reason)
            preds.append(b.prediction)
        return RewardResult(totals, {"score": scores, "format": formats}, reasons, preds)
