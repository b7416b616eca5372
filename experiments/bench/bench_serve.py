"""Throughput of the reward server's ``/v1/score`` (``python -m experiments.bench serve``; not a test).

Serves the tiny reward model (``tiny_qwen3_vl``, random weights, the ``tiny`` template) on
127.0.0.1 with ``T2I_THREADS`` torch threads (default 1) and scores the same items in
``instruction`` mode (a fixed ``T2I_BENCH_SERVE_TOKENS`` new tokens each, default 32: a random
model never stops early) under three set-ups:

* ``one-at-a-time``: ``max_batch_size=1``, concurrent clients sending one item per request;
* ``dynamic batching``: ``max_batch_size=8``, the same concurrent clients;
* ``client batches``: ``max_batch_size=8``, one client sending 8 items per request.

Reports items/s, model calls and the mean batch size per set-up. ``T2I_BENCH_SERVE_ITEMS``
(default 64) and ``T2I_BENCH_SERVE_CLIENTS`` (default 8) change the load.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
from PIL import Image


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)) for _ in range(n)]


def _run(
    bundle: Any, *, max_batch_size: int, clients: int, per_request: int, items: int, tokens: int
) -> dict:
    from common.annotators import TransformersVLMAnnotator
    from common.rewards.critic_client import CriticClient
    from firm.serve import CriticServer, ServeConfig

    config = ServeConfig(
        port=0, max_batch_size=max_batch_size, max_wait_ms=10.0, score_max_tokens={"instruction": tokens}
    )
    annotator = TransformersVLMAnnotator(bundle, model="bench-critic", batch_size=max_batch_size)
    images = _images(items)
    prompts = [f"a red circle and {i} blue squares" for i in range(items)]
    shares = [list(range(c, items, clients)) for c in range(clients)]
    with CriticServer(annotator, config, template="tiny") as server:
        client = CriticClient(server.url, batch_size=per_request, concurrency=1)
        client.score("instruction", images[:1], prompts[:1])  # warm-up
        before = client.health()["counters"]
        errors: list[BaseException] = []

        def work(idx: list[int]) -> None:
            try:
                client.score("instruction", [images[i] for i in idx], [prompts[i] for i in idx])
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(idx,)) for idx in shares]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        after = client.health()["counters"]
    if errors:
        raise errors[0]
    calls = after["generate_calls"] - before["generate_calls"]
    return {
        "max_batch_size": max_batch_size,
        "clients": clients,
        "items_per_request": per_request,
        "items": items,
        "seconds": round(seconds, 2),
        "items_per_s": round(items / seconds, 2),
        "generate_calls": calls,
        "mean_batch": round((after["items"] - before["items"]) / max(calls, 1), 2),
    }


def main() -> dict[str, Any]:
    from common.models.builders import build_model
    from common.runtime import set_threads

    threads = set_threads(int(os.environ.get("T2I_THREADS", "1")))
    items = int(os.environ.get("T2I_BENCH_SERVE_ITEMS", "64"))
    clients = int(os.environ.get("T2I_BENCH_SERVE_CLIENTS", "8"))
    tokens = int(os.environ.get("T2I_BENCH_SERVE_TOKENS", "32"))
    bundle = build_model("tiny_qwen3_vl")
    setups = {
        "one-at-a-time": {"max_batch_size": 1, "clients": clients, "per_request": 1},
        "dynamic batching": {"max_batch_size": 8, "clients": clients, "per_request": 1},
        "client batches": {"max_batch_size": 8, "clients": 1, "per_request": 8},
    }
    rows = {}
    for name, setup in setups.items():
        rows[name] = _run(bundle, items=items, tokens=tokens, **setup)
    print(f"{'set-up':>18} | batch | clients | items/req | items/s | calls | mean batch")
    for name, r in rows.items():
        print(
            f"{name:>18} | {r['max_batch_size']:>5} | {r['clients']:>7} | {r['items_per_request']:>9} | "
            f"{r['items_per_s']:>7.2f} | {r['generate_calls']:>5} | {r['mean_batch']:>10.2f}",
            flush=True,
        )
    speedup = rows["dynamic batching"]["items_per_s"] / rows["one-at-a-time"]["items_per_s"]
    return {
        "threads": threads,
        "new_tokens": tokens,
        "load_average": round(os.getloadavg()[0], 2),
        "setups": rows,
        "dynamic_batching_speedup": round(speedup, 2),
    }


if __name__ == "__main__":
    main()
