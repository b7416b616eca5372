"""Sampling images from a flow-matching model, with the trajectory RL needs.

:func:`sample_images` runs flow-matching Euler sampling with the bundle's
``FlowMatchEulerDiscreteScheduler`` sigmas (the tiny models: ``shift=1``; the transformer sees
``timestep = sigma * 1000`` for SD3), optional classifier-free guidance, a per-step callback and
an optional trajectory record ``(x_t, v, sigma, sigma_next)``; ``step_fn`` can replace the Euler
step (e.g. by an SDE step for Flow-GRPO).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from common.models.t2i import Conditioning, ImagesLike, T2IBundle, tensor_to_pil


@dataclass
class TrajectoryStep:
    """One Euler step: state ``x_t`` at ``sigma``, the (guided) velocity ``v``, next ``sigma``."""

    x_t: torch.Tensor
    v: torch.Tensor
    sigma: float
    sigma_next: float


class TrajectoryRecorder:
    """A sampler callback that keeps every step (detached; on CPU when ``to_cpu``)."""

    def __init__(self, to_cpu: bool = False) -> None:
        self.steps: list[TrajectoryStep] = []
        self.to_cpu = to_cpu

    def __call__(
        self, step: int, x_t: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float
    ) -> None:
        def keep(t: torch.Tensor) -> torch.Tensor:
            t = t.detach()
            return t.cpu() if self.to_cpu else t.clone()

        self.steps.append(TrajectoryStep(keep(x_t), keep(v), float(sigma), float(sigma_next)))


StepFn = Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor, float, float], None]


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """The flow-matching Euler ODE step ``x + (sigma_next - sigma) v`` (the scheduler's ``step``)."""
    return x + (sigma_next - sigma) * v


@dataclass
class ImageSamples:
    """Result of :func:`sample_images`.

    Attributes:
        x0: final samples in the model's space ``[B, C, h, w]``.
        images: decoded images ``[B, 3, H, W]`` in [0, 1].
        pil: the same as PIL images.
        sigmas: the sigma schedule used (``num_steps + 1`` values, ending at 0).
        trajectory: the recorded steps when ``record_trajectory`` was set, else ``None``.
        noise: the initial noise ``x_1``.
    """

    x0: torch.Tensor
    images: torch.Tensor
    pil: list[Any]
    sigmas: torch.Tensor
    trajectory: list[TrajectoryStep] | None
    noise: torch.Tensor


def flow_sigmas(bundle: T2IBundle, num_steps: int, image_seq_len: int | None = None) -> torch.Tensor:
    """The sampling sigmas of the bundle's scheduler for ``num_steps`` steps (``num_steps + 1`` values).

    A fresh scheduler is made from the bundle's config (no shared state). Schedulers with dynamic
    shifting (Qwen-Image) get ``mu`` from the image sequence length, as the pipelines compute it.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_config(bundle.scheduler.config)
    kwargs: dict[str, Any] = {}
    if scheduler.config.get("use_dynamic_shifting", False):
        from diffusers.pipelines.qwenimage.pipeline_qwenimage import calculate_shift

        kwargs["mu"] = calculate_shift(
            image_seq_len or 256,
            scheduler.config.get("base_image_seq_len", 256),
            scheduler.config.get("max_image_seq_len", 4096),
            scheduler.config.get("base_shift", 0.5),
            scheduler.config.get("max_shift", 1.15),
        )
    scheduler.set_timesteps(num_steps, device="cpu", **kwargs)
    return scheduler.sigmas.float()


def sample_images(
    bundle: T2IBundle,
    prompts: Sequence[str] | None = None,
    *,
    source_images: ImagesLike | None = None,
    cond: Conditioning | None = None,
    uncond: Conditioning | None = None,
    num_steps: int = 10,
    guidance_scale: float = 1.0,
    negative_prompt: str = "",
    num_images_per_prompt: int = 1,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    callback: Callback | None = None,
    record_trajectory: bool = False,
    step_fn: StepFn | None = None,
    grad: bool = False,
) -> ImageSamples:
    """Flow-matching sampling from noise (sigma 1) to images (sigma 0).

    Args:
        bundle: generator or editor.
        prompts: text prompts / edit instructions (or give ``cond``).
        source_images: the editor's source images, one per prompt.
        cond / uncond: precomputed conditionings (skip the text encoder).
        num_steps: Euler steps.
        guidance_scale: classifier-free guidance ``v_u + w (v_c - v_u)``; 1 disables it.
        negative_prompt: the unconditional prompt (the empty prompt by default).
        num_images_per_prompt: samples per prompt (grouped consecutively).
        generator: makes the initial noise reproducible (a CPU generator works on any device).
        noise: the initial noise itself (overrides ``generator``).
        callback: ``callback(step, x_t, v, sigma, sigma_next)`` after each velocity evaluation.
        record_trajectory: keep every ``(x_t, v, sigma, sigma_next)`` in the result.
        step_fn: ``step_fn(x, v, sigma, sigma_next) -> x_next``; default :func:`euler_step`.
        grad: keep the autograd graph (off: sampling runs under ``torch.no_grad``).
    """
    with torch.set_grad_enabled(grad):
        if cond is None:
            if prompts is None:
                raise ValueError("give prompts or cond")
            cond = bundle.encode_prompt(list(prompts), source_images)
        n_prompts = len(cond)
        use_cfg = guidance_scale != 1.0
        if use_cfg and uncond is None:
            uncond = bundle.encode_prompt([negative_prompt] * n_prompts, source_images)
        if num_images_per_prompt > 1:
            cond = cond.repeat_interleave(num_images_per_prompt)
            uncond = uncond.repeat_interleave(num_images_per_prompt) if uncond is not None else None
        batch = len(cond)
        shape = bundle.latent_shape(batch)
        if noise is None:
            noise = torch.randn(shape, generator=generator, device=generator.device if generator else "cpu")
        x = noise.to(device=bundle.device, dtype=torch.float32)
        both = Conditioning.cat([uncond, cond]) if use_cfg and uncond is not None else None
        patch = int(getattr(bundle.transformer.config, "patch_size", 1))
        sigmas = flow_sigmas(bundle, num_steps, image_seq_len=(shape[2] // patch) * (shape[3] // patch))
        recorder = TrajectoryRecorder() if record_trajectory else None
        step = step_fn or euler_step
        for i in range(num_steps):
            sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
            if both is not None:
                v_u, v_c = bundle.velocity(torch.cat([x, x]), sigma, both).float().chunk(2)
                v = v_u + guidance_scale * (v_c - v_u)
            else:
                v = bundle.velocity(x, sigma, cond).float()
            if recorder is not None:
                recorder(i, x, v, sigma, sigma_next)
            if callback is not None:
                callback(i, x, v, sigma, sigma_next)
            x = step(x, v, sigma, sigma_next)
        images = bundle.decode(x)
    return ImageSamples(
        x0=x,
        images=images,
        pil=tensor_to_pil(images),
        sigmas=sigmas,
        trajectory=recorder.steps if recorder is not None else None,
        noise=noise,
    )
