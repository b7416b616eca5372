"""Request errors of the reward server: an HTTP status, an OpenAI-style type and a message.

Every failure answers ``{"error": {"message": ..., "type": ..., "param": null, "code": <status>}}``
(the shape OpenAI and vLLM use), with a message that says what was wrong and what to do about it:
a 4xx whenever the client can fix it, a 5xx only for the server's own trouble.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServeError", "bad_request", "error_body"]


class ServeError(Exception):
    """A request the server refuses (or could not answer), with the HTTP status to send."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)
        self.kind = str(kind)

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.kind, self.status)


def error_body(message: str, kind: str, status: int) -> dict[str, Any]:
    """The JSON body of an error response."""
    return {"error": {"message": str(message), "type": str(kind), "param": None, "code": int(status)}}


def bad_request(message: str) -> ServeError:
    """HTTP 400 ``invalid_request_error``."""
    return ServeError(400, message)
