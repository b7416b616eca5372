"""Held-out evaluation of FIRM's online RL with the world checker (never the reward model).

The held-out set (:class:`HeldOut`) is ``n_prompts`` items drawn from :data:`HELD_OUT_SEED` (no
training batch draws it: :func:`firm.rl.items.training_items` draws sub-seeds
``s * 1_000_003 + i * 1_009 + 1``, none of which is 90_001 for a non-negative seed ``s``) crossed
with ``noise_seeds``: 240 prompts x 2 seeds = 480 (prompt, noise) pairs, the acceptance minimum.
The caller's deterministic sampler ``sample_fn(items, seed) -> images`` makes one image per item
for one noise seed; every image is read by the world checker (after x4 Lanczos upsampling,
:func:`common.world.checker.upsample_for_checker`) into one JSON-able record per pair:

* gen: ``strict`` (the headline: the clean GenEval-world verdict,
  :func:`common.world.checker.clean_correct`, which also fails images holding spurious objects),
  ``correct`` (plain GenEval), ``requirement_share`` (share of the prompt's single requirements
  met), ``color_presence`` (every named colour detected, ``None`` when the prompt names none),
  ``n_objects``; and ``chance_strict`` / ``chance_correct``: the same image scored against the
  prompt it gets when the held-out prompts are shuffled within their tag
  (:func:`common.models.pretrain.flow_eval.shuffled_within_tag`), what an image scores for a prompt of
  its kind that it was not made for.
* edit: :func:`common.models.pretrain.data.edit_verdict` (``execution``, ``consistency``,
  ``correct``, ``kept_share``) and ``lazy`` (see below), with ``edit_change`` and ``pixel_change``.

**Lazy edits.** The cheat the CME product reward closes is returning the source unchanged. A
whole-image pixel threshold cannot tell it from a correct edit at 32 pixels: the ground-truth edits
of the held-out set (240 edits, basic level) change the image by a mean absolute difference (pixels
in [0, 1]) of 0.002 to 0.10, median 0.017 (5% below 0.005), so a threshold of 0.02 calls over half
of the perfect edits lazy, while a model's near-copy of its input is off by its reconstruction noise
(Gaussian pixel noise of std 0.05 alone gives 0.04). The reading is therefore made on the pixels the
ground-truth edit changes (``M``: max-channel ``|target - source| > 0.1``, 4-12% of the image on
average by op): ``edit_change = mean_M |image - source| / mean_M |target - source|`` (0 for the
source, 1 for the target), and ``lazy`` means ``edit_change < LAZY_CHANGE`` (0.25) and
``pixel_change`` (whole-image mean absolute difference to the source) ``< LAZY_PIXEL`` (0.05).
Measured on the held-out set (240 edits x 2 seeds): the target renders give ``edit_change`` 1.0 and
lazy rate 0; the copied source 0.0 and lazy rate 1 (execution 0, consistency 0.83); the source plus
N(0, 0.05) pixel noise ``edit_change`` 0.14-0.19 by op and lazy rate 0.92; a blank grey canvas
(pixel change 0.07) lazy rate 0.04 (adds only: it adds nothing).

Aggregates and paired gains of these records: :mod:`firm.rl.eval_stats`; the report table,
before/after contact sheets and curves: :mod:`firm.rl.eval_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from common.models.pretrain.data import edit_verdict
from common.models.pretrain.flow_eval import shuffled_within_tag
from common.world.checker import clean_correct, detect_objects, upsample_for_checker
from common.world.geneval import color_presence, evaluate_prompt
from common.world.levels import get_level
from common.world.render import render_at
from common.world.sampling import sample_scene
from firm.rl.eval_report import before_after_sheet
from firm.rl.eval_stats import summarize
from firm.rl.items import RLItem, edit_items, gen_items

__all__ = [
    "HELD_OUT_SEED",
    "LAZY_CHANGE",
    "LAZY_PIXEL",
    "EvalResult",
    "HeldOut",
    "SampleFn",
    "blank_sampler",
    "copy_source_sampler",
    "ground_truth_sampler",
    "score_images",
]

#: The held-out items' seed (no training batch's sub-seed, see the module doc).
HELD_OUT_SEED = 90_001
#: ``lazy``: the edit region moved less than this share of the way from the source to the target ...
LAZY_CHANGE = 0.25
#: ... and the whole image is within this mean absolute difference (pixels in [0, 1]) of the source.
LAZY_PIXEL = 0.05
#: A pixel belongs to the edit region when the target differs from the source by more (max channel).
EDIT_MASK_THRESHOLD = 0.1

#: ``sample_fn(items, seed) -> one image per item``: the caller's deterministic sampler.
SampleFn = Callable[[list[RLItem], int], list[Image.Image]]


# ----------------------------------------------------------------------------- held-out set


@dataclass
class EvalResult:
    """What one held-out evaluation gives: per-pair ``records`` and the images by noise seed."""

    records: list[dict[str, Any]]
    images: dict[int, list[Image.Image]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return summarize(self.records)


@dataclass(frozen=True)
class HeldOut:
    """The held-out set: ``n_prompts`` items of ``kind`` (seed ``seed``) x ``noise_seeds``."""

    kind: str
    n_prompts: int = 240
    noise_seeds: tuple[int, ...] = (0, 1)
    seed: int = HELD_OUT_SEED
    level: str | None = "basic"
    resolution: int = 32

    @cached_property
    def items(self) -> list[RLItem]:
        if self.kind == "gen":
            return gen_items(self.n_prompts, self.seed, level=self.level)
        if self.kind == "edit":
            return edit_items(self.n_prompts, self.seed, level=self.level, resolution=self.resolution)
        raise ValueError(f"held-out kind must be 'gen' or 'edit', got {self.kind!r}")

    @property
    def n_pairs(self) -> int:
        return self.n_prompts * len(self.noise_seeds)

    def evaluate(self, sample_fn: SampleFn) -> EvalResult:
        """Sample every (prompt, noise seed) pair with ``sample_fn`` and score it with the checker."""
        records: list[dict[str, Any]] = []
        images: dict[int, list[Image.Image]] = {}
        for s in self.noise_seeds:
            ims = list(sample_fn(list(self.items), int(s)))
            if len(ims) != len(self.items):
                raise ValueError(f"sample_fn returned {len(ims)} images for {len(self.items)} items")
            images[int(s)] = ims
            records += score_images(self.items, ims, int(s), level=self.level, chance_seed=self.seed + int(s))
        return EvalResult(records, images)

    def ceiling(self) -> EvalResult:
        """The ground-truth renders through the same pipeline (:func:`ground_truth_sampler`).

        Measured at the basic level, 32 px, 240 prompts x 2 seeds: gen strict 100% (chance, the
        same images against shuffled prompts, 19.2%); edit correct 100%, lazy 0%."""
        return self.evaluate(ground_truth_sampler(level=self.level, resolution=self.resolution))

    def sheet(self, start: EvalResult, end: EvalResult, *, k: int = 16, **kwargs: Any) -> Image.Image:
        """:func:`before_after_sheet` of the first ``k`` prompts at the first noise seed."""
        s = int(self.noise_seeds[0])
        sources = [it.source_image for it in self.items[:k]] if self.kind == "edit" else None
        return before_after_sheet(start.images[s][:k], end.images[s][:k], sources=sources, **kwargs)  # type: ignore[arg-type]


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def score_images(
    items: Sequence[RLItem],
    images: Sequence[Image.Image],
    seed: int,
    *,
    level: str | None,
    chance_seed: int | None = None,
) -> list[dict[str, Any]]:
    """One checker record per (item, image) of noise seed ``seed`` (fields: module doc)."""
    shapes = get_level(level).shapes
    gen = [i for i, it in enumerate(items) if it.kind == "gen"]
    shuffled = shuffled_within_tag(
        [items[i].geneval for i in gen], chance_seed if chance_seed is not None else seed
    )
    chance_prompt = dict(zip(gen, shuffled, strict=True))
    out: list[dict[str, Any]] = []
    for i, (it, im) in enumerate(zip(items, images, strict=True)):
        rec: dict[str, Any] = {
            "pair": f"{it.id}@{seed}",
            "item": it.id,
            "index": i,
            "seed": int(seed),
            "kind": it.kind,
            "prompt": it.prompt,
            "tag": it.tag,
        }
        if it.kind == "gen":
            assert it.geneval is not None
            dets = detect_objects(upsample_for_checker(im), shapes=shapes)
            found = [d.to_detection() for d in dets]
            v = evaluate_prompt(it.geneval, found)
            reqs = list(v.requirements.values())
            cp = chance_prompt[i]
            cv = evaluate_prompt(cp, found)
            rec |= {
                "strict": bool(clean_correct(it.geneval, v, len(dets))),
                "correct": bool(v.correct),
                "requirement_share": float(np.mean(reqs)) if reqs else float("nan"),
                "color_presence": color_presence(it.geneval, dets),
                "n_objects": len(dets),
                "chance_strict": bool(clean_correct(cp, cv, len(dets))),
                "chance_correct": bool(cv.correct),
            }
        else:
            assert it.edit is not None and it.source_image is not None
            src = it.source_image
            verdict = edit_verdict(it.edit, im, source_image=src, shapes=shapes)
            a, s = _arr(im), _arr(src)
            t = _arr(render_at(it.edit.target, src.size[0]))
            if a.shape != s.shape:
                raise ValueError(f"edited image {a.shape} and source {s.shape} differ in size")
            mask = np.abs(t - s).max(-1) > EDIT_MASK_THRESHOLD
            den = float(np.abs(t - s)[mask].mean()) if mask.any() else 0.0
            change = float(np.abs(a - s)[mask].mean()) / den if den > 0 else float("nan")
            pixel = float(np.abs(a - s).mean())
            lazy = (change < LAZY_CHANGE if den > 0 else pixel < LAZY_PIXEL) and pixel < LAZY_PIXEL
            rec |= {
                "execution": bool(verdict["execution"]),
                "consistency": bool(verdict["consistency"]),
                "correct": bool(verdict["correct"]),
                "kept_share": float(verdict["kept_share"]),
                "edit_change": change,
                "pixel_change": pixel,
                "lazy": bool(lazy),
            }
        out.append(rec)
    return out


# ----------------------------------------------------------------------------- baselines


def ground_truth_sampler(*, level: str | None, resolution: int) -> SampleFn:
    """The ceiling's sampler: gen, a ``match`` world scene for the prompt (seeded by the noise seed
    and the item) rendered at ``resolution``; edit, the perfectly edited scene's render."""

    def sample(items: list[RLItem], seed: int) -> list[Image.Image]:
        out = []
        for i, it in enumerate(items):
            if it.kind == "edit":
                assert it.edit is not None
                out.append(render_at(it.edit.target, resolution))
                continue
            assert it.geneval is not None
            rng = np.random.default_rng([int(seed), i, 0xCE1])
            scene = sample_scene(it.geneval, rng, mode="match", canvas=resolution, level=level).scene
            out.append(render_at(scene, resolution))
        return out

    return sample


def copy_source_sampler(items: list[RLItem], seed: int) -> list[Image.Image]:
    """The lazy editor: every edit returns its source unchanged."""
    del seed
    out = []
    for it in items:
        if it.source_image is None:
            raise ValueError(f"{it.id} has no source image (copy_source_sampler is for edits)")
        out.append(it.source_image.copy())
    return out


def blank_sampler(resolution: int, color: tuple[int, int, int] = (160, 160, 160)) -> SampleFn:
    """Blank canvases of one colour (an empty scene; the default is the world's background grey)."""

    def sample(items: list[RLItem], seed: int) -> list[Image.Image]:
        del seed
        return [Image.new("RGB", (resolution, resolution), color) for _ in items]

    return sample
