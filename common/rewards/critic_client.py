"""HTTP client of FIRM's reward server (``firm.serve``): RM scores and the CME / QMA rewards.

``CriticClient(base_url)`` talks to ``POST {base_url}/v1/score`` (see :mod:`firm.serve.scoring`)::

    critic = CriticClient("http://127.0.0.1:8000")
    results = critic.score("instruction", images, prompts)       # list[CriticResult]
    rewards = critic.qma(images, prompts)                        # CriticRewards(rewards=array, ...)
    rewards = critic.cme(edited, instructions, sources)

* A batch larger than ``batch_size`` is split into requests sent ``concurrency`` at a time (the
  server batches them together again).
* Only the server's own trouble is retried: connection errors, timeouts and HTTP 5xx, up to
  ``retries`` times, with jittered exponential backoff (``backoff * 2**attempt`` capped at
  ``backoff_max``, times a random factor in [0.5, 1], so many RL workers do not retry in step),
  and never past ``deadline`` seconds for the whole call; then :class:`CriticUnavailableError`
  names the endpoint and the last failure.
* Every 4xx is the caller's fault and is raised at once, without a retry:
  :class:`CriticRequestError` carries the status and the server's message (which says what to fix).
* An answer the RM wrote but that cannot be parsed is not an exception: its
  :class:`CriticResult` has ``error`` set and its reward is NaN (or ``missing``, if given).

Rewards (docs/papers/firm.md §4, :mod:`common.rewards.base_and_bonus`): ``cme`` = CME of execution and
consistency (NaN if either is missing: FIRM has no fallback); ``qma`` = QMA of instruction and
quality, with ``Q = (min(aesthetics, quality, structure) - 1) / 4`` from the quality sub-scores
(a missing Q falls back to I, as in FIRM's code).
"""

from __future__ import annotations

import http.client
import json
import math
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from common.annotators.openai_compat import image_data_url
from common.config import ActionableError
from common.rewards.base_and_bonus import cme, qma, quality_from_subscores
from common.rewards.modes import CONSISTENCY, EDIT_MODES, EXECUTION, INSTRUCTION, QUALITY

__all__ = ["CriticClient", "CriticRequestError", "CriticResult", "CriticRewards", "CriticUnavailableError"]


class CriticUnavailableError(ConnectionError, ActionableError):
    """The reward server cannot be reached or keeps failing."""


class CriticRequestError(ValueError):
    """The reward server refused a request (HTTP 4xx); the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class CriticResult:
    """One item's verdict: raw 1-5 ``score``, ``normalised`` ``(score - 1) / 4``, quality ``parts``,
    the RM's ``reasoning`` and raw ``text``; ``error`` set (scores ``None``) if it was unreadable."""

    score: float | None
    normalised: float | None
    parts: dict[str, float] | None
    reasoning: str
    text: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CriticResult:
        return cls(
            score=d.get("score"),
            normalised=d.get("normalised"),
            parts=d.get("parts"),
            reasoning=str(d.get("reasoning") or ""),
            text=str(d.get("text") or ""),
            error=d.get("error"),
        )


@dataclass
class CriticRewards:
    """Rewards of a batch and what they were made of.

    Attributes:
        rewards: one reward in [0, 1] per item (NaN where a needed score is missing, unless the
            call was given ``missing=``).
        components: the normalised scores per mode (NaN where missing), e.g. ``execution``.
        results: the raw :class:`CriticResult` per mode.
    """

    rewards: np.ndarray
    components: dict[str, np.ndarray]
    results: dict[str, list[CriticResult]] = field(repr=False)

    @property
    def n_failed(self) -> dict[str, int]:
        """Unreadable verdicts per mode."""
        return {mode: sum(not r.ok for r in rs) for mode, rs in self.results.items()}


def _png_base64(image: Image.Image | bytes) -> str:
    if isinstance(image, bytes | bytearray):
        import base64

        return base64.b64encode(bytes(image)).decode("ascii")
    if not isinstance(image, Image.Image):
        raise TypeError(f"images must be PIL images or PNG bytes, got {type(image).__name__}")
    return image_data_url(image).split(",", 1)[1]


class CriticClient:
    """See the module docstring.

    Args:
        base_url: the server's root (``http://host:port``; a trailing ``/v1`` is accepted).
        timeout: seconds per HTTP call.
        retries: retries after the first attempt of a call (5xx and connection errors only).
        backoff / backoff_max: exponential backoff base and cap, in seconds (jittered).
        deadline: seconds one call may take with all its retries (``None``: no limit); an
            attempt's timeout is cut to what is left of it.
        batch_size: items per ``/v1/score`` request.
        concurrency: requests in flight at once.
        template: the RM template to ask for (``None``: the server's default).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        backoff_max: float = 10.0,
        deadline: float | None = 600.0,
        batch_size: int = 32,
        concurrency: int = 4,
        template: str | None = None,
    ) -> None:
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be > 0 (or None), got {deadline}")
        if retries < 0 or batch_size < 1 or concurrency < 1 or timeout <= 0:
            raise ValueError(
                f"need retries >= 0, batch_size >= 1, concurrency >= 1, timeout > 0; got {retries}, "
                f"{batch_size}, {concurrency}, {timeout}"
            )
        url = str(base_url).rstrip("/")
        self.base_url = url.removesuffix("/v1")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.deadline = None if deadline is None else float(deadline)
        self.batch_size = int(batch_size)
        self.concurrency = int(concurrency)
        self.template = template
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"CriticClient({self.base_url!r})"

    # ------------------------------------------------------------------ HTTP

    def _once(
        self, method: str, path: str, payload: dict[str, Any] | None, timeout: float | None = None
    ) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
            return json.loads(resp.read())

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call with retries; raises :class:`CriticUnavailableError` / :class:`CriticRequestError`."""
        url = self.base_url + path
        last = ""
        start = time.monotonic()
        end = math.inf if self.deadline is None else start + self.deadline
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts += 1
            try:
                left = max(0.001, end - time.monotonic())
                return self._once(method, path, payload, min(self.timeout, left))
            except urllib.error.HTTPError as e:
                message = _error_message(e)
                if e.code < 500:
                    raise CriticRequestError(e.code, message) from None
                last = f"HTTP {e.code}: {message}"
            except TimeoutError:
                last = f"timed out after {self.timeout:g} s"
            except urllib.error.URLError as e:
                last = f"connection failed: {e.reason}"
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                last = f"connection failed: {type(e).__name__}: {e}"
            except ValueError as e:
                last = f"the answer is not JSON ({e})"
            if attempt < self.retries:
                delay = min(self.backoff_max, self.backoff * 2**attempt) * self._rng.uniform(0.5, 1.0)
                if time.monotonic() + delay >= end:
                    last += f"; the call's deadline of {self.deadline:g} s has passed"
                    break
                time.sleep(delay)
        raise CriticUnavailableError(
            f"reward server {url} is unavailable: {last} (after {attempts} attempt(s) in "
            f"{time.monotonic() - start:.1f} s). "
            "Is it running? "
            "Start one with: python -m experiments.run +exp=firm_serve (or python -m firm.serve)"
        )

    def health(self) -> dict[str, Any]:
        """``GET /health``: model, modes, counters."""
        return self._call("GET", "/health")

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.2) -> dict[str, Any]:
        """Poll ``/health`` until the server answers (at most ``timeout`` seconds), then return it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._once("GET", "/health", None)
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
                if time.monotonic() >= deadline:
                    raise CriticUnavailableError(
                        f"reward server {self.base_url} did not come up within {timeout:g} s ({e})"
                    ) from e
                time.sleep(interval)

    # ------------------------------------------------------------------ scoring

    def score(
        self,
        mode: str,
        images: Sequence[Image.Image | bytes],
        instructions: Sequence[str] | str | None = None,
        sources: Sequence[Image.Image | bytes] | None = None,
        *,
        template: str | None = None,
    ) -> list[CriticResult]:
        """The RM's verdict on each image in ``mode``.

        Args:
            mode: ``execution`` / ``consistency`` (edits: give ``sources``), ``instruction``
                (generation: ``instructions`` are the prompts) or ``quality`` (image only).
            images: the edited / generated images (PIL or PNG bytes).
            instructions: one per image, or one string for all (``None``: empty, for quality).
            sources: the images before the edit (edit modes).
            template: overrides the client's template for this call.
        """
        images = list(images)
        n = len(images)
        if isinstance(instructions, str) or instructions is None:
            instructions = [instructions or ""] * n
        instructions = list(instructions)
        if len(instructions) != n:
            raise ValueError(f"{n} images but {len(instructions)} instructions; give one per image")
        if sources is not None and len(sources) != n:
            raise ValueError(f"{n} images but {len(sources)} source images; give one per image")
        if mode in EDIT_MODES and sources is None:
            raise ValueError(f"mode {mode!r} judges an edit: give sources= (the images before the edit)")
        if n == 0:
            return []
        items = []
        for i in range(n):
            item: dict[str, Any] = {"image": _png_base64(images[i]), "instruction": str(instructions[i])}
            if sources is not None and mode in EDIT_MODES:
                item["source_image"] = _png_base64(sources[i])
            items.append(item)
        tpl = template or self.template
        chunks = [items[i : i + self.batch_size] for i in range(0, n, self.batch_size)]

        def send(chunk: list[dict[str, Any]]) -> list[CriticResult]:
            body: dict[str, Any] = {"mode": mode, "items": chunk}
            if tpl:
                body["template"] = tpl
            answer = self._call("POST", "/v1/score", body)
            results = answer.get("results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise CriticUnavailableError(
                    f"reward server {self.base_url} answered {len(results or [])} results "
                    f"for {len(chunk)} items"
                )
            return [CriticResult.from_json(r) for r in results]

        if len(chunks) == 1:
            return send(chunks[0])
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
            return [r for part in pool.map(send, chunks) for r in part]

    def cme(
        self,
        images: Sequence[Image.Image | bytes],
        instructions: Sequence[str] | str,
        sources: Sequence[Image.Image | bytes],
        *,
        w1: float = 0.6,
        w2: float = 0.4,
        missing: float | None = None,
    ) -> CriticRewards:
        """CME rewards of edits: ``E * (w1 + w2 * C) / (w1 + w2)`` from two RM calls per item."""
        results = {m: self.score(m, images, instructions, sources) for m in EDIT_MODES}
        e, c = (_normalised(results[m]) for m in EDIT_MODES)
        rewards = np.where(np.isnan(c), np.nan, cme(e, c, w1, w2))  # no fallback for CME in FIRM
        return CriticRewards(_fill(rewards, missing), {EXECUTION: e, CONSISTENCY: c}, results)

    def qma(
        self,
        images: Sequence[Image.Image | bytes],
        prompts: Sequence[str] | str,
        *,
        w1: float = 0.4,
        w2: float = 0.6,
        use_quality: bool = True,
        missing: float | None = None,
    ) -> CriticRewards:
        """QMA rewards of generations: ``I * (w1 + w2 * Q) / (w1 + w2)`` (Q missing: ``I``)."""
        results = {INSTRUCTION: self.score(INSTRUCTION, images, prompts)}
        i = _normalised(results[INSTRUCTION])
        if use_quality:
            results[QUALITY] = self.score(QUALITY, images)
            q = np.array([_quality(r) for r in results[QUALITY]], dtype=float)
        else:
            q = np.full_like(i, np.nan)
        return CriticRewards(_fill(qma(i, q, w1, w2), missing), {INSTRUCTION: i, QUALITY: q}, results)


def _error_message(e: urllib.error.HTTPError) -> str:
    try:
        raw = e.read() if e.fp is not None else b""
    except OSError:
        raw = b""
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw[:300].decode("utf-8", "replace").strip() or str(e.reason)


def _normalised(results: Sequence[CriticResult]) -> np.ndarray:
    return np.array([math.nan if r.normalised is None else float(r.normalised) for r in results], dtype=float)


def _quality(r: CriticResult) -> float:
    """QMA's Q from the three sub-scores (NaN when they are missing: QMA falls back to I)."""
    parts = r.parts or {}
    q = quality_from_subscores(parts.get("aesthetics"), parts.get("quality"), parts.get("structure_texture"))
    return math.nan if q is None else float(q)


def _fill(rewards: np.ndarray, missing: float | None) -> np.ndarray:
    rewards = np.asarray(rewards, dtype=float)
    return rewards if missing is None else np.where(np.isnan(rewards), float(missing), rewards)
