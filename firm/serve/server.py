"""FIRM's reward server: the critic behind an HTTP API that RL workers and OpenAI clients share.

:class:`CriticServer` ties the pieces together: the FastAPI app (:mod:`firm.serve.app`) served by
uvicorn in a background thread (:mod:`firm.serve.transport`), the :class:`DynamicBatcher` with
one lane per route, the budgets (pixels per request, prompt tokens, ``max_tokens``) checked
before anything is queued, the access log and the Prometheus metrics. Endpoints:

* ``GET /health``, ``GET /metrics``;
* ``GET /v1/models`` + ``POST /v1/chat/completions``: an OpenAI-compatible endpoint of the model
  (``vllm serve`` of the real RM replaces it at paper scale);
* ``POST /v1/score``: the RM scoring API (:mod:`firm.serve.scoring`).

Every error is ``{"error": {"message", "type", "param", "code"}}`` with a 4xx (the request's
fault: what to fix is in the message) or a 5xx (503 busy / shutting down / upstream down, 504
timed out, 500 a backend failure, logged with its traceback); the server keeps serving after
any of them. :meth:`CriticServer.stop` is graceful: new requests get 503, queued work is
answered, in-flight responses are written.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from common.annotators import TransformersVLMAnnotator
from common.annotators.types import Annotator, AnnotatorUnavailableError, ChatRequest, ChatResponse
from common.jsonio import write_json_atomic
from common.rewards.modes import RM_MODES
from firm.prompts.rm import RM_TEMPLATES
from firm.serve.app import Observe, build_app
from firm.serve.backend import unsupported_params
from firm.serve.batcher import BatcherClosedError, BatchFuture, DynamicBatcher, QueueFullError
from firm.serve.chat import chat_request, chat_response, check_model, models_list
from firm.serve.config import ServeConfig
from firm.serve.errors import ServeError, bad_request
from firm.serve.observability import AccessLog, ServerMetrics
from firm.serve.schemas import ChatCompletion, ChatCompletionRequest, ModelList, ScoreRequest, ScoreResponse
from firm.serve.scoring import failed_result, parse_score_request, score_result
from firm.serve.tokens import prompt_counter
from firm.serve.transport import UvicornThread

__all__ = ["CriticServer"]

log = logging.getLogger("firm.serve")
T = TypeVar("T")


class CriticServer:
    """FIRM's reward server (see the module docstring). Use as a context manager or start/stop.

    Args:
        annotator: the model behind it (:func:`firm.serve.backend.build_backend` builds one).
        config: host, port, batching, limits, score budgets (:class:`ServeConfig`).
        template: the default RM template of ``/v1/score`` (``config.template`` or ``"full"``).
    """

    def __init__(
        self, annotator: Annotator, config: ServeConfig | None = None, *, template: str | None = None
    ) -> None:
        self.config = config or ServeConfig()
        self.annotator = annotator
        self.model = str(getattr(annotator, "model", None) or getattr(annotator, "name", "model"))
        self.template = str(template or self.config.template or "full")
        if self.template not in RM_TEMPLATES:
            raise ValueError(f"unknown RM template {self.template!r}; known: {', '.join(RM_TEMPLATES)}")
        self.unsupported = unsupported_params(annotator)
        self.counter = prompt_counter(annotator)
        limits = self.config.limits
        self.batcher = DynamicBatcher(
            annotator,
            max_batch_size=self.config.max_batch_size,
            max_wait_ms=self.config.max_wait_ms,
            max_queue=limits.max_queue,
            workers=1 if isinstance(annotator, TransformersVLMAnnotator) else self.config.upstream_workers,
        )
        self.metrics = ServerMetrics()
        self.access_log = AccessLog(self.config.access_log)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.active = 0
        self.unreadable = 0  # /v1/score results whose answer could not be parsed
        self.model_failures = 0  # /v1/score items the model call failed on
        self.accepting = True
        self.started = time.time()
        self.http = UvicornThread(
            Observe(build_app(self), self),
            host=self.config.host,
            port=int(self.config.port),
            backlog=self.config.backlog,
            max_connections=self.config.max_connections,
            keep_alive_s=self.config.keep_alive_s,
        )
        self.host, self.port = self.http.host, self.http.port
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``http://host:port`` (the bound port, also when 0 was asked for)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``<url>/v1``."""
        return self.url + "/v1"

    def start(self) -> CriticServer:
        """Start the batcher and serve in a background thread; writes ``config.url_file`` if set."""
        self.batcher.start()
        self.http.start()
        if self.config.url_file:
            info = {
                "url": self.url,
                "base_url": self.base_url,
                "model": self.model,
                "template": self.template,
            }
            write_json_atomic(Path(self.config.url_file), info)  # a poller never reads half a file
        return self

    def stop(self, grace_s: float = 30.0) -> None:
        """Graceful shutdown: refuse new work (503), answer what is in flight and queued, then close."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + grace_s
        with self._idle:
            self.accepting = False
            while self.active and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
        self.batcher.close(timeout=max(0.0, deadline - time.monotonic()))
        self.http.stop(timeout=max(1.0, deadline - time.monotonic()))
        self.access_log.close()

    def __enter__(self) -> CriticServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ bookkeeping (Observe calls these)

    def enter(self) -> None:
        """A request arrived."""
        with self._lock:
            self.active += 1
        self.metrics.in_flight.inc()

    def leave(self, record: dict[str, Any], latency_s: float) -> None:
        """A request was answered: count it, observe it, log it."""
        status, route, method = int(record["status"]), str(record["route"]), str(record["method"])
        with self._idle:
            self.active -= 1
            self.requests[f"{method} {route}"] += 1
            self.statuses[status] += 1
            self._idle.notify_all()
        self.metrics.in_flight.dec()
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(route).observe(latency_s)
        self.access_log.write(record)

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        with self._lock:
            requests = dict(self.requests)
            statuses = {str(k): v for k, v in sorted(self.statuses.items())}
            errors = sum(v for k, v in self.statuses.items() if k >= 400)
            unreadable, failures, active = self.unreadable, self.model_failures, self.active
        backend = {"kind": type(self.annotator).__name__}
        if hasattr(self.annotator, "base_url"):
            backend["upstream"] = str(self.annotator.base_url)
        return {
            "status": "ok" if self.accepting else "shutting_down",
            "model": self.model,
            "modes": list(RM_MODES),
            "templates": list(RM_TEMPLATES),
            "template": self.template,
            "backend": backend,
            "batching": {
                "workers": self.batcher.workers,
                "max_batch_size": self.batcher.max_batch_size,
                "max_wait_ms": self.config.max_wait_ms,
                "preempting": self.batcher.preempting,
            },
            "limits": dict(vars(self.config.limits)),
            "context_tokens": None if self.counter is None else self.counter.context,
            "counters": {
                "requests": sum(requests.values()),
                "requests_by_endpoint": requests,
                **self.batcher.stats.to_dict(),
                "errors": errors,
                "unreadable_scores": unreadable,
                "model_failures": failures,
                "statuses": statuses,
                "queued": self.batcher.queued,
                "in_flight": active,
                "uptime_s": round(time.time() - self.started, 3),
            },
        }

    # ------------------------------------------------------------------ budgets

    def _check_prompt(self, request: ChatRequest, max_tokens: int, where: str) -> None:
        """400 if the prompt exceeds the prompt budget or, with ``max_tokens``, the model's context."""
        if self.counter is None:
            return
        context = self.counter.context
        limit = min(self.config.limits.max_prompt_tokens or context, context)
        n = self.counter.count(request, limit)
        if n > limit:
            raise bad_request(
                f"{where} is longer than this server's prompt budget of {limit} tokens: shorten it "
                "(or send fewer / smaller images)"
            )
        if n + max_tokens > context:
            raise bad_request(
                f"{where} ({n} tokens) plus max_tokens={max_tokens} exceeds the model's context of {context} "
                f"tokens; lower max_tokens to at most {context - n}"
            )

    # ------------------------------------------------------------------ answering

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (image decoding, tokenizing) off the event loop."""
        return await run_in_threadpool(fn, *args)

    def _submit(self, requests: list[ChatRequest], lane: str) -> list[BatchFuture]:
        try:
            return self.batcher.submit(requests, lane=lane)
        except QueueFullError as e:
            raise ServeError(503, f"server busy: {e}", "service_unavailable_error") from e
        except BatcherClosedError as e:
            raise ServeError(
                503,
                "the server is shutting down; retry against another instance",
                "service_unavailable_error",
            ) from e

    async def _answers(self, futures: Sequence[BatchFuture]) -> list[ChatResponse | BaseException]:
        """Every future's answer or exception; 504 past ``request_timeout_s``, 503 if the backend is down."""
        timeout = self.config.limits.request_timeout_s
        wrapped = [asyncio.wrap_future(f) for f in futures]
        try:
            out = await asyncio.wait_for(asyncio.gather(*wrapped, return_exceptions=True), timeout)
        except TimeoutError:
            for f in futures:
                f.cancel()
            raise ServeError(
                504,
                f"no answer within {timeout:g} s; retry, send fewer items, or raise limits.request_timeout_s",
                "timeout_error",
            ) from None
        for answer in out:
            if isinstance(answer, AnnotatorUnavailableError):
                raise ServeError(
                    503, f"the model backend is unavailable: {answer}", "service_unavailable_error"
                )
        return list(out)

    async def score(self, body: ScoreRequest, record: dict[str, Any]) -> ScoreResponse:
        """``POST /v1/score``: a failed item is a result with ``error`` set; the others are answered."""
        check_model(body.model, self.model)
        record["items"] = len(body.items)
        max_tokens = int(self.config.score_max_tokens[body.mode])

        def prepare() -> tuple[str, list[ChatRequest], dict[int, BaseException]]:
            job = parse_score_request(body, self.config.limits, self.template)
            requests, failed = job.requests(max_tokens), {}
            for i, request in enumerate(requests):
                try:
                    self._check_prompt(request, max_tokens, f"items[{i}]'s RM prompt")
                except ServeError:
                    raise
                except Exception as e:  # the model's processor cannot read this item: it fails alone
                    failed[i] = e
            return job.template, requests, failed

        try:
            template, requests, failed = await self._blocking(prepare)
            todo = [r for i, r in enumerate(requests) if i not in failed]
            futures = self._submit(todo, "score") if todo else []
        finally:
            record["expected"].done()
        answered = iter(await self._answers(futures))
        answers = [failed[i] if i in failed else next(answered) for i in range(len(requests))]
        record["batch_size"] = max((f.batch_size or 0 for f in futures), default=0)
        results = []
        for i, answer in enumerate(answers):
            if isinstance(answer, BaseException):
                log.warning(
                    "items[%d] of %s failed in the model call", i, record["request_id"], exc_info=answer
                )
                self.metrics.item_errors.labels("model").inc()
                results.append(failed_result(f"model_error: {type(answer).__name__}: {answer}"))
                with self._lock:
                    self.model_failures += 1
                continue
            result = score_result(body.mode, answer)
            if result.error is not None:
                self.metrics.item_errors.labels("unreadable").inc()
                with self._lock:
                    self.unreadable += 1
            results.append(result)
        self.metrics.items.labels(body.mode).inc(len(results))
        for f in futures:
            self.metrics.batch.observe(f.batch_size or 0)
        return ScoreResponse(results=results, model=self.model, mode=body.mode, template=template)

    async def chat(self, body: ChatCompletionRequest, record: dict[str, Any]) -> ChatCompletion:
        """``POST /v1/chat/completions``."""
        check_model(body.model, self.model)

        def prepare() -> ChatRequest:
            request = chat_request(body, self.config.limits, unsupported=self.unsupported)
            params = (
                self.annotator.effective_params(request)
                if hasattr(self.annotator, "effective_params")
                else {}
            )
            try:
                self._check_prompt(request, int(params.get("max_tokens") or 0), "the prompt")
            except ServeError:
                raise
            except Exception as e:  # the model's processor cannot read the request
                raise bad_request(f"the model cannot read this request: {type(e).__name__}: {e}") from e
            return request

        try:
            request = await self._blocking(prepare)
            futures = self._submit([request], "chat")
        finally:
            record["expected"].done()
        (answer,) = await self._answers(futures)
        record["items"], record["batch_size"] = 1, futures[0].batch_size
        if futures[0].batch_size:
            self.metrics.batch.observe(futures[0].batch_size)
        if isinstance(answer, BaseException):
            record["traceback"] = "".join(traceback.format_exception(answer))
            raise ServeError(500, f"the model call failed: {type(answer).__name__}: {answer}", "server_error")
        if answer.error is not None:
            raise ServeError(400, f"the upstream model refused the request: {answer.error}", "upstream_error")
        return chat_response(answer, self.model)

    def models(self) -> ModelList:
        """``GET /v1/models``."""
        return models_list(self.model, int(self.started))
