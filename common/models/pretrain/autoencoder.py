"""Autoencoder base pretraining (``autoencoder``): a tiny ``AutoencoderKL`` for a latent generator.

SD3 generates in the latent space of a pretrained VAE. At ``scale=tiny`` the project trains its
own: reconstruction of world renders at the generator's resolution with the loss
``mean |D(z) - x| + kl_weight * KL(q(z|x) || N(0, I)) / dim(z)``, ``z ~ q(z|x)`` (the VAE
objective with an L1 likelihood; see :class:`~common.models.pretrain.config.AutoencoderPretrainConfig`).
After training, the posterior means of ``stats_size`` fresh renders give ``shift_factor`` (their
mean) and ``scaling_factor`` (one over their standard deviation), written into the VAE's config,
so :meth:`common.models.t2i.T2IBundle.encode_images` hands the transformer roughly
unit-variance latents, as SD3's published factors do for its VAE.

Evaluation on held-out GenEval-world prompts: L1 error and PSNR of the reconstructions, and the
world checker's GenEval-world accuracy on the reconstructions beside the same on the originals,
i.e. the ceiling a latent generator with this decoder can reach.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.models.pretrain.config import AutoencoderPretrainConfig, PretrainConfig
from common.models.pretrain.data import world_scenes
from common.models.pretrain.flow_eval import contact_sheet, geneval_summary
from common.models.pretrain.objectives import PretrainObjective, step_generator
from common.models.t2i import tensor_to_pil, vae_scale_factor
from common.models.t2i.images import images_to_uint8
from common.models.tiny import count_parameters
from common.world.render import render_at

STATS_SEED = 0xA7E
"""Seed offset of the renders the latent statistics are computed on (not training scenes)."""


class AutoencoderLoss(torch.nn.Module):
    """``forward(batch) -> loss``: L1 reconstruction + weighted per-element KL of an ``AutoencoderKL``."""

    def __init__(self, vae: Any, kl_weight: float) -> None:
        super().__init__()
        self.vae = vae
        self.kl_weight = float(kl_weight)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        x = batch["x"].to(device=self.vae.device, dtype=self.vae.dtype) * 2.0 - 1.0
        posterior = self.vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * batch["eps"].to(x.device, x.dtype)
        reconstruction = self.vae.decode(z).sample
        kl = posterior.kl().mean() / z[0].numel()
        return (reconstruction - x).abs().mean().float() + self.kl_weight * kl.float()


def _to_unit(images: list[Any]) -> torch.Tensor:
    return images_to_uint8(images).float() / 255.0


def latent_side(vae: Any) -> int:
    """Side of ``vae``'s latent grid for its ``sample_size`` inputs."""
    return int(vae.config.sample_size) // vae_scale_factor(vae)


@contextlib.contextmanager
def _evaluating(vae: Any) -> Iterator[None]:
    was_training = vae.training
    vae.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        vae.train(was_training)


def _mean_latent(vae: Any, images: torch.Tensor) -> torch.Tensor:
    x = images.to(device=vae.device, dtype=vae.dtype) * 2.0 - 1.0
    return vae.encode(x).latent_dist.mode().float().cpu()


def _decoded(vae: Any, z: torch.Tensor) -> torch.Tensor:
    x = vae.decode(z.to(device=vae.device, dtype=vae.dtype)).sample.float().cpu()
    return ((x + 1.0) / 2.0).clamp(0, 1)


def posterior_means(vae: Any, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Posterior means ``E[z | x]`` of ``[N, 3, H, W]`` images in [0, 1] (unnormalised)."""
    with _evaluating(vae):
        return torch.cat([_mean_latent(vae, chunk) for chunk in images.split(batch_size)])


def reconstruct(vae: Any, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """``D(E[z | x])`` in [0, 1] for ``[N, 3, H, W]`` images in [0, 1]."""
    with _evaluating(vae):
        return torch.cat([_decoded(vae, _mean_latent(vae, chunk)) for chunk in images.split(batch_size)])


def set_latent_statistics(vae: Any, latents: torch.Tensor) -> dict[str, float]:
    """Write ``shift_factor = mean`` and ``scaling_factor = 1 / std`` of ``latents`` into the config."""
    mean, std = float(latents.mean()), float(latents.std())
    if not np.isfinite(std) or std <= 0:
        raise ValueError(f"autoencoder latents have standard deviation {std}: training diverged")
    vae.register_to_config(shift_factor=mean, scaling_factor=1.0 / std)
    return {"latent_mean": mean, "latent_std": std}


class AutoencoderObjective(PretrainObjective):
    """Reconstruction of world renders by a tiny ``AutoencoderKL`` (see the module docstring)."""

    name = "autoencoder"

    def module(self, cfg: Any, bundle: Any) -> torch.nn.Module:
        assert isinstance(cfg, AutoencoderPretrainConfig)
        return AutoencoderLoss(bundle, cfg.kl_weight)

    def prepare(self, cfg: PretrainConfig, bundle: Any) -> torch.Tensor:
        size = int(bundle.config.sample_size)
        pairs = world_scenes(cfg.pool_size, cfg.seed)
        return images_to_uint8([render_at(s, size) for _, s in pairs])

    def batch(self, cfg: PretrainConfig, bundle: Any, data: torch.Tensor, step: int) -> dict[str, Any]:
        g = step_generator(cfg.seed, step, 0xAE, self.rank)
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=g)
        side = latent_side(bundle)
        eps = torch.randn(cfg.batch_size, int(bundle.config.latent_channels), side, side, generator=g)
        return {"x": data[idx].float() / 255.0, "eps": eps}

    def finalize(self, cfg: PretrainConfig, bundle: Any) -> None:
        """Set the latent statistics (see the module docstring)."""
        assert isinstance(cfg, AutoencoderPretrainConfig)
        size = int(bundle.config.sample_size)
        pairs = world_scenes(cfg.stats_size, cfg.seed + STATS_SEED)
        images = _to_unit([render_at(s, size) for _, s in pairs])
        set_latent_statistics(bundle, posterior_means(bundle, images))

    def load(self, path: Path) -> Any:
        from diffusers import AutoencoderKL  # lazy: diffusers is a heavy import, needed only here

        return AutoencoderKL.from_pretrained(str(path))

    def evaluate(
        self, cfg: PretrainConfig, bundle: Any, out_dir: Path, progress: bool = False
    ) -> dict[str, Any]:
        assert isinstance(cfg, AutoencoderPretrainConfig)
        return evaluate_autoencoder(
            bundle,
            n=cfg.eval_size,
            seed=cfg.eval_seed,
            batch_size=cfg.eval_batch_size,
            grid_path=out_dir / "samples.png",
        )

    def describe_model(self, bundle: Any) -> dict[str, Any]:

        c = bundle.config
        return {
            "class": type(bundle).__name__,
            "resolution": int(c.sample_size),
            "latent_shape": [int(c.latent_channels), latent_side(bundle), latent_side(bundle)],
            "scaling_factor": float(c.scaling_factor),
            "shift_factor": float(c.shift_factor or 0.0),
            "parameters": count_parameters(bundle),
        }


def evaluate_autoencoder(
    vae: Any, *, n: int = 240, seed: int = 10_007, batch_size: int = 128, grid_path: Path | None = None
) -> dict[str, Any]:
    """Reconstruction quality of ``vae`` on ``n`` held-out GenEval-world scenes (module docstring)."""
    start = time.perf_counter()
    size = int(vae.config.sample_size)
    pairs = world_scenes(n, seed, modes=("match",))
    prompts = [p for p, _ in pairs]
    originals = [render_at(s, size) for _, s in pairs]
    x = _to_unit(originals)
    y = reconstruct(vae, x, batch_size)
    mse = ((y - x) ** 2).mean(dim=(1, 2, 3))
    recons = tensor_to_pil(y)
    out: dict[str, Any] = {
        "n": n,
        "l1": float((y - x).abs().mean()),
        "psnr": float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()),
        "reconstruction": geneval_summary(prompts, recons),
        "original": geneval_summary(prompts, originals),
    }
    if grid_path is not None:
        pairs_shown = [im for k in range(min(32, n)) for im in (originals[k], recons[k])]
        contact_sheet(pairs_shown, scale=4).save(grid_path)
        out["grid"] = grid_path.name
    out["eval_s"] = round(time.perf_counter() - start, 1)
    return out
