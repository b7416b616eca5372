"""``POST /v1/score``: FIRM's critic as a small scoring API for RL clients.

Request::

    {"mode": "execution" | "consistency" | "instruction" | "quality",
     "items": [{"image": <base64 PNG>, "source_image": <base64> (edit modes), "instruction": str}],
     "template": "tiny" | "full" (optional)}

Each item becomes the RM's chat messages (:func:`firm.prompts.rm.rm_messages`), answered through
the batcher at temperature 0, and parsed by :func:`firm.prompts.rm.parse_rm_output`. Response::

    {"results": [{"score", "normalised", "parts", "reasoning", "text", "error"}], "model", "mode", "template"}

``score`` is the raw 1-5 score, ``normalised`` is ``(score - 1) / 4``; an answer that cannot be
read (or a model call that failed) is a result with ``error`` set, never an HTTP error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from common.annotators.types import ChatRequest, ChatResponse
from firm.prompts.rm import EDIT_MODES, RM_MODES, RM_TEMPLATES, parse_rm_output, rm_messages
from firm.serve.config import ServeLimits
from firm.serve.errors import bad_request
from firm.serve.images import decode_image

__all__ = ["ScoreItem", "ScoreJob", "parse_score_body", "score_result"]

_ITEM_KEYS = frozenset({"image", "source_image", "instruction"})


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


def _item(raw: Any, i: int, mode: str, limits: ServeLimits) -> ScoreItem:
    where = f"items[{i}]"
    if not isinstance(raw, Mapping):
        raise bad_request(f"{where} must be an object with 'image' (and 'source_image', 'instruction')")
    unknown = sorted(set(raw) - _ITEM_KEYS)
    if unknown:
        raise bad_request(f"{where} has unknown field(s) {unknown}; fields: {sorted(_ITEM_KEYS)}")
    if "image" not in raw:
        raise bad_request(f"{where}.image is required (base64 PNG of the image to judge)")
    image = decode_image(raw["image"], f"{where}.image", limits)
    instruction = raw.get("instruction", "")
    if not isinstance(instruction, str):
        raise bad_request(f"{where}.instruction must be a string, got {type(instruction).__name__}")
    if mode != "quality" and not instruction.strip():
        what = "edit instruction" if mode in EDIT_MODES else "text-to-image prompt"
        raise bad_request(f"{where}.instruction is required in mode {mode!r} (the {what})")
    source = None
    if mode in EDIT_MODES:
        if raw.get("source_image") is None:
            raise bad_request(
                f"{where}.source_image is required in mode {mode!r} (base64 PNG of the image before the edit)"
            )
        source = decode_image(raw["source_image"], f"{where}.source_image", limits)
    elif raw.get("source_image") is not None:
        raise bad_request(f"{where}.source_image is only for the edit modes {list(EDIT_MODES)}; leave it out")
    return ScoreItem(image=image, instruction=instruction, source=source)


def parse_score_body(body: Mapping[str, Any], limits: ServeLimits, default_template: str) -> ScoreJob:
    """Validate a ``/v1/score`` body; :class:`~firm.serve.errors.ServeError` (400) says what is wrong."""
    unknown = sorted(set(body) - {"mode", "items", "template", "model"})
    if unknown:
        raise bad_request(f"unknown field(s) {unknown}; a score request has mode, items and template")
    mode = body.get("mode")
    if mode not in RM_MODES:
        raise bad_request(f"unknown or missing mode {mode!r}; valid modes: {', '.join(RM_MODES)}")
    template = body.get("template") or default_template
    if template not in RM_TEMPLATES:
        raise bad_request(f"unknown template {template!r}; valid templates: {', '.join(RM_TEMPLATES)}")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise bad_request("'items' is required: a non-empty list of {image, source_image, instruction}")
    if len(items) > limits.max_items:
        raise bad_request(
            f"{len(items)} items in one request; this server takes at most {limits.max_items}: "
            "split the batch"
        )
    return ScoreJob(
        mode=mode, template=template, items=[_item(r, i, mode, limits) for i, r in enumerate(items)]
    )


def score_result(mode: str, response: ChatResponse) -> dict[str, Any]:
    """One item's result: the parsed verdict plus the raw text (``error`` set if unreadable)."""
    if response.error is not None:
        return {
            "score": None,
            "normalised": None,
            "parts": None,
            "reasoning": "",
            "text": "",
            "error": f"model_error: {response.error}",
        }
    return {**parse_rm_output(mode, response.text).to_dict(), "text": response.text}
