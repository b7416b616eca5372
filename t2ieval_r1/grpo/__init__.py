"""GRPO training of the T2I-Eval-R1 evaluator (one trainer for single-wise and pairwise corpora).

* :mod:`~t2ieval_r1.grpo.config`: :class:`GRPOConfig` (validated dataclasses behind ``task.grpo``).
* :mod:`~t2ieval_r1.grpo.items`: :class:`EvalItem`, the resumable :class:`DataStream`.
* :mod:`~t2ieval_r1.grpo.rollout`: G completions per item, micro-batches. Sampling and the
  teacher-forced log-probs are :func:`common.models.vlm_sampling.sample_vlm` / ``sequence_logprobs``,
  both always given the structural token ids of ``banned_token_ids`` to mask, so the sampling and
  the training distribution are the same and the ratio is exactly 1 before an update (tested).
* :mod:`~t2ieval_r1.grpo.rewards`: the evaluator reward path (format + score / pairwise rewards).
* :mod:`~t2ieval_r1.grpo.update`: the clipped token loss + KL over PPO epochs and micro-batches.
* :mod:`~t2ieval_r1.grpo.checkpoint`: what the resume key leaves out (atomic checkpoints,
  RNG state and the key itself: :mod:`common.run_checkpoints`).
* :mod:`~t2ieval_r1.grpo.validate`: greedy validation during training.
* :mod:`~t2ieval_r1.grpo.trainer`: :class:`GRPOTrainer`, the loop.
"""

from t2ieval_r1.grpo.checkpoint import NOT_IN_RESUME_KEY
from t2ieval_r1.grpo.config import GRPOConfig, GRPOConfigError, RewardConfig, RolloutConfig
from t2ieval_r1.grpo.items import DataStream, EvalItem, item_from_row, load_items
from t2ieval_r1.grpo.rewards import EvaluatorReward, RewardFn, RewardResult
from t2ieval_r1.grpo.trainer import FAILURE_REASONS, GRPOTrainer

__all__ = [
    "FAILURE_REASONS",
    "NOT_IN_RESUME_KEY",
    "DataStream",
    "EvalItem",
    "EvaluatorReward",
    "GRPOConfig",
    "GRPOConfigError",
    "GRPOTrainer",
    "RewardConfig",
    "RewardFn",
    "RewardResult",
    "RolloutConfig",
    "item_from_row",
    "load_items",
]
