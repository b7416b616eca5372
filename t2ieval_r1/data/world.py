"""Corpora of the embedded world in the schemas of :mod:`t2ieval_r1.data.schema`.

Two sources:

* :func:`quick_singlewise` / :func:`quick_pairwise`: small corpora built in memory in seconds
  from :mod:`common.world` (scenes sampled to match, partially match or miss a GenEval-style
  prompt, rendered with PIL). Labels are the noiseless ground truth below, no simulated raters:
  for unit tests, smoke runs and as a stand-in when the world's benchmark datasets are not built.
* :func:`load_world_benchmark` (in :mod:`t2ieval_r1.data.sources`): the world's benchmark
  datasets with simulated raters (``common.world`` benchmarks), adapted to the schemas.

Ground truth of the quick corpora, on 0-10 (``r`` = the prompt's GenEval requirements on the
true scene, :func:`common.world.sampling.truth_verdict`; ``q`` = FIRM's normalised quality of the
image's defects, :func:`common.world.defects.quality_q`, 1 for a clean image):

* intrinsic    = 10 * share of the object requirements (counts, colours) that hold;
* relationship = 10 * share of the position requirements that hold (prompts without a position
  requirement: the intrinsic score);
* appearance   = 10 * q;
* overall      = 10 * (0.8 * share of all requirements that hold + 0.2 * q),

each rounded to 0.5. Pairwise labels compare the two images' ``overall`` scores: equal -> tie.
``meta`` holds the scene JSON, the prompt's GenEval metadata and the violated requirements.
Both corpora take ``level`` (a :mod:`common.world.levels` name; ``None``: ``full``, the corpora
as before levels existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np

from common.world.defects import NO_DEFECTS, prepare_scene, quality_q, sample_defects
from common.world.prompts import sample_prompts
from common.world.render import render
from common.world.sampling import MODES, sample_scene, truth_verdict
from common.world.vocab import GENEVAL_TAGS
from t2ieval_r1.data.schema import DataFormatError, make_pairwise, make_singlewise

__all__ = ["QUICK_ASPECTS", "quick_item", "quick_pairwise", "quick_scores", "quick_singlewise"]

QUICK_ASPECTS: tuple[str, ...] = ("appearance", "intrinsic", "relationship", "overall")


def _half(x: float) -> float:
    return round(2.0 * x) / 2.0


def quick_scores(requirements: dict[str, bool], quality: float) -> dict[str, float]:
    """The four 0-10 aspect scores of the quick corpora (formulas in the module docstring)."""
    if not requirements:
        raise ValueError("a prompt has at least one requirement")
    obj = [v for k, v in requirements.items() if not k.endswith(".position")]
    pos = [v for k, v in requirements.items() if k.endswith(".position")]
    intrinsic = sum(obj) / len(obj) if obj else 1.0
    relationship = sum(pos) / len(pos) if pos else intrinsic
    share = sum(requirements.values()) / len(requirements)
    return {
        "appearance": _half(10.0 * quality),
        "intrinsic": _half(10.0 * intrinsic),
        "relationship": _half(10.0 * relationship),
        "overall": _half(10.0 * (0.8 * share + 0.2 * quality)),
    }


def quick_item(
    prompt: Any,
    rng: np.random.Generator,
    *,
    mode: str,
    canvas: int,
    defect_share: float,
    level: str | None = None,
) -> tuple[Any, dict[str, float], dict[str, Any]]:
    """One rendered image for ``prompt`` at world ``level`` with its aspect scores and meta."""
    sampled = sample_scene(prompt, rng, mode=mode, canvas=canvas, level=level)
    defects = sample_defects(rng, max_kinds=1) if rng.random() < defect_share else NO_DEFECTS
    scene = prepare_scene(sampled.scene, defects)
    verdict = truth_verdict(prompt, scene)
    scores = quick_scores(verdict.requirements, quality_q(defects))
    image = render(sampled.scene, defects=defects)
    meta = {
        "source": "world_quick",
        "geneval": prompt.to_dict(),
        "scene": scene.to_dict(),
        "mode": mode,
        "defects": defects.to_dict(),
        "violated": sorted(verdict.violated),
        "scores": scores,
    }
    return image, scores, meta


def _check(n: int, aspects: Sequence[str]) -> None:
    if n < 1:
        raise DataFormatError(f"the number of items must be >= 1, got {n}")
    bad = [a for a in aspects if a not in QUICK_ASPECTS]
    if bad or not aspects:
        raise DataFormatError(f"aspects {list(aspects)} must be a non-empty subset of {list(QUICK_ASPECTS)}")


def quick_singlewise(
    n: int,
    *,
    seed: int = 0,
    aspects: Sequence[str] = ("overall",),
    tags: Sequence[str] = GENEVAL_TAGS,
    modes: Sequence[str] = MODES,
    canvas: int = 128,
    defect_share: float = 0.25,
    level: str | None = None,
) -> datasets.Dataset:
    """``n`` world images at ``level`` (tags cycled, modes uniform) -> ``n * len(aspects)``
    single-wise rows."""
    _check(n, aspects)
    rng = np.random.default_rng([seed, 0x51E])
    rows = []
    for i, prompt in enumerate(sample_prompts(n, rng, tags, level=level)):
        mode = modes[int(rng.integers(len(modes)))]
        image, scores, meta = quick_item(
            prompt, rng, mode=mode, canvas=canvas, defect_share=defect_share, level=level
        )
        for aspect in aspects:
            rows.append(
                {
                    "id": f"world{seed}-{i}:{aspect}",
                    "prompt": prompt.prompt,
                    "image": image,
                    "score": scores[aspect],
                    "scale_lo": 0.0,
                    "scale_hi": 10.0,
                    "aspect": aspect,
                    "meta": meta,
                }
            )
    return make_singlewise(rows)


def quick_pairwise(
    n: int,
    *,
    seed: int = 0,
    aspect: str = "overall",
    tags: Sequence[str] = GENEVAL_TAGS,
    modes: Sequence[str] = MODES,
    canvas: int = 128,
    defect_share: float = 0.25,
    level: str | None = None,
) -> datasets.Dataset:
    """``n`` pairs of world images at ``level`` for the same prompt; preference from their
    ``aspect`` scores."""
    _check(n, [aspect])
    rng = np.random.default_rng([seed, 0x9A1])
    rows = []
    for i, prompt in enumerate(sample_prompts(n, rng, tags, level=level)):
        sides = []
        for _ in range(2):
            mode = modes[int(rng.integers(len(modes)))]
            sides.append(
                quick_item(prompt, rng, mode=mode, canvas=canvas, defect_share=defect_share, level=level)
            )
        (im_a, sc_a, meta_a), (im_b, sc_b, meta_b) = sides
        a, b = sc_a[aspect], sc_b[aspect]
        rows.append(
            {
                "id": f"worldpair{seed}-{i}",
                "prompt": prompt.prompt,
                "image_a": im_a,
                "image_b": im_b,
                "preference": "a" if a > b else "b" if b > a else "tie",
                "scale_lo": 0.0,
                "scale_hi": 10.0,
                "aspect": aspect,
                "meta": {"source": "world_quick", "a": meta_a, "b": meta_b},
            }
        )
    return make_pairwise(rows)
