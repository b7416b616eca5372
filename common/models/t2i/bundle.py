"""A flow-matching image model with everything needed to condition and sample it: :class:`T2IBundle`.

Either a text-to-image generator (``SD3Transformer2DModel``, family ``"sd3"``) or an editor
(``QwenImageTransformer2DModel``, family ``"qwen_image_edit"``). Trainers and samplers use four
methods only: ``encode_prompt(prompts, source_images=None) -> Conditioning``,
``velocity(x_t, sigma, cond) -> v``, ``encode_images(images) -> x_0``, ``decode(x_0) -> images``;
the family-specific details live in :data:`~common.models.t2i.families.T2I_FAMILIES`.

Flow-matching convention everywhere: ``x_t = (1 - sigma) x_0 + sigma * noise``, velocity
``v = noise - x_0``, sampling runs sigma from 1 to 0. ``sigma`` is always in [0, 1]; each family
converts it to what its transformer expects (SD3: ``sigma * 1000``; Qwen-Image: ``sigma``).

A saved T2I directory is a diffusers pipeline layout (``model_index.json`` + one sub-folder per
component), so :func:`common.models.builders.load_t2i` reads a hub repo such as
``stabilityai/stable-diffusion-3.5-medium`` and a tiny saved bundle with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from common.models.module_io import ADAPTERS_DIR, save_module
from common.models.t2i.conditioning import Conditioning
from common.models.t2i.families import T2I_FAMILIES, T2IFamily
from common.models.t2i.images import ImagesLike, pil_to_tensor
from common.models.t2i.spec import BUNDLE_FILE, SAMPLE_PREDICTION_MIN_SIGMA, T2ISpec
from common.models.t2i.vae import is_video_vae, vae_scale_factor

T2I_COMPONENTS: tuple[str, ...] = (
    "transformer",
    "text_encoder",
    "tokenizer",
    "scheduler",
    "vae",
    "processor",
    "text_encoder_2",
    "tokenizer_2",
    "text_encoder_3",
    "tokenizer_3",
)
"""Component names, as in the diffusers pipelines' ``model_index.json``."""


@dataclass
class T2IBundle:
    """A flow-matching image model with everything needed to condition and sample it.

    Attributes:
        transformer: ``SD3Transformer2DModel`` or ``QwenImageTransformer2DModel``.
        text_encoder: ``CLIPTextModelWithProjection`` (SD3) or ``Qwen2_5_VLForConditionalGeneration``
            (editor).
        tokenizer: the text encoder's tokenizer.
        scheduler: ``FlowMatchEulerDiscreteScheduler`` (the sampler reads its sigmas).
        vae: ``None`` in pixel space (the tiny default: the model works on RGB in [-1, 1]),
            else ``AutoencoderKL`` / ``AutoencoderKLQwenImage``.
        processor: the editor's VL processor (``None`` for SD3).
        text_encoder_2 / tokenizer_2 / text_encoder_3 / tokenizer_3: SD3's CLIP-G and T5 at paper
            scale (``None`` for the tiny model).
        spec: project-level settings (:class:`T2ISpec`).
    """

    transformer: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    vae: Any = None
    processor: Any = None
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    text_encoder_3: Any = None
    tokenizer_3: Any = None
    spec: T2ISpec = field(default_factory=lambda: T2ISpec(family="sd3"))

    @property
    def family(self) -> T2IFamily:
        return T2I_FAMILIES.get(self.spec.family)

    @property
    def is_editor(self) -> bool:
        """True when the model is conditioned on a source image."""
        return self.family.is_editor

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    def modules(self) -> dict[str, torch.nn.Module]:
        """The torch modules of the bundle, by component name."""
        return {
            name: value
            for name in T2I_COMPONENTS
            if isinstance(value := getattr(self, name), torch.nn.Module)
        }

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> T2IBundle:
        """Move every module (in place) and return the bundle."""
        for module in self.modules().values():
            kwargs: dict[str, Any] = {} if device is None else {"device": device}
            if dtype is not None and dtype != next(module.parameters()).dtype:
                kwargs["dtype"] = dtype
            # Only the keys that change anything: diffusers' ``to`` warns about float32 modules
            # whenever a ``dtype`` key is present, even ``dtype=None``.
            if kwargs:
                module.to(**kwargs)
        return self

    # ---- the four methods trainers use -------------------------------------------------------

    def encode_prompt(self, prompts: Sequence[str], source_images: ImagesLike | None = None) -> Conditioning:
        """Prompts (and, for an editor, source images) -> :class:`Conditioning`."""
        return self.family.encode_prompt(self, prompts, source_images)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: Conditioning) -> torch.Tensor:
        """Predicted velocity ``v = noise - x_0`` at noise level ``sigma`` (``[B]`` or scalar, in [0, 1]).

        With ``spec.prediction == "sample"`` the transformer's output is ``x0_hat`` and the
        velocity is ``(x_t - x0_hat) / max(sigma, SAMPLE_PREDICTION_MIN_SIGMA)`` (since
        ``x_t - x_0 = sigma * (noise - x_0)``).
        """
        if not torch.is_tensor(sigma) or sigma.ndim == 0:
            sigma = torch.full((x.shape[0],), float(sigma), device=x.device)
        sigma = sigma.to(x.device).float()
        out = self.family.velocity(self, x, sigma, cond)
        if self.spec.prediction == "sample":
            s = sigma.clamp_min(SAMPLE_PREDICTION_MIN_SIGMA).view(-1, *([1] * (x.ndim - 1)))
            out = ((x.float() - out.float()) / s).to(out.dtype)
        return out

    def encode_images(self, images: ImagesLike) -> torch.Tensor:
        """Images (PIL, or ``[B, 3, H, W]`` in [0, 1]) -> the model's space ``x_0``.

        Pixel space: resized to ``spec.resolution`` and mapped to [-1, 1]. Latent space: the
        VAE's mean latent, normalised as the pipelines do (SD3: ``(z - shift) * scale``;
        Qwen-Image: per-channel ``(z - mean) / std``).
        """
        x = pil_to_tensor(images).to(self.device)
        size = self.spec.resolution
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x * 2.0 - 1.0
        if self.vae is None:
            return x.to(self.dtype)
        vae = self.vae
        x = x.to(vae.dtype)
        if is_video_vae(vae):  # AutoencoderKLQwenImage: a video VAE, one frame
            z = vae.encode(x[:, :, None]).latent_dist.mode()[:, :, 0]
            mean = torch.tensor(vae.config.latents_mean, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            std = torch.tensor(vae.config.latents_std, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            return ((z - mean) / std).to(self.dtype)
        z = vae.encode(x).latent_dist.mode()
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        return ((z - shift) * vae.config.scaling_factor).to(self.dtype)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """The model's space -> images ``[B, 3, H, W]`` in [0, 1] (inverse of :meth:`encode_images`)."""
        if self.vae is None:
            return ((x0.float() + 1.0) / 2.0).clamp(0, 1)
        vae = self.vae
        z = x0.to(vae.dtype)
        if is_video_vae(vae):
            mean = torch.tensor(vae.config.latents_mean, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            std = torch.tensor(vae.config.latents_std, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            x = vae.decode((z * std + mean)[:, :, None], return_dict=False)[0][:, :, 0]
        else:
            shift = getattr(vae.config, "shift_factor", None) or 0.0
            x = vae.decode(z / vae.config.scaling_factor + shift, return_dict=False)[0]
        return ((x.float() + 1.0) / 2.0).clamp(0, 1)

    def latent_shape(self, batch_size: int) -> tuple[int, int, int, int]:
        """Shape of ``x_0`` for ``batch_size`` images at ``spec.resolution``."""
        size = self.spec.resolution // vae_scale_factor(self.vae)
        channels = (
            3
            if self.vae is None
            else int(self.vae.config.get("latent_channels", self.vae.config.get("z_dim")))
        )
        return (batch_size, channels, size, size)

    # ---- persistence ---------------------------------------------------------------------------

    def save_pretrained(self, path: str | Path) -> None:
        """Write a diffusers pipeline layout: ``model_index.json``, one folder per component, spec.

        LoRA adapters are saved under ``adapters/<component>`` and re-attached on load.
        """
        import diffusers

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {
            "_class_name": self.family.pipeline_class,
            "_diffusers_version": diffusers.__version__,
        }
        for name in T2I_COMPONENTS:
            value = getattr(self, name)
            if value is None:
                if name in ("vae", "processor") or name.endswith(("_2", "_3")):
                    index[name] = [None, None]
                continue
            library = "diffusers" if type(value).__module__.startswith("diffusers") else "transformers"
            index[name] = [library, type(value).__name__]
            save_module(value, path / name, path / ADAPTERS_DIR / name)
        (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        (path / BUNDLE_FILE).write_text(json.dumps(self.spec.to_dict(), indent=2) + "\n")
