"""Run the server in the foreground until SIGINT / SIGTERM (or a time limit), then stop gracefully.

Shared by ``+exp=firm_serve`` (:mod:`firm.tasks.serve`) and ``python -m firm.serve``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

from common.runtime import RunSettings
from firm.serve.backend import build_backend
from firm.serve.config import ServeConfig, resolve_template
from firm.serve.server import CriticServer

__all__ = ["serve"]


def serve(
    config: ServeConfig,
    *,
    settings: RunSettings | None = None,
    scale_name: str | None = None,
) -> dict[str, Any]:
    """Build the backend, serve until stopped, and return the final ``/health`` report.

    Args:
        config: the server settings.
        settings: the run's settings (only to build a pretrained base, ``model.kind=base``).
        scale_name: ``tiny`` / ``paper``; picks the RM template when ``config.template`` is unset.

    It stops by itself after ``config.duration_s`` seconds (``None``: only on a signal).
    """
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"[firm_serve] warning: listening on {config.host}, not only on loopback", file=sys.stderr)
    start = time.perf_counter()
    annotator = build_backend(config, settings=settings)
    server = CriticServer(annotator, config, template=resolve_template(config.template, config, scale_name))
    stop = threading.Event()
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
        print(
            f"[firm_serve] serving {server.model} at {server.url} (OpenAI base_url {server.base_url}; "
            f"template {server.template}; ready in {time.perf_counter() - start:.1f} s)",
            flush=True,
        )
        stop.wait(config.duration_s)
    finally:
        print("[firm_serve] shutting down", flush=True)
        server.stop()
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
    report = server.health()
    report["url"] = server.url
    return report
