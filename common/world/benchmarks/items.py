"""Items the world benchmarks are made of: prompt splits, generated images, edited pairs.

Prompt split (:func:`prompt_side`): every distinct world prompt (``prompts.enumerate_prompts``)
is either ``train`` or ``heldout``, fixed once for the project (not by the build seed): per tag,
prompts are ordered by the SHA-256 of their text and the first ``ceil(HELDOUT_SHARE * n)`` are
held out. Training corpora (T2I-Eval train, the pairwise corpus, FIRM pools, RL prompt sets)
draw only train prompts; test sets (T2I-Eval test, ImageReward-like, TIFA-like, FIRM-Bench-like,
evaluation prompt sets) draw only held-out ones.

Images are PNG bytes (``compress_level=1``: deterministic and fast), ready for the ``datasets``
``Image`` feature.

Every draw takes ``level`` (a :mod:`common.world.levels` name; ``None``: ``full``): the prompt
pools hold that level's prompts (the split rule is the same) and scenes, edits and sloppy results
use its shapes, sizes, poses and background. At ``full`` every draw is the one before levels.
"""

from __future__ import annotations

import hashlib
import io
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from PIL import Image

from common.world.defects import NO_DEFECTS, Defects, prepare_scene, sample_defects
from common.world.edits import (
    CONSISTENCY_VARIANTS,
    EXECUTION_VARIANTS,
    Edit,
    EditExample,
    make_example,
    sample_edit_sources,
)
from common.world.geneval import GenEvalPrompt
from common.world.levels import get_level
from common.world.prompts import enumerate_prompts
from common.world.render import render
from common.world.sampling import MODES, sample_scene, truth_verdict
from common.world.scene import Scene
from common.world.vocab import GENEVAL_TAGS

HELDOUT_SHARE = 0.25
SIDES: tuple[str, ...] = ("train", "heldout")

EASY_TAGS: tuple[str, ...] = ("single_object", "colors", "two_object")
HARD_TAGS: tuple[str, ...] = ("counting", "position", "color_attr")
"""FIRM-Bench-Gen difficulty: one-entity / plain prompts are easy; counts, relations and
attribute binding are hard."""


def stable_hash(*parts: object) -> int:
    """A 32-bit hash of ``parts`` that does not change between runs (unlike ``hash``)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode())


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    """An independent generator for one (dataset, split, ...) of a build seeded by ``seed``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, stable_hash(*parts)])


def prompt_pools(level: str | None = None) -> dict[str, dict[str, tuple[GenEvalPrompt, ...]]]:
    """``{side: {tag: prompts}}`` for the fixed train / held-out split of ``level``'s prompts."""
    return _prompt_pools(get_level(level).name)


@cache
def _prompt_pools(level: str) -> dict[str, dict[str, tuple[GenEvalPrompt, ...]]]:
    out: dict[str, dict[str, tuple[GenEvalPrompt, ...]]] = {s: {} for s in SIDES}
    for tag in GENEVAL_TAGS:
        ps = sorted(
            enumerate_prompts(tag, level=level), key=lambda p: hashlib.sha256(p.prompt.encode()).hexdigest()
        )
        k = math.ceil(HELDOUT_SHARE * len(ps))
        out["heldout"][tag] = tuple(ps[:k])
        out["train"][tag] = tuple(ps[k:])
    return out


def prompt_side(prompt: GenEvalPrompt | str, level: str | None = None) -> str:
    """``"train"`` or ``"heldout"`` for a world prompt of ``level`` (by its text)."""
    text = prompt if isinstance(prompt, str) else prompt.prompt
    for side, pools in prompt_pools(level).items():
        if any(p.prompt == text for ps in pools.values() for p in ps):
            return side
    raise KeyError(f"not a world prompt: {text!r}")


def draw_prompts(
    n: int,
    rng: np.random.Generator,
    side: str,
    tags: Sequence[str] = GENEVAL_TAGS,
    *,
    unique: bool = False,
    level: str | None = None,
) -> list[GenEvalPrompt]:
    """``n`` prompts of ``side`` at ``level``, tags taken in turn; ``unique`` draws without
    replacement per tag (and skips a tag whose pool is used up)."""
    pools = prompt_pools(level)[side]
    left = {t: list(pools[t]) for t in tags}
    out: list[GenEvalPrompt] = []
    i = 0
    while len(out) < n:
        live = [t for t in tags if left[t]] if unique else list(tags)
        if not live:
            break
        tag = live[i % len(live)]
        i += 1
        pool = left[tag] if unique else pools[tag]
        j = int(rng.integers(len(pool)))
        out.append(pool.pop(j) if unique else pool[j])
    return out


def png_bytes(image: Image.Image) -> dict[str, Any]:
    """``{"bytes", "path"}`` for the ``datasets`` Image feature (PNG, compress level 1)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


def weighted_choice(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = list(weights)
    p = np.asarray([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


# ----------------------------------------------------------------------------- generated images

GEN_MODE_WEIGHTS: dict[str, float] = {"match": 0.45, "partial": 0.40, "miss": 0.15}
"""How often a generated benchmark image matches, partially matches or misses its prompt."""

P_CLEAN = 0.4
"""Share of generated benchmark images without any appearance defect."""


@dataclass(frozen=True)
class GenItem:
    """A generated image with its truth: the prompt, the drawn scene, mode, defects, violations."""

    prompt: GenEvalPrompt
    scene: Scene
    drawn: Scene
    mode: str
    defects: Defects
    violated: frozenset[str]
    image: dict[str, Any]


def sample_gen_item(
    prompt: GenEvalPrompt,
    rng: np.random.Generator,
    *,
    canvas: int = 128,
    mode: str | None = None,
    mode_weights: Mapping[str, float] = GEN_MODE_WEIGHTS,
    p_clean: float = P_CLEAN,
    level: str | None = None,
) -> GenItem:
    """Sample a scene for ``prompt`` at ``level`` (mode drawn from ``mode_weights``), defects,
    render it."""
    m = mode or weighted_choice(rng, mode_weights)
    if m not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    sampled = sample_scene(prompt, rng, mode=m, canvas=canvas, level=level)
    d = sample_defects(rng, max_kinds=2, p_clean=p_clean)
    drawn = prepare_scene(sampled.scene, d)
    violated = truth_verdict(prompt, drawn).violated
    image = png_bytes(render(sampled.scene, defects=d))
    return GenItem(prompt, sampled.scene, drawn, m, d, violated, image)


# ----------------------------------------------------------------------------- edited pairs

EXECUTION_WEIGHTS: dict[str, float] = {
    "perfect": 0.24,
    "subtle": 0.3,
    "partial": 0.2,
    "barely": 0.1,
    "none": 0.08,
    "wrong_target": 0.08,
}
"""Executions drawn for edit sets scored on execution (spread over the five levels)."""

CONSISTENCY_WEIGHTS: dict[str, float] = {
    "clean": 0.26,
    "minor": 0.3,
    "significant": 0.24,
    "mixed": 0.14,
    "different": 0.06,
}
"""Unintended-change kinds drawn for edit sets scored on consistency."""

N_CHANGES: tuple[int, ...] = (1, 1, 2, 2, 3, 4, 5, 6)
"""How many unintended changes a minor / significant / mixed result gets (drawn uniformly)."""


@dataclass(frozen=True)
class EditItem:
    """An edit example plus its source prompt and both images as PNG bytes."""

    example: EditExample
    prompt: GenEvalPrompt
    source_image: dict[str, Any]
    edited_image: dict[str, Any]


def sample_edit_item(
    prompt: GenEvalPrompt,
    rng: np.random.Generator,
    *,
    canvas: int = 128,
    execution_weights: Mapping[str, float] = EXECUTION_WEIGHTS,
    consistency_weights: Mapping[str, float] = CONSISTENCY_WEIGHTS,
    level: str | None = None,
) -> EditItem:
    """A source scene for ``prompt`` at ``level``, a random edit and a sloppy execution of it,
    rendered (:func:`~common.world.edits.sample_edit_sources`: an infeasible draw is redrawn)."""

    def sloppy(source: Scene, edit: Edit) -> EditExample:
        ev = weighted_choice(rng, execution_weights)
        cv = weighted_choice(rng, consistency_weights)
        assert ev in EXECUTION_VARIANTS and cv in CONSISTENCY_VARIANTS
        n = int(N_CHANGES[int(rng.integers(len(N_CHANGES)))])
        return make_example(source, edit, rng, execution=ev, consistency=cv, n_changes=n, level=level)

    ex = next(sample_edit_sources(rng, level=level, canvas=canvas, prompt=prompt, make=sloppy))
    return EditItem(
        example=ex,
        prompt=prompt,
        source_image=png_bytes(render(ex.source, defects=NO_DEFECTS)),
        edited_image=png_bytes(render(ex.result, defects=NO_DEFECTS)),
    )
