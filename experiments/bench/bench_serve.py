"""The reward server under load (``python -m experiments.bench serve``; part of ``make bench``, not a test).

Serves the tiny reward model (``tiny_qwen3_vl``, random weights, the ``tiny`` template) on
127.0.0.1 with ``T2I_THREADS`` torch threads (default 1), ``max_batch_size=16`` and
``max_wait_ms=100`` (a lone client does not wait: see :mod:`firm.serve.batcher`), and sends
``T2I_BENCH_SERVE_REQUESTS`` (default 64) ``/v1/score`` requests in ``quality`` mode, one item
each, every item a different image (identical items would be de-duplicated by the annotator and
flatter the batching), each answered with ``T2I_BENCH_SERVE_TOKENS`` (default 32) new tokens:

* ``sequential``: one client process, one request after the other;
* ``16-way``: 16 client processes at once (dynamic batching puts their items into shared model calls).

The two alternate in 4 rounds (each round a quarter of the requests per set-up), so a change in
the machine's load during the run affects both alike.

Reports req/s and p50 / p95 latency per set-up and the batched speedup (16-way req/s over
sequential). Then the pixel-budget probe: 8 items x 2 images of 4096^2 1-bit PNGs (a ~200 KB
body that decodes to 268 M pixels) -- the status it gets, and the process's memory high-water
mark (``ru_maxrss``) and resident set before and after it.
"""

from __future__ import annotations

import base64
import io
import json
import multiprocessing
import os
import resource
import statistics
import time
import urllib.error
import urllib.request
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from common.annotators import TransformersVLMAnnotator
from common.models.builders import build_model
from common.runtime import set_threads
from firm.serve import CriticServer, ServeConfig


def _b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bodies(n: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)) for _ in range(n)]
    return [json.dumps({"mode": "quality", "items": [{"image": _b64(im)}]}).encode() for im in images]


def _post(url: str, body: bytes) -> tuple[int, float]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    return status, time.perf_counter() - start


def _warm(seconds: float) -> None:
    """Keeps a client process busy for a moment, so the pool starts all of them."""
    time.sleep(seconds)


def _client(url: str, bodies: list[bytes]) -> list[tuple[int, float]]:
    """One client process: send ``bodies`` one after the other."""
    return [_post(url, body) for body in bodies]


def _load(pool: Executor, url: str, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Send ``bodies`` from ``clients`` client processes; the wall time and every request's latency."""
    start = time.perf_counter()
    futures = [pool.submit(_client, url, bodies[c::clients]) for c in range(clients)]
    answers = [a for f in futures for a in f.result()]
    seconds = time.perf_counter() - start
    statuses, latencies = [s for s, _ in answers], [lat for _, lat in answers]
    if set(statuses) != {200}:
        raise RuntimeError(f"not every request was answered: statuses {sorted(set(statuses))}")
    return seconds, latencies


def _rounds(
    pool: Executor, url: str, bodies: list[bytes], setups: dict[str, int], rounds: int = 4
) -> dict[str, Any]:
    """Each set-up (name -> clients) sends all ``bodies``, in ``rounds`` alternating parts."""
    seconds = dict.fromkeys(setups, 0.0)
    latencies: dict[str, list[float]] = {name: [] for name in setups}
    for r in range(rounds):
        part = bodies[r::rounds]
        for name, clients in setups.items():
            wall, lat = _load(pool, url, part, clients)
            seconds[name] += wall
            latencies[name] += lat
    return {
        name: {
            "clients": clients,
            "requests": len(bodies),
            "seconds": round(seconds[name], 2),
            "req_per_s": round(len(bodies) / seconds[name], 2),
            "p50_s": round(statistics.median(latencies[name]), 3),
            "p95_s": round(float(np.percentile(latencies[name], 95)), 3),
        }
        for name, clients in setups.items()
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _pixel_probe(url: str) -> dict[str, Any]:
    """The pixel-budget probe of issue 20: status and memory around it."""
    one_bit = _b64(Image.new("1", (4096, 4096)))
    item = {"image": one_bit, "source_image": one_bit, "instruction": "make it blue"}
    body = json.dumps({"mode": "execution", "items": [item] * 8}).encode()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_before = _rss_mb()
    status, _ = _post(url, body)
    return {
        "body_kb": round(len(body) / 1024, 1),
        "decoded_pixels_asked": 8 * 2 * 4096 * 4096,
        "status": status,
        "maxrss_before_mb": round(peak_before, 1),
        "maxrss_after_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(_rss_mb(), 1),
    }


def main() -> dict[str, Any]:
    threads = set_threads(int(os.environ.get("T2I_THREADS", "1")))
    n = int(os.environ.get("T2I_BENCH_SERVE_REQUESTS", "64"))
    tokens = int(os.environ.get("T2I_BENCH_SERVE_TOKENS", "32"))
    config = ServeConfig(port=0, max_batch_size=16, max_wait_ms=100.0, score_max_tokens={"quality": tokens})
    annotator = TransformersVLMAnnotator(build_model("tiny_qwen3_vl"), model="bench-critic", batch_size=16)
    bodies = _bodies(n + 16)
    with CriticServer(annotator, config, template="tiny") as server:
        url = server.url + "/v1/score"
        for body in bodies[n:]:  # warm-up
            _post(url, body)
        probe = _pixel_probe(url)
        # clients are processes, as RL workers are (client threads would share the server's GIL)
        with ProcessPoolExecutor(16, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_warm, [0.5] * 16))  # start every worker (and import this module) first
            rows = _rounds(pool, url, bodies[:n], {"sequential": 1, "16-way": 16})
        counters = server.health()["counters"]
    print(f"{'set-up':>10} | clients | req/s | p50 s | p95 s")
    for name, r in rows.items():
        cells = f"{r['clients']:>7} | {r['req_per_s']:>5.2f} | {r['p50_s']:>5.2f} | {r['p95_s']:>5.2f}"
        print(f"{name:>10} | {cells}")
    speedup = rows["16-way"]["req_per_s"] / rows["sequential"]["req_per_s"]
    print(f"batched speedup {speedup:.2f}x; pixel-budget probe: {probe}", flush=True)
    return {
        "threads": threads,
        "new_tokens": tokens,
        "load_average": round(os.getloadavg()[0], 2),
        "setups": rows,
        "batched_speedup": round(speedup, 2),
        "batch_sizes": counters["batch_sizes"],
        "pixel_budget_probe": probe,
    }


if __name__ == "__main__":
    main()
