"""The annotator interface: chat requests with images in, text responses out.

A :class:`ChatRequest` is an OpenAI-style conversation whose content parts may hold PIL images::

    ChatRequest(
        messages=[
            {"role": "system", "content": "You are a careful image judge."},
            {"role": "user", "content": [
                {"type": "image", "image": pil_image},
                {"type": "text", "text": "Describe the image."},
            ]},
        ],
        params={"temperature": 0.0, "max_tokens": 512},
        meta={"oracle": {...}},   # side channel: never sent to a real backend, never hashed
    )

Content parts are ``{"type": "text", "text": str}`` or ``{"type": "image", "image": PIL.Image}``
(the format :meth:`common.models.vlm_bundle.VLMBundle.encode_chat` reads); an HTTP backend turns
images into base64 PNG data URLs. ``params`` are sampling parameters with OpenAI's names
(``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``, and ``logprobs`` /
``top_logprobs`` to get per-token log-probs back in :attr:`ChatResponse.logprobs`); a backend
fills in its defaults for the ones a request leaves out. ``meta`` carries what only an offline
backend may read (the world oracle's ground truth) and bookkeeping (ids); it is excluded from cache keys.

Every backend implements :class:`Annotator`: ``complete(requests) -> responses`` (same order,
same length). A request that fails for its own reason (e.g. an HTTP 400 for this request) comes
back as a :class:`ChatResponse` with ``error`` set and ``text`` empty, so the caller can log and
drop it; a backend that cannot work at all (endpoint down) raises :class:`AnnotatorUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from common.config import ActionableError

__all__ = [
    "MAX_TOP_LOGPROBS",
    "Annotator",
    "AnnotatorError",
    "AnnotatorUnavailableError",
    "ChatRequest",
    "ChatResponse",
    "TokenLogprob",
    "image_part",
    "request_images",
    "system_message",
    "text_part",
    "user_message",
]

SAMPLING_KEYS: frozenset[str] = frozenset(
    {
        "temperature",
        "max_tokens",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
    }
)
"""Sampling parameters a request may set (OpenAI names; ``top_k`` is a vLLM extension)."""

MAX_TOP_LOGPROBS = 20
"""The most alternatives per token a request may ask for (``top_logprobs``; OpenAI's limit)."""

TokenLogprob = dict[str, Any]
"""One completion token as OpenAI's ``choices[0].logprobs.content`` lists it:
``{"token": str, "logprob": float, "top_logprobs": [{"token": str, "logprob": float}, ...]}``
(the alternatives most likely first; empty when ``top_logprobs`` was not asked for)."""


class AnnotatorError(RuntimeError):
    """An annotator backend failed."""


class AnnotatorUnavailableError(AnnotatorError, ActionableError):
    """The backend cannot serve any request (endpoint down, repeated server errors)."""


def text_part(text: str) -> dict[str, Any]:
    """A text content part."""
    return {"type": "text", "text": str(text)}


def image_part(image: Image.Image) -> dict[str, Any]:
    """An image content part (a PIL image)."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"image_part expects a PIL image, got {type(image).__name__}")
    return {"type": "image", "image": image}


def system_message(text: str) -> dict[str, Any]:
    """A system message with plain text content."""
    return {"role": "system", "content": str(text)}


def user_message(
    text: str, images: Sequence[Image.Image] = (), *, images_first: bool = True
) -> dict[str, Any]:
    """A user message with ``images`` (before the text by default) and ``text``."""
    parts = [image_part(im) for im in images]
    return {
        "role": "user",
        "content": [*parts, text_part(text)] if images_first else [text_part(text), *parts],
    }


@dataclass
class ChatRequest:
    """One chat-completion request (see the module docstring)."""

    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.messages, list) or not self.messages:
            raise ValueError("a ChatRequest needs a non-empty list of messages")
        for i, message in enumerate(self.messages):
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise ValueError(f"message {i} must be a dict with 'role' and 'content'")
            content = message["content"]
            if isinstance(content, str):
                continue
            if not isinstance(content, list):
                raise ValueError(f"message {i}: content must be a str or a list of parts")
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    continue
                if kind == "image" and isinstance(part.get("image"), Image.Image):
                    continue
                raise ValueError(f"message {i}: bad content part {part!r:.80}")
        unknown = set(self.params) - SAMPLING_KEYS
        if unknown:
            raise ValueError(f"unknown sampling parameters {sorted(unknown)}; known: {sorted(SAMPLING_KEYS)}")

    @property
    def text(self) -> str:
        """All text parts joined (for logging and for offline backends that read the prompt)."""
        out = []
        for message in self.messages:
            content = message["content"]
            if isinstance(content, str):
                out.append(content)
            else:
                out.extend(p["text"] for p in content if p["type"] == "text")
        return "\n".join(out)


def request_images(request: ChatRequest) -> list[Image.Image]:
    """The request's images in reading order."""
    return [
        part["image"]
        for message in request.messages
        if not isinstance(message["content"], str)
        for part in message["content"]
        if part["type"] == "image"
    ]


@dataclass
class ChatResponse:
    """A completion. ``error`` is set (and ``text`` empty) when this request failed.

    Attributes:
        text: the assistant message content.
        model: the model that answered (as the backend reports it).
        finish_reason: ``"stop"``, ``"length"`` ... (``None`` when unknown).
        cached: True when served from the response cache (no backend call made).
        usage: token counts reported by the backend, if any.
        error: why the request failed (``None`` on success).
        logprobs: the completion's tokens with their log-probs (:data:`TokenLogprob`) when the
            request asked for ``logprobs`` and the backend returned them, else ``None``.
    """

    text: str
    model: str = ""
    finish_reason: str | None = None
    cached: bool = False
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    logprobs: list[TokenLogprob] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_record(self) -> dict[str, Any]:
        """What the cache stores (``cached`` is a property of the lookup, not of the answer)."""
        return {
            "text": self.text,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "logprobs": self.logprobs,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], *, cached: bool = True) -> ChatResponse:
        return cls(
            text=str(record.get("text", "")),
            model=str(record.get("model", "")),
            finish_reason=record.get("finish_reason"),
            usage=dict(record.get("usage") or {}),
            cached=cached,
            logprobs=record.get("logprobs"),
        )


@runtime_checkable
class Annotator(Protocol):
    """Anything that answers chat requests (HTTP endpoint, in-process model, world oracle)."""

    name: str

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer ``requests`` in order; failures of single requests come back with ``error`` set."""
        ...
