"""A persistent response cache: a crashed or killed curation run resumes without paying twice.

Responses are stored in one SQLite file (``<cache_dir>/responses.sqlite``, WAL journal, one
committed transaction per response, so a killed process loses at most the requests in flight).
The key is :func:`request_key`: the SHA-256 of a canonical JSON of

* the model name,
* the messages, each image replaced by the SHA-256 of its mode, size and raw pixel bytes
  (independent of how a backend encodes it: the same pixels give the same key),
* the effective sampling parameters (after the backend's defaults are filled in).

``ChatRequest.meta`` (ground truth, ids) is never part of the key. Only successful responses are
stored; a failed request is retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from common.annotators.types import ChatRequest, ChatResponse

__all__ = ["ResponseCache", "image_digest", "request_key"]


def image_digest(image: Image.Image) -> str:
    """SHA-256 of an image's mode, size and raw pixel bytes."""
    h = hashlib.sha256()
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def _canonical_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            canon: Any = content
        else:
            canon = [
                {"type": "text", "text": p["text"]}
                if p["type"] == "text"
                else {"type": "image", "sha256": image_digest(p["image"])}
                for p in content
            ]
        out.append({"role": message["role"], "content": canon})
    return out


def request_key(model: str, request: ChatRequest, params: Mapping[str, Any] | None = None) -> str:
    """The cache key of ``request`` sent to ``model`` with effective sampling ``params``.

    ``params`` defaults to ``request.params``; pass the merged parameters a backend really sends.
    """
    payload = {
        "model": str(model),
        "messages": _canonical_messages(request.messages),
        "params": dict(request.params if params is None else params),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Responses by request key, on disk (thread-safe; several processes may share it)."""

    FILENAME = "responses.sqlite"

    def __init__(self, cache_dir: str | Path) -> None:
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / self.FILENAME
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            "key TEXT PRIMARY KEY, model TEXT NOT NULL, record TEXT NOT NULL, created REAL NOT NULL)"
        )

    def get(self, key: str) -> ChatResponse | None:
        """The cached response for ``key`` (``cached=True``) or None."""
        with self._lock:
            row = self._conn.execute("SELECT record FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return ChatResponse.from_record(json.loads(row[0]), cached=True)

    def put(self, key: str, response: ChatResponse) -> None:
        """Store a successful response (a failed one is refused: it must be retried later)."""
        if response.error is not None:
            raise ValueError("only successful responses are cached")
        record = json.dumps(response.to_record(), ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, model, record, created) VALUES (?, ?, ?, ?)",
                (key, response.model, record, time.time()),
            )

    def __contains__(self, key: object) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM responses WHERE key = ?", (str(key),)).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def keys(self) -> Iterator[str]:
        with self._lock:
            rows = self._conn.execute("SELECT key FROM responses ORDER BY created").fetchall()
        return iter(r[0] for r in rows)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
