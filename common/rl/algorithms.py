"""RL algorithms by name: which advantage estimator and policy loss each uses, and whether its
rollout must record log-probs.

=================  ===================  ===========  ===========================================
algorithm          advantage            loss         rollout
=================  ===================  ===========  ===========================================
``grpo``           ``grpo``             ``clipped``  token log-probs of each completion (GRPO,
                                                     DeepSeekMath; the T2I-Eval-R1 trainer)
``flow_grpo``      ``grpo_global_std``  ``clipped``  SDE sampler recording each step's log-prob
                                                     (:func:`common.rl.flow_sde.sde_step_with_logprob`;
                                                     Flow-GRPO), ratio per denoising step
``diffusion_nft``  ``grpo_global_std``  ``nft``      any (ODE) sampler, no log-probs: the loss is
                                                     on the forward process (DiffusionNFT; FIRM,
                                                     docs/papers/firm.md §5)
=================  ===================  ===========  ===========================================

The advantage and loss names are entries of :data:`common.rl.advantages.ADVANTAGE_ESTIMATORS`
and :data:`common.rl.losses.POLICY_LOSSES`; :func:`register_algorithm` checks that they exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.registry import Registry
from common.rl import nft as _nft  # noqa: F401  (registers the ``nft`` policy loss)
from common.rl.advantages import ADVANTAGE_ESTIMATORS, AdvantageEstimator
from common.rl.losses import POLICY_LOSSES, PolicyLoss

__all__ = ["RL_ALGORITHMS", "RLAlgorithm", "register_algorithm"]


@dataclass(frozen=True)
class RLAlgorithm:
    """One RL algorithm: the names of its parts and what its rollout must record.

    Attributes:
        name: the registry name (``grpo``, ``flow_grpo``, ``diffusion_nft``).
        advantage: a name in :data:`ADVANTAGE_ESTIMATORS` (the default estimator).
        loss: a name in :data:`POLICY_LOSSES`.
        needs_logprobs: the rollout must keep the sampling policy's log-probs (token log-probs,
            or per-step SDE log-probs for images) for the ratio of the loss.
        source: where the combination comes from.
    """

    name: str
    advantage: str
    loss: str
    needs_logprobs: bool
    source: str = ""

    def advantage_estimator(self) -> AdvantageEstimator:
        """The registered advantage estimator."""
        return ADVANTAGE_ESTIMATORS.get(self.advantage)

    def policy_loss(self) -> PolicyLoss:
        """The registered policy loss."""
        return POLICY_LOSSES.get(self.loss)


RL_ALGORITHMS: Registry[RLAlgorithm] = Registry("RL algorithm")


def register_algorithm(algorithm: RLAlgorithm) -> RLAlgorithm:
    """Register ``algorithm`` under its name once its estimator and loss are known names."""
    ADVANTAGE_ESTIMATORS.get(algorithm.advantage)  # KeyError listing the known names on a typo
    POLICY_LOSSES.get(algorithm.loss)
    return RL_ALGORITHMS.register(algorithm.name)(algorithm)


register_algorithm(
    RLAlgorithm(
        "grpo",
        advantage="grpo",
        loss="clipped",
        needs_logprobs=True,
        source="GRPO (DeepSeekMath); T2I-Eval-R1 (docs/papers/t2i_eval_r1.md)",
    )
)
register_algorithm(
    RLAlgorithm(
        "flow_grpo",
        advantage="grpo_global_std",
        loss="clipped",
        needs_logprobs=True,
        source="Flow-GRPO: SDE sampling with per-step log-probs, clipped ratio per step",
    )
)
register_algorithm(
    RLAlgorithm(
        "diffusion_nft",
        advantage="grpo_global_std",
        loss="nft",
        needs_logprobs=False,
        source="DiffusionNFT; FIRM (docs/papers/firm.md §5: group mean with global std)",
    )
)
