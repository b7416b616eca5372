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

Evaluation on held-out prompts / edits, sampling with the bundle's Euler sampler, each image
upsampled (Lanczos x4) and read by the world checker: GenEval-world accuracy (mean over tags, as
GenEval defines it) and requirement-level accuracy for ``t2i``; edit accuracy (execution and
consistency, :func:`~common.models.pretrain.data.edit_verdict`) for ``editor``. Beside each, the
same pipeline applied to the ground-truth renders at 32 pixels (the ceiling a perfect model
reaches through this checker) and, for the editor, to the unedited source (copying the input).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from common.models.image_sampling import sample_images
from common.models.pretrain.cache import ensure_base
from common.models.pretrain.config import FlowPretrainConfig, PretrainConfig
from common.models.pretrain.data import EditTriple, edit_verdict, world_edits, world_scenes
from common.models.pretrain.objectives import PretrainObjective, step_generator
from common.models.t2i import tensor_to_pil
from common.models.tiny import count_parameters
from common.rl.flow_sde import interpolate, velocity_target
from common.scoring.bootstrap import bootstrap_ci
from common.world.captions import describe
from common.world.checker import clean_correct, detect_objects, upsample_for_checker
from common.world.geneval import color_presence, evaluate_prompt, score_geneval
from common.world.levels import get_level
from common.world.render import render_at
from common.world.vocab import COLORS


def images_to_uint8(images: list[Image.Image]) -> torch.Tensor:
    """PIL images -> ``[N, 3, H, W]`` uint8 (compact pool storage)."""
    arr = np.stack([np.asarray(im.convert("RGB")) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


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


# ----------------------------------------------------------------------------- evaluation


def _sample(
    bundle: Any,
    prompts: list[str],
    *,
    sources: torch.Tensor | None,
    num_steps: int,
    guidance_scale: float,
    batch_size: int,
    seed: int,
) -> list[Image.Image]:
    """Images for ``prompts`` (and sources), in batches, with reproducible noise."""
    was_training = bundle.transformer.training
    for m in bundle.modules().values():
        m.eval()
    out: list[Image.Image] = []
    try:
        for start in range(0, len(prompts), batch_size):
            g = torch.Generator(device="cpu").manual_seed(seed + start)
            src = None if sources is None else sources[start : start + batch_size]
            res = sample_images(
                bundle,
                prompts[start : start + batch_size],
                source_images=src,
                num_steps=num_steps,
                guidance_scale=guidance_scale,
                generator=g,
            )
            out += res.pil
    finally:
        for m in bundle.modules().values():
            m.train(was_training)
    return out


def contact_sheet(images: list[Image.Image], columns: int = 8, scale: int = 2) -> Image.Image:
    """A grid of images (upscaled ``scale`` x with nearest neighbour), row-major."""
    w, h = images[0].size
    w, h = w * scale, h * scale
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (w + 2), rows * (h + 2)), (255, 255, 255))
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        sheet.paste(im.resize((w, h), Image.Resampling.NEAREST), (c * (w + 2), r * (h + 2)))
    return sheet


@torch.no_grad()
def noise_images(n: int, size: int, seed: int, bundle: Any = None) -> list[Image.Image]:
    """The prior's noise as images: what an untrained model outputs.

    Pixel space (``bundle`` ``None`` or without a VAE): the noise mapped to pixels. Latent
    space: the VAE's decoding of latent noise. The checker finds spurious objects in such
    images, so this is the chance level of the GenEval-world numbers (well above 0%).
    """
    g = torch.Generator(device="cpu").manual_seed(seed)
    if bundle is None or bundle.vae is None:
        return tensor_to_pil(((torch.randn(n, 3, size, size, generator=g) + 1.0) / 2.0).clamp(0, 1))
    z = torch.randn(bundle.latent_shape(n), generator=g).to(device=bundle.device, dtype=bundle.dtype)
    return tensor_to_pil(bundle.decode(z).cpu())


def shuffled_within_tag(prompts: list[Any], seed: int) -> list[Any]:
    """``prompts`` permuted within each tag (seeded), each moved off its own text where possible.

    Scoring a model's images against these prompts gives the chance level of its accuracy under
    the same metric: what the images score for a prompt of the same kind they were not made for.
    """
    rng = np.random.default_rng([seed, 0x5A0F])
    out = list(prompts)
    by_tag: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        by_tag.setdefault(p.tag, []).append(i)
    for idx in by_tag.values():
        if len(idx) < 2:
            continue
        for _ in range(8):  # a few redraws to move every prompt off its own text (the last one stays)
            order = [idx[int(j)] for j in rng.permutation(len(idx))]
            if all(prompts[a].prompt != prompts[b].prompt for a, b in zip(idx, order, strict=True)):
                break
        for a, b in zip(idx, order, strict=True):
            out[a] = prompts[b]
    return out


def geneval_summary(
    prompts: list[Any], images: list[Image.Image], *, level: str | None = None, chance_seed: int | None = None
) -> dict[str, Any]:
    """GenEval-world accuracy of images (checker after x4 Lanczos upsampling).

    ``geneval``: GenEval's rule, overall = mean over tags. ``geneval_clean`` (the headline): the
    same, but an image with more than :data:`~common.world.checker.EXTRA_OBJECTS` detected objects
    beyond those the prompt asks for is wrong (no world scene has more, while the checker reads
    ~10 spurious objects in pure noise). ``requirement_accuracy``: share of single requirements met;
    ``objects_per_image``: mean detections; ``color_presence``: share of colour-naming prompts
    whose every colour is detected, shape-agnostic. ``level``: the world level whose shapes the
    checker reads. With ``chance_seed``, ``chance`` holds the same numbers for the same images
    scored against prompts shuffled within each tag (:func:`shuffled_within_tag`).
    """
    shapes = get_level(level).shapes
    detections = [detect_objects(upsample_for_checker(im), shapes=shapes) for im in images]
    out = _score_detections(prompts, detections)
    if chance_seed is not None:
        out["chance"] = _score_detections(shuffled_within_tag(prompts, chance_seed), detections)
    return out


def _score_detections(prompts: list[Any], detections: list[list[Any]]) -> dict[str, Any]:

    verdicts = [
        evaluate_prompt(p, [d.to_detection() for d in dets])
        for p, dets in zip(prompts, detections, strict=True)
    ]
    clean = [
        {"tag": v.tag, "correct": clean_correct(p, v, len(d))}
        for p, v, d in zip(prompts, verdicts, detections, strict=True)
    ]
    score = score_geneval(verdicts)
    clean_score = score_geneval(clean)
    reqs = [v for verdict in verdicts for v in verdict.requirements.values()]
    colors = [c for p, d in zip(prompts, detections, strict=True) if (c := color_presence(p, d)) is not None]
    return {
        "geneval": score["overall"],
        "geneval_clean": clean_score["overall"],
        "per_tag": score["per_tag"],
        "per_tag_clean": clean_score["per_tag"],
        "requirement_accuracy": float(np.mean(reqs)) if reqs else float("nan"),
        "objects_per_image": float(np.mean([len(d) for d in detections])),
        "color_presence": float(np.mean(colors)) if colors else float("nan"),
    }


def color_histograms(images: np.ndarray) -> np.ndarray:
    """``[N, H, W, 3]`` images in [0, 1] -> ``[N, len(COLORS)]``: the share of each image's pixels
    whose nearest colour is that world colour rather than another one or the image's background
    (its median colour). Where objects are does not enter it; which colours, and how much of
    each, does."""
    palette = np.asarray(list(COLORS.values()), dtype=np.float32) / 255.0  # [K, 3]
    n, h, w, _ = images.shape
    pixels = images.reshape(n, h * w, 3)
    background = np.median(pixels, axis=1, keepdims=True)  # [N, 1, 3]
    centres = np.concatenate([np.broadcast_to(palette, (n, *palette.shape)), background], axis=1)
    nearest = np.argmin(((pixels[:, :, None, :] - centres[:, None, :, :]) ** 2).sum(-1), axis=-1)
    k = len(palette)
    return np.stack([np.bincount(row, minlength=k + 1)[:k] for row in nearest]).astype(np.float32) / (h * w)


def conditioning_probe(
    bundle: Any,
    prompts: list[str],
    shuffled: list[str],
    *,
    num_steps: int,
    guidance_scale: float,
    batch_size: int,
    seed: int,
    sources: torch.Tensor | None = None,
    names_colors: list[bool] | None = None,
) -> dict[str, float]:
    """Does a sample depend on its prompt? Two readings of the change when the prompt changes with
    the noise fixed (``prompt_effect``) and when the noise changes with the prompt fixed
    (``noise_effect``):

    - pixels: mean absolute pixel change (images in [0, 1]). Where the prompt leaves the layout
      free the noise decides where objects go, so a good generator's noise effect can exceed its
      prompt effect; a model that ignores its prompt has a prompt effect far below it.
    - colours (``*_colors``): L1 distance between :func:`color_histograms`, blind to where objects
      are: a model that follows its prompt changes colours when the prompt changes and keeps them
      when only the noise changes. With ``names_colors`` (one flag per prompt), the colour
      reading also over the prompts that name colours (``*_colors_named``): where the prompt fixes
      the colours, the prompt effect should exceed the noise effect.
    """

    def arr(images: list[Image.Image]) -> np.ndarray:
        return np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images])

    common = {"sources": sources, "num_steps": num_steps, "guidance_scale": guidance_scale}
    base = arr(_sample(bundle, prompts, batch_size=batch_size, seed=seed, **common))
    other_prompt = arr(_sample(bundle, shuffled, batch_size=batch_size, seed=seed, **common))
    other_noise = arr(_sample(bundle, prompts, batch_size=batch_size, seed=seed + 7919, **common))
    hist = [color_histograms(x) for x in (base, other_prompt, other_noise)]
    by_prompt, by_noise = np.abs(hist[0] - hist[1]).sum(1), np.abs(hist[0] - hist[2]).sum(1)
    out = {
        "prompt_effect": float(np.abs(base - other_prompt).mean()),
        "noise_effect": float(np.abs(base - other_noise).mean()),
        "prompt_effect_colors": float(by_prompt.mean()),
        "noise_effect_colors": float(by_noise.mean()),
        "n": len(prompts),
        "guidance_scale": guidance_scale,
    }
    named = np.asarray(names_colors if names_colors is not None else [], dtype=bool)
    if named.any():
        out |= {
            "prompt_effect_colors_named": float(by_prompt[named].mean()),
            "noise_effect_colors_named": float(by_noise[named].mean()),
            "n_named": int(named.sum()),
        }
    return out


def evaluate_t2i(
    bundle: Any,
    *,
    n: int = 240,
    seed: int = 10_007,
    num_steps: int = 20,
    guidance_scales: list[float] | tuple[float, ...] = (1.0, 3.0),
    batch_size: int = 64,
    grid_path: Path | None = None,
    level: str | None = None,
    probe_size: int = 96,
) -> dict[str, Any]:
    """GenEval-world accuracy of a generator on ``n`` held-out world prompts, per CFG scale.

    Beside each accuracy: ``chance`` (the same images against shuffled prompts of the same tag)
    and ``ceiling`` (ground-truth renders at the model's resolution through the same pipeline);
    ``noise``: the prior's noise as images. ``conditioning``: :func:`conditioning_probe` on
    ``probe_size`` prompts at the best scale.
    """
    start = time.perf_counter()
    pairs = world_scenes(n, seed, modes=("match",), level=level)
    prompts = [p for p, _ in pairs]
    size = bundle.spec.resolution
    out: dict[str, Any] = {"n": n, "sample_steps": num_steps, "world_level": get_level(level).name}
    out["ceiling"] = geneval_summary(prompts, [render_at(s, size) for _, s in pairs], level=level)
    out["noise"] = geneval_summary(prompts, noise_images(n, size, seed, bundle), level=level)
    by_scale: dict[str, Any] = {}
    samples: dict[str, list[Image.Image]] = {}
    for w in guidance_scales:
        images = _sample(
            bundle,
            [p.prompt for p in prompts],
            sources=None,
            num_steps=num_steps,
            guidance_scale=float(w),
            batch_size=batch_size,
            seed=seed,
        )
        by_scale[f"cfg_{w:g}"] = geneval_summary(prompts, images, level=level, chance_seed=seed)
        samples[f"cfg_{w:g}"] = images
    out["by_guidance"] = by_scale
    # The best scale by the clean score (plain GenEval also rewards spurious, noise-like objects).
    key = max(by_scale, key=lambda k: (by_scale[k]["geneval_clean"], by_scale[k]["geneval"]))
    for field_name in ("geneval", "geneval_clean", "color_presence", "per_tag_clean"):
        out[field_name] = by_scale[key][field_name]
    out["chance"] = by_scale[key]["chance"]
    out["best_guidance"] = key
    if probe_size > 0:
        k = min(probe_size, n)
        texts = [p.prompt for p in prompts[:k]]
        shuffled = [p.prompt for p in shuffled_within_tag(prompts, seed)[:k]]
        out["conditioning"] = conditioning_probe(
            bundle,
            texts,
            shuffled,
            num_steps=num_steps,
            guidance_scale=float(key.removeprefix("cfg_")),
            batch_size=batch_size,
            seed=seed,
            names_colors=[bool(p.colors) for p in prompts[:k]],
        )
    if grid_path is not None and samples[key]:
        contact_sheet(samples[key][:64]).save(grid_path)
        out["grid"] = grid_path.name
        out["grid_prompts"] = [p.prompt for p in prompts[:64]]
    out["eval_s"] = round(time.perf_counter() - start, 1)
    return out


def edit_summary(
    edits: list[EditTriple],
    images: list[Image.Image],
    sources: list[Image.Image],
    *,
    level: str | None = None,
) -> dict[str, Any]:
    """Edit accuracy, execution, consistency (overall and per op) of edited images; ``executed``
    holds the per-edit execution verdicts (for paired comparisons)."""
    shapes = get_level(level).shapes
    verdicts = [
        edit_verdict(e, im, source_image=src, shapes=shapes)
        for e, im, src in zip(edits, images, sources, strict=True)
    ]
    out: dict[str, Any] = {
        "executed": [bool(v["execution"]) for v in verdicts],
        "corrects": [bool(v["correct"]) for v in verdicts],
    }
    for key in ("correct", "execution", "consistency", "kept_share"):
        out[key if key != "correct" else "edit_accuracy"] = float(np.mean([v[key] for v in verdicts]))
    ops = sorted({v["op"] for v in verdicts})
    out["per_op"] = {op: float(np.mean([v["correct"] for v in verdicts if v["op"] == op])) for op in ops}
    out["per_op_execution"] = {
        op: float(np.mean([v["execution"] for v in verdicts if v["op"] == op])) for op in ops
    }
    return out


def evaluate_editor(
    bundle: Any,
    *,
    n: int = 200,
    seed: int = 10_007,
    kinds: list[str] | None = None,
    num_steps: int = 20,
    guidance_scales: list[float] | tuple[float, ...] = (1.0, 3.0),
    batch_size: int = 64,
    grid_path: Path | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    """Checker-based edit accuracy on ``n`` held-out edits, per CFG scale (over the instruction).

    ``ceiling``: the ground-truth edited renders; ``copy_source``: returning the source unchanged.
    ``execution_vs_copy`` / ``accuracy_vs_copy``: at the best scale, execution (edit accuracy:
    execution and consistency) minus the copy baseline's, with a paired bootstrap 95% interval over
    the edits. Execution alone can be gamed: a blank image executes every remove.
    """
    start = time.perf_counter()
    edits = world_edits(n, seed, kinds, level=level)
    size = bundle.spec.resolution
    sources_pil = [render_at(e.source, size) for e in edits]
    sources = images_to_uint8(sources_pil).float() / 255.0
    out: dict[str, Any] = {"n": n, "sample_steps": num_steps, "world_level": get_level(level).name}
    targets = [render_at(e.target, size) for e in edits]
    out["ceiling"] = edit_summary(edits, targets, sources_pil, level=level)
    out["copy_source"] = edit_summary(edits, sources_pil, sources_pil, level=level)
    by_scale: dict[str, Any] = {}
    samples: dict[str, list[Image.Image]] = {}
    for w in guidance_scales:
        images = _sample(
            bundle,
            [e.instruction for e in edits],
            sources=sources,
            num_steps=num_steps,
            guidance_scale=float(w),
            batch_size=batch_size,
            seed=seed,
        )
        by_scale[f"cfg_{w:g}"] = edit_summary(edits, images, sources_pil, level=level)
        samples[f"cfg_{w:g}"] = images
    out["by_guidance"] = by_scale
    key = max(by_scale, key=lambda k: by_scale[k]["edit_accuracy"])
    out["edit_accuracy"] = by_scale[key]["edit_accuracy"]
    out["best_guidance"] = key
    for name, field_name in (("execution_vs_copy", "executed"), ("accuracy_vs_copy", "corrects")):
        model_v = np.asarray(by_scale[key][field_name], dtype=np.float64)
        copy_v = np.asarray(out["copy_source"][field_name], dtype=np.float64)
        ci = bootstrap_ci(lambda a, b: (a - b).mean(axis=-1), model_v, copy_v, seed=seed)
        out[name] = {"difference": float((model_v - copy_v).mean()), "ci95": [ci.low, ci.high]}
    for summary in (*by_scale.values(), out["copy_source"], out["ceiling"]):
        summary.pop("executed")
        summary.pop("corrects")
    if grid_path is not None and samples[key]:
        pairs = [im for k in range(min(32, n)) for im in (sources_pil[k], samples[key][k])]
        contact_sheet(pairs).save(grid_path)
        out["grid"] = grid_path.name
        out["grid_instructions"] = [e.instruction for e in edits[:32]]
    out["eval_s"] = round(time.perf_counter() - start, 1)
    return out
