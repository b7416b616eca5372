"""Dynamic batching: many HTTP requests, one model call per batch.

Request handlers :meth:`DynamicBatcher.submit` chat requests and wait on the returned futures.
A worker thread takes the oldest waiting item, then keeps collecting until it holds
``max_batch_size`` items or ``max_wait_ms`` have passed since it took the first, and answers the
batch with a single ``annotator.complete(batch)`` call (an in-process VLM groups the batch by
sampling parameters and runs ``generate`` per group; an HTTP upstream sends it concurrently).
An in-process model has one worker; an upstream server that batches by itself (vLLM) may have
several, so a slow batch does not hold up the next one.

If that call raises, the batch is answered item by item, so one request the backend chokes on
fails alone; :class:`~common.annotators.types.AnnotatorUnavailableError` (the upstream is down)
fails the whole batch at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from common.annotators.types import Annotator, AnnotatorUnavailableError, ChatRequest, ChatResponse

__all__ = ["BatcherClosedError", "BatcherStats", "DynamicBatcher", "QueueFullError"]


class QueueFullError(RuntimeError):
    """More items are waiting than the queue holds (the server answers 503 "busy")."""


class BatcherClosedError(RuntimeError):
    """The batcher is shutting down and takes no new work."""


@dataclass
class BatcherStats:
    """Counters over the batcher's lifetime (``/health`` reports them)."""

    generate_calls: int = 0
    items: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    failed_calls: int = 0
    item_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "generate_calls": self.generate_calls,
            "items": self.items,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "failed_calls": self.failed_calls,
            "item_errors": self.item_errors,
        }


@dataclass
class _Job:
    request: ChatRequest
    future: Future[ChatResponse]


class DynamicBatcher:
    """See the module docstring.

    Args:
        annotator: answers the batches (any :class:`~common.annotators.types.Annotator`).
        max_batch_size: items per model call.
        max_wait_ms: how long the worker waits for a batch to fill after taking its first item.
        max_queue: items allowed to wait; :meth:`submit` raises :class:`QueueFullError` beyond.
        workers: worker threads calling the annotator (1 for an in-process model: it is not
            thread-safe and has the cores to itself anyway).
    """

    def __init__(
        self,
        annotator: Annotator,
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 10.0,
        max_queue: int = 1024,
        workers: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_ms < 0 or max_queue < 1 or workers < 1:
            raise ValueError(
                "need max_wait_ms >= 0, max_queue >= 1 and workers >= 1, "
                f"got {max_wait_ms}, {max_queue}, {workers}"
            )
        self.annotator = annotator
        self.max_batch_size = int(max_batch_size)
        self.max_wait_s = float(max_wait_ms) / 1000.0
        self.max_queue = int(max_queue)
        self.workers = int(workers)
        self.stats = BatcherStats()
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"firm-serve-batcher-{i}", daemon=True)
            for i in range(workers)
        ]

    def start(self) -> DynamicBatcher:
        for thread in self._threads:
            thread.start()
        return self

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._jobs)

    def submit(self, requests: Sequence[ChatRequest]) -> list[Future[ChatResponse]]:
        """Queue ``requests`` together (they are never split across a full queue)."""
        jobs = [_Job(r, Future()) for r in requests]
        with self._cond:
            if self._closing:
                raise BatcherClosedError("the server is shutting down")
            if len(self._jobs) + len(jobs) > self.max_queue:
                raise QueueFullError(
                    f"{len(self._jobs)} item(s) are waiting and this request adds {len(jobs)}; the queue "
                    f"holds {self.max_queue}. Retry later or send fewer items at once"
                )
            self._jobs.extend(jobs)
            self._cond.notify_all()
        return [j.future for j in jobs]

    def close(self, timeout: float | None = None) -> None:
        """Stop taking work, answer everything already queued, then stop the worker."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ worker

    def _take(self) -> list[_Job]:
        with self._cond:
            while not self._jobs and not self._closing:
                self._cond.wait()
            if not self._jobs:
                return []
            deadline = time.monotonic() + self.max_wait_s
            while len(self._jobs) < self.max_batch_size and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            n = min(self.max_batch_size, len(self._jobs))
            batch = [self._jobs.popleft() for _ in range(n)]
        return [j for j in batch if j.future.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                with self._cond:
                    if self._closing and not self._jobs:
                        return
                continue
            self._run(batch)

    def _call(self, jobs: list[_Job]) -> list[ChatResponse]:
        with self._cond:
            self.stats.generate_calls += 1
            self.stats.items += len(jobs)
            self.stats.batch_sizes[len(jobs)] += 1
        return self.annotator.complete([j.request for j in jobs])

    def _run(self, batch: list[_Job]) -> None:
        try:
            responses = self._call(batch)
        except AnnotatorUnavailableError as e:
            self._fail(batch, e)
            return
        except Exception as e:  # the backend choked on something in this batch
            if len(batch) == 1:
                self._fail(batch, e)
                return
            with self._cond:
                self.stats.failed_calls += 1
            for job in batch:  # isolate the culprit: everyone else still gets an answer
                self._run([job])
            return
        with self._cond:
            self.stats.item_errors += sum(1 for r in responses if r.error is not None)
        for job, response in zip(batch, responses, strict=True):
            job.future.set_result(response)

    def _fail(self, jobs: list[_Job], error: BaseException) -> None:
        with self._cond:
            self.stats.failed_calls += 1
            self.stats.item_errors += len(jobs)
        for job in jobs:
            job.future.set_exception(error)
