"""What the server tells its operator: Prometheus metrics and a JSON-lines access log.

* :class:`ServerMetrics`: request counts and latencies by *route template* and status, items and
  model-call batch sizes, queue depth and in-flight requests, in a registry of its own (several
  servers in one process do not collide), rendered by ``GET /metrics`` in Prometheus' text
  format. Labels are bounded: a path that matches no route is counted as ``<unmatched>``, so
  random paths cannot grow the metrics.
* :class:`AccessLog`: one JSON object per request (``ts``, ``request_id``, ``method``, ``route``,
  ``status``, ``latency_ms``, ``items``, ``batch_size``; ``error`` and ``traceback`` for a 5xx)
  to a file, and every 5xx also to the ``firm.serve`` logger with its traceback.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "UNMATCHED", "AccessLog", "ServerMetrics"]

UNMATCHED = "<unmatched>"
"""The route label of a request whose path matches no route."""

log = logging.getLogger("firm.serve")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServerMetrics:
    """The server's Prometheus metrics (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "firm_serve_requests", "HTTP requests answered", ("method", "route", "status"), registry=r
        )
        self.latency = Histogram(
            "firm_serve_request_seconds",
            "Request latency",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.items = Counter("firm_serve_score_items", "Items scored by /v1/score", ("mode",), registry=r)
        self.batch = Histogram(
            "firm_serve_batch_size",
            "Model-call batch size per answered item",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.item_errors = Counter(
            "firm_serve_item_errors", "Score items answered with error set", ("kind",), registry=r
        )
        self.in_flight = Gauge("firm_serve_in_flight", "Requests being answered", registry=r)
        self.queued = Gauge("firm_serve_queued_items", "Model items waiting for the batcher", registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class AccessLog:
    """Writes one JSON line per request to ``path`` (``None``: no file; 5xx still go to the logger)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, record: dict[str, Any]) -> None:
        """Log one request; a 5xx is also logged (with its traceback) to the ``firm.serve`` logger."""
        record = {"ts": round(time.time(), 3), **record}
        if int(record.get("status", 0)) >= 500:
            log.error(
                "%s %s -> %s (%s): %s\n%s",
                record.get("method"),
                record.get("route"),
                record.get("status"),
                record.get("request_id"),
                record.get("error", ""),
                record.get("traceback") or "(no traceback)",
            )
        if self._file is None:
            return
        line = json.dumps(record, ensure_ascii=True, default=str)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
