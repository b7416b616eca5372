"""The home of RL for both papers: policy-optimisation math and the registries that name it
(each module's docstring states its formula and source; FIRM's RL settings: docs/papers/firm.md §5).

* ``advantages``: group-relative advantages (GRPO, global std, Dr. GRPO), zero-std ratio;
  :data:`ADVANTAGE_ESTIMATORS`.
* ``losses``: token-level clipped policy loss with GRPO / Dr. GRPO / DAPO aggregation;
  :data:`POLICY_LOSSES` (``clipped``, and ``nft`` from ``nft``), :data:`LOSS_AGGREGATIONS`.
* ``kl``: k1 / k2 / k3 KL estimators to a frozen reference; :data:`KL_ESTIMATORS`.
* ``flow_sde``: rectified-flow interpolation, Euler ODE step, Flow-GRPO SDE step with log-prob.
* ``nft``: the DiffusionNFT loss used by FIRM, optimality from advantages.
* ``stats``: per-prompt stat tracker, cross-rank gathering, group layout check.
* ``ema``: EMA old-policy updater with FIRM's decay schedule; :data:`EMA_SCHEDULES`.
* ``algorithms``: :data:`RL_ALGORITHMS` (``grpo``, ``flow_grpo``, ``diffusion_nft``): each
  algorithm's advantage estimator, policy loss and whether its rollout records log-probs.

Sources of the formulas (each module states its own):

* PPO: Schulman et al., "Proximal Policy Optimization Algorithms" (2017): the clipped surrogate.
* GRPO: Shao et al., "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language
  Models" (2024): group-relative advantages, clipped token loss, k3 KL to a reference.
* Dr. GRPO: Liu et al., "Understanding R1-Zero-Like Training: A Critical Perspective" (2025): no
  std division, length-unbiased aggregation.
* DAPO: Yu et al., "DAPO: An Open-Source LLM Reinforcement Learning System at Scale" (2025):
  asymmetric clip, token-mean aggregation.
* KL estimators: J. Schulman, "Approximating KL Divergence" (http://joschu.net/blog/kl-approx.html).
* Flow-GRPO: Liu et al., "Flow-GRPO: Training Flow Matching Models via Online RL" (2025): the SDE
  step with log-prob, per-prompt stats with global std.
* DiffusionNFT: Zheng et al., "DiffusionNFT: Online Diffusion Reinforcement with Forward Process"
  (2025): the NFT loss and its EMA old policy.
* FIRM (arXiv 2603.12247) and T2I-Eval-R1 (arXiv 2505.17897): the settings used, as recorded in
  docs/papers/firm.md §5 and docs/papers/t2i_eval_r1.md §1 and §3.
"""

from common.rl.advantages import (
    ADVANTAGE_ESTIMATORS,
    AdvantageEstimator,
    group_advantages,
    group_mean_std,
    resolve_group_index,
    zero_std_ratio,
)
from common.rl.algorithms import RL_ALGORITHMS, RLAlgorithm, register_algorithm
from common.rl.ema import EMA_SCHEDULES, EMAUpdater, constant_decay, firm_decay, make_schedule
from common.rl.flow_sde import (
    SDEStep,
    flow_kl,
    interpolate,
    ode_step,
    sde_std_dev,
    sde_step_with_logprob,
    velocity_target,
)
from common.rl.kl import KL_ESTIMATORS, kl_estimate
from common.rl.losses import LOSS_AGGREGATIONS, POLICY_LOSSES, PolicyLoss, masked_mean, policy_loss
from common.rl.nft import nft_loss, optimality_from_advantage
from common.rl.stats import (
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
    "POLICY_LOSSES",
    "RL_ALGORITHMS",
    "AdvantageEstimator",
    "EMAUpdater",
    "PerPromptStatTracker",
    "PolicyLoss",
    "RLAlgorithm",
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
    "register_algorithm",
    "resolve_group_index",
    "sde_std_dev",
    "sde_step_with_logprob",
    "stable_prompt_id",
    "validate_group_layout",
    "velocity_target",
    "zero_std_ratio",
]
