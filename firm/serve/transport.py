"""The HTTP transport: uvicorn (HTTP/1.1 keep-alive over h11) in a background thread.

:class:`UvicornThread` binds the listening socket itself (so ``port=0`` is resolved before the
server starts, and the listen backlog is the configured one, not Python's default of 5), serves
an ASGI app in a daemon thread, and stops gracefully: uvicorn stops accepting, closes idle
keep-alive connections and waits for in-flight responses to be written.

Two of uvicorn's own answers are replaced so that every error is OpenAI's JSON shape: a
malformed request (bad request line or headers) gets a JSON 400, and a connection beyond
``max_connections`` gets a JSON 503 to its first request, then is closed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["UvicornThread", "bind"]

_Scope = dict[str, Any]


def _json(status: int, message: str, kind: str) -> bytes:
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return json.dumps(body).encode("ascii")


async def _busy(scope: _Scope, receive: Any, send: Any) -> None:
    """The ASGI answer of a connection beyond the limit."""
    data = _json(503, "too many open connections; retry later", "service_unavailable_error")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def protocol_class(max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with JSON 400s and a JSON 503 beyond ``max_connections``."""

    class FirmH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self.app = _busy

        def send_400_response(self, msg: str) -> None:
            data = _json(400, f"malformed HTTP request: {msg}", "invalid_request_error")
            head = (
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                f"content-length: {len(data)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode("ascii") + data)
            self.transport.close()

    return FirmH11Protocol


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: an ephemeral port) with ``backlog``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, int(port)), family=family, backlog=int(backlog))


class UvicornThread:
    """Serves ``app`` on a socket bound now, in a daemon thread started by :meth:`start`.

    Args:
        app: the ASGI application.
        host / port: where to listen (``port=0``: ephemeral; :attr:`port` is the bound one).
        backlog: the listen backlog.
        max_connections: open connections at once (see the module docstring).
        keep_alive_s: idle keep-alive connections are closed after this many seconds.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        backlog: int = 1024,
        max_connections: int = 1024,
        keep_alive_s: float = 5.0,
    ) -> None:
        self.sock = bind(host, port, backlog)
        self.host, self.port = str(self.sock.getsockname()[0]), int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            http=protocol_class(int(max_connections)),
            ws="none",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            backlog=int(backlog),
            timeout_keep_alive=int(max(1, round(keep_alive_s))),
            timeout_graceful_shutdown=60,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="firm-serve-http", daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; returns once uvicorn listens (``RuntimeError`` if it did not within ``timeout``)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start (see the log above)")
            time.sleep(0.01)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, let in-flight responses finish, and join the thread."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sock.close()
