"""Sampling and teacher-forced log-probs of the evaluator policy, with structural tokens banned.

Thin names over :func:`common.models.vlm_sampling.sample_vlm` / ``sequence_logprobs`` (rows
expanded before ``generate``; log-probs of ``log softmax(logits / T)`` at the sampled token,
before top-p / top-k truncation; zero where the mask is 0), always called with the ids of
:func:`banned_token_ids` masked, so the sampling distribution and the training distribution stay
identical and the ratio is exactly 1 before an update (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from common.models.vlm_bundle import VLMBundle
from common.models.vlm_sampling import Rollout, banned_token_ids, sample_vlm, sequence_logprobs

__all__ = ["banned_token_ids", "completion_logprobs", "sample_completions"]


def sample_completions(
    bundle: VLMBundle,
    batch: Mapping[str, Any],
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 64,
    num_return_sequences: int = 1,
    seed: int | None = None,
    banned: Sequence[int] = (),
    model: Any = None,
) -> Rollout:
    """``num_return_sequences`` completions per prompt of ``batch`` with ``banned`` ids never sampled.

    ``temperature <= 0`` is greedy decoding (log-probs then of the untempered distribution).
    ``seed`` seeds torch's RNG for this call only, so a rollout is a pure function of the
    weights, the batch and the seed (what makes resumed runs identical to uninterrupted ones).
    """
    return sample_vlm(
        bundle,
        batch,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_return_sequences,
        seed=seed,
        model=model,
        banned=banned,
    )


def completion_logprobs(
    model: Any,
    batch: Mapping[str, Any],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
    banned: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced ``(log-probs, entropies)``, each ``[N, T]`` and 0 where the mask is 0.

    One forward pass over prompt + completion (gradients flow); ``banned`` logits masked as in
    :func:`sample_completions`; the entropy is that of the tempered, masked distribution.
    """
    logprobs, entropy = sequence_logprobs(
        model, batch, completion_ids, completion_mask, temperature, return_entropy=True, banned=banned
    )
    return logprobs, entropy
