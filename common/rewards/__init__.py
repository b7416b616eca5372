"""Rewards shared by both reproductions: format reward, score rewards
(single-wise, pairwise), FIRM's Base-and-Bonus combiners, and the T2I-Eval-R1 evaluator reward.

Rewards come in two kinds, each registered under the names configs use
(:mod:`common.rewards.registry`): per-item scorers in :data:`ITEM_REWARDS` (text / answer ->
float) and combiners of critic scores in :data:`REWARD_COMBINERS` (CME, QMA, linear)::

    from common.rewards import ITEM_REWARDS, REWARD_COMBINERS
    fn = ITEM_REWARDS.get("score_gaussian")
    reward = REWARD_COMBINERS.get("cme")(execution, consistency)

The RM modes the critics are asked in are defined once in :mod:`common.rewards.modes`.
"""

from common.rewards.base_and_bonus import (
    NAIVE_EQUAL,
    NAIVE_WEIGHTED,
    cme,
    linear_combination,
    qma,
    quality_from_subscores,
    to_unit,
)
from common.rewards.evaluator import (
    BatchRewards,
    CompositeReward,
    RewardBreakdown,
    compute_evaluator_reward,
    compute_evaluator_rewards,
)
from common.rewards.format import format_reward
from common.rewards.pairwise import (
    normalize_pair_label,
    pair_continuous,
    pair_discrete,
    pair_sigmoid,
    pair_verdict,
)
from common.rewards.registry import (
    ITEM_REWARDS,
    REWARD_COMBINERS,
    CombinedReward,
    ItemReward,
    RewardCombiner,
)
from common.rewards.score import check_scale, score_continuous, score_discrete, score_gaussian

__all__ = [
    "ITEM_REWARDS",
    "NAIVE_EQUAL",
    "NAIVE_WEIGHTED",
    "REWARD_COMBINERS",
    "BatchRewards",
    "CombinedReward",
    "CompositeReward",
    "ItemReward",
    "RewardBreakdown",
    "RewardCombiner",
    "check_scale",
    "cme",
    "compute_evaluator_reward",
    "compute_evaluator_rewards",
    "format_reward",
    "linear_combination",
    "normalize_pair_label",
    "pair_continuous",
    "pair_discrete",
    "pair_sigmoid",
    "pair_verdict",
    "qma",
    "quality_from_subscores",
    "score_continuous",
    "score_discrete",
    "score_gaussian",
    "to_unit",
]
