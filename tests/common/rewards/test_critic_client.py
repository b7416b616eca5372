"""The reward server's HTTP client against the real server (tiny random Qwen3-VL, or an upstream
peer that answers in the RM formats so the numbers can be checked)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from common.annotators import OpenAICompatibleAnnotator
from common.rewards.base_and_bonus import cme, qma
from common.rewards.critic_client import (
    CriticClient,
    CriticRequestError,
    CriticResult,
    CriticUnavailableError,
)
from firm.serve import CriticServer, ServeConfig
from tests.common.annotators.chat_server import ChatServer, free_port
from tests.firm.serve_helpers import http, image, rm_answer, tiny_server

MODES = ("execution", "consistency", "instruction", "quality")


@pytest.fixture(scope="module")
def tiny() -> Iterator[CriticServer]:
    with tiny_server(max_wait_ms=20.0) as s:
        yield s


def upstream_server(answer=rm_answer) -> tuple[ChatServer, CriticServer]:
    peer = ChatServer(answer=answer).__enter__()
    backend = OpenAICompatibleAnnotator(
        peer.base_url, "canned", max_retries=0, temperature=None, max_tokens=None
    )
    return peer, CriticServer(backend, ServeConfig(port=0, max_wait_ms=5.0), template="full").start()


@pytest.fixture
def scored() -> Iterator[CriticServer]:
    peer, server = upstream_server()
    yield server
    server.stop()
    peer.__exit__(None, None, None)


def batch(n: int) -> tuple[list, list[str], list]:
    edited = [image((30 * i, 80, 200)) for i in range(n)]
    sources = [image((200, 80, 30 * i)) for i in range(n)]
    return edited, [f"recolour item {1 + i % 5}" for i in range(n)], sources


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_through_the_tiny_model_reports_errors_not_raises(tiny: CriticServer, mode: str) -> None:
    edited, instructions, sources = batch(3)
    client = CriticClient(tiny.url, batch_size=2)
    results = client.score(
        mode, edited, None if mode == "quality" else instructions, sources if mode in MODES[:2] else None
    )
    assert len(results) == 3 and all(isinstance(r, CriticResult) for r in results)
    for r in results:
        assert r.text  # the random model wrote something
        assert (r.ok and 1 <= r.score <= 5) or (not r.ok and r.score is None and r.normalised is None)


def test_rewards_of_the_tiny_model_are_nan_or_filled(tiny: CriticServer) -> None:
    edited, instructions, sources = batch(2)
    client = CriticClient(tiny.url + "/v1")  # the OpenAI-style base URL works too
    out = client.cme(edited, instructions, sources)
    assert out.rewards.shape == (2,) and set(out.components) == {"execution", "consistency"}
    filled = client.qma(edited, "a red square", missing=0.0)
    assert filled.rewards.shape == (2,) and not np.isnan(filled.rewards).any()
    assert np.all((filled.rewards >= 0) & (filled.rewards <= 1))


def test_scores_keep_order_across_chunks(scored: CriticServer) -> None:
    edited, instructions, sources = batch(7)
    results = CriticClient(scored.url, batch_size=3, concurrency=3).score(
        "execution", edited, instructions, sources
    )
    assert [r.score for r in results] == [1 + i % 5 for i in range(7)]
    assert [r.normalised for r in results] == [(1 + i % 5 - 1) / 4 for i in range(7)]
    counters = http("GET", scored.url + "/health")[1]["counters"]
    assert counters["requests_by_endpoint"]["POST /v1/score"] == 3  # ceil(7 / 3) requests


def test_cme_and_qma_combine_the_modes(scored: CriticServer) -> None:
    edited, instructions, sources = batch(5)
    client = CriticClient(scored.url)
    out = client.cme(edited, instructions, sources)
    e, c = out.components["execution"], out.components["consistency"]
    assert np.allclose(e, [(1 + i % 5 - 1) / 4 for i in range(5)]) and np.allclose(c, e)
    assert np.allclose(out.rewards, cme(e, c)) and out.n_failed == {"execution": 0, "consistency": 0}
    assert out.rewards[0] == 0.0 and out.rewards[4] == 1.0  # E = 0 earns nothing; E = C = 1 earns 1
    gen = client.qma(edited, [f"a square item {1 + i % 5}" for i in range(5)])
    i_, q = gen.components["instruction"], gen.components["quality"]
    parts = [r.parts for r in gen.results["quality"]]
    assert np.allclose(q, [(min(p.values()) - 1) / 4 for p in parts])
    assert np.allclose(gen.rewards, qma(i_, q))
    no_q = client.qma(edited, [f"a square item {1 + i % 5}" for i in range(5)], use_quality=False)
    assert np.allclose(no_q.rewards, i_) and "quality" not in no_q.results


def test_missing_consistency_gives_nan_cme_and_missing_quality_falls_back() -> None:
    def answer(text: str, key: str) -> str:
        return "no idea" if ("CONSISTENCY" in text or "aesthetics" in text) else rm_answer(text, key)

    peer, server = upstream_server(answer)
    try:
        edited, instructions, sources = batch(3)
        client = CriticClient(server.url)
        out = client.cme(edited, instructions, sources)
        assert np.isnan(out.rewards).all() and out.n_failed == {"execution": 0, "consistency": 3}
        assert out.results["consistency"][0].error == "score_no_number"
        assert np.array_equal(client.cme(edited, instructions, sources, missing=0.0).rewards, np.zeros(3))
        gen = client.qma(edited, instructions)
        assert np.allclose(gen.rewards, gen.components["instruction"])  # QMA falls back to I
    finally:
        server.stop()
        peer.__exit__(None, None, None)


def test_bad_requests_raise_the_servers_message(tiny: CriticServer) -> None:
    client = CriticClient(tiny.url, retries=0)
    with pytest.raises(CriticRequestError, match="valid modes: execution, consistency, instruction, quality"):
        client.score("aesthetics", [image()], "x")
    with pytest.raises(ValueError, match="give sources="):
        client.score("execution", [image()], "x")
    with pytest.raises(ValueError, match="2 images but 1 instructions"):
        client.score("instruction", [image(), image()], ["x"])
    assert client.score("quality", []) == []
    assert client.health()["model"] == "tiny-critic"


def test_server_down_names_the_endpoint_after_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = CriticClient(url, retries=2, backoff=0.01, timeout=2)
    start = time.perf_counter()
    with pytest.raises(CriticUnavailableError, match=rf"{url}/v1/score is unavailable.*after 3 attempt"):
        client.score("quality", [image()])
    assert time.perf_counter() - start < 5
    with pytest.raises(CriticUnavailableError, match="did not come up"):
        client.wait_ready(timeout=0.3, interval=0.05)
    assert math.isclose(client.backoff, 0.01)


def test_5xx_is_retried_with_backoff_until_the_server_recovers() -> None:
    with ChatServer(answer=rm_answer, fail_first=2) as peer:  # the upstream fails twice: two 503s
        backend = OpenAICompatibleAnnotator(peer.base_url, "canned", max_retries=0)
        with CriticServer(backend, ServeConfig(port=0, max_wait_ms=1.0), template="full") as server:
            client = CriticClient(server.url, retries=3, backoff=0.05, backoff_max=0.1)
            (result,) = client.score("quality", [image()])
            statuses = http("GET", server.url + "/health")[1]["counters"]["statuses"]
    assert result.ok and result.parts == {"aesthetics": result.score, "quality": 5, "structure_texture": 4}
    assert statuses == {"503": 2, "200": 1}  # two server failures retried, then the answer


def test_4xx_is_raised_at_once_with_the_servers_message(tiny: CriticServer) -> None:
    before = http("GET", tiny.url + "/health")[1]["counters"]["requests_by_endpoint"].get("POST /v1/score", 0)
    client = CriticClient(tiny.url, retries=5, backoff=1.0)
    start = time.perf_counter()
    with pytest.raises(
        CriticRequestError, match=r"items\[0\]\.image is 4000x8, an aspect ratio above 200"
    ) as e:
        client.score("quality", [image().resize((4000, 8))])
    assert e.value.status == 400 and time.perf_counter() - start < 5  # no backoff sleeps
    after = http("GET", tiny.url + "/health")[1]["counters"]["requests_by_endpoint"]["POST /v1/score"]
    assert after - before == 1  # sent once, not retried


def test_the_deadline_bounds_a_call_with_many_retries() -> None:
    client = CriticClient(f"http://127.0.0.1:{free_port()}", retries=1000, backoff=0.05, deadline=1.0)
    start = time.perf_counter()
    with pytest.raises(CriticUnavailableError, match="deadline of 1 s has passed"):
        client.score("quality", [image()])
    assert time.perf_counter() - start < 3
    with pytest.raises(ValueError, match="deadline must be > 0"):
        CriticClient("http://127.0.0.1:1", deadline=0)
