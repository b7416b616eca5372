"""How fair the world checker is to images at a generator's resolution: degraded ground truth.

A generator at the tiny scale draws 32-pixel images, always a little soft and noisy. This module
measures what the checker makes of ground truth degraded that way, through the project's own
pipeline (:func:`common.world.render.render_at` at ``size`` pixels, the degradation at
that size, :func:`common.world.checker.upsample_for_checker`, then
:func:`common.world.checker.detect_objects` restricted to the level's shapes).

Method (:func:`evaluate_checker`):
    * ``n_prompts`` prompts of the level (tags in turn) and one ``match`` scene each.
    * Conditions (:data:`CONDITIONS`): Gaussian blur of sigma ``blur`` pixels, then Gaussian pixel
      noise of std ``noise`` grey levels per channel, both at the model resolution (before the
      upsampling); rounded and clipped to uint8.
    * Negatives (:data:`NEGATIVES`): ``pure noise``, the flow prior's noise mapped to pixels
      (``(N(0, 1) + 1) / 2``, clipped, what an untrained pixel-space generator draws); ``colour
      blobs``, a low-frequency random colour field (white noise blurred by sigma 2-4 px at the
      model resolution, each channel stretched to 0-255). Their truth is the empty scene.
    * Scores: GenEval-world (mean over tags of the share of correct images), the clean variant
      (:func:`common.world.checker.clean_correct`), and the shuffled-prompt chance of both: the
      same images scored against another prompt of the same tag (a fixed derangement within each
      tag). ``colour presence``: of the prompts naming colours, the share whose every named colour
      is among the detections (any shape). The requirement-level confusion by tag
      (:func:`common.world.checker_confusion.confusion_by_tag`) pools the true and the shuffled
      pairings, so it has negatives (requirements violated in truth) as well as positives; its
      image accuracy compares the clean verdict with the truth.
    * ``ms_per_image``: mean wall time of ``detect_objects`` on the upsampled images.

Public API:
    CONDITIONS, NEGATIVES
    degrade(image, blur, noise, rng) -> PIL.Image.Image
    negative_images(kind, n, size, rng) -> list[PIL.Image.Image]
    evaluate_checker(level, n_prompts=240, seed=0, *, size=32, conditions=CONDITIONS,
                     negatives=NEGATIVES, shapes="level") -> dict
    checker_eval_markdown(result, *, confusion_for=None) -> str
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from common.world.checker import clean_correct, detect_objects, upsample_for_checker
from common.world.checker_confusion import confusion_by_tag, confusion_markdown
from common.world.geneval import GenEvalPrompt, color_presence, evaluate_prompt, score_geneval
from common.world.levels import WorldLevel, get_level
from common.world.prompts import sample_prompts
from common.world.render import render_at
from common.world.sampling import sample_scene, truth_verdict
from common.world.scene import Scene
from common.world.vocab import GENEVAL_TAGS

CONDITIONS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "blur 0.5": (0.5, 0.0),
    "blur 1.0": (1.0, 0.0),
    "noise 8": (0.0, 8.0),
    "noise 16": (0.0, 16.0),
    "blur 1 + noise 8": (1.0, 8.0),
}
"""Degradations of ground truth: name -> (Gaussian blur sigma in pixels, noise std in grey levels),
both at the model resolution."""

NEGATIVES: tuple[str, ...] = ("pure noise", "colour blobs")
"""Images without objects, whose every score should be near 0 under the clean metric."""

BLOB_SIGMAS: tuple[float, ...] = (2.0, 3.0, 4.0)
"""Blur sigmas (pixels at the model resolution) of the colour-blob negatives, drawn per image."""


def degrade(image: Image.Image, blur: float, noise: float, rng: np.random.Generator) -> Image.Image:
    """``image`` blurred (Gaussian, sigma ``blur`` px, per channel) then with Gaussian noise of std
    ``noise`` grey levels added, rounded and clipped to uint8."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float64)
    if blur > 0:
        arr = ndimage.gaussian_filter(arr, (blur, blur, 0.0), mode="nearest")
    if noise > 0:
        arr = arr + rng.normal(0.0, noise, size=arr.shape)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def negative_images(kind: str, n: int, size: int, rng: np.random.Generator) -> list[Image.Image]:
    """``n`` object-free ``size``-pixel images of ``kind`` (see :data:`NEGATIVES`)."""
    out = []
    for _ in range(n):
        z = rng.normal(size=(size, size, 3))
        if kind == "pure noise":
            arr = (z + 1.0) / 2.0 * 255.0
        elif kind == "colour blobs":
            s = float(BLOB_SIGMAS[int(rng.integers(len(BLOB_SIGMAS)))])
            f = ndimage.gaussian_filter(z, (s, s, 0.0), mode="wrap")
            lo, hi = f.min(axis=(0, 1)), f.max(axis=(0, 1))
            arr = (f - lo) / np.maximum(hi - lo, 1e-9) * 255.0
        else:
            raise ValueError(f"unknown negative kind {kind!r}; known: {', '.join(NEGATIVES)}")
        out.append(Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8)))
    return out


def _shuffled(prompts: Sequence[GenEvalPrompt], rng: np.random.Generator) -> list[int]:
    """For each prompt, the index of another prompt of the same tag (a derangement per tag)."""
    partner = list(range(len(prompts)))
    for tag in {p.tag for p in prompts}:
        idx = [i for i, p in enumerate(prompts) if p.tag == tag]
        order = [idx[j] for j in rng.permutation(len(idx))]
        for j, i in enumerate(order):
            partner[i] = order[(j + 1) % len(order)]
    return partner


def _score(
    prompts: Sequence[GenEvalPrompt],
    scenes: Sequence[Scene | None],
    images: Sequence[Image.Image],
    partner: Sequence[int],
    shapes: Sequence[str] | None,
) -> dict[str, Any]:
    """Detect once per image; score against the true and the shuffled prompts."""
    big = [upsample_for_checker(im) for im in images]
    t0 = time.perf_counter()
    detections = [detect_objects(im, shapes=shapes) for im in big]
    ms = 1000.0 * (time.perf_counter() - t0) / max(len(big), 1)
    out: dict[str, Any] = {"n": len(images), "ms_per_image": ms}
    records = []
    for name, pairing in (("true", range(len(prompts))), ("shuffled", partner)):
        plain, clean, present = [], [], []
        for i, j in enumerate(pairing):
            p, dets = prompts[j], detections[i]
            v = evaluate_prompt(p, [d.to_detection() for d in dets])
            ok = clean_correct(p, v, len(dets))
            plain.append({"tag": p.tag, "correct": v.correct})
            clean.append({"tag": p.tag, "correct": ok})
            cp = color_presence(p, dets)
            if cp is not None:
                present.append(cp)
            truth = truth_verdict(p, scenes[i]) if scenes[i] is not None else evaluate_prompt(p, [])
            records.append(
                {
                    "tag": p.tag,
                    "truth": truth.requirements,
                    "pred": v.requirements,
                    "truth_correct": truth.correct,
                    "pred_correct": ok,
                }
            )
        sp, sc = score_geneval(plain), score_geneval(clean)
        key = "" if name == "true" else "chance_"
        out[f"{key}geneval"] = sp["overall"]
        out[f"{key}clean"] = sc["overall"]
        out[f"{key}per_tag"] = sp["per_tag"]
        out[f"{key}clean_per_tag"] = sc["per_tag"]
        out[f"{key}colour_presence"] = float(np.mean(present)) if present else float("nan")
    out["objects_per_image"] = float(np.mean([len(d) for d in detections]))
    out["confusion"] = confusion_by_tag(records)
    return out


def evaluate_checker(
    level: str | WorldLevel | None,
    n_prompts: int = 240,
    seed: int = 0,
    *,
    size: int = 32,
    conditions: Mapping[str, tuple[float, float]] = CONDITIONS,
    negatives: Sequence[str] = NEGATIVES,
    shapes: Sequence[str] | str | None = "level",
) -> dict[str, Any]:
    """Scores of the checker on degraded ground truth and on negatives (module docstring).

    ``shapes``: the classes the checker may read (``"level"``: the level's shapes; ``None``: all
    the world's). Returns ``{"level", "n_prompts", "size", "conditions": {name: scores},
    "negatives": {kind: scores}}``; each scores dict holds ``geneval``, ``clean``,
    ``chance_geneval``, ``chance_clean``, per-tag dicts of each, ``colour_presence`` (and its
    chance), ``objects_per_image``, ``ms_per_image`` and ``confusion``.
    """
    lv = get_level(level)
    read = lv.shapes if shapes == "level" else shapes
    rng = np.random.default_rng([seed, 0xC4EC])
    prompts = sample_prompts(n_prompts, rng, GENEVAL_TAGS, level=lv)
    scenes = [sample_scene(p, rng, mode="match", level=lv).scene for p in prompts]
    partner = _shuffled(prompts, rng)
    truth = [render_at(s, size) for s in scenes]
    out: dict[str, Any] = {"level": lv.name, "n_prompts": n_prompts, "size": size, "conditions": {}}
    for i, (name, (blur, noise)) in enumerate(conditions.items()):
        crng = np.random.default_rng([seed, 0xDE, i])
        images = [degrade(im, blur, noise, crng) for im in truth]
        out["conditions"][name] = _score(prompts, scenes, images, partner, read)
    out["negatives"] = {}
    for i, kind in enumerate(negatives):
        images = negative_images(kind, n_prompts, size, np.random.default_rng([seed, 0x0E, i]))
        out["negatives"][kind] = _score(prompts, [None] * n_prompts, images, partner, read)
    return out


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}%"


def checker_eval_markdown(result: Mapping[str, Any], *, confusion_for: Sequence[str] | None = None) -> str:
    """Markdown of :func:`evaluate_checker`'s result: a summary row per condition and negative
    (scores with their shuffled chance), clean accuracy by tag, then the confusion by tag of the
    rows in ``confusion_for`` (``None``: every row)."""
    rows = {**result["conditions"], **result["negatives"]}
    lines = [
        f"Level `{result['level']}`, {result['n_prompts']} prompts at {result['size']} px.",
        "",
        "| condition | GenEval | chance | clean | chance (clean) | colour presence | chance "
        "| objects / image | ms / image |",
        "|" + "---|" * 9,
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {_pct(r['geneval'])} | {_pct(r['chance_geneval'])} | {_pct(r['clean'])} "
            f"| {_pct(r['chance_clean'])} | {_pct(r['colour_presence'])} "
            f"| {_pct(r['chance_colour_presence'])} "
            f"| {r['objects_per_image']:.2f} | {r['ms_per_image']:.1f} |"
        )
    tags = [t for t in GENEVAL_TAGS if any(t in r["clean_per_tag"] for r in rows.values())]
    lines += ["", "Clean accuracy by tag (shuffled chance in brackets):", ""]
    lines += ["| condition | " + " | ".join(tags) + " |", "|" + "---|" * (len(tags) + 1)]
    for name, r in rows.items():
        nan = float("nan")
        cells = [
            f"{_pct(r['clean_per_tag'].get(t, nan))} ({_pct(r['chance_clean_per_tag'].get(t, nan))})"
            for t in tags
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name in rows if confusion_for is None else confusion_for:
        lines += [
            "",
            f"Confusion by tag, {name} (true and shuffled prompts; image acc. = clean verdict vs truth):",
            "",
            confusion_markdown(rows[name]["confusion"]),
        ]
    return "\n".join(lines)
