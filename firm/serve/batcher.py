"""Dynamic batching with fair scheduling: many HTTP requests, one model call per batch.

Request handlers :meth:`DynamicBatcher.submit` chat requests to a *lane* (``score`` for
``/v1/score``, ``chat`` for ``/v1/chat/completions``) and wait on the returned futures. A worker
thread picks a lane (round robin over the lanes with waiting work, so neither starves), takes
its oldest item, then keeps collecting from that lane until it holds ``max_batch_size`` items,
``max_wait_ms`` have passed, or no request that would join is on its way
(:meth:`DynamicBatcher.expect`) and none has arrived for 5 ms (so a lone client does not wait for
company that is not coming), and
answers the batch with a single ``annotator.complete(batch)`` call (an in-process VLM groups the
batch by sampling parameters and runs ``generate`` per group; an HTTP upstream sends it
concurrently). An in-process model has one worker; an upstream server
that batches by itself (vLLM) may have several, so a slow batch does not hold up the next one.

Short requests are not stuck behind long generations: with an in-process model (which has the
``step_hook`` of :class:`~common.annotators.TransformersVLMAnnotator`), while a ``chat`` batch is
generating, waiting ``score`` items are answered *between its decode steps* (one batch per step,
so the long generation still advances); its tokens are unchanged by that
(:class:`common.models.vlm_sampling.DecodeStepHook`).

If a model call raises, the batch is answered item by item, so one request the backend chokes on
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
from firm.serve.config import ServeConfig, ServeLimits

__all__ = [
    "LANES",
    "BatchFuture",
    "BatcherClosedError",
    "BatcherStats",
    "DynamicBatcher",
    "Expectation",
    "QueueFullError",
]

_LINGER_S = 0.005
"""With nothing announced on its way, a batch still waits this long after the last arrival (a burst
of clients does not arrive at once); a lone client pays at most this."""

LANES: tuple[str, ...] = ("score", "chat")
"""The queues, one per route; the first is answered between the decode steps of the others."""


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
    preemptions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "generate_calls": self.generate_calls,
            "items": self.items,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "failed_calls": self.failed_calls,
            "item_errors": self.item_errors,
            "preemptions": self.preemptions,
        }


class BatchFuture(Future[ChatResponse]):
    """A queued item's answer; ``batch_size`` is the size of the model call that answered it."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_size: int | None = None


class Expectation:
    """A request announced to a lane (:meth:`DynamicBatcher.expect`); :meth:`done` is idempotent."""

    def __init__(self, batcher: DynamicBatcher, lane: str) -> None:
        self._batcher, self.lane, self._open = batcher, lane, True
        self._lock = threading.Lock()

    def done(self) -> None:
        """The request has been submitted (or will never be)."""
        with self._lock:
            if not self._open:
                return
            self._open = False
        self._batcher._arrived(self.lane)


@dataclass
class _Job:
    request: ChatRequest
    future: BatchFuture = field(default_factory=BatchFuture)


class DynamicBatcher:
    """See the module docstring.

    Args:
        annotator: answers the batches (any :class:`~common.annotators.types.Annotator`).
        max_batch_size: items per model call.
        max_wait_ms: how long the worker waits for a batch to fill after taking its first item.
        max_queue: items allowed to wait; :meth:`submit` raises :class:`QueueFullError` beyond.
            (These three default to the server's: :class:`~firm.serve.config.ServeConfig`.)
        workers: worker threads calling the annotator (1 for an in-process model: it is not
            thread-safe and has the cores to itself anyway).
        preempt: answer waiting ``score`` items between the decode steps of a ``chat`` batch
            (only with one worker and an annotator that has a ``step_hook``).
    """

    def __init__(
        self,
        annotator: Annotator,
        *,
        max_batch_size: int = ServeConfig.max_batch_size,
        max_wait_ms: float = ServeConfig.max_wait_ms,
        max_queue: int = ServeLimits.max_queue,
        workers: int = 1,
        preempt: bool = True,
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
        self._queues: dict[str, deque[_Job]] = {lane: deque() for lane in LANES}
        self._turn = 0  # round robin over the lanes
        self._expected: Counter[str] = Counter()  # requests being prepared, per lane
        self._last_arrival: dict[str, float] = dict.fromkeys(LANES, 0.0)
        self.linger_s = min(self.max_wait_s, _LINGER_S)
        self._cond = threading.Condition()
        self._closing = False
        self._local = threading.local()  # the lane a worker is answering, and whether nested
        self.preempting = bool(preempt) and self.workers == 1 and hasattr(annotator, "step_hook")
        if self.preempting:
            annotator.step_hook = self._between_steps  # type: ignore[attr-defined]
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
        """Items waiting in all lanes."""
        with self._cond:
            return self._waiting()

    def _waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def expect(self, lane: str) -> Expectation:
        """Announce a request that is on its way to :meth:`submit` to ``lane`` (its body is being read
        or decoded): a batch of that lane waits for it, up to ``max_wait_ms``, instead of leaving
        without it. Call :meth:`Expectation.done` once it is submitted or has failed."""
        with self._cond:
            self._expected[lane] += 1
            self._last_arrival[lane] = time.monotonic()
        return Expectation(self, lane)

    def _arrived(self, lane: str) -> None:
        with self._cond:
            self._expected[lane] -= 1
            self._cond.notify_all()

    def submit(self, requests: Sequence[ChatRequest], lane: str = "chat") -> list[BatchFuture]:
        """Queue ``requests`` together in ``lane`` (they are never split across a full queue)."""
        if lane not in self._queues:
            raise ValueError(f"unknown lane {lane!r}; lanes: {list(LANES)}")
        jobs = [_Job(r) for r in requests]
        with self._cond:
            if self._closing:
                raise BatcherClosedError("the server is shutting down")
            waiting = self._waiting()
            if waiting + len(jobs) > self.max_queue:
                raise QueueFullError(
                    f"{waiting} item(s) are waiting and this request adds {len(jobs)}; the queue "
                    f"holds {self.max_queue}. Retry later or send fewer items at once"
                )
            self._queues[lane].extend(jobs)
            self._last_arrival[lane] = time.monotonic()
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

    def _pop(self, lane: str) -> list[_Job]:
        """Up to ``max_batch_size`` items of ``lane`` (call with the lock held)."""
        queue = self._queues[lane]
        batch = [queue.popleft() for _ in range(min(self.max_batch_size, len(queue)))]
        return [j for j in batch if j.future.set_running_or_notify_cancel()]

    def _take(self) -> tuple[str, list[_Job]]:
        with self._cond:
            while not self._waiting() and not self._closing:
                self._cond.wait()
            lanes = [LANES[(self._turn + i) % len(LANES)] for i in range(len(LANES))]
            lane = next((name for name in lanes if self._queues[name]), None)
            if lane is None:
                return "", []
            self._turn = (LANES.index(lane) + 1) % len(LANES)
            queue = self._queues[lane]
            deadline = time.monotonic() + self.max_wait_s
            while len(queue) < self.max_batch_size and not self._closing:
                now = time.monotonic()
                remaining = deadline - now
                quiet = now - self._last_arrival[lane]
                if remaining <= 0 or (not self._expected[lane] and quiet >= self.linger_s):
                    break  # full wait spent, or nothing on its way and no arrival for a while
                self._cond.wait(remaining if self._expected[lane] else min(remaining, self.linger_s - quiet))
            return lane, self._pop(lane)

    def _loop(self) -> None:
        while True:
            lane, batch = self._take()
            if not batch:
                with self._cond:
                    if self._closing and not self._waiting():
                        return
                continue
            self._local.lane = lane
            try:
                self._run(batch)
            finally:
                self._local.lane = None

    def _between_steps(self) -> None:
        """The annotator's step hook: answer one waiting ``score`` batch inside a ``chat`` generation."""
        if getattr(self._local, "lane", None) != "chat":
            return  # not a worker's chat batch, or already answering a score batch in one
        if not self._queues[LANES[0]]:  # unlocked peek: a stale answer costs one decode step
            return
        with self._cond:
            batch = self._pop(LANES[0])
            if batch:
                self.stats.preemptions += 1
        if not batch:
            return
        self._local.lane = LANES[0]
        try:
            self._run(batch)
        finally:
            self._local.lane = "chat"

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
            job.future.batch_size = len(batch)
            job.future.set_result(response)

    def _fail(self, jobs: list[_Job], error: BaseException) -> None:
        with self._cond:
            self.stats.failed_calls += 1
            self.stats.item_errors += len(jobs)
        for job in jobs:
            job.future.batch_size = len(jobs)
            job.future.set_exception(error)
