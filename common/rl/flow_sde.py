"""Rectified flow: forward interpolation, Euler ODE step, and the Flow-GRPO SDE step with log-prob.

Notation (Flow-GRPO, listed in :mod:`common.rl`): ``sigma`` = current t, ``sigma_next`` = next t
(< sigma), ``dt = sigma_next - sigma`` (< 0), ``v`` = model velocity, ``a`` = noise level (0.7).

* forward process ``x_t = (1 - t) x0 + t noise``; velocity target ``v = noise - x0``
* ODE (Euler) ``x' = x + dt v``
* SDE with the same marginals:
  ``s_t = a sqrt(sigma / (1 - sigma))`` (at ``sigma == 1`` the denominator uses ``sigma_next``),
  ``mu = x (1 + s_t^2 dt / (2 sigma)) + v (1 + s_t^2 (1 - sigma) / (2 sigma)) dt``,
  ``std = s_t sqrt(-dt)``, ``x' = mu + std n``,
  ``log p(x' | x) = mean over non-batch dims of
  [-(x' - mu)^2 / (2 std^2) - log std - log(2 pi) / 2]`` computed in float32.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class SDEStep(NamedTuple):
    """Result of one SDE step: the sample (in ``x``'s dtype), its float32 log-prob ``(B,)``, the
    float32 mean ``mu`` (shape of ``x``) and the float32 std broadcastable to ``x`` (``(B, 1, ...)``)."""

    prev_sample: Tensor
    log_prob: Tensor
    mean: Tensor
    std: Tensor


def broadcast_per_sample(value: float | Tensor, like: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """A float, 0-d, ``(B,)`` or broadcastable tensor, as ``(B, 1, ..., 1)`` (or 0-d) to match ``like``."""
    t = torch.as_tensor(value, dtype=dtype, device=like.device)
    if t.ndim == 0:
        return t
    if t.ndim == 1:
        if t.shape[0] != like.shape[0]:
            raise ValueError(f"per-sample value has {t.shape[0]} entries for a batch of {like.shape[0]}")
        return t.view(-1, *([1] * (like.ndim - 1)))
    if t.ndim != like.ndim:
        raise ValueError(f"cannot broadcast a value of shape {tuple(t.shape)} to {tuple(like.shape)}")
    return t


def mean_over_non_batch(x: Tensor) -> Tensor:
    """Mean over every dim but the first: ``(B, ...) -> (B,)``."""
    return x.mean(dim=tuple(range(1, x.ndim))) if x.ndim > 1 else x


def interpolate(x0: Tensor, noise: Tensor, t: float | Tensor) -> Tensor:
    """Forward process ``x_t = (1 - t) x0 + t noise`` (``t`` a float or per-sample ``(B,)``)."""
    tt = broadcast_per_sample(t, x0, dtype=x0.dtype)
    return (1.0 - tt) * x0 + tt * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """Flow-matching velocity target ``v = noise - x0`` (d x_t / dt)."""
    return noise - x0


def ode_step(x: Tensor, v: Tensor, sigma: float | Tensor, sigma_next: float | Tensor) -> Tensor:
    """Euler step of the flow ODE: ``x' = x + (sigma_next - sigma) v``."""
    s = broadcast_per_sample(sigma, x, dtype=x.dtype)
    s_next = broadcast_per_sample(sigma_next, x, dtype=x.dtype)
    return x + (s_next - s) * v


def sde_std_dev(
    sigma: float | Tensor, sigma_next: float | Tensor, noise_level: float, like: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(s_t, sigma, sigma_next, dt)`` in float32, broadcastable to ``like``."""
    s = broadcast_per_sample(sigma, like)
    s_next = broadcast_per_sample(sigma_next, like)
    denom = 1.0 - torch.where(s == 1.0, s_next, s)
    s_t = noise_level * torch.sqrt(s / denom)
    return s_t, s, s_next, s_next - s


def sde_step_with_logprob(
    x: Tensor,
    v: Tensor,
    sigma: float | Tensor,
    sigma_next: float | Tensor,
    noise_level: float = 0.7,
    prev_sample: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> SDEStep:
    """One Flow-GRPO SDE step and the log-prob of ``prev_sample`` under it (Flow-GRPO, formulas above).

    Args:
        x: current latent ``x_sigma``, shape ``(B, ...)``.
        v: model velocity at ``(x, sigma)``, same shape (carries the gradient when training).
        sigma, sigma_next: float or per-sample ``(B,)``; ``0 <= sigma_next < sigma <= 1``.
        noise_level: ``a`` (> 0; use :func:`ode_step` for a = 0).
        prev_sample: if given, its log-prob is evaluated (training); else one is sampled (rollout).
        generator: RNG for the sampled noise.

    The sample is rounded to ``x.dtype`` first and the log-prob is computed from the rounded
    sample in float32, so re-evaluating a stored rollout sample gives exactly the same log-prob
    (ratio 1 before any update).
    """
    if noise_level <= 0:
        raise ValueError(f"noise_level must be > 0 for a stochastic step (got {noise_level}); use ode_step")
    xf, vf = x.float(), v.float()
    s_t, s, _, dt = sde_std_dev(sigma, sigma_next, noise_level, xf)
    mean = xf * (1.0 + s_t**2 * dt / (2.0 * s)) + vf * (1.0 + s_t**2 * (1.0 - s) / (2.0 * s)) * dt
    std = s_t * torch.sqrt(-dt)
    if std.ndim == 0:
        std = std.view(*([1] * x.ndim))
    if prev_sample is None:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32)
        prev_sample = (mean + std * noise).to(x.dtype)
    pf = prev_sample.detach().float()
    log_prob = -((pf - mean) ** 2) / (2.0 * std**2) - torch.log(std) - _HALF_LOG_2PI
    return SDEStep(prev_sample, mean_over_non_batch(log_prob), mean, std)


def flow_kl(mean: Tensor, mean_ref: Tensor, std: float | Tensor) -> Tensor:
    """Per-sample KL between the SDE step Gaussians: mean over non-batch dims of
    ``(mu - mu_ref)^2 / (2 std^2)`` (Flow-GRPO; ``mean_ref`` is detached). Shape ``(B,)``."""
    std_t = (
        std
        if isinstance(std, Tensor) and std.ndim == mean.ndim
        else broadcast_per_sample(std, mean, mean.dtype)
    )
    return mean_over_non_batch((mean - mean_ref.detach()) ** 2 / (2.0 * std_t**2))
