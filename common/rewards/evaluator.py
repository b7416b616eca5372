"""The T2I-Eval-R1 evaluator reward: score reward + lambda * format reward, with failure reasons.

Source: T2I-Eval-R1 (docs/papers/t2i_eval_r1.md §3): ``total = r_score + lambda * r_format``. A
completion that breaks the format (no tags, garbage, two answers, text outside the tags), or whose
answer does not parse (no number, conflicting numbers, NaN, out of [lo, hi], another scale) gets
``r_score = 0`` and ``r_format = 0`` and a ``failure_reason`` (a :class:`ParseOutcome` value), so a
trainer can log how often each failure happens. Nothing here raises because of the completion;
bad labels or configs raise ``ValueError`` (data and config bugs must be loud).

With the built-in score rewards ``total`` lies in ``[0, 1 + format_weight]``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from common.parsing import AnswerKind, ParsedAnswer, ParseOutcome, parse_answer, parse_completion
from common.rewards.pairwise import (
    normalize_pair_label,
    pair_continuous,
    pair_discrete,
    pair_sigmoid,
    pair_verdict,
)
from common.rewards.registry import ITEM_REWARDS, REWARD_COMBINERS
from common.rewards.score import check_scale, score_continuous, score_discrete, score_gaussian

__all__ = [
    "BatchRewards",
    "CompositeReward",
    "RewardBreakdown",
    "compute_evaluator_reward",
    "compute_evaluator_rewards",
]

TaskKind = Literal["single", "pair"]
Prediction = float | tuple[float, float] | str | None

_SINGLE_FNS = (score_continuous, score_gaussian, score_discrete)
_PAIR_SCORE_FNS = (pair_continuous, pair_sigmoid, pair_discrete)
_DEFAULT_FN = {"single": "score_continuous", "pair": "pair_continuous"}


@dataclass
class RewardBreakdown:
    """One completion's reward: ``total = score + format_weight * format``."""

    total: float
    score: float
    format: float
    parsed: ParsedAnswer
    failure_reason: str | None  # a ParseOutcome value; None when the answer parsed
    prediction: Prediction = None  # the parsed score / score pair / verdict


@dataclass
class BatchRewards:
    """Rewards of a batch, as parallel lists, plus failure counts by reason."""

    breakdowns: list[RewardBreakdown]
    totals: list[float] = field(init=False)
    scores: list[float] = field(init=False)
    formats: list[float] = field(init=False)
    failure_reasons: list[str | None] = field(init=False)
    failure_counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.totals = [b.total for b in self.breakdowns]
        self.scores = [b.score for b in self.breakdowns]
        self.formats = [b.format for b in self.breakdowns]
        self.failure_reasons = [b.failure_reason for b in self.breakdowns]
        self.failure_counts = dict(Counter(r for r in self.failure_reasons if r is not None))

    def __len__(self) -> int:
        return len(self.breakdowns)

    @property
    def n_failed(self) -> int:
        return sum(self.failure_counts.values())

    @property
    def failure_rate(self) -> float:
        return self.n_failed / len(self) if len(self) else 0.0

    def summary(self, prefix: str = "reward") -> dict[str, float]:
        """Flat metrics for a logger: means, failure rate and one count per failure reason."""
        n = max(len(self), 1)
        out = {
            f"{prefix}/total_mean": sum(self.totals) / n,
            f"{prefix}/score_mean": sum(self.scores) / n,
            f"{prefix}/format_mean": sum(self.formats) / n,
            f"{prefix}/failure_rate": self.failure_rate,
        }
        for reason, count in sorted(self.failure_counts.items()):
            out[f"{prefix}/fail_{reason}"] = float(count)
        return out


@dataclass
class CompositeReward:
    """A configured evaluator reward: ``reward(completion, label) -> RewardBreakdown``.

    Args:
        kind: ``"single"`` (label: a score on ``scale``) or ``"pair"`` (label "a" | "b" | "tie").
        scale: ``(lo, hi)`` of the scores; answers outside it fail to parse.
        score_fn: a registered name or a callable ``fn(pred, label, *, lo, hi, **score_kwargs)``;
            default ``score_continuous`` / ``pair_continuous``.
        format_weight: lambda, the weight of the format reward (>= 0).
        require_format: if False (lenient, for evaluation), a malformed completion is still
            scored from its best-effort answer (or whole text); its format reward stays 0.
        answer: how to read the answer (``score``, ``pair_scores``, ``verdict``); inferred from
            ``kind`` and ``score_fn`` when None (``pair_verdict`` reads a verdict).
        score_kwargs: extra keyword arguments of ``score_fn`` (``sigma``, ``tol``, ``temperature``).
    """

    kind: TaskKind = "single"
    scale: tuple[float, float] = (0.0, 10.0)
    score_fn: str | Callable[..., float] | None = None
    format_weight: float = 1.0
    require_format: bool = True
    answer: AnswerKind | None = None
    score_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("single", "pair"):
            raise ValueError(f"kind must be 'single' or 'pair', got {self.kind!r}")
        lo, hi = (float(v) for v in self.scale)
        check_scale(lo, hi)
        self.scale = (lo, hi)
        if not (math.isfinite(self.format_weight) and self.format_weight >= 0):
            raise ValueError(f"format_weight must be a finite number >= 0, got {self.format_weight!r}")
        name = self.score_fn if self.score_fn is not None else _DEFAULT_FN[self.kind]
        if isinstance(name, str) and name in REWARD_COMBINERS:
            what = "score" if self.kind == "single" else "pairwise"
            raise ValueError(f"reward {name!r} is not a {what} reward (it combines critic scores)")
        fn = ITEM_REWARDS.get(name) if isinstance(name, str) else name
        if not callable(fn):
            raise ValueError(f"score_fn must be a reward name or a callable, got {self.score_fn!r}")
        self._fn: Callable[..., float] = fn
        inferred: AnswerKind
        if self.kind == "single":
            if fn in _PAIR_SCORE_FNS or fn is pair_verdict:
                raise ValueError(f"score_fn {name!r} is pairwise but kind='single'")
            if isinstance(name, str) and fn not in _SINGLE_FNS:
                raise ValueError(f"reward {name!r} is not a score reward")
            inferred = "score"
        else:
            if fn in _SINGLE_FNS:
                raise ValueError(f"score_fn {name!r} is single-wise but kind='pair'")
            if isinstance(name, str) and fn not in (*_PAIR_SCORE_FNS, pair_verdict):
                raise ValueError(f"reward {name!r} is not a pairwise reward")
            inferred = "verdict" if fn is pair_verdict else "pair_scores"
        self._answer: AnswerKind = self.answer if self.answer is not None else inferred
        if self._answer not in ("score", "pair_scores", "verdict"):
            raise ValueError(f"answer must be score, pair_scores or verdict, got {self._answer!r}")

    @property
    def reward_range(self) -> tuple[float, float]:
        """The range of ``total`` for the built-in score rewards."""
        return 0.0, 1.0 + self.format_weight

    def _check_label(self, label: Any) -> Any:
        if self.kind == "pair":
            return normalize_pair_label(label)
        if isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label):
            raise ValueError(f"a single-wise label must be a finite number, got {label!r}")
        return float(label)

    def __call__(self, completion: Any, label: Any) -> RewardBreakdown:
        label = self._check_label(label)
        parsed = parse_completion(completion)
        if parsed.well_formed:
            text: Any = parsed.answer
        elif self.require_format:
            return RewardBreakdown(0.0, 0.0, 0.0, parsed, ParseOutcome.MALFORMED.value)
        else:
            text = parsed.answer if parsed.answer is not None else completion
        lo, hi = self.scale
        result = parse_answer(text, self._answer, lo, hi)
        if result.outcome is not ParseOutcome.OK:
            return RewardBreakdown(0.0, 0.0, 0.0, parsed, result.outcome.value)
        score = float(self._fn(result.value, label, lo=lo, hi=hi, **self.score_kwargs))
        fmt = 1.0 if parsed.well_formed else 0.0
        return RewardBreakdown(score + self.format_weight * fmt, score, fmt, parsed, None, result.value)

    def batch(self, completions: Sequence[Any], labels: Sequence[Any]) -> BatchRewards:
        """Rewards of parallel lists of completions and labels."""
        if len(completions) != len(labels):
            raise ValueError(f"{len(completions)} completions but {len(labels)} labels")
        return BatchRewards([self(c, y) for c, y in zip(completions, labels, strict=True)])


def compute_evaluator_reward(
    completion: Any,
    label: Any,
    *,
    kind: TaskKind = "single",
    scale: tuple[float, float] = (0.0, 10.0),
    score_fn: str | Callable[..., float] | None = None,
    format_weight: float = 1.0,
    require_format: bool = True,
    answer: AnswerKind | None = None,
    **score_kwargs: Any,
) -> RewardBreakdown:
    """``r_score + format_weight * r_format`` for one completion; see :class:`CompositeReward`."""
    reward = CompositeReward(kind, scale, score_fn, format_weight, require_format, answer, score_kwargs)
    return reward(completion, label)


def compute_evaluator_rewards(
    completions: Sequence[Any],
    labels: Sequence[Any],
    *,
    kind: TaskKind = "single",
    scale: tuple[float, float] = (0.0, 10.0),
    score_fn: str | Callable[..., float] | None = None,
    format_weight: float = 1.0,
    require_format: bool = True,
    answer: AnswerKind | None = None,
    **score_kwargs: Any,
) -> BatchRewards:
    """Batch version of :func:`compute_evaluator_reward` (lists + failure counts)."""
    reward = CompositeReward(kind, scale, score_fn, format_weight, require_format, answer, score_kwargs)
    return reward.batch(completions, labels)
