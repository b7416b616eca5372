"""The OpenAI chat-completions wire format, server side: request bodies in, response bodies out.

Accepted: ``messages`` with string content or a list of ``text`` and ``image_url`` parts (inline
``data:`` URLs only); sampling parameters ``temperature``, ``max_tokens`` (or
``max_completion_tokens``), ``top_p``, ``top_k``, ``seed``, ``stop``, ``presence_penalty``,
``frequency_penalty`` (those the backend cannot honour are refused with a 400 naming them),
``logprobs`` (bool) and ``top_logprobs`` (0-20), answered in ``choices[0].logprobs.content`` as
OpenAI does; ``n`` must be 1 and ``stream`` false. Other OpenAI fields (``user`` ...) are
ignored, as vLLM does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

from common.annotators.types import (
    MAX_TOP_LOGPROBS,
    SAMPLING_KEYS,
    ChatRequest,
    ChatResponse,
    image_part,
    text_part,
)
from firm.serve.config import ServeLimits
from firm.serve.errors import ServeError, bad_request
from firm.serve.images import decode_image

__all__ = ["chat_request_from_body", "chat_response_body", "check_model", "models_body"]

_ROLES = ("system", "user", "assistant")
_NUMERIC = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "seed": int,
    "max_tokens": int,
    "top_logprobs": int,
}
_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "stop": lambda v: v in ((), []),
    "presence_penalty": lambda v: v == 0,
    "frequency_penalty": lambda v: v == 0,
    "logprobs": lambda v: v is False,
    "top_logprobs": lambda v: v == 0,
}
"""Parameter values that change nothing: dropped, so a backend that cannot apply them is not bothered."""


def _content(content: Any, i: int, limits: ServeLimits, images: list[int]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise bad_request(f"messages[{i}].content must be a string or a non-empty list of parts")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(text_part(part["text"]))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, Mapping) else url
            images.append(1)
            if len(images) > limits.max_images:
                raise bad_request(f"at most {limits.max_images} images per request; send fewer")
            parts.append(image_part(decode_image(url, f"{where}.image_url.url", limits)))
        else:
            raise bad_request(
                f"{where} must be {{'type': 'text', 'text': str}} or "
                f"{{'type': 'image_url', 'image_url': {{'url': 'data:image/png;base64,...'}}}}"
            )
    return parts


def _params(body: Mapping[str, Any], limits: ServeLimits, unsupported: Collection[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if body.get("max_completion_tokens") is not None and body.get("max_tokens") is None:
        params["max_tokens"] = body["max_completion_tokens"]
    for key in SAMPLING_KEYS:
        if body.get(key) is not None:
            params[key] = body[key]
    for key, cast in _NUMERIC.items():
        if key in params:
            value = params[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad_request(f"{key} must be a number, got {value!r}")
            params[key] = cast(value)
    if "logprobs" in params and not isinstance(params["logprobs"], bool):
        raise bad_request(f"logprobs must be true or false, got {params['logprobs']!r}")
    if not 0 <= params.get("top_logprobs", 0) <= MAX_TOP_LOGPROBS:
        raise bad_request(f"top_logprobs must be in 0-{MAX_TOP_LOGPROBS}, got {params['top_logprobs']}")
    if params.get("top_logprobs") and not params.get("logprobs"):
        raise bad_request("top_logprobs needs logprobs=true")
    for key in [k for k, is_neutral in _NEUTRAL.items() if k in params and is_neutral(params[k])]:
        del params[key]
    refused = sorted(k for k in params if k in unsupported)
    if refused:
        raise bad_request(f"this server's model does not support {refused}; leave them out")
    if params.get("temperature", 0.0) < 0 or not 0 < params.get("top_p", 1.0) <= 1:
        raise bad_request("temperature must be >= 0 and top_p in (0, 1]")
    tokens = params.get("max_tokens")
    if tokens is not None and not 1 <= tokens <= limits.max_tokens:
        raise bad_request(
            f"max_tokens={tokens} is outside 1-{limits.max_tokens} (this server's limit); lower it or "
            "start the server with a larger limits.max_tokens"
        )
    return params


def chat_request_from_body(
    body: Mapping[str, Any], limits: ServeLimits, *, unsupported: Collection[str] = ()
) -> ChatRequest:
    """A :class:`ChatRequest` from a chat-completions body; :class:`ServeError` (400) if malformed."""
    if body.get("stream"):
        raise bad_request("stream=true is not supported; send stream=false (or leave it out)")
    if body.get("n", 1) not in (1, None):
        raise bad_request(f"n={body.get('n')!r} is not supported; ask for one choice (n=1) per request")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' is required: a non-empty list of {'role', 'content'} objects")
    images: list[int] = []
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES or "content" not in message:
            raise bad_request(
                f"messages[{i}] must be an object with 'role' ({', '.join(_ROLES)}) and 'content'"
            )
        out.append({"role": message["role"], "content": _content(message["content"], i, limits, images)})
    return ChatRequest(messages=out, params=_params(body, limits, unsupported))


def chat_response_body(response: ChatResponse, model: str) -> dict[str, Any]:
    """The chat-completions response for one answer (``usage`` counts the backend did not report are 0)."""
    prompt = int(response.usage.get("prompt_tokens") or 0)
    completion = int(response.usage.get("completion_tokens") or 0)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.text},
                "finish_reason": response.finish_reason or "stop",
                "logprobs": None if response.logprobs is None else {"content": response.logprobs},
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def check_model(body: Mapping[str, Any], served: str) -> None:
    """404 if the body names a model other than the served one (vLLM's rule)."""
    asked = body.get("model")
    if asked is not None and asked != served:
        raise ServeError(
            404, f"model {asked!r} is not served here; this server serves {served!r}", "not_found_error"
        )


def models_body(served: str) -> dict[str, Any]:
    """``GET /v1/models``."""
    return {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "firm-serve"}]}
