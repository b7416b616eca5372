"""A tiny OpenAI-compatible chat-completions server for tests (the peer, not the thing tested).

``ChatServer`` listens on 127.0.0.1 (a free port) in a daemon thread and answers
``POST /v1/chat/completions`` with canned but format-correct answers to the FIRM curation
prompts (recognised by their wording; scores derived from a hash of the request), and
``GET /v1/models``. It records every request (the SHA-256 of its body is the request key) and
can inject faults:

* ``fail_first``: answer the first k requests with HTTP 500;
* ``fail_if``: a predicate on the prompt text -> HTTP 400 for that request;
* ``delay``: seconds to sleep before answering;
* ``answer_limit``: after that many successful answers, hold every further request until
  :meth:`ChatServer.release` (then answer 503), to freeze a client at a known point.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def prompt_text(body: dict[str, Any]) -> str:
    """All text parts of a chat-completions request body."""
    out = []
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        else:
            out.extend(p.get("text", "") for p in c if p.get("type") == "text")
    return "\n".join(out)


def canned_answer(text: str, key: str) -> str:
    """A format-correct answer to a FIRM curation prompt (others: an echo)."""
    score = 1 + int(key[:8], 16) % 5
    if "Write an analysis plan" in text:
        return "[Main Subject/Element]\n- Is the requested object present?\n[Attribute/Action]\n- None"
    if "Analysis plan (the checklist" in text:
        checks = "- Is the requested object present? Yes.\nFinal Analysis: fine."
        return f"{checks}\nFinal Alignment Rating: {score}\n\\boxed{{{score}}}"
    if "Rate the visual quality" in text:
        return json.dumps({"reasoning": "clean", "aesthetics": score, "quality": 5, "structure_texture": 4})
    if "most obvious difference" in text or "list EVERY difference" in text:
        return "The square changed colour."
    if "Evaluate EXECUTION" in text or "Evaluate CONSISTENCY" in text:
        return json.dumps({"reasoning": "checked against the report", "score": score})
    return f"echo: {text[-80:]}"


class ChatServer:
    """See the module docstring. Use as a context manager."""

    def __init__(
        self,
        *,
        fail_first: int = 0,
        fail_if: Callable[[str], bool] | None = None,
        delay: float = 0.0,
        answer_limit: int | None = None,
        answer: Callable[[str, str], str] = canned_answer,
    ) -> None:
        self.fail_first = fail_first
        self.fail_if = fail_if
        self.delay = delay
        self.answer_limit = answer_limit
        self.answer = answer
        self.lock = threading.Lock()
        self.received: list[str] = []  # keys of every request received
        self.answered: list[str] = []  # keys of every request answered with 200
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.granted = 0
        self.max_in_flight = 0
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client is gone

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "canned", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                key = hashlib.sha256(raw).hexdigest()
                body = json.loads(raw)
                text = prompt_text(body)
                with server.lock:
                    server.received.append(key)
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    n = len(server.received)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    if n <= server.fail_first:
                        self._send(500, {"error": {"message": "injected failure"}})
                        return
                    if server.fail_if is not None and server.fail_if(text):
                        self._send(400, {"error": {"message": "bad request (injected)"}})
                        return
                    with server.lock:  # reserve an answer slot atomically
                        limited = server.answer_limit is not None and server.granted >= server.answer_limit
                        if not limited:
                            server.granted += 1
                    if limited:
                        server._release.wait(60)
                        self._send(503, {"error": {"message": "held, then released"}})
                        return
                    content = server.answer(text, key)
                    with server.lock:
                        server.answered.append(key)
                    self._send(
                        200,
                        {
                            "id": "chatcmpl-test",
                            "object": "chat.completion",
                            "model": body.get("model", ""),
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content},
                                }
                            ],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        },
                    )
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def release(self) -> None:
        """Stop holding requests (see ``answer_limit``)."""
        self._release.set()

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
