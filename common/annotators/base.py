"""What every backend shares: default sampling parameters, the response cache, statistics.

A backend subclasses :class:`CachedAnnotator` and implements :meth:`CachedAnnotator._answer`,
which answers a list of cache misses and hands each response to ``store`` as soon as it has it
(so a killed run keeps everything answered before the kill). Identical requests in one call are
sent once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.annotators.cache import ResponseCache, request_key
from common.annotators.types import SAMPLING_KEYS, ChatRequest, ChatResponse

__all__ = ["AnnotatorStats", "CachedAnnotator", "Pending"]


@dataclass
class AnnotatorStats:
    """Counters over the annotator's lifetime (reported in run metrics)."""

    requests: int = 0
    cache_hits: int = 0
    backend_calls: int = 0
    errors: int = 0
    retries: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Pending:
    """A cache miss to answer: the request, its effective parameters and its key."""

    request: ChatRequest
    params: dict[str, Any]
    key: str


class CachedAnnotator:
    """Base class of the backends (see the module docstring).

    Args:
        model: the model name (sent to HTTP backends; part of every cache key).
        default_params: sampling parameters for requests that do not set them.
        cache_dir: where the :class:`ResponseCache` lives; ``None`` disables caching.
    """

    name: str = "annotator"

    def __init__(
        self,
        model: str,
        *,
        default_params: Mapping[str, Any] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.model = str(model)
        self.default_params = {k: v for k, v in dict(default_params or {}).items() if v is not None}
        unknown = set(self.default_params) - SAMPLING_KEYS
        if unknown:
            raise ValueError(f"unknown sampling parameters {sorted(unknown)}; known: {sorted(SAMPLING_KEYS)}")
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.stats = AnnotatorStats()
        self._stats_lock = threading.Lock()

    def effective_params(self, request: ChatRequest) -> dict[str, Any]:
        """The backend defaults overridden by the request's own parameters."""
        return {**self.default_params, **request.params}

    def cache_key(self, request: ChatRequest, params: Mapping[str, Any]) -> str:
        """The key a response is cached and de-duplicated under (model, messages, parameters)."""
        return request_key(self.model, request, params)

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            for k, v in deltas.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer ``requests`` in order, from the cache where possible."""
        requests = list(requests)
        out: list[ChatResponse | None] = [None] * len(requests)
        waiting: dict[str, list[int]] = {}
        pending: list[Pending] = []
        for i, request in enumerate(requests):
            params = self.effective_params(request)
            key = self.cache_key(request, params)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                out[i] = hit
                continue
            if key not in waiting:
                waiting[key] = []
                pending.append(Pending(request, params, key))
            waiting[key].append(i)
        self._count(requests=len(requests), cache_hits=len(requests) - sum(map(len, waiting.values())))

        def store(item: Pending, response: ChatResponse) -> None:
            if response.error is None and self.cache is not None:
                self.cache.put(item.key, response)
            self._count(backend_calls=1, errors=int(response.error is not None))
            for i in waiting[item.key]:
                out[i] = response

        if pending:
            self._answer(pending, store)
        missing = [i for i, r in enumerate(out) if r is None]
        if missing:  # a backend bug, not a request failure
            raise RuntimeError(f"{type(self).__name__} left {len(missing)} request(s) unanswered")
        return [r for r in out if r is not None]

    def _answer(self, pending: list[Pending], store: Callable[[Pending, ChatResponse], None]) -> None:
        """Answer every item of ``pending``, calling ``store(item, response)`` for each."""
        raise NotImplementedError
