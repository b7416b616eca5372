"""Shared policy-optimisation math for both papers (each module's docstring states its formula
and source; FIRM's RL settings: docs/papers/firm.md §5).

* ``advantages``: group-relative advantages (GRPO, global std, Dr. GRPO), zero-std ratio.
* ``losses``: token-level clipped policy loss with GRPO / Dr. GRPO / DAPO aggregation.
* ``kl``: k1 / k2 / k3 KL estimators to a frozen reference.
* ``flow``: rectified-flow interpolation, Euler ODE step, Flow-GRPO SDE step with log-prob.
* ``nft``: the DiffusionNFT loss used by FIRM, optimality from advantages.
* ``stats``: per-prompt stat tracker, cross-rank gathering, group layout check.
* ``ema``: EMA old-policy updater with FIRM's decay schedule.
"""

from common.grpo.advantages import (
    ADVANTAGE_ESTIMATORS,
    group_advantages,
    group_mean_std,
    resolve_group_index,
    zero_std_ratio,
)
from common.grpo.ema import EMA_SCHEDULES, EMAUpdater, constant_decay, firm_decay, make_schedule
from common.grpo.flow import (
    SDEStep,
    flow_kl,
    interpolate,
    ode_step,
    sde_std_dev,
    sde_step_with_logprob,
    velocity_target,
)
from common.grpo.kl import KL_ESTIMATORS, kl_estimate
from common.grpo.losses import LOSS_AGGREGATIONS, masked_mean, policy_loss
from common.grpo.nft import nft_loss, optimality_from_advantage
from common.grpo.stats import (
    PerPromptStatTracker,
    gather_for_group_stats,
    local_part,
    prompt_ids,
    stable_prompt_id,
    validate_group_layout,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "EMA_SCHEDULES",
    "KL_ESTIMATORS",
    "LOSS_AGGREGATIONS",
    "EMAUpdater",
    "PerPromptStatTracker",
    "SDEStep",
    "constant_decay",
    "firm_decay",
    "flow_kl",
    "gather_for_group_stats",
    "group_advantages",
    "group_mean_std",
    "interpolate",
    "kl_estimate",
    "local_part",
    "make_schedule",
    "masked_mean",
    "nft_loss",
    "ode_step",
    "optimality_from_advantage",
    "policy_loss",
    "prompt_ids",
    "resolve_group_index",
    "sde_std_dev",
    "sde_step_with_logprob",
    "stable_prompt_id",
    "validate_group_layout",
    "velocity_target",
    "zero_std_ratio",
]
