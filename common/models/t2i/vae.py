"""What the T2I code needs to know of a VAE's layout (image VAE or Qwen-Image's video VAE)."""

from __future__ import annotations

from typing import Any


def is_video_vae(vae: Any) -> bool:
    """``AutoencoderKLQwenImage`` (5-D video latents, per-channel mean/std normalisation)."""
    return hasattr(vae.config, "temperal_downsample")


def vae_scale_factor(vae: Any) -> int:
    """Spatial down-sampling of ``vae`` (1 for pixel space, ``vae`` ``None``)."""
    if vae is None:
        return 1
    if is_video_vae(vae):
        return 2 ** len(vae.config.temperal_downsample)
    return 2 ** (len(vae.config.block_out_channels) - 1)
