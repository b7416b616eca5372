"""Evaluation of the flow-matching bases (``t2i``, ``editor``) for their model cards.

Held-out prompts / edits are sampled with the bundle's Euler sampler, each image upsampled
(Lanczos x4) and read by the world checker: GenEval-world accuracy (mean over tags, as GenEval
defines it) and requirement-level accuracy for ``t2i`` (:func:`evaluate_t2i`); edit accuracy
(execution and consistency, :func:`~common.models.pretrain.data.edit_verdict`) for ``editor``
(:func:`evaluate_editor`). Beside each, the same pipeline applied to the ground-truth renders at
32 pixels (the ceiling a perfect model reaches through this checker) and, for the editor, to the
unedited source (copying the input).

Pieces other evaluations reuse: :func:`geneval_summary`, :func:`shuffled_within_tag` (the
chance level), :func:`noise_images`, :func:`color_histograms`, :func:`conditioning_probe`,
:func:`edit_summary` and :func:`contact_sheet`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from common.models.image_sampling import sample_images
from common.models.pretrain.data import EditTriple, edit_verdict, world_edits, world_scenes
from common.models.t2i import tensor_to_pil
from common.models.t2i.images import images_to_uint8
from common.scoring.bootstrap import bootstrap_ci
from common.world.checker import clean_correct, detect_objects, upsample_for_checker
from common.world.geneval import color_presence, evaluate_prompt, score_geneval
from common.world.levels import get_level
from common.world.render import render_at
from common.world.vocab import COLORS


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
