"""An OpenAI-compatible chat-completions client (vLLM's server, hosted APIs), standard library only.

``POST {base_url}/chat/completions`` with ``{"model", "messages", **sampling params}``; images
become ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` parts.

* Concurrency: a thread pool of ``concurrency`` workers; responses keep the request order.
* Timeouts: ``timeout`` seconds per HTTP call.
* Retries: connection errors, timeouts, HTTP 408 / 429 and 5xx are retried up to
  ``max_retries`` times with exponential backoff (``backoff * 2**attempt``, capped at
  ``backoff_max``, times a random factor in [0.5, 1]; a ``Retry-After`` header is honoured up
  to the cap). Other 4xx answers are this request's fault: it comes back with ``error`` set.
* When retries are exhausted the endpoint is considered down: :class:`AnnotatorUnavailableError`
  names the URL and the last failure, the workers stop taking new requests, and everything
  answered so far is already in the cache (a rerun resumes from there).
* The API key is read from the environment variable named by ``api_key_env`` (never from the
  config itself); without one no ``Authorization`` header is sent (vLLM needs none).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from PIL import Image

from common.annotators.base import CachedAnnotator, Pending
from common.annotators.types import AnnotatorUnavailableError, ChatRequest, ChatResponse

__all__ = ["OpenAICompatibleAnnotator", "image_data_url", "to_openai_messages"]

RETRY_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying (plus every other 5xx)."""


def image_data_url(image: Image.Image) -> str:
    """A ``data:image/png;base64,...`` URL of ``image`` (converted to RGB / RGBA first)."""
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's messages in the chat-completions wire format (``meta`` is never included)."""
    out = []
    for message in request.messages:
        content = message["content"]
        if not isinstance(content, str):
            content = [
                {"type": "text", "text": p["text"]}
                if p["type"] == "text"
                else {"type": "image_url", "image_url": {"url": image_data_url(p["image"])}}
                for p in content
            ]
        out.append({"role": message["role"], "content": content})
    return out


class _TransientError(Exception):
    """A failure worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _token_logprobs(block: Any) -> list[dict[str, Any]] | None:
    """``choices[0].logprobs.content`` as :data:`~common.annotators.types.TokenLogprob` entries.

    ``None`` when the response has none (not asked for, or a server that ignores the field);
    entries without a token or a numeric log-prob are skipped.
    """
    content = block.get("content") if isinstance(block, dict) else None
    if not isinstance(content, list):
        return None

    def entry(e: Any) -> dict[str, Any] | None:
        if not isinstance(e, dict) or not isinstance(e.get("token"), str):
            return None
        lp = e.get("logprob")
        if isinstance(lp, bool) or not isinstance(lp, int | float):
            return None
        return {"token": e["token"], "logprob": float(lp)}

    out = []
    for e in content:
        tok = entry(e)
        if tok is not None:
            alternatives = [a for a in map(entry, e.get("top_logprobs") or []) if a is not None]
            out.append({**tok, "top_logprobs": alternatives})
    return out


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers return a list of parts
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "".join(texts) if texts else None
    return None


class OpenAICompatibleAnnotator(CachedAnnotator):
    """Chat completions over HTTP (see the module docstring).

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended).
        model: the served model name.
        api_key_env: name of the environment variable holding the API key (optional).
        concurrency: parallel HTTP requests.
        timeout: seconds per HTTP call.
        max_retries: retries after the first attempt of a request.
        backoff / backoff_max: exponential backoff base and cap, in seconds.
        temperature / max_tokens / top_p / seed: default sampling parameters.
        cache_dir: response cache directory (``None``: no cache).
        extra_headers: added to every call (e.g. an organisation header).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        temperature: float | None = 0.0,
        max_tokens: int | None = 1024,
        top_p: float | None = None,
        seed: int | None = None,
        cache_dir: str | Path | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            model,
            default_params={
                "temperature": temperature,
                "max_tokens": max_tokens,
                "top_p": top_p,
                "seed": seed,
            },
            cache_dir=cache_dir,
        )
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = str(base_url).rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.api_key_env = api_key_env
        self.extra_headers = dict(extra_headers or {})
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"OpenAICompatibleAnnotator(url={self.url!r}, model={self.model!r})"

    # ------------------------------------------------------------------ HTTP

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.extra_headers}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, body: bytes) -> ChatResponse:
        """One HTTP call: a response, a per-request error response, or :class:`_TransientError`."""
        req = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:500].decode("utf-8", "replace") if e.fp is not None else ""
            if e.code in RETRY_STATUS or e.code >= 500:
                retry_after = e.headers.get("Retry-After") if e.headers else None
                try:
                    wait_s = float(retry_after) if retry_after is not None else None
                except ValueError:
                    wait_s = None
                raise _TransientError(f"HTTP {e.code}: {detail.strip()[:200]}", wait_s) from e
            return ChatResponse(
                text="", model=self.model, error=f"HTTP {e.code} from {self.url}: {detail.strip()}"
            )
        except TimeoutError as e:
            raise _TransientError(f"timed out after {self.timeout:g} s") from e
        except urllib.error.URLError as e:
            raise _TransientError(f"connection failed: {e.reason}") from e
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _TransientError(f"connection failed: {type(e).__name__}: {e}") from e
        try:
            payload = json.loads(raw)
            choice = payload["choices"][0]
            text = _content_text(choice["message"].get("content"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return ChatResponse(
                text="", model=self.model, error=f"unreadable response from {self.url}: {raw[:200]!r}"
            )
        if text is None:
            return ChatResponse(
                text="", model=self.model, error=f"no message content in the response from {self.url}"
            )
        return ChatResponse(
            text=text,
            model=str(payload.get("model") or self.model),
            finish_reason=choice.get("finish_reason"),
            usage=dict(payload.get("usage") or {}),
            logprobs=_token_logprobs(choice.get("logprobs")),
        )

    def _sleep_for(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max, self.backoff * (2**attempt)) * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _post(self, item: Pending, stop: threading.Event) -> ChatResponse:
        body = json.dumps(
            {"model": self.model, "messages": to_openai_messages(item.request), **item.params}
        ).encode("utf-8")
        last = ""
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise AnnotatorUnavailableError(f"stopped: another request to {self.url} failed")
            try:
                return self._post_once(body)
            except _TransientError as e:
                last = e.reason
                if attempt == self.max_retries:
                    break
                self._count(retries=1)
                time.sleep(self._sleep_for(attempt, e.retry_after))
        raise AnnotatorUnavailableError(
            f"chat-completions endpoint {self.url} (model {self.model!r}) is unavailable: {last} "
            f"(after {self.max_retries + 1} attempt(s)). Is the server running and is base_url right? "
            "Responses received so far are cached; rerun to resume."
        )

    def _answer(self, pending: list[Pending], store: Callable[[Pending, ChatResponse], None]) -> None:
        stop = threading.Event()

        def work(item: Pending) -> None:
            store(item, self._post(item, stop))

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(pending))) as pool:
            futures = [pool.submit(work, item) for item in pending]
            done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                stop.set()
                for f in not_done:
                    f.cancel()
                wait(not_done)
                raise failed.exception()  # type: ignore[misc]

    # ------------------------------------------------------------------ health

    def check(self) -> list[str]:
        """``GET {base_url}/models``: the served model ids; raises if the endpoint is down."""
        url = self.base_url + "/models"
        req = urllib.request.Request(url, headers=self._headers(), method="GET")
        try:
            with urllib.request.urlopen(req, timeout=min(self.timeout, 10.0)) as resp:
                payload = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise AnnotatorUnavailableError(f"{url} answered HTTP {e.code}") from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            raise AnnotatorUnavailableError(
                f"chat-completions endpoint {self.base_url} is unreachable ({reason}); is the server running?"
            ) from e
        except ValueError as e:
            raise AnnotatorUnavailableError(f"{url} did not answer JSON") from e
        return [str(m.get("id")) for m in payload.get("data", []) if isinstance(m, dict)]
