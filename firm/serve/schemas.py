"""The wire format as pydantic models: OpenAI's chat-completions and models schemas, ``/v1/score``, errors.

Requests are validated strictly, so a client mistake is a 400 that names the field, never a
500 from deep inside the model: numbers must be finite and in range, integers bounded, a bool is
not an int, a float is not an int (``max_tokens: 2.7`` is refused, not truncated), and every
string must be encodable as UTF-8 (a lone surrogate such as ``"\\ud800"`` is refused). Unknown
top-level chat fields are ignored, as vLLM does; ``/v1/score`` bodies may hold only their own
fields. Responses follow the OpenAI schemas closely enough that the ``openai`` client's models
validate them (``created`` on models, ``finish_reason`` literals, ``logprobs.content``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from common.annotators.types import MAX_TOP_LOGPROBS
from common.rewards.modes import RM_MODES

__all__ = [
    "ChatCompletion",
    "ChatCompletionRequest",
    "ChatMessage",
    "Choice",
    "ErrorResponse",
    "ImagePart",
    "ModelCard",
    "ModelList",
    "ScoreItemIn",
    "ScoreRequest",
    "ScoreResponse",
    "ScoreResult",
    "TextPart",
    "TokenLogprob",
    "Usage",
]

INT64 = 2**63 - 1
"""Integers a request may carry are bounded by int64 (a seed of 2**70 is a 400, not an overflow)."""


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"the string holds a lone surrogate at position {e.start} (not valid UTF-8); "
            "send well-formed Unicode"
        ) from None
    return value


Text = Annotated[str, AfterValidator(_utf8)]
"""A string that is valid Unicode (encodable as UTF-8)."""

Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    """Strict types; unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class _Out(BaseModel):
    """Response models: plain, unknown fields kept out."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- chat request


class TextPart(_Strict):
    type: Literal["text"]
    text: Text


class ImageURL(_Strict):
    url: Text
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    """An image as an inline ``data:`` URL (remote URLs are refused: nothing is fetched)."""

    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Text | Annotated[list[ContentPart], Field(min_length=1)]
    name: Text | None = None


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` (OpenAI's schema; ``top_k`` is vLLM's extension, -1 = off)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    model: Text | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1, le=INT64)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=INT64)] | None = None
    temperature: Annotated[Finite, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[Finite, Field(gt=0.0, le=1.0)] | None = None
    top_k: Annotated[int, Field(ge=-1, le=1_000_000)] | None = None
    seed: Annotated[int, Field(ge=-(2**63), le=INT64)] | None = None
    stop: Text | Annotated[list[Text], Field(max_length=16)] | None = None
    presence_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    stream: StrictBool | None = None
    user: Text | None = None


# ---------------------------------------------------------------------------- chat response


class TopLogprob(_Out):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(_Out):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(_Out):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class AssistantMessage(_Out):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class Choice(_Out):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: ChoiceLogprobs | None = None


class Usage(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(_Out):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(_Out):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "firm-serve"


class ModelList(_Out):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ---------------------------------------------------------------------------- score


class ScoreItemIn(_Strict):
    """One thing to judge: ``image`` (base64 / data URL), the edit's ``source_image``, the ``instruction``."""

    image: Text
    source_image: Text | None = None
    instruction: Text = ""


def _mode(value: str) -> str:
    if value not in RM_MODES:
        raise ValueError(f"unknown mode {value!r}; valid modes: {', '.join(RM_MODES)}")
    return value


class ScoreRequest(_Strict):
    """``POST /v1/score`` (see :mod:`firm.serve.scoring`)."""

    mode: Annotated[str, AfterValidator(_mode)]
    items: Annotated[list[ScoreItemIn], Field(min_length=1)]
    template: Text | None = None
    model: Text | None = None


class ScoreResult(_Out):
    score: int | float | None
    normalised: float | None
    parts: dict[str, int | float] | None
    reasoning: str
    text: str
    error: str | None


class ScoreResponse(_Out):
    results: list[ScoreResult]
    model: str
    mode: str
    template: str


# ---------------------------------------------------------------------------- errors


class ErrorDetail(_Out):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(_Out):
    """Every error answer: ``{"error": {"message", "type", "param", "code"}}`` (OpenAI's / vLLM's shape)."""

    error: ErrorDetail

    @classmethod
    def of(cls, status: int, message: str, kind: str, param: str | None = None) -> ErrorResponse:
        return cls(error=ErrorDetail(message=message, type=kind, param=param, code=int(status)))


def describe_errors(errors: list[dict[str, Any]], limit: int = 4) -> str:
    """A one-line summary of pydantic validation errors: ``field.path: what is wrong; ...``."""
    out = []
    for e in errors[:limit]:
        # leave out pydantic's own segments (union branches, validator names)
        parts = [str(p) for p in e.get("loc", ()) if not any(c in str(p) for c in "[(")]
        where = ".".join(parts) or "body"
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(f"{where}: {message}")
    more = len(errors) - limit
    return "; ".join(out) + (f"; and {more} more" if more > 0 else "")
