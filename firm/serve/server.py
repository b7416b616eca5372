"""The reward server: a threaded HTTP server in front of a :class:`~firm.serve.batcher.DynamicBatcher`.

Endpoints:

* ``GET /health``: status, served model, modes, templates, limits and counters (HTTP requests,
  model calls, items, batch sizes seen, errors, queue depth, uptime);
* ``GET /v1/models``, ``POST /v1/chat/completions``: the OpenAI-compatible model endpoint
  (:mod:`firm.serve.chat`); at paper scale ``vllm serve`` of the real RM replaces it;
* ``POST /v1/score``: the RM scoring API (:mod:`firm.serve.scoring`).

Every error is ``{"error": {"message", "type", "code"}}`` with a 4xx (the request's fault: what
to fix is in the message) or a 5xx (503 busy / shutting down / upstream down, 504 timed out, 500
a backend failure); the server keeps serving after any of them. :meth:`CriticServer.stop` is
graceful: new requests get 503, queued work is answered, in-flight responses are written.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common.annotators import TransformersVLMAnnotator
from common.annotators.types import Annotator, AnnotatorUnavailableError, ChatRequest, ChatResponse
from common.runtime import write_json_atomic
from firm.prompts.rm import RM_MODES, RM_TEMPLATES
from firm.serve.backend import unsupported_params
from firm.serve.batcher import BatcherClosedError, DynamicBatcher, QueueFullError
from firm.serve.chat import chat_request_from_body, chat_response_body, check_model, models_body
from firm.serve.config import ServeConfig
from firm.serve.errors import ServeError
from firm.serve.scoring import parse_score_body, score_result

__all__ = ["CriticServer"]

_DRAIN_CAP = 256 * 1024 * 1024
"""An oversized body up to this size is read and discarded so the client sees the 413."""

_ROUTES: dict[str, str] = {
    "/health": "GET",
    "/v1/models": "GET",
    "/v1/score": "POST",
    "/v1/chat/completions": "POST",
}
"""Route -> the HTTP method it takes."""


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
        limits = self.config.limits
        self.batcher = DynamicBatcher(
            annotator,
            max_batch_size=self.config.max_batch_size,
            max_wait_ms=self.config.max_wait_ms,
            max_queue=limits.max_queue,
            workers=1 if isinstance(annotator, TransformersVLMAnnotator) else self.config.upstream_workers,
        )
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.active = 0
        self.unreadable = 0  # /v1/score results whose answer could not be parsed
        self.accepting = True
        self.started = time.time()
        self.httpd = ThreadingHTTPServer((self.config.host, int(self.config.port)), _handler(self))
        self.httpd.daemon_threads = True
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="firm-serve-http",
            daemon=True,
        )
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``http://host:port`` (the bound port, also when 0 was asked for)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``<url>/v1``."""
        return self.url + "/v1"

    def start(self) -> CriticServer:
        """Start the batcher and serve in a background thread; writes ``config.url_file`` if set."""
        self.batcher.start()
        self._thread.start()
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
        """Graceful shutdown: refuse new work (503), answer what is queued, then close the socket."""
        if self._stopped:
            return
        self._stopped = True
        with self._lock:
            self.accepting = False
        self.batcher.close(timeout=grace_s)
        deadline = time.monotonic() + grace_s
        with self._idle:
            while self.active and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> CriticServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ reporting

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        with self._lock:
            requests = dict(self.requests)
            statuses = {str(k): v for k, v in sorted(self.statuses.items())}
            errors = sum(v for k, v in self.statuses.items() if k >= 400)
            unreadable = self.unreadable
        stats = self.batcher.stats.to_dict()
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
            },
            "limits": dict(vars(self.config.limits)),
            "counters": {
                "requests": sum(requests.values()),
                "requests_by_endpoint": requests,
                **stats,
                "errors": errors,
                "unreadable_scores": unreadable,
                "statuses": statuses,
                "queued": self.batcher.queued,
                "uptime_s": round(time.time() - self.started, 3),
            },
        }

    # ------------------------------------------------------------------ endpoints

    def _wait(self, futures: list[Future[ChatResponse]]) -> list[ChatResponse]:
        deadline = time.monotonic() + self.config.limits.request_timeout_s
        out = []
        try:
            for fut in futures:
                out.append(fut.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout as e:
            for fut in futures:
                fut.cancel()
            raise ServeError(
                504,
                f"no answer within {self.config.limits.request_timeout_s:g} s; retry, send fewer items, "
                "or raise limits.request_timeout_s",
                "timeout_error",
            ) from e
        except AnnotatorUnavailableError as e:
            raise ServeError(
                503, f"the model backend is unavailable: {e}", "service_unavailable_error"
            ) from e
        except Exception as e:
            raise ServeError(500, f"the model call failed: {type(e).__name__}: {e}", "server_error") from e
        return out

    def _submit(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        try:
            futures = self.batcher.submit(requests)
        except QueueFullError as e:
            raise ServeError(503, f"server busy: {e}", "service_unavailable_error") from e
        except BatcherClosedError as e:
            raise ServeError(
                503,
                "the server is shutting down; retry against another instance",
                "service_unavailable_error",
            ) from e
        return self._wait(futures)

    def score(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/score``."""
        check_model(body, self.model)
        job = parse_score_body(body, self.config.limits, self.template)
        responses = self._submit(job.requests(self.config.score_max_tokens[job.mode]))
        results = [score_result(job.mode, r) for r in responses]
        with self._lock:
            self.unreadable += sum(1 for r in results if r["error"] is not None)
        return {
            "results": results,
            "model": self.model,
            "mode": job.mode,
            "template": job.template,
        }

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/chat/completions``."""
        check_model(body, self.model)
        request = chat_request_from_body(body, self.config.limits, unsupported=self.unsupported)
        (response,) = self._submit([request])
        if response.error is not None:
            raise ServeError(
                400, f"the upstream model refused the request: {response.error}", "upstream_error"
            )
        return chat_response_body(response, self.model)


def _handler(server: CriticServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``server``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "firm-serve/1"
        timeout = server.config.limits.read_timeout_s

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _route(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/") or "/"

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            with server._lock:
                server.statuses[status] += 1
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client went away

        def _error(self, e: ServeError) -> None:
            self._send(e.status, e.body())

        def _body(self) -> dict[str, Any]:
            limits = server.config.limits
            length = self.headers.get("Content-Length")
            if length is None or not length.strip().isdigit():
                raise ServeError(
                    411, "send a Content-Length header with the JSON body", "invalid_request_error"
                )
            n = int(length)
            if n > limits.max_body_bytes:
                if n <= _DRAIN_CAP:  # read it away so the client gets our answer, not a reset
                    left = n
                    while left > 0:
                        chunk = self.rfile.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        left -= len(chunk)
                self.close_connection = True
                raise ServeError(
                    413,
                    f"request body of {n} bytes exceeds this server's limit of "
                    f"{limits.max_body_bytes} bytes; "
                    "send fewer items per request (or smaller images)",
                    "request_too_large",
                )
            raw = self.rfile.read(n)
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                raise ServeError(
                    415,
                    f"Content-Type must be application/json, got {ctype or 'none'!r}",
                    "unsupported_media_type",
                )
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as e:
                raise ServeError(400, f"the body is not valid JSON ({e})", "invalid_request_error") from e
            if not isinstance(body, dict):
                raise ServeError(400, "the body must be a JSON object", "invalid_request_error")
            return body

        def _dispatch(self, method: str) -> None:
            route = self._route()
            with server._lock:
                server.active += 1
                server.requests[f"{method} {route}"] += 1
            try:
                self._handle(method, route)
            except ServeError as e:
                self._error(e)
            except Exception as e:  # a bug: report it, keep serving
                self._error(ServeError(500, f"internal error: {type(e).__name__}: {e}", "server_error"))
            finally:
                with server._idle:
                    server.active -= 1
                    server._idle.notify_all()

        def _handle(self, method: str, route: str) -> None:
            expected = _ROUTES.get(route)
            if expected is None:
                endpoints = ", ".join(f"{m} {r}" for r, m in _ROUTES.items())
                raise ServeError(
                    404, f"no endpoint {method} {route}; endpoints: {endpoints}", "not_found_error"
                )
            if method != expected:
                raise ServeError(405, f"{route} takes {expected}, not {method}", "method_not_allowed")
            if route == "/health":
                self._send(200, server.health())
            elif route == "/v1/models":
                self._send(200, models_body(server.model))
            else:
                body = self._body()
                if not server.accepting:
                    raise ServeError(503, "the server is shutting down", "service_unavailable_error")
                self._send(200, server.score(body) if route == "/v1/score" else server.chat(body))

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler
