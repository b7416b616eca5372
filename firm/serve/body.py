"""Reading and parsing request bodies with limits: every way a body can be wrong is a 4xx.

* no ``Content-Length`` -> 411; more than ``limits.max_body_bytes`` -> 413 (the body is read
  away first, up to a cap, so the client sees the answer rather than a reset);
* a body that does not arrive within ``limits.read_timeout_s`` (e.g. shorter than its
  ``Content-Length``) -> 408;
* not ``application/json`` -> 415; not JSON, ``NaN`` / ``Infinity`` literals, nesting too deep
  for the parser -> 400;
* a body that does not match the schema -> 400 naming the fields (:func:`validate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from firm.serve.config import ServeLimits
from firm.serve.errors import ServeError, bad_request
from firm.serve.schemas import describe_errors

__all__ = ["read_json", "validate"]

_DRAIN_CAP = 256 * 1024 * 1024
"""An oversized body up to this size is read and discarded so the client sees the 413."""

M = TypeVar("M", bound=BaseModel)


async def _read(request: Request, n: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > n:
            raise bad_request(f"the body is longer than its Content-Length of {n} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: Request) -> None:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _DRAIN_CAP:
            return


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


async def read_json(request: Request, limits: ServeLimits) -> Any:
    """The request's JSON body, read within the limits above."""
    length = request.headers.get("content-length")
    if length is None or not length.strip().isdigit():
        raise ServeError(411, "send a Content-Length header with the JSON body", "invalid_request_error")
    n = int(length)
    if n > limits.max_body_bytes:
        with contextlib.suppress(TimeoutError, ClientDisconnect):
            await asyncio.wait_for(_drain(request), limits.read_timeout_s)
        raise ServeError(
            413,
            f"request body of {n} bytes exceeds this server's limit of {limits.max_body_bytes} bytes; "
            "send fewer items per request (or smaller images)",
            "request_too_large",
        )
    try:
        raw = await asyncio.wait_for(_read(request, n), limits.read_timeout_s)
    except TimeoutError:
        raise ServeError(
            408,
            f"the body did not arrive within {limits.read_timeout_s:g} s (is it shorter than its "
            "Content-Length?)",
            "timeout_error",
        ) from None
    except ClientDisconnect:
        raise bad_request("the client disconnected before sending the whole body") from None
    ctype = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise ServeError(
            415, f"Content-Type must be application/json, got {ctype or 'none'!r}", "unsupported_media_type"
        )
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise bad_request("the body is nested too deeply to be parsed; send a flat JSON object") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, the constants above
        raise bad_request(f"the body is not valid JSON ({e})") from None


def validate(model: type[M], payload: Any) -> M:
    """``payload`` as ``model``; a 400 that names the wrong fields otherwise."""
    if not isinstance(payload, dict):
        raise bad_request(f"the body must be a JSON object, got {type(payload).__name__}")
    try:
        return model.model_validate(payload)
    except ValidationError as e:
        raise bad_request(f"invalid request: {describe_errors(e.errors(include_url=False))}") from None
    except RecursionError:
        raise bad_request("the body is nested too deeply; send a flat JSON object") from None
