"""``POST /v1/score``: FIRM's critic as a small scoring API for RL clients.

Request::

    {"mode": "execution" | "consistency" | "instruction" | "quality",
     "items": [{"image": <base64 PNG>, "source_image": <base64> (edit modes), "instruction": str}],
     "template": "tiny" | "full" (optional)}

Each item becomes the RM's chat messages (:func:`firm.prompts.rm.rm_messages`), answered through
the batcher at temperature 0, and parsed by :func:`firm.prompts.rm.parse_rm_output`. Response::

    {"results": [{"score", "normalised", "parts", "reasoning", "text", "error"}], "model", "mode", "template"}

``score`` is the raw 1-5 score, ``normalised`` is ``(score - 1) / 4``; an answer that cannot be
read, or an item the model call failed on, is a result with ``error`` set while the other items
are answered as usual (per-item failure isolation). A request the client can fix (a missing
field, an unreadable or oversized image, the pixel budget) is a 400 naming the item.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from common.annotators.types import ChatRequest, ChatResponse
from common.rewards.modes import EDIT_MODES, QUALITY
from firm.prompts.rm import RM_TEMPLATES, parse_rm_output, rm_messages
from firm.serve.config import ServeLimits
from firm.serve.errors import bad_request
from firm.serve.images import PixelBudget, open_image, to_rgb
from firm.serve.schemas import ScoreItemIn, ScoreRequest, ScoreResult

__all__ = ["ScoreItem", "ScoreJob", "failed_result", "parse_score_request", "score_result"]


@dataclass(frozen=True)
class ScoreItem:
    """One thing to judge: the (edited or generated) image, the edit's source, the instruction."""

    image: Image.Image
    instruction: str = ""
    source: Image.Image | None = None


@dataclass(frozen=True)
class ScoreJob:
    """A validated ``/v1/score`` request."""

    mode: str
    template: str
    items: list[ScoreItem]

    def requests(self, max_tokens: int) -> list[ChatRequest]:
        """The RM chat requests, greedy (temperature 0, as FIRM serves its RMs)."""
        params = {"temperature": 0.0, "max_tokens": int(max_tokens)}
        return [
            ChatRequest(
                rm_messages(
                    self.mode,
                    image=it.image,
                    instruction=it.instruction,
                    source=it.source,
                    template=self.template,
                ),
                params=dict(params),
            )
            for it in self.items
        ]


def _item(raw: ScoreItemIn, i: int, mode: str, limits: ServeLimits, budget: PixelBudget) -> ScoreItem:
    where = f"items[{i}]"
    instruction = raw.instruction
    if mode != QUALITY and not instruction.strip():
        what = "edit instruction" if mode in EDIT_MODES else "text-to-image prompt"
        raise bad_request(f"{where}.instruction is required in mode {mode!r} (the {what})")
    if mode in EDIT_MODES and raw.source_image is None:
        raise bad_request(
            f"{where}.source_image is required in mode {mode!r} (base64 PNG of the image before the edit)"
        )
    if mode not in EDIT_MODES and raw.source_image is not None:
        raise bad_request(f"{where}.source_image is only for the edit modes {list(EDIT_MODES)}; leave it out")
    image = open_image(raw.image, f"{where}.image", limits, budget)
    source = None
    if raw.source_image is not None:
        source = open_image(raw.source_image, f"{where}.source_image", limits, budget)
    return ScoreItem(image=image, instruction=instruction, source=source)


def _decoded(item: ScoreItem, where: str) -> ScoreItem:
    source = None if item.source is None else to_rgb(item.source, f"{where}.source_image")
    return ScoreItem(image=to_rgb(item.image, f"{where}.image"), instruction=item.instruction, source=source)


def parse_score_request(body: ScoreRequest, limits: ServeLimits, default_template: str) -> ScoreJob:
    """A :class:`ScoreJob`, images decoded; a :class:`~firm.serve.errors.ServeError` (400) if unusable."""
    template = body.template or default_template
    if template not in RM_TEMPLATES:
        raise bad_request(f"unknown template {template!r}; valid templates: {', '.join(RM_TEMPLATES)}")
    if len(body.items) > limits.max_items:
        raise bad_request(
            f"{len(body.items)} items in one request; this server takes at most {limits.max_items}: "
            "split the batch"
        )
    budget = PixelBudget(limits.max_request_pixels)
    headers = [_item(raw, i, body.mode, limits, budget) for i, raw in enumerate(body.items)]
    items = [_decoded(item, f"items[{i}]") for i, item in enumerate(headers)]  # all within budget
    return ScoreJob(mode=body.mode, template=template, items=items)


def failed_result(error: str) -> ScoreResult:
    """The result of an item the model could not answer (the other items are answered)."""
    return ScoreResult(score=None, normalised=None, parts=None, reasoning="", text="", error=error)


def score_result(mode: str, response: ChatResponse) -> ScoreResult:
    """One item's result: the parsed verdict plus the raw text (``error`` set if unreadable)."""
    if response.error is not None:
        return failed_result(f"model_error: {response.error}")
    return ScoreResult(**parse_rm_output(mode, response.text).to_dict(), text=response.text)
