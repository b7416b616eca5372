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
from common.models.image_sampling import sample_images
from common.models.t2i import Conditioning
from common.rl.flow_sde import sde_step_with_logprob

__all__ = ["SAMPLERS", "DPM2Stepper", "Rollout", "SDEStepper", "dpm2_step", "rollout"]

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


class DPM2Stepper:
    """A ``step_fn`` for :func:`common.models.image_sampling.sample_images` that runs
    :func:`dpm2_step`, keeping the previous step's ``x0_hat`` (one stepper per trajectory)."""

    def __init__(self) -> None:
        self.prev: tuple[torch.Tensor, float] | None = None

    def __call__(self, x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
        x_next, self.prev = dpm2_step(x, v, sigma, sigma_next, self.prev)
        return x_next


class SDEStepper:
    """A ``step_fn`` that takes Flow-GRPO's SDE step and records every state and step log-prob."""

    def __init__(self, noise_level: float, generator: torch.Generator | None) -> None:
        self.noise_level = noise_level
        self.generator = generator
        self.states: list[torch.Tensor] = []
        self.log_probs: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
        if not self.states:
            self.states.append(x)
        step = sde_step_with_logprob(x, v, sigma, sigma_next, self.noise_level, generator=self.generator)
        self.states.append(step.prev_sample)
        self.log_probs.append(step.log_prob)
        return step.prev_sample


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
    """``group_size`` samples for each prompt (consecutive) with ``sampler`` (module docstring),
    through the project's one sampling loop (:func:`common.models.image_sampling.sample_images`).

    ``sample_with``: which policy samples (DiffusionNFT: ``old``; Flow-GRPO: ``current``).
    ``guidance_scale``: classifier-free guidance against the empty prompt (1: none, FIRM's
    training setting). ``source_images``: the editor's sources, one per prompt.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    cond = policy.encode(list(prompts), source_images)
    uncond = policy.encode([""] * len(prompts), source_images) if guidance_scale != 1.0 else None
    stepper: DPM2Stepper | SDEStepper | None = None  # None: sample_images' Euler step
    if sampler == "dpm2":
        stepper = DPM2Stepper()
    elif sampler == "sde":
        stepper = SDEStepper(noise_level, generator)
    with policy.use(sample_with):
        out = sample_images(
            policy.bundle,
            cond=cond,
            uncond=uncond,
            num_steps=num_steps,
            guidance_scale=guidance_scale,
            num_images_per_prompt=group_size,
            generator=generator,
            step_fn=stepper,
        )
    sde = isinstance(stepper, SDEStepper)
    return Rollout(
        x0=out.x0,
        images=out.pil,
        cond=cond.repeat_interleave(group_size),
        sigmas=out.sigmas,
        states=torch.stack(stepper.states) if sde else None,
        log_probs=torch.stack(stepper.log_probs) if sde else None,
    )
