"""DiffusionNFT loss (negative-aware fine-tuning on the forward process), as used by FIRM.

Per sample (DiffusionNFT; FIRM, docs/papers/firm.md §5), with optimality ``r`` in [0, 1]:

    v_plus   = beta v_theta + (1 - beta) v_old
    v_minus  = (1 + beta) v_old - beta v_theta              (v_old, v_ref detached)
    x0_plus  = x_t - t v_plus ;  x0_minus = x_t - t v_minus
    w_plus   = stopgrad(mean |x0_plus - x0|) clamped >= min_weight   (w_minus likewise; 1 if not
               adaptive_weight)
    L = A_max * mean_b[ r d_plus / (beta w_plus) + (1 - r) d_minus / (beta w_minus) ]
        + kl_weight * mean_b d(v_theta, v_ref)

where ``d(a, b)`` is the mean over non-batch dims of ``(a - b)^2`` (``d_plus = d(x0_plus, x0)``).

Naming trap: ``beta`` is the NFT mixing weight (1.0 in FIRM); ``kl_weight`` is the weight of the
velocity KL to the frozen reference (1e-4 in FIRM). They are different parameters.

Reduction (r = 1, beta = 1): v_plus = v_theta and x_t - x0 = t (noise - x0), so
``x0_plus - x0 = t (v_target - v_theta)`` and the loss is the weighted flow-matching loss
``A_max * mean_b[ t^2 mean((v_theta - v_target)^2) / w_plus ]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from common.rl.flow_sde import broadcast_per_sample, mean_over_non_batch
from common.rl.losses import POLICY_LOSSES


def optimality_from_advantage(advantages: Tensor, adv_clip_max: float = 5.0) -> Tensor:
    """``r = clamp(clip(A, -A_max, A_max) / A_max / 2 + 0.5, 0, 1)`` (docs/papers/firm.md §5)."""
    if adv_clip_max <= 0:
        raise ValueError(f"adv_clip_max must be > 0, got {adv_clip_max}")
    a = advantages.clamp(-adv_clip_max, adv_clip_max)
    return (a / adv_clip_max / 2.0 + 0.5).clamp(0.0, 1.0)


@POLICY_LOSSES.register("nft", "diffusion_nft")
def nft_loss(
    v_theta: Tensor,
    v_old: Tensor,
    x0: Tensor,
    x_t: Tensor,
    t: float | Tensor,
    r: Tensor,
    beta: float = 1.0,
    *,
    v_ref: Tensor | None = None,
    kl_weight: float = 0.0,
    adv_clip_max: float = 5.0,
    adaptive_weight: bool = True,
    min_weight: float = 1e-5,
) -> tuple[Tensor, dict[str, Tensor]]:
    """DiffusionNFT loss (see module docstring for the formula).

    Args:
        v_theta: current velocity prediction at ``(x_t, t)``, shape ``(B, ...)`` (has grad).
        v_old: old-policy (EMA) velocity, same shape; detached here.
        x0: clean rollout samples; x_t: ``(1 - t) x0 + t n``; both treated as constants.
        t: float or per-sample ``(B,)`` times.
        r: optimality in [0, 1], shape ``(B,)`` (see :func:`optimality_from_advantage`).
        beta: NFT mixing weight (> 0).
        v_ref: frozen-reference velocity (required when ``kl_weight > 0``); detached here.
        kl_weight: weight of ``mean (v_theta - v_ref)^2``.
        adv_clip_max: ``A_max``, the loss scale.
        adaptive_weight: divide each sample's distance by its stop-gradient mean absolute error.
        min_weight: lower clamp of the adaptive weights.

    Returns:
        ``(loss, stats)`` with detached stats ``policy_loss``, ``kl_loss``, ``positive_loss``,
        ``negative_loss`` (batch means of the weighted distances) and ``w_plus``/``w_minus`` means.
    """
    if beta <= 0:
        raise ValueError(f"NFT beta (mixing weight) must be > 0, got {beta}")
    if kl_weight > 0 and v_ref is None:
        raise ValueError("kl_weight > 0 needs v_ref (the frozen reference velocity)")
    if v_theta.shape != v_old.shape or v_theta.shape != x0.shape or x0.shape != x_t.shape:
        raise ValueError("v_theta, v_old, x0 and x_t must have the same shape")
    v_old = v_old.detach()
    x0 = x0.detach()
    x_t = x_t.detach()
    tt = broadcast_per_sample(t, x_t, dtype=x_t.dtype)
    r = torch.as_tensor(r, dtype=v_theta.dtype, device=v_theta.device).detach()
    if r.shape != (v_theta.shape[0],):
        raise ValueError(f"r must have shape ({v_theta.shape[0]},), got {tuple(r.shape)}")

    v_plus = beta * v_theta + (1.0 - beta) * v_old
    v_minus = (1.0 + beta) * v_old - beta * v_theta
    err_plus = x_t - tt * v_plus - x0
    err_minus = x_t - tt * v_minus - x0
    with torch.no_grad():
        if adaptive_weight:
            w_plus = mean_over_non_batch(err_plus.abs()).clamp(min=min_weight)
            w_minus = mean_over_non_batch(err_minus.abs()).clamp(min=min_weight)
        else:
            w_plus = torch.ones_like(r)
            w_minus = torch.ones_like(r)
    pos = mean_over_non_batch(err_plus**2) / w_plus
    neg = mean_over_non_batch(err_minus**2) / w_minus
    per_sample = (r * pos + (1.0 - r) * neg) / beta
    policy = adv_clip_max * per_sample.mean()

    if v_ref is not None:
        kl = mean_over_non_batch((v_theta - v_ref.detach()) ** 2).mean()
    else:
        kl = torch.zeros((), dtype=policy.dtype, device=policy.device)
    loss = policy + kl_weight * kl if kl_weight > 0 else policy
    stats = {
        "policy_loss": policy.detach(),
        "kl_loss": kl.detach(),
        "positive_loss": pos.mean().detach(),
        "negative_loss": neg.mean().detach(),
        "w_plus": w_plus.mean(),
        "w_minus": w_minus.mean(),
    }
    return loss, stats
