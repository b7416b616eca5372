"""Targets of T2I-Eval-R1's supervised stages: the label-free format warm-up and the SFT baselines.

Every target is ``<think> rationale </think> <answer> score </answer>``
(:func:`t2ieval_r1.prompts.format_completion`); what differs is where the rationale and the score
come from:

=============  ==========================================  =======================================
kind           rationale                                   score
=============  ==========================================  =======================================
``format``     the model's own caption of the image        uniform random on the item's scale
``scores``     the model's own caption of the image        the item's label
``rationale``  the ground truth of the scene (world only)  the item's label
=============  ==========================================  =======================================

* ``format`` is this project's warm-up before GRPO (not in the paper, whose base is an instruct
  model that already follows the output format): the tiny base has never seen the tags, so
  without it every completion fails the format check and every GRPO group has zero reward
  variance. It uses no labels and no annotation, and its random scores are uncorrelated with the
  labels, so what GRPO then learns about scoring comes from the reward alone.
* ``think="compare"`` (``format`` and ``scores``; this project's choice, not the paper's) puts
  the prompt before the caption: ``the prompt asks for <prompt> . the image shows <caption>``,
  so that the score that follows compares two short texts the model has just written, as the
  describe-first FIRM reward model does. The default, ``caption``, is the caption alone.
* ``scores`` is the "SFT on coarse scores" baseline: the same labels GRPO sees, imitated directly.
* ``rationale`` is the "expensive annotation" baseline the paper argues against: a full ground-
  truth rationale per item, which the embedded world can write from the scene
  (:func:`scene_rationale`); real corpora have none (a clear error says so).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.config import InputError
from common.models.pretrain.data import DESCRIBE_QUESTION
from common.models.pretrain.vlm import answer_questions
from common.world.captions import describe
from common.world.defects import as_defects
from common.world.scene import Scene
from common.world.vocab import SHAPE_PLURALS
from t2ieval_r1.prompts import format_completion, format_scale

__all__ = [
    "DEFECT_WORDS",
    "SFT_KINDS",
    "THINK_STYLES",
    "check_think",
    "own_captions",
    "random_score",
    "scene_rationale",
    "sft_targets",
    "think_text",
]

SFT_KINDS: tuple[str, ...] = ("format", "scores", "rationale")

THINK_STYLES: tuple[str, ...] = ("caption", "compare")
"""What the ``<think>`` of a ``format`` / ``scores`` target holds (module docstring)."""


def check_think(think: str, key: str = "think") -> str:
    """``think`` if it is one of :data:`THINK_STYLES`, else :class:`common.config.InputError`
    naming the config ``key`` it came from and the choices."""
    if think not in THINK_STYLES:
        raise InputError(f"{key}: unknown style {think!r}; choose one of {', '.join(THINK_STYLES)}")
    return think


_PHOTO_PREFIX = "a photo of "

DEFECT_WORDS: dict[str, str] = {
    "blur": "the image is blurry",
    "noise": "the image is noisy",
    "blotches": "the image has blotches",
    "cutoff": "an object is cut off",
    "melt": "an object is distorted",
}
"""How the ground-truth rationale names each appearance defect (severity >= 1)."""


def random_score(scale: tuple[float, float], rng: np.random.Generator) -> str:
    """A uniform random integer score on ``scale`` (the warm-up's label-free answer)."""
    lo, hi = int(np.ceil(scale[0])), int(np.floor(scale[1]))
    return str(int(rng.integers(lo, hi + 1)))


def _score_text(label: float) -> str:
    """A label as the answer text: integers plain, others with one decimal."""
    value = round(float(label), 1)
    return format_scale(value) if float(value).is_integer() else f"{value:.1f}"


def _violation_text(key: str, include: Sequence[Mapping[str, Any]]) -> str:
    """One violated GenEval requirement (``include[i].count`` ...) in words."""
    head, _, field = key.partition(".")
    if not head.startswith("include["):
        return "there is an object the prompt says no to"
    i = int(head[len("include[") : -1])
    item = include[i] if i < len(include) else {}
    cls = str(item.get("class", "object"))
    n = int(item.get("count", 1))
    noun = SHAPE_PLURALS.get(cls, cls) if n > 1 else cls
    if field == "count":
        return f"the number of {noun} is wrong" if n > 1 else f"the {cls} is missing"
    if field == "color":
        return f"the {cls} has the wrong colour"
    if field == "position":
        return f"the {cls} is in the wrong position"
    return f"the {cls} is wrong"


def scene_rationale(meta: Mapping[str, Any]) -> str:
    """The ground-truth rationale of a world item: what the image shows, which requirements of
    the prompt it violates (or that it matches), and its appearance defects.

    ``meta`` is the item's ``meta`` column (``scene``, ``metadata`` with GenEval's ``include``,
    ``violated``, ``defects``), as the world corpora write it.
    """
    if "scene" not in meta:
        raise ValueError(
            "the 'rationale' SFT baseline needs world items (meta.scene); real corpora carry no "
            "ground-truth rationale: use kind 'scores' or 'format' instead"
        )
    scene = Scene.from_dict(meta["scene"])
    parts = [f"the image shows {describe(scene).removesuffix(' .')}"]
    include = list((meta.get("metadata") or {}).get("include", []))
    violated = list(meta.get("violated") or [])
    if violated:
        parts += [_violation_text(k, include) for k in violated]
    else:
        parts.append("it matches the prompt")
    defects = as_defects(meta.get("defects") or {}).to_dict()
    parts += [DEFECT_WORDS[k] for k, v in sorted(defects.items()) if v > 0 and k in DEFECT_WORDS]
    return " . ".join(parts) + " ."


def own_captions(
    bundle: Any, images: Sequence[Any], *, batch_size: int = 64, max_new_tokens: int = 64
) -> list[str]:
    """The model's own greedy captions (the base's ``describe the image .`` skill)."""
    return answer_questions(
        bundle,
        list(images),
        [DESCRIBE_QUESTION] * len(images),
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )


def think_text(caption: str, prompt: str | None = None, think: str = "caption") -> str:
    """The ``<think>`` text of a ``format`` / ``scores`` target: the caption, or with ``think=
    "compare"`` ``the prompt asks for <prompt> . the image shows <caption>`` (GenEval's "a photo
    of" dropped; sentence marks in the prompt become spaces, so the prompt stays one sentence)."""
    if check_think(think) == "caption":
        return caption
    if prompt is None:
        raise ValueError("think='compare' needs the items' prompts")
    asked = " ".join(prompt.translate(str.maketrans(".;!?\n", "     ")).lower().split())
    asked = asked.removeprefix(_PHOTO_PREFIX)
    return f"the prompt asks for {asked} . the image shows {caption}"


def sft_targets(
    kind: str,
    *,
    labels: Sequence[float],
    scales: Sequence[tuple[float, float]],
    captions: Sequence[str] | None = None,
    metas: Sequence[Mapping[str, Any] | str] | None = None,
    seed: int = 0,
    n_scores: int = 1,
    think: str = "caption",
    prompts: Sequence[str] | None = None,
) -> list[str]:
    """The target completion of every item for SFT ``kind`` (see the module docstring).

    ``captions`` (the model's own, :func:`own_captions`) are needed by ``format`` and ``scores``;
    ``metas`` (the corpus' ``meta`` column) by ``rationale``. ``n_scores=2``: a pairwise
    ``format`` target, two random scores ``s_a , s_b`` (pairwise answers). ``think`` /
    ``prompts``: :func:`think_text` (``rationale`` targets ignore them).
    """
    if n_scores not in (1, 2) or (n_scores == 2 and kind != "format"):
        raise ValueError("n_scores=2 (pairwise answers) is supported by the 'format' kind only")
    if kind not in SFT_KINDS:
        raise ValueError(f"unknown SFT kind {kind!r}; choose one of {', '.join(SFT_KINDS)}")
    n = len(labels)
    rng = np.random.default_rng([seed, 0x5F7])
    out: list[str] = []
    for i in range(n):
        if kind == "rationale":
            if metas is None:
                raise ValueError("the 'rationale' SFT kind needs the items' meta column")
            meta = metas[i]
            meta = json.loads(meta) if isinstance(meta, str) else meta
            out.append(format_completion(scene_rationale(meta), _score_text(labels[i])))
            continue
        if captions is None:
            raise ValueError(f"the {kind!r} SFT kind needs the model's own captions")
        if kind == "format":
            answer = " , ".join(random_score(scales[i], rng) for _ in range(n_scores))
        else:
            answer = _score_text(labels[i])
        prompt = prompts[i] if prompts is not None else None
        out.append(format_completion(think_text(captions[i], prompt, think), answer))
    return out
