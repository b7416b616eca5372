"""Evaluation prompts of T2I-Eval-R1: single-wise and pairwise, one per aspect, as chat messages.

The evaluator is asked to reason first and then answer in the format of docs/papers/t2i_eval_r1.md
§3::

    <think> reasoning </think> <answer> score </answer>              (single-wise)
    <think> reasoning </think> <answer> score_a , score_b </answer>  (pairwise: one score per image)

:func:`build_messages` returns one conversation (a list of messages whose content mixes
``{"type": "image", "image": PIL.Image}`` and ``{"type": "text", "text": ...}`` items), the input
of :meth:`common.models.vlm_bundle.VLMBundle.encode_chat`. Pairwise conversations show "image 1"
then "image 2" (``image_a`` then ``image_b`` of the corpus).

The templates use only words the project's tokenizer knows (checked by
:func:`template_oov_words` and a test), so the tiny models read them without ``<unk>``; a real
model reads the same text. Aspects (:data:`ASPECT_TEXT`) follow T2I-Eval-Bench's four aspects
(appearance quality, intrinsic-attribute consistency, relationship-attribute consistency,
overall) and TIFA's faithfulness. Register other wordings in :data:`PROMPT_TEMPLATES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.models.vocabulary import oov_words
from common.registry import Registry

__all__ = [
    "ASPECT_TEXT",
    "PROMPT_TEMPLATES",
    "PromptTemplate",
    "build_messages",
    "format_completion",
    "format_scale",
    "template_oov_words",
]

ASPECT_TEXT: dict[str, str] = {
    "appearance": "the appearance quality of the image : is it clear , sharp and clean , without blur , "
    "noise , blotches or broken shapes ?",
    "intrinsic": "the intrinsic attributes : are the objects , their shapes , colours and counts as the "
    "prompt says ?",
    "relationship": "the relationships : are the objects placed as the prompt says , left of , right of , "
    "above or below each other ?",
    "overall": "the overall quality : how good is the image for the prompt in objects , colours , counts , "
    "positions and appearance ?",
    "faithfulness": "the faithfulness : is everything in the prompt shown in the image , with the right "
    "objects , colours , counts and positions ?",
}
"""What each aspect asks the evaluator to judge."""


@dataclass(frozen=True)
class PromptTemplate:
    """The wording of one prompt style; ``{...}`` fields are filled by :func:`build_messages`.

    Attributes:
        single: text after the image for single-wise items (fields: prompt, aspect, lo, hi).
        pair: text after the two images for pairwise items (same fields).
        image_labels: the text shown before image 1 and image 2 of a pair.
        system: an optional system message.
        aspects: aspect -> description (default :data:`ASPECT_TEXT`).
    """

    single: str
    pair: str
    image_labels: tuple[str, str] = ("image 1 :", "image 2 :")
    system: str | None = None
    aspects: dict[str, str] = field(default_factory=lambda: dict(ASPECT_TEXT))


PROMPT_TEMPLATES: Registry[PromptTemplate] = Registry("prompt template")

PROMPT_TEMPLATES.register("default")(
    PromptTemplate(
        single=(
            "prompt : {prompt} . evaluate {aspect} rate the image on a scale from {lo} to {hi} . "
            "first describe the image and compare it with the prompt in <think> </think> , "
            "then output the score in <answer> </answer> ."
        ),
        pair=(
            "prompt : {prompt} . compare the two images for {aspect} rate each image on a scale from "
            "{lo} to {hi} . first describe both images and compare them with the prompt in "
            "<think> </think> , then output the score of image 1 and the score of image 2 in "
            "<answer> </answer> , as : score , score ."
        ),
    )
)

PROMPT_TEMPLATES.register("short")(
    PromptTemplate(
        single="prompt : {prompt} . rate {aspect} from {lo} to {hi} . <think> </think> <answer> </answer>",
        pair="prompt : {prompt} . rate each image for {aspect} from {lo} to {hi} . "
        "<think> </think> <answer> score , score </answer>",
    )
)


def format_scale(x: float) -> str:
    """A scale bound as text: integers without a decimal point (``10``, not ``10.0``)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _text(template: PromptTemplate, kind: str, prompt: str, aspect: str, scale: tuple[float, float]) -> str:
    if aspect not in template.aspects:
        raise ValueError(f"unknown aspect {aspect!r}; the template knows {sorted(template.aspects)}")
    body = template.single if kind == "single" else template.pair
    return body.format(
        prompt=prompt.strip().rstrip("."),
        aspect=template.aspects[aspect],
        lo=format_scale(scale[0]),
        hi=format_scale(scale[1]),
    )


def build_messages(
    prompt: str,
    images: Sequence[Any],
    *,
    aspect: str = "overall",
    scale: tuple[float, float] = (0.0, 10.0),
    template: str | PromptTemplate = "default",
) -> list[dict[str, Any]]:
    """The conversation asking for an evaluation of one image (single-wise) or two (pairwise).

    Args:
        prompt: the text-to-image prompt.
        images: one image (single-wise) or two (pairwise, shown as image 1 and image 2).
        aspect: a key of the template's aspects (:data:`ASPECT_TEXT`).
        scale: ``(lo, hi)`` of the requested score(s).
        template: a name in :data:`PROMPT_TEMPLATES` or a :class:`PromptTemplate`.
    """
    tpl = PROMPT_TEMPLATES.get(template) if isinstance(template, str) else template
    if len(images) not in (1, 2):
        raise ValueError(f"give one image (single-wise) or two (pairwise), got {len(images)}")
    kind = "single" if len(images) == 1 else "pair"
    content: list[dict[str, Any]] = []
    if kind == "single":
        content.append({"type": "image", "image": images[0]})
    else:
        for label, image in zip(tpl.image_labels, images, strict=True):
            content += [{"type": "text", "text": label}, {"type": "image", "image": image}]
    content.append({"type": "text", "text": _text(tpl, kind, prompt, aspect, scale)})
    messages: list[dict[str, Any]] = []
    if tpl.system:
        messages.append({"role": "system", "content": tpl.system})
    messages.append({"role": "user", "content": content})
    return messages


def format_completion(think: str, answer: str) -> str:
    """``<think> think </think> <answer> answer </answer>`` (a target for SFT baselines / tests)."""
    return f"<think> {think.strip()} </think> <answer> {answer.strip()} </answer>"


def template_oov_words(template: str | PromptTemplate = "default", prompts: Iterable[str] = ()) -> list[str]:
    """Words of ``template`` (every aspect, both kinds, scales 0-10 and 1-5) unknown to the tokenizer.

    ``prompts`` adds T2I prompts to check as well. Empty for the built-in templates.
    """
    tpl = PROMPT_TEMPLATES.get(template) if isinstance(template, str) else template
    texts = [*tpl.image_labels, *(t for t in [tpl.system] if t)]
    for aspect in tpl.aspects:
        for kind in ("single", "pair"):
            for scale in ((0.0, 10.0), (1.0, 5.0)):
                texts.append(_text(tpl, kind, "a photo of a red circle", aspect, scale))
    return oov_words([*texts, *prompts])
