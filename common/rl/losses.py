"""Token-level clipped policy loss (PPO / GRPO / DAPO) and its aggregation modes.

Per token (PPO's clipped surrogate; GRPO; DAPO's asymmetric clip; papers listed in :mod:`common.rl`):

    rho_t  = exp(logp_theta(o_t) - logp_old(o_t))
    loss_t = -min(rho_t A, clip(rho_t, 1 - clip_low, 1 + clip_high) A)

Aggregation over a ``(B, T)`` batch with a validity mask (``LOSS_AGGREGATIONS``):

* ``"grpo"``: mean over the valid tokens of each sequence, then mean over sequences (length-biased;
  a sequence without valid tokens contributes 0 but still counts in the batch mean, as in TRL);
* ``"dr_grpo"``: sum over all valid tokens / (B * max_len), ``max_len`` defaults to ``T``;
* ``"token_mean"`` (alias ``"dapo"``): sum over all valid tokens / number of valid tokens.

:func:`policy_loss` is the ``clipped`` entry of :data:`POLICY_LOSSES` (the loss of GRPO and, on
per-step SDE log-probs, of Flow-GRPO); the DiffusionNFT loss registers there as ``nft``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from common.registry import Registry

LOSS_AGGREGATIONS: Registry[Callable[..., Tensor]] = Registry("loss aggregation")


PolicyLoss = Callable[..., tuple[Tensor, dict[str, Tensor]]]
"""What every entry of :data:`POLICY_LOSSES` is: the algorithm's inputs -> ``(loss, stats)``, a
scalar loss carrying the gradient and detached 0-d statistics for logging. The inputs depend on
the loss (``clipped``: log-probs and advantages; ``nft``: velocities and optimalities);
:class:`common.rl.algorithms.RLAlgorithm` says which loss an algorithm uses and whether its
rollout must record log-probs."""

POLICY_LOSSES: Registry[PolicyLoss] = Registry("policy loss")
"""``clipped`` (alias ``ppo_clip``): :func:`policy_loss`; ``nft`` (alias ``diffusion_nft``):
:func:`common.rl.nft.nft_loss` (registered by that module)."""

#: log-ratios are clamped to +-LOG_RATIO_CLAMP before ``exp`` so that a wild ratio cannot give inf
#: (the clamp only engages far outside any clip range, where the clipped term has no gradient).
LOG_RATIO_CLAMP = 20.0


def masked_mean(
    x: Tensor, mask: Tensor, dim: int | tuple[int, ...] | None = None, eps: float = 1e-8
) -> Tensor:
    """``sum(x * mask) / sum(mask)`` over ``dim`` (all dims if None); 0 where the mask is empty."""
    m = mask.to(x.dtype)
    if dim is None:
        return (x * m).sum() / m.sum().clamp(min=eps)
    return (x * m).sum(dim=dim) / m.sum(dim=dim).clamp(min=eps)


@LOSS_AGGREGATIONS.register("grpo", "seq_mean_token_mean")
def aggregate_grpo(loss: Tensor, mask: Tensor, max_len: int | None = None) -> Tensor:
    """Per-sequence token mean, then batch mean (GRPO; ``max_len`` unused)."""
    del max_len
    return masked_mean(loss, mask, dim=-1).mean()


@LOSS_AGGREGATIONS.register("dr_grpo", "seq_mean_token_sum_norm")
def aggregate_dr_grpo(loss: Tensor, mask: Tensor, max_len: int | None = None) -> Tensor:
    """Sum over valid tokens / (num sequences * max_len) (Dr. GRPO; ``max_len`` defaults to T)."""
    length = mask.shape[-1] if max_len is None else int(max_len)
    if length < 1:
        raise ValueError(f"max_len must be >= 1, got {length}")
    return (loss * mask.to(loss.dtype)).sum() / (loss.shape[0] * length)


@LOSS_AGGREGATIONS.register("token_mean", "dapo")
def aggregate_token_mean(loss: Tensor, mask: Tensor, max_len: int | None = None) -> Tensor:
    """Sum over all valid tokens / number of valid tokens (DAPO token-level; ``max_len`` unused)."""
    del max_len
    return masked_mean(loss, mask)


@POLICY_LOSSES.register("clipped", "ppo_clip")
def policy_loss(
    logp: Tensor,
    logp_old: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    agg: str = "grpo",
    *,
    max_len: int | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clipped surrogate ``-min(rho A, clip(rho, 1-clip_low, 1+clip_high) A)`` aggregated by ``agg``.

    Source: PPO's clip with DAPO's asymmetric bounds (DAPO uses ``clip_high=0.28``).

    Args:
        logp: ``(B, T)`` token log-probs under the current policy (carries the gradient).
        logp_old: ``(B, T)`` log-probs under the rollout policy (detached here).
        advantages: ``(B,)`` (one per sequence, broadcast to its tokens) or ``(B, T)``.
        mask: ``(B, T)`` bool/0-1, 1 on completion tokens to train on (nonzero counts as valid).
        clip_low, clip_high: the ratio is clipped to ``[1 - clip_low, 1 + clip_high]``.
        agg: a name in ``LOSS_AGGREGATIONS`` (``grpo``, ``dr_grpo``, ``token_mean``/``dapo``).
        max_len: normaliser of ``dr_grpo`` (defaults to ``T``).

    Log-ratios are computed in at least float32 and clamped to ``+-LOG_RATIO_CLAMP``; padded positions
    are zeroed before ``exp`` so ``-inf`` padding cannot produce NaN.

    Returns:
        ``(loss, stats)``; stats are detached 0-d tensors over valid tokens: ``clip_frac`` (tokens
        whose clipped term is active, i.e. zero gradient), ``clip_frac_low``, ``clip_frac_high``,
        ``ratio_mean``, ``approx_kl`` (KL(old || new) with the non-negative k3 estimator on samples
        from the old policy: ``rho - 1 - log rho``).
    """
    if logp.shape != logp_old.shape or logp.shape != mask.shape:
        raise ValueError(
            f"logp {tuple(logp.shape)}, logp_old {tuple(logp_old.shape)} and mask {tuple(mask.shape)} "
            "must have the same (B, T) shape"
        )
    if advantages.ndim == 1 and advantages.shape[0] == logp.shape[0]:
        adv = advantages.unsqueeze(-1)
    elif advantages.shape == logp.shape:
        adv = advantages
    else:
        raise ValueError(f"advantages must be (B,) or (B, T), got {tuple(advantages.shape)}")
    dtype = torch.promote_types(logp.dtype, torch.float32)  # ratios in >= float32, even for bf16 logp
    valid = mask.bool()
    adv = torch.where(valid, adv.detach().to(dtype), 0.0)
    # padded positions may hold -inf / NaN log-probs: zero their log-ratio before exp so neither the
    # loss nor its gradient can turn NaN (0 * NaN) there
    log_ratio = torch.where(valid, logp.to(dtype) - logp_old.detach().to(dtype), 0.0)
    log_ratio = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    loss = LOSS_AGGREGATIONS.get(agg)(per_token, valid, max_len=max_len)

    with torch.no_grad():
        low = (ratio < 1.0 - clip_low) & (adv < 0)
        high = (ratio > 1.0 + clip_high) & (adv > 0)
        stats = {
            "clip_frac": masked_mean((low | high).to(dtype), valid),
            "clip_frac_low": masked_mean(low.to(dtype), valid),
            "clip_frac_high": masked_mean(high.to(dtype), valid),
            "ratio_mean": masked_mean(ratio, valid),
            "approx_kl": masked_mean(ratio - 1.0 - log_ratio, valid),
        }
    return loss, {k: v.detach() for k, v in stats.items()}
