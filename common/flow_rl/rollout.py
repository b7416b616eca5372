"""Rollouts of a flow-matching policy: groups of samples per prompt, with what each algorithm needs.

Samplers (``sampler``), all from sigma 1 (noise) to 0 on the bundle's scheduler sigmas
(:func:`common.models.image_sampling.flow_sigmas`):

* ``dpm2``: deterministic second-order multistep solver, DPM-Solver++(2M) in data prediction
  (Lu et al., "DPM-Solver++", 2022) written for rectified flow (``alpha = 1 - sigma``,
  ``lambda = log(alpha / sigma)``, ``x0_hat = x - sigma v``):
  ``x' = (sigma' / sigma) x - alpha' (exp(-h) - 1) D`` with ``h = lambda' - lambda`` and
  ``D = (1 + 1 / (2 r)) x0_hat - 1 / (2 r) x0_hat_prev``, ``r = h_prev / h`` (first order, i.e.
  DDIM, on the first step and whenever ``h_prev`` is infinite; the last step to sigma 0 returns
  ``x0_hat``). DiffusionNFT's and FIRM's rollouts use a deterministic second-order sampler.
* ``euler``: the flow ODE's Euler step (what the pipelines' scheduler does).
* ``sde``: the Flow-GRPO SDE step with its log-prob (:func:`common.rl.flow_sde.sde_step_with_logprob`),
  recording every step's ``(x_t, x_next, log_prob)`` for the clipped ratio.

Groups: ``group_size`` samples per prompt, consecutive, each from its own noise (the noise of a
rollout comes from one seeded generator, so a rollout is reproducible and samples of a group differ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from common.flow_rl.policy import FlowPolicy, PolicyName
from common.models.image_sampling import flow_sigmas
from common.models.t2i import Conditioning, tensor_to_pil
from common.rl.flow_sde import sde_step_with_logprob

__all__ = ["SAMPLERS", "Rollout", "dpm2_step", "rollout"]

SAMPLERS: tuple[str, ...] = ("dpm2", "euler", "sde")


@dataclass
class Rollout:
    """One batch of samples.

    Attributes:
        x0: final samples in the model's space ``[B, C, h, w]`` (B = prompts x group size).
        images: PIL images of the samples.
        cond: the conditioning of every sample (repeated per group), detached.
        sigmas: the sigma schedule (``num_steps + 1`` values).
        states: ``sde`` only: ``[T + 1, B, ...]`` the states ``x_t`` visited (``states[j]`` at
            ``sigmas[j]``).
        log_probs: ``sde`` only: ``[T, B]`` log-prob of each step under the sampling policy.
    """

    x0: torch.Tensor
    images: list[Any]
    cond: Conditioning
    sigmas: torch.Tensor
    states: torch.Tensor | None = None
    log_probs: torch.Tensor | None = None


def _lambda(sigma: float) -> float:
    """``log((1 - sigma) / sigma)``; -inf at sigma 1, +inf at sigma 0."""
    if sigma >= 1.0:
        return -math.inf
    if sigma <= 0.0:
        return math.inf
    return math.log((1.0 - sigma) / sigma)


def dpm2_step(
    x: torch.Tensor,
    v: torch.Tensor,
    sigma: float,
    sigma_next: float,
    prev: tuple[torch.Tensor, float] | None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, float]]:
    """One DPM-Solver++(2M) step (module docstring); returns ``(x_next, (x0_hat, h))`` for the next step."""
    x0_hat = x - sigma * v
    if sigma_next <= 0.0:
        return x0_hat, (x0_hat, math.inf)
    h = _lambda(sigma_next) - _lambda(sigma)
    # exp(-h) = alpha sigma' / (sigma alpha'), finite also at sigma = 1 (alpha = 0)
    decay = (1.0 - sigma) * sigma_next / (sigma * (1.0 - sigma_next))
    d = x0_hat
    if prev is not None and math.isfinite(prev[1]) and math.isfinite(h):
        r = prev[1] / h
        d = (1.0 + 0.5 / r) * x0_hat - (0.5 / r) * prev[0]
    x_next = (sigma_next / sigma) * x - (1.0 - sigma_next) * (decay - 1.0) * d
    return x_next, (x0_hat, h)


@torch.no_grad()
def rollout(
    policy: FlowPolicy,
    prompts: Sequence[str],
    *,
    group_size: int,
    num_steps: int,
    sampler: str = "dpm2",
    generator: torch.Generator | None = None,
    source_images: Any = None,
    sample_with: PolicyName = "current",
    guidance_scale: float = 1.0,
    noise_level: float = 0.7,
) -> Rollout:
    """``group_size`` samples for each prompt (consecutive) with ``sampler`` (module docstring).

    ``sample_with``: which policy samples (DiffusionNFT: ``old``; Flow-GRPO: ``current``).
    ``guidance_scale``: classifier-free guidance against the empty prompt (1: none, FIRM's
    training setting). ``source_images``: the editor's sources, one per prompt.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    bundle = policy.bundle
    cond = policy.encode(list(prompts), source_images)
    uncond = None
    if guidance_scale != 1.0:
        uncond = policy.encode([""] * len(prompts), source_images).repeat_interleave(group_size)
    cond = cond.repeat_interleave(group_size)
    shape = bundle.latent_shape(len(cond))
    x = torch.randn(shape, generator=generator).to(device=bundle.device, dtype=torch.float32)
    patch = int(getattr(bundle.transformer.config, "patch_size", 1))
    sigmas = flow_sigmas(bundle, num_steps, image_seq_len=(shape[2] // patch) * (shape[3] // patch))
    both = Conditioning.cat([uncond, cond]) if uncond is not None else None
    states = [x] if sampler == "sde" else None
    log_probs = []
    prev: tuple[torch.Tensor, float] | None = None
    with policy.use(sample_with):
        for i in range(num_steps):
            s, s_next = float(sigmas[i]), float(sigmas[i + 1])
            if both is not None:
                v_u, v_c = bundle.velocity(torch.cat([x, x]), s, both).float().chunk(2)
                v = v_u + guidance_scale * (v_c - v_u)
            else:
                v = bundle.velocity(x, s, cond).float()
            if sampler == "dpm2":
                x, prev = dpm2_step(x, v, s, s_next, prev)
            elif sampler == "euler":
                x = x + (s_next - s) * v
            else:
                step = sde_step_with_logprob(x, v, s, s_next, noise_level, generator=generator)
                x = step.prev_sample
                states.append(x)  # type: ignore[union-attr]
                log_probs.append(step.log_prob)
    images = bundle.decode(x)
    return Rollout(
        x0=x,
        images=tensor_to_pil(images.cpu()),
        cond=cond,
        sigmas=sigmas,
        states=torch.stack(states) if states is not None else None,
        log_probs=torch.stack(log_probs) if log_probs else None,
    )
