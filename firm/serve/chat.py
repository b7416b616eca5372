"""The OpenAI chat-completions wire format, server side: validated request models in, response models out.

Accepted (:class:`~firm.serve.schemas.ChatCompletionRequest`): ``messages`` with string content or
a list of ``text`` and ``image_url`` parts (inline ``data:`` URLs only); sampling parameters
``temperature``, ``max_tokens`` (or ``max_completion_tokens``), ``top_p``, ``top_k``, ``seed``,
``stop``, ``presence_penalty``, ``frequency_penalty`` (those the backend cannot honour are refused
with a 400 naming them), ``logprobs`` and ``top_logprobs`` (0-20), answered in
``choices[0].logprobs.content`` as OpenAI does; ``n`` must be 1 and ``stream`` false.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from common.annotators.types import SAMPLING_KEYS, ChatRequest, ChatResponse, image_part, text_part
from firm.serve.config import ServeLimits
from firm.serve.errors import ServeError, bad_request
from firm.serve.images import PixelBudget, open_image, to_rgb
from firm.serve.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ChoiceLogprobs,
    ModelCard,
    ModelList,
    TextPart,
    TokenLogprob,
    TopLogprob,
    Usage,
)

__all__ = ["chat_request", "chat_response", "check_model", "models_list"]

_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "stop": lambda v: v in ((), []),
    "presence_penalty": lambda v: v == 0,
    "frequency_penalty": lambda v: v == 0,
    "logprobs": lambda v: v is False,
    "top_logprobs": lambda v: v == 0,
    "top_k": lambda v: v in (0, -1),
}
"""Parameter values that change nothing: dropped, so a backend that cannot apply them is not bothered."""

_LOGPROB_FLOOR = -9999.0
"""What an impossible token's log-prob (-inf) is reported as (OpenAI's convention)."""


def _params(body: ChatCompletionRequest, limits: ServeLimits, unsupported: Collection[str]) -> dict[str, Any]:
    params = {k: getattr(body, k) for k in sorted(SAMPLING_KEYS) if getattr(body, k) is not None}
    if body.max_completion_tokens is not None and body.max_tokens is None:
        params["max_tokens"] = body.max_completion_tokens
    if isinstance(params.get("stop"), str):
        params["stop"] = [params["stop"]]
    if params.get("top_logprobs") and not params.get("logprobs"):
        raise bad_request("top_logprobs needs logprobs=true")
    for key in [k for k, is_neutral in _NEUTRAL.items() if k in params and is_neutral(params[k])]:
        del params[key]
    refused = sorted(k for k in params if k in unsupported)
    if refused:
        raise bad_request(f"this server's model does not support {refused}; leave them out")
    tokens = params.get("max_tokens")
    if tokens is not None and tokens > limits.max_tokens:
        raise bad_request(
            f"max_tokens={tokens} is outside 1-{limits.max_tokens} (this server's limit); lower it or "
            "start the server with a larger limits.max_tokens"
        )
    return params


def chat_request(
    body: ChatCompletionRequest, limits: ServeLimits, *, unsupported: Collection[str] = ()
) -> ChatRequest:
    """A :class:`ChatRequest` from a validated body, images decoded; :class:`ServeError` (400) if unusable."""
    if body.stream:
        raise bad_request("stream=true is not supported; send stream=false (or leave it out)")
    params = _params(body, limits, unsupported)
    budget = PixelBudget(limits.max_request_pixels)
    n_images = 0
    messages = []
    for i, message in enumerate(body.messages):
        if isinstance(message.content, str):
            messages.append({"role": message.role, "content": message.content})
            continue
        parts = []
        for j, part in enumerate(message.content):
            if isinstance(part, TextPart):
                parts.append(text_part(part.text))
                continue
            n_images += 1
            if n_images > limits.max_images:
                raise bad_request(f"at most {limits.max_images} images per request; send fewer")
            where = f"messages[{i}].content[{j}].image_url.url"
            parts.append(
                {"type": "image", "image": open_image(part.image_url.url, where, limits, budget), "at": where}
            )
        messages.append({"role": message.role, "content": parts})
    for message in messages:  # every header is within the budget: decode the pixels
        if isinstance(message["content"], list):
            message["content"] = [
                image_part(to_rgb(p["image"], p["at"])) if p["type"] == "image" else p
                for p in message["content"]
            ]
    return ChatRequest(messages=messages, params=params)


def _logprob(value: float) -> float:
    return value if value > _LOGPROB_FLOOR else _LOGPROB_FLOOR


def _token_logprobs(entries: list[dict[str, Any]]) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token=e["token"],
            logprob=_logprob(float(e["logprob"])),
            bytes=list(e["token"].encode("utf-8")),
            top_logprobs=[
                TopLogprob(
                    token=a["token"], logprob=_logprob(float(a["logprob"])), bytes=list(a["token"].encode())
                )
                for a in e.get("top_logprobs", [])
            ],
        )
        for e in entries
    ]


def chat_response(response: ChatResponse, model: str) -> ChatCompletion:
    """The chat-completions response for one answer (``usage`` counts the backend did not report are 0)."""
    prompt = int(response.usage.get("prompt_tokens") or 0)
    completion = int(response.usage.get("completion_tokens") or 0)
    logprobs = (
        None if response.logprobs is None else ChoiceLogprobs(content=_token_logprobs(response.logprobs))
    )
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[
            Choice(
                index=0,
                message=AssistantMessage(content=response.text),
                finish_reason="length" if response.finish_reason == "length" else "stop",
                logprobs=logprobs,
            )
        ],
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
    )


def check_model(asked: str | None, served: str) -> None:
    """404 if the body names a model other than the served one (vLLM's rule)."""
    if asked is not None and asked != served:
        raise ServeError(
            404, f"model {asked!r} is not served here; this server serves {served!r}", "not_found_error"
        )


def models_list(served: str, created: int) -> ModelList:
    """``GET /v1/models``."""
    return ModelList(data=[ModelCard(id=served, created=int(created))])
