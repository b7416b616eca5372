"""Flow-matching base pretraining of the tiny generator (``t2i``) and the tiny editor (``editor``).

Objective (rectified flow / conditional flow matching, as SD3 trains): ``x_t = (1 - sigma) x_0 +
sigma * noise`` with ``sigma = sigmoid(N(logit_mean, logit_std))`` (SD3's logit-normal
sampling), loss ``|| v_theta(x_t, sigma, c) - (noise - x_0) ||^2``; the text encoder trains
jointly with the transformer. A share ``prompt_dropout`` of prompts is replaced by the empty
prompt so that classifier-free guidance works at sampling time (for the editor only the
instruction is dropped; the source image is kept). The saved base is the EMA of the weights.

Data: world scenes rendered at the model's resolution (32 pixels): for ``t2i`` a GenEval-style
world prompt and a scene matching it; for ``editor`` an :class:`~common.models.pretrain.data.EditTriple`
(source image, instruction, edited image).

Evaluation (samples, GenEval-world and edit accuracy for the model card):
:mod:`common.models.pretrain.flow_eval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from common.models.pretrain.cache import ensure_base
from common.models.pretrain.config import FlowPretrainConfig, PretrainConfig
from common.models.pretrain.data import world_edits, world_scenes
from common.models.pretrain.flow_eval import evaluate_editor, evaluate_t2i
from common.models.pretrain.objectives import PretrainObjective, step_generator
from common.models.t2i.images import images_to_uint8
from common.models.tiny import count_parameters
from common.rl.flow_sde import interpolate, velocity_target
from common.world.captions import describe
from common.world.render import render_at


class FlowMatchingLoss(torch.nn.Module):
    """``forward(batch) -> loss``: flow-matching MSE of a :class:`~common.models.t2i.T2IBundle`.

    Holds the bundle's transformer and text encoder as sub-modules (so a Fabric / DDP / DeepSpeed
    wrapper of this module owns their parameters) and calls the bundle's ``encode_prompt`` /
    ``velocity``, which use the very same module objects.
    """

    def __init__(self, bundle: Any) -> None:
        super().__init__()
        self.bundle = bundle
        self.transformer = bundle.transformer
        self.text_encoder = bundle.text_encoder

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        bundle = self.bundle
        device = bundle.device
        source = batch.get("source")
        cond = bundle.encode_prompt(batch["prompts"], None if source is None else source.to(device))
        if "z0" in batch:  # latents encoded once when the pool was built
            x0 = batch["z0"].to(device=device, dtype=bundle.dtype)
        else:
            x0 = bundle.encode_images(batch["x0"].to(device))
        noise = batch["noise"].to(device=device, dtype=x0.dtype)
        sigma = batch["sigma"].to(device=device, dtype=x0.dtype)
        v = bundle.velocity(interpolate(x0, noise, sigma), sigma, cond)
        return F.mse_loss(v.float(), velocity_target(x0, noise).float())


@dataclass
class FlowPool:
    """Training pool: prompts / instructions, target images, the editor's source images,
    for a latent-space model the targets' latents (encoded once by the frozen VAE) and, for the
    generator, each scene's full caption (used instead of its prompt with ``caption_share``)."""

    prompts: list[str]
    images: torch.Tensor
    sources: torch.Tensor | None = None
    latents: torch.Tensor | None = None
    captions: list[str] | None = None


@torch.no_grad()
def encode_pool(bundle: Any, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``bundle.encode_images`` of uint8 ``[N, 3, H, W]`` images, in batches (on the CPU)."""
    return torch.cat(
        [
            bundle.encode_images(images[i : i + batch_size].float() / 255.0).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def attach_autoencoder(bundle: Any, path: Path) -> None:
    """Replace ``bundle.vae`` by the trained, frozen ``AutoencoderKL`` saved at ``path``.

    The saved VAE must have the preset's down-sampling factor and latent channels (the
    transformer was sized for them)."""
    from diffusers import AutoencoderKL  # lazy: diffusers is a heavy import, needed only here

    if bundle.vae is None:
        raise ValueError(
            f"pretraining config names an autoencoder ({path}) but the model preset is in pixel "
            "space: set latent: true in the preset (e.g. conf/model/tiny_sd3_latent.yaml)"
        )
    vae = AutoencoderKL.from_pretrained(str(path)).to(device=bundle.device, dtype=bundle.vae.dtype)
    for key in ("block_out_channels", "latent_channels", "sample_size"):
        want, got = bundle.vae.config[key], vae.config[key]
        if np.ravel(want).tolist() != np.ravel(got).tolist():
            raise ValueError(f"autoencoder at {path}: {key} is {got}, the generator preset expects {want}")
    vae.requires_grad_(False)
    vae.eval()
    bundle.vae = vae


class _FlowObjective(PretrainObjective):
    uses_ema = True

    def build(self, cfg: PretrainConfig, scale: Any = None) -> Any:
        """The preset's bundle; with ``cfg.autoencoder`` its VAE replaced by that trained base."""
        assert isinstance(cfg, FlowPretrainConfig)
        bundle = super().build(cfg, scale)
        if cfg.autoencoder:
            path = ensure_base(cfg.autoencoder, self.settings, overrides=cfg.autoencoder_overrides or None)
            attach_autoencoder(bundle, path)
        return bundle

    def module(self, cfg: Any, bundle: Any) -> torch.nn.Module:
        return FlowMatchingLoss(bundle)

    def batch(self, cfg: PretrainConfig, bundle: Any, data: FlowPool, step: int) -> dict[str, Any]:
        assert isinstance(cfg, FlowPretrainConfig)
        g = step_generator(cfg.seed, step, 0xF10, self.rank)
        n = len(data.prompts)
        idx = torch.randint(0, n, (cfg.batch_size,), generator=g)
        drop = torch.rand(cfg.batch_size, generator=g) < cfg.prompt_dropout
        prompts = ["" if d else data.prompts[int(i)] for i, d in zip(idx, drop, strict=True)]
        shape = bundle.latent_shape(cfg.batch_size)
        noise = torch.randn(shape, generator=g)
        sigma = torch.sigmoid(cfg.logit_mean + cfg.logit_std * torch.randn(cfg.batch_size, generator=g))
        if cfg.caption_share > 0 and data.captions is not None:  # drawn last: share 0 keeps the old draws
            use = torch.rand(cfg.batch_size, generator=g) < cfg.caption_share
            prompts = [
                data.captions[int(i)] if u and p else p for i, u, p in zip(idx, use, prompts, strict=True)
            ]
        out: dict[str, Any] = {"prompts": prompts, "noise": noise, "sigma": sigma}
        if data.latents is not None:
            out["z0"] = data.latents[idx]
        else:
            out["x0"] = data.images[idx].float() / 255.0
        if data.sources is not None:
            out["source"] = data.sources[idx].float() / 255.0
        return out

    def describe_model(self, bundle: Any) -> dict[str, Any]:

        return {
            "class": type(bundle.transformer).__name__,
            "text_encoder_class": type(bundle.text_encoder).__name__,
            "family": bundle.spec.family,
            "resolution": bundle.spec.resolution,
            "parameters": count_parameters(bundle.transformer),
            "text_encoder_parameters": count_parameters(bundle.text_encoder),
            **(
                {"vae_class": type(bundle.vae).__name__, "vae_parameters": count_parameters(bundle.vae)}
                if bundle.vae is not None
                else {}
            ),
        }


class T2IObjective(_FlowObjective):
    """Flow matching on world (prompt, image) pairs (see the module docstring)."""

    name = "t2i"

    def prepare(self, cfg: PretrainConfig, bundle: Any) -> FlowPool:
        size = bundle.spec.resolution
        assert isinstance(cfg, FlowPretrainConfig)
        pairs = world_scenes(
            cfg.pool_size,
            cfg.seed,
            modes=("match",),
            distractors=cfg.distractors,
            sizes=cfg.object_sizes,
            level=cfg.world_level,
        )
        images = images_to_uint8([render_at(s, size) for _, s in pairs])
        latents = encode_pool(bundle, images) if bundle.vae is not None else None
        return FlowPool(
            prompts=[p.prompt for p, _ in pairs],
            images=images,
            latents=latents,
            captions=[describe(s) for _, s in pairs],
        )

    def evaluate(
        self, cfg: PretrainConfig, bundle: Any, out_dir: Path, progress: bool = False
    ) -> dict[str, Any]:
        assert isinstance(cfg, FlowPretrainConfig)
        return evaluate_t2i(
            bundle,
            n=cfg.eval_size,
            seed=cfg.eval_seed,
            num_steps=cfg.sample_steps,
            guidance_scales=cfg.guidance_scales,
            batch_size=cfg.eval_batch_size,
            grid_path=out_dir / "samples.png",
            level=cfg.world_level,
        )


class EditorObjective(_FlowObjective):
    """Flow matching on world (source image, instruction, edited image) triples."""

    name = "editor"

    def prepare(self, cfg: PretrainConfig, bundle: Any) -> FlowPool:
        assert isinstance(cfg, FlowPretrainConfig)
        size = bundle.spec.resolution
        edits = world_edits(cfg.pool_size, cfg.seed, cfg.edit_kinds, phrasings=True, level=cfg.world_level)
        return FlowPool(
            prompts=[e.instruction for e in edits],
            images=images_to_uint8([render_at(e.target, size) for e in edits]),
            sources=images_to_uint8([render_at(e.source, size) for e in edits]),
        )

    def evaluate(
        self, cfg: PretrainConfig, bundle: Any, out_dir: Path, progress: bool = False
    ) -> dict[str, Any]:
        assert isinstance(cfg, FlowPretrainConfig)
        return evaluate_editor(
            bundle,
            n=cfg.eval_size,
            seed=cfg.eval_seed,
            kinds=cfg.edit_kinds,
            num_steps=cfg.sample_steps,
            guidance_scales=cfg.guidance_scales,
            batch_size=cfg.eval_batch_size,
            grid_path=out_dir / "samples.png",
            level=cfg.world_level,
        )
