"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 (tests/.../chat_server.py)."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.annotators import (
    AnnotatorUnavailableError,
    ChatRequest,
    OpenAICompatibleAnnotator,
    user_message,
)
from tests.common.annotators.chat_server import ChatServer, free_port


def image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8))


def req(text: str, *images: Image.Image, **params: object) -> ChatRequest:
    return ChatRequest([user_message(text, images)], params=dict(params), meta={"oracle": {"secret": 1}})


def client(server: ChatServer, **kw: object) -> OpenAICompatibleAnnotator:
    opts: dict[str, object] = {"concurrency": 4, "timeout": 5.0, "max_retries": 2, "backoff": 0.01}
    opts.update(kw)
    return OpenAICompatibleAnnotator(server.base_url, "canned", **opts)  # type: ignore[arg-type]


def test_wire_format_images_params_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", "sk-test")
    img = image(0)
    with ChatServer() as server:
        ann = client(server, api_key_env="MY_TEST_KEY", max_tokens=77)
        (resp,) = ann.complete([req("describe", img, temperature=0.3)])
    assert resp.ok and resp.text.startswith("echo:") and resp.finish_reason == "stop" and not resp.cached
    (body,) = server.bodies
    assert body["model"] == "canned" and body["temperature"] == 0.3 and body["max_tokens"] == 77
    assert "meta" not in body and "secret" not in str(body)
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert np.array_equal(np.asarray(decoded), np.asarray(img))
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_no_key_no_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer() as server:
        client(server).complete([req("hi")])
    assert "Authorization" not in server.headers[0]


def test_many_requests_keep_order_and_run_concurrently() -> None:
    with ChatServer(delay=0.05) as server:
        resps = client(server, concurrency=4).complete([req(f"item {i:02d}") for i in range(16)])
    assert [r.text for r in resps] == [f"echo: item {i:02d}" for i in range(16)]
    assert server.max_in_flight >= 2


def test_retries_on_500_then_succeeds() -> None:
    with ChatServer(fail_first=2) as server:
        ann = client(server, concurrency=1, max_retries=3)
        (resp,) = ann.complete([req("hello")])
    assert resp.ok and resp.text == "echo: hello"
    assert len(server.received) == 3 and ann.stats.retries == 2


def test_persistent_500_raises_naming_the_endpoint() -> None:
    with ChatServer(fail_first=100) as server:
        ann = client(server, max_retries=1)
        with pytest.raises(AnnotatorUnavailableError) as err:
            ann.complete([req("a"), req("b")])
    assert f"{server.base_url}/chat/completions" in str(err.value) and "HTTP 500" in str(err.value)


def test_nothing_listening_gives_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    ann = OpenAICompatibleAnnotator(url, "m", max_retries=1, backoff=0.01, timeout=2.0)
    start = time.perf_counter()
    with pytest.raises(AnnotatorUnavailableError) as err:
        ann.complete([req("hello")])
    msg = str(err.value)
    assert f"{url}/chat/completions" in msg and "connection" in msg.lower() and "running" in msg
    assert time.perf_counter() - start < 5
    with pytest.raises(AnnotatorUnavailableError, match="unreachable"):
        ann.check()


def test_timeout_is_retried_then_reported() -> None:
    with ChatServer(delay=0.6) as server:
        ann = client(server, timeout=0.2, max_retries=0)
        with pytest.raises(AnnotatorUnavailableError, match="timed out"):
            ann.complete([req("slow")])


def test_client_error_comes_back_as_a_failed_response_and_is_not_cached(tmp_path: Path) -> None:
    with ChatServer(fail_if=lambda t: "BAD" in t) as server:
        ann = client(server, cache_dir=tmp_path)
        good, bad = ann.complete([req("fine"), req("BAD one")])
        assert good.ok and not bad.ok and "HTTP 400" in (bad.error or "") and bad.text == ""
        again = ann.complete([req("fine"), req("BAD one")])
    assert again[0].cached and not again[1].cached
    assert len(server.received) == 3 and ann.stats.errors == 2


def test_cache_answers_without_calling_the_server_across_instances(tmp_path: Path) -> None:
    with ChatServer() as server:
        first = client(server, cache_dir=tmp_path).complete([req("x", image(1)), req("y")])
        fresh = client(server, cache_dir=tmp_path)
        second = fresh.complete([req("x", image(1)), req("y"), req("x", image(2))])
    assert [r.text for r in second[:2]] == [r.text for r in first]
    assert [r.cached for r in second] == [True, True, False]
    assert len(server.received) == 3 and fresh.stats.cache_hits == 2 and fresh.stats.backend_calls == 1


def test_identical_requests_in_one_call_are_sent_once() -> None:
    with ChatServer() as server:
        resps = client(server).complete([req("same"), req("same"), req("other")])
    assert [r.text for r in resps] == ["echo: same", "echo: same", "echo: other"]
    assert len(server.received) == 2


def test_check_lists_models() -> None:
    with ChatServer() as server:
        assert client(server).check() == ["canned"]


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        OpenAICompatibleAnnotator("http://127.0.0.1:1/v1", "m", concurrency=0)
    with pytest.raises(ValueError, match="sampling"):
        ChatRequest([user_message("x")], params={"temprature": 0})
