"""Online RL of flow-matching image policies (generators and editors): one trainer, any family.

* ``policy``: :class:`FlowPolicy`, the current, old (EMA) and reference velocities of one model.
* ``rollout``: groups of samples per prompt with a deterministic second-order, Euler or SDE sampler.
* ``config``: :class:`FlowRLConfig`, the trainer's settings.
* ``updates``: the algorithms' updates by name, :data:`FLOW_UPDATES` (``diffusion_nft``, ``flow_grpo``).
* ``trainer``: :class:`FlowRLTrainer`, the loop (rollouts, rewards overlapped with sampling,
  advantages, update, EMA old policy, checkpoints).

The math (losses, advantages, SDE step, EMA schedule, registries) is :mod:`common.rl`; what a
task adds (items, critics, rewards, evaluation) is FIRM's (:mod:`firm.rl`).
"""

from common.flow_rl.config import FlowRLConfig
from common.flow_rl.policy import OLD_ADAPTER, POLICIES, FlowPolicy
from common.flow_rl.rollout import SAMPLERS, Rollout, rollout
from common.flow_rl.trainer import FlowRLTrainer, RewardBatch, RewardFn
from common.flow_rl.updates import FLOW_UPDATES

__all__ = [
    "FLOW_UPDATES",
    "OLD_ADAPTER",
    "POLICIES",
    "SAMPLERS",
    "FlowPolicy",
    "FlowRLConfig",
    "FlowRLTrainer",
    "RewardBatch",
    "RewardFn",
    "Rollout",
    "rollout",
]
