"""The FastAPI application of the reward server: routes, JSON errors, access log and metrics.

Routes (each takes one method; anything else is a JSON 404 / 405):

* ``GET /health``: status, model, batching, limits, counters;
* ``GET /metrics``: Prometheus text format (:mod:`firm.serve.observability`);
* ``GET /v1/models``, ``POST /v1/chat/completions``: the OpenAI-compatible model endpoint;
* ``POST /v1/score``: the RM scoring API (:mod:`firm.serve.scoring`).

:class:`Observe`, the outermost ASGI middleware, gives each request an id (``x-request-id``),
strips a trailing slash, refuses new POSTs with a 503 while the server drains, turns any
exception that escaped an endpoint into a JSON 500 (traceback logged), and writes the access-log
line and the metrics under the route *template* (``<unmatched>`` for unknown paths).

Both see the server through :class:`ServedBy` (what they use of it), so this module does not
import :class:`~firm.serve.server.CriticServer`, whose module imports this one.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from firm.serve.batcher import DynamicBatcher
from firm.serve.body import read_json, validate
from firm.serve.config import ServeConfig
from firm.serve.errors import ServeError, error_body
from firm.serve.observability import CONTENT_TYPE_LATEST, UNMATCHED, ServerMetrics
from firm.serve.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ModelList,
    ScoreRequest,
    ScoreResponse,
)

__all__ = ["LOG_KEY", "ROUTES", "Observe", "ServedBy", "build_app", "json_response"]

ROUTES: dict[str, str] = {
    "/health": "GET",
    "/metrics": "GET",
    "/v1/models": "GET",
    "/v1/score": "POST",
    "/v1/chat/completions": "POST",
}
"""Route -> the HTTP method it takes."""

LANE_OF: dict[str, str] = {"/v1/score": "score", "/v1/chat/completions": "chat"}
"""Route -> the batcher lane its model calls go to."""

LOG_KEY = "firm.log"
"""The scope key of the per-request record endpoints add ``items`` / ``batch_size`` to."""


class ServedBy(Protocol):
    """What the app and :class:`Observe` use of the server (:class:`~firm.serve.server.CriticServer`).

    Attributes:
        config: the settings (the request limits).
        metrics: the Prometheus metrics (``GET /metrics``).
        batcher: the batcher (queue length; requests announced to their lane).
        accepting: false while the server drains (new POSTs get a 503).
    """

    config: ServeConfig
    metrics: ServerMetrics
    batcher: DynamicBatcher
    accepting: bool

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        ...

    def models(self) -> ModelList:
        """What ``GET /v1/models`` answers."""
        ...

    async def score(self, body: ScoreRequest, record: dict[str, Any]) -> ScoreResponse:
        """``POST /v1/score``."""
        ...

    async def chat(self, body: ChatCompletionRequest, record: dict[str, Any]) -> ChatCompletion:
        """``POST /v1/chat/completions``."""
        ...

    def enter(self) -> None:
        """A request arrived."""
        ...

    def leave(self, record: dict[str, Any], latency_s: float) -> None:
        """A request was answered (its access-log record and latency)."""
        ...


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; pydantic models are dumped by pydantic, the rest with ASCII-safe ``json``."""
    if hasattr(payload, "model_dump_json"):
        data = payload.model_dump_json().encode("utf-8")
    else:
        data = json.dumps(payload, ensure_ascii=True).encode("ascii")
    return Response(data, status_code=status, media_type="application/json", headers=headers)


def _error(e: ServeError, headers: dict[str, str] | None = None) -> Response:
    return json_response(e.status, e.body(), headers)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    route, method = request.url.path, request.method
    if exc.status_code == 404:
        endpoints = ", ".join(f"{m} {r}" for r, m in ROUTES.items())
        return _error(
            ServeError(404, f"no endpoint {method} {route}; endpoints: {endpoints}", "not_found_error")
        )
    if exc.status_code == 405:
        allowed = ROUTES.get(route, "another method")
        return _error(
            ServeError(405, f"{route} takes {allowed}, not {method}", "method_not_allowed"),
            {"allow": allowed},
        )
    return _error(ServeError(exc.status_code, str(exc.detail), "invalid_request_error"))


def build_app(server: ServedBy) -> FastAPI:
    """The app serving ``server`` (routes delegate to its methods)."""
    app = FastAPI(
        title="firm-serve",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    limits = server.config.limits

    async def serve_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServeError)
        if exc.status >= 500:
            record = request.scope[LOG_KEY]
            record.setdefault("error", exc.message)
            record.setdefault("traceback", "".join(traceback.format_exception(exc)))
        return _error(exc)

    app.add_exception_handler(ServeError, serve_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.get("/health")
    async def health() -> Response:
        return json_response(200, server.health())

    @app.get("/metrics")
    async def metrics() -> Response:
        server.metrics.queued.set(server.batcher.queued)
        return Response(server.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models() -> Response:
        return json_response(200, server.models())

    @app.post("/v1/score")
    async def score(request: Request) -> Response:
        body = validate(ScoreRequest, await read_json(request, limits))
        return json_response(200, await server.score(body, request.scope[LOG_KEY]))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = validate(ChatCompletionRequest, await read_json(request, limits))
        return json_response(200, await server.chat(body, request.scope[LOG_KEY]))

    return app


class Observe:
    """The outermost ASGI middleware (see the module docstring)."""

    def __init__(self, app: Any, server: ServedBy) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = self.server
        start = time.perf_counter()
        request_id = f"req-{uuid.uuid4().hex[:16]}"
        path = scope["path"].rstrip("/") or "/"
        scope["path"] = path
        method = scope["method"]
        route = path if path in ROUTES else UNMATCHED
        record: dict[str, Any] = {"request_id": request_id, "method": method, "route": route}
        scope[LOG_KEY] = record
        state = {"status": 0, "started": False}

        async def send_wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = int(message["status"]), True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        server.enter()
        lane = LANE_OF.get(route) if method == "POST" else None
        expected = server.batcher.expect(lane) if lane else None  # batches wait for it while it is read
        if expected is not None:
            record["expected"] = expected
        try:
            if not server.accepting and method == "POST":
                raise ServeError(503, "the server is shutting down", "service_unavailable_error")
            await self.app(scope, receive, send_wrapped)
        except ServeError as e:
            if not state["started"]:
                await _error(e)(scope, receive, send_wrapped)
        except Exception as e:  # a bug: report it, keep serving
            record["error"] = f"{type(e).__name__}: {e}"
            record["traceback"] = traceback.format_exc()
            if not state["started"]:
                message = f"internal error: {type(e).__name__}: {e} (request {request_id})"
                data = json.dumps(error_body(message, "server_error", 500), ensure_ascii=True).encode()
                await Response(data, status_code=500, media_type="application/json")(
                    scope, receive, send_wrapped
                )
            else:
                state["status"] = state["status"] or 500
        finally:
            if expected is not None:
                expected.done()
                del record["expected"]
            latency = time.perf_counter() - start
            record.update(status=state["status"] or 500, latency_ms=round(1000 * latency, 2))
            server.leave(record, latency)
