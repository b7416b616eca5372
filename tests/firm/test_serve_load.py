"""The reward server under load and abuse, over real HTTP on 127.0.0.1 (issue 20's acceptance).

Everything here is bounded: fixed request counts, a tiny random Qwen3-VL, short completions, and
timeouts on every call. The only timing assertion is the fairness check (score p95 with a long
chat in flight within 3x the idle median), measured over several requests on one server.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

import numpy as np
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types import Model
from openai.types.chat import ChatCompletion
from PIL import Image

from common.annotators import ChatRequest, OpenAICompatibleAnnotator, user_message
from firm.serve import CriticServer, ServeConfig
from firm.serve.tokens import VLMPromptCounter
from tests.common.annotators.chat_server import free_port
from tests.firm.serve_helpers import SMALL, TINY_TOKENS, http, image, png_b64, tiny_annotator, tiny_server

ROOT = Path(__file__).resolve().parents[2]
IMG = png_b64(image())
DATA_URL = "data:image/png;base64," + IMG
CHAT = {"messages": [{"role": "user", "content": "a red square ."}], "max_tokens": 4, "temperature": 0}
SCORE = {"mode": "quality", "items": [{"image": IMG}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CriticServer]:
    log = tmp_path_factory.mktemp("serve") / "access.jsonl"
    limits = {"max_body_bytes": 2_000_000, "read_timeout_s": 1.0, "max_tokens": 64}
    with tiny_server(limits=limits, access_log=str(log)) as s:
        yield s


def post_raw(url: str, payload: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    """``(status, raw body)`` of a JSON POST (one new connection)."""
    host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    conn = HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def raw_socket(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict]:
    """Send ``data`` as-is on a fresh connection; the parsed status and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        resp = HTTPResponse(sock)
        resp.begin()
        return resp.status, json.loads(resp.read())


def png(im: Image.Image, **save: object) -> str:
    buf = io.BytesIO()
    im.save(buf, **save)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------- the OpenAI client


def test_the_openai_client_parses_models_and_a_chat_with_logprobs_strictly(server: CriticServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
    assert [m.id for m in client.models.list().data] == ["tiny-critic"]
    listed = json.loads(client.models.with_raw_response.list().http_response.text)
    card = Model.model_validate(listed["data"][0], strict=True)
    assert card.created > 0 and card.owned_by == "firm-serve"
    raw = client.chat.completions.with_raw_response.create(
        model="tiny-critic",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": DATA_URL}},
                    {"type": "text", "text": "describe the image ."},
                ],
            }
        ],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    assert raw.http_response.http_version == "HTTP/1.1"
    answer = ChatCompletion.model_validate(json.loads(raw.http_response.text), strict=True)
    tokens = answer.choices[0].logprobs.content
    assert answer.usage.completion_tokens == 4 and 0 < len(tokens) <= 4
    assert all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in tokens)
    assert raw.parse().choices[0].message.content == answer.choices[0].message.content
    with pytest.raises(openai.BadRequestError, match=r"limits\.max_tokens"):  # a 4xx: not retried
        client.chat.completions.create(model="tiny-critic", messages=CHAT["messages"], max_tokens=65)


def test_keep_alive_serves_several_requests_on_one_connection(server: CriticServer) -> None:
    conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        socks = []
        for _ in range(3):
            conn.request("GET", "/health")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.version == 11 and json.loads(resp.read())["status"] == "ok"
            assert resp.getheader("x-request-id", "").startswith("req-")
            socks.append(conn.sock)
        assert socks[0] is socks[1] is socks[2]  # one TCP connection
    finally:
        conn.close()


# ---------------------------------------------------------------------------- load


def test_a_burst_of_200_connections_is_answered(server: CriticServer) -> None:
    n = 200  # 150 health checks and 50 score requests, all at once
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait(30)
        try:
            if i % 4:
                status = http("GET", server.url + "/health", timeout=60)[0]
            else:
                status = http("POST", server.url + "/v1/score", SCORE, timeout=120)[0]
        except OSError as e:  # a reset or a timeout: what a listen backlog of 5 produced
            status = -1 if "reset" in str(e).lower() else -2
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert statuses.count(200) == n, sorted(set(statuses))


def _timed(fn: Callable[[], tuple[int, bytes]]) -> float:
    start = time.perf_counter()
    status, body = fn()
    assert status == 200, body
    return time.perf_counter() - start


def test_score_requests_are_not_stuck_behind_a_long_chat() -> None:
    with tiny_server(limits={"max_tokens": 4000}) as s:
        score = lambda: post_raw(s.url + "/v1/score", json.dumps(SCORE).encode())  # noqa: E731
        idle = statistics.median([_timed(score) for _ in range(5)])
        per_token = _timed(lambda: post_raw(s.base_url + "/chat/completions", json.dumps(CHAT).encode())) / 4
        # a chat long enough to outlast 8 score requests (at least 64 tokens, at most 4000)
        tokens = int(min(4000, max(64, 3 * 8 * idle / per_token)))
        long = {**CHAT, "max_tokens": tokens, "logprobs": True}
        answer: dict[str, object] = {}
        chat = threading.Thread(
            target=lambda: answer.update(
                out=post_raw(s.base_url + "/chat/completions", json.dumps(long).encode())
            )
        )
        chat.start()
        while not s.health()["counters"]["in_flight"] and chat.is_alive():
            time.sleep(0.01)
        time.sleep(min(0.5, 5 * per_token))  # the chat is generating
        busy = []
        for _ in range(8):
            latency = _timed(score)
            if chat.is_alive():
                busy.append(latency)
        chat.join(600)
        counters = s.health()["counters"]
        # idle again after the chat: the machine's load may have changed meanwhile (take the slower)
        idle = max(idle, statistics.median([_timed(score) for _ in range(5)]))
    status, raw = answer["out"]
    assert status == 200, raw
    assert len(busy) >= 4, (tokens, per_token, idle)  # measured while the chat was generating
    p95 = float(np.percentile(busy, 95))
    assert p95 < 3 * idle, (p95, idle, busy)
    assert counters["preemptions"] >= len(busy)  # answered between the chat's decode steps
    # the chat's tokens are those of an uninterrupted greedy run (checked on its first 24)
    streamed = [t["token"] for t in json.loads(raw)["choices"][0]["logprobs"]["content"]][:24]
    (alone,) = tiny_annotator().complete(
        [
            ChatRequest(
                [user_message("a red square .")],
                params={"max_tokens": 24, "temperature": 0, "logprobs": True},
            )
        ]
    )
    assert streamed == [t["token"] for t in alone.logprobs][: len(streamed)]


# ---------------------------------------------------------------------------- faults


def _bad_inputs(server: CriticServer) -> list[tuple[str, Callable[[], tuple[int, dict]]]]:
    """Every client mistake of issue 20 (and a few more), each as a call returning (status, body)."""
    chat_url, score_url = server.base_url + "/chat/completions", server.url + "/v1/score"
    messages = json.dumps(CHAT["messages"])

    def chat_raw(fields: str) -> Callable[[], tuple[int, dict]]:
        return lambda: http("POST", chat_url, raw=f'{{"messages": {messages}, {fields}}}'.encode())

    def chat(**fields: object) -> Callable[[], tuple[int, dict]]:
        return lambda: http("POST", chat_url, {**CHAT, **fields})

    def score(items: list[dict], mode: str = "quality") -> Callable[[], tuple[int, dict]]:
        return lambda: http("POST", score_url, {"mode": mode, "items": items})

    one_bit = png(Image.new("1", (4096, 4096)), format="PNG", optimize=True)
    gif, tiff, bmp = (png(image(), format=f) for f in ("GIF", "TIFF", "BMP"))
    eps = base64.b64encode(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n").decode()
    lone = '{"mode": "instruction", "items": [{"image": "' + IMG + '", "instruction": "\\ud800 red"}]}'
    port = server.port
    return [
        ("max_tokens 1e400", chat_raw('"max_tokens": 1e400')),
        ("max_tokens NaN", chat_raw('"max_tokens": NaN')),
        ("temperature NaN", chat_raw('"temperature": NaN')),
        ("seed NaN", chat_raw('"seed": NaN')),
        ("seed 2**70", chat(seed=2**70)),
        ("top_k -5 at temperature 1", chat(top_k=-5, temperature=1.0)),
        ("max_tokens 2.7", chat(max_tokens=2.7)),
        ("n true", chat(n=True)),
        ("max_tokens over the limit", chat(max_tokens=65)),
        ("lone surrogate in an instruction", lambda: http("POST", score_url, raw=lone.encode())),
        ("100k nested [", lambda: http("POST", chat_url, raw=b"[" * 100_000)),
        ("4000x8 PNG (aspect > 200)", score([{"image": png(image().resize((4000, 8)), format="PNG")}])),
        ("32k-word prompt", chat(messages=[{"role": "user", "content": "red " * 32_000}])),
        ("8 items x 2 images of 4096^2 1-bit PNGs", score([{"image": one_bit, "source_image": one_bit,
                                                            "instruction": "x"}] * 8, "execution")),
        ("GIF image", score([{"image": gif}])),
        ("TIFF image", score([{"image": tiff}])),
        ("BMP image", score([{"image": bmp}])),
        ("EPS image", score([{"image": eps}])),
        ("remote image URL", chat(messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x.png"}}]}])),
        ("2.5 MB body (limit 2 MB)", lambda: http("POST", score_url, raw=b" " * 2_500_000)),
        ("text/plain body", lambda: http("POST", score_url, SCORE, content_type="text/plain")),
        ("no Content-Length", lambda: raw_socket(port, b"POST /v1/score HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("short body, longer Content-Length", lambda: raw_socket(
            port, b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"mode\":")),
        ("malformed request line", lambda: raw_socket(port, b"GARBAGE\r\n\r\n")),
        ("unknown method", lambda: raw_socket(port, b"BREW /v1/score HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("random 60 KB path", lambda: raw_socket(
            port, b"GET /" + os.urandom(30_000).hex().encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("unknown path", lambda: http("GET", server.url + "/v2/nothing")),
        ("other model", chat(model="gpt-4o")),
        ("stream true", chat(stream=True)),
    ]  # fmt: skip


def test_every_bad_input_is_a_4xx_json_error_and_answers_stay_byte_identical(server: CriticServer) -> None:
    score_url, chat_url = server.url + "/v1/score", server.base_url + "/chat/completions"
    before = post_raw(score_url, json.dumps(SCORE).encode())
    chat_before = json.loads(post_raw(chat_url, json.dumps(CHAT).encode())[1])
    rows = []
    for name, call in _bad_inputs(server):
        status, body = call()
        alive = http("GET", server.url + "/health", timeout=10)[0] == 200
        rows.append((name, status, alive))
        assert 400 <= status < 500 and alive, (name, status, body)
        assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["code"] == status
        assert len(body["error"]["message"]) > 10, (name, body)
    print("\n" + "\n".join(f"| {n} | {st} | {'yes' if a else 'NO'} |" for n, st, a in rows))
    assert post_raw(score_url, json.dumps(SCORE).encode()) == before  # byte-identical
    chat_after = json.loads(post_raw(chat_url, json.dumps(CHAT).encode())[1])
    assert chat_after["choices"] == chat_before["choices"] and chat_after["usage"] == chat_before["usage"]
    metrics = http_text(server.url + "/metrics")
    assert len(metrics) < 30_000 and "<unmatched>" in metrics  # random paths do not grow the labels


def http_text(url: str) -> str:
    conn = HTTPConnection(url.removeprefix("http://").split("/")[0], timeout=30)
    try:
        conn.request("GET", "/" + url.removeprefix("http://").split("/", 1)[1])
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_an_item_the_model_fails_on_fails_alone() -> None:
    # with the aspect limit lifted, the 4000x8 image passes validation and the processor fails on it
    with tiny_server(limits={"max_aspect_ratio": 1000.0}) as s:
        items = [{"image": IMG}, {"image": png(image().resize((4000, 8)), format="PNG")}, {"image": IMG}]
        status, out = http("POST", s.url + "/v1/score", {"mode": "quality", "items": items})
        counters = s.health()["counters"]
    assert status == 200, out
    good, bad, good2 = out["results"]
    assert bad["error"].startswith("model_error: ValueError") and bad["score"] is None
    assert good["text"] and good2["text"] and not good["error"].startswith("model_error")
    assert counters["model_failures"] == 1 and counters["items"] == 2  # the bad item never reached it


def test_access_log_metrics_and_5xx_tracebacks(tmp_path: Path) -> None:
    dead = OpenAICompatibleAnnotator(f"http://127.0.0.1:{free_port()}/v1", "gone", max_retries=0)
    log = tmp_path / "access.jsonl"
    with CriticServer(dead, ServeConfig(port=0, access_log=str(log)), template="tiny") as s:
        assert http("POST", s.url + "/v1/score", SCORE)[0] == 503
        for _ in range(20):
            http("GET", s.url + "/" + os.urandom(1000).hex())
        assert http("GET", s.url + "/health/")[0] == 200  # a trailing slash is the same route
        metrics = http_text(s.url + "/metrics")
    health = s.health()  # after the stop: every request is counted
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 23 and {"ts", "request_id", "method", "route", "status", "latency_ms"} <= set(
        lines[0]
    )
    failed = lines[0]
    assert failed["route"] == "/v1/score" and failed["status"] == 503 and failed["items"] == 1
    assert "Traceback" in failed["traceback"] and "unavailable" in failed["error"]
    assert {line["route"] for line in lines[1:21]} == {"<unmatched>"}
    assert [line["route"] for line in lines[21:]] == ["/health", "/metrics"]
    assert 'firm_serve_requests_total{method="GET",route="<unmatched>",status="404"} 20.0' in metrics
    assert set(health["counters"]["requests_by_endpoint"]) == {
        "POST /v1/score",
        "GET <unmatched>",
        "GET /health",
        "GET /metrics",
    }


def test_the_prompt_counter_counts_what_the_model_reads() -> None:
    annotator = tiny_annotator()
    counter = VLMPromptCounter(annotator.bundle)
    for messages in (
        [user_message("a red square .")],
        [user_message("two images .", [image(), image(side=300).resize((500, 120))])],
    ):
        request = ChatRequest(messages)
        assert counter.count(request, 4096) == annotator.bundle.encode_chat([messages])["input_ids"].shape[1]
    assert counter.context == 4096
    assert counter.count(ChatRequest([user_message("red " * 100_000)]), 100) == 101  # not tokenized


# ---------------------------------------------------------------------------- fuzz

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(
        st.characters(codec="utf-8") | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=12
    )
)
_json = st.recursive(
    _leaf,
    lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=6), ch, max_size=3),
    max_leaves=8,
)
_part = st.sampled_from(
    [{"type": "text", "text": "a red square ."}, {"type": "image_url", "image_url": {"url": DATA_URL}}]
) | st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "image"]) | _json},
    optional={"text": _json, "image_url": _json},
)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool"]) | _json},
    optional={"content": st.text(max_size=20) | st.lists(_part, max_size=2) | _json},
)
_chat = st.fixed_dictionaries(
    {"messages": st.lists(_message, min_size=1, max_size=2) | _json},
    optional={k: _json | st.integers(-2, 3) | st.floats(-1, 3) for k in (
        "max_tokens", "temperature", "top_p", "top_k", "seed", "logprobs", "top_logprobs", "n", "stream",
        "stop", "model", "presence_penalty")},
)  # fmt: skip
_item = st.fixed_dictionaries(
    {}, optional={"image": st.just(IMG) | _json, "source_image": st.just(IMG) | _json, "instruction": _json}
)
_score = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["quality", "instruction", "execution", "x"]) | _json,
        "items": st.lists(_item, max_size=2) | _json,
        "template": st.sampled_from(["tiny", "full"]) | _json,
        "model": _json,
    },
)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[CriticServer]:
    with tiny_server(limits={"max_tokens": 2, "max_body_bytes": 200_000}, max_wait_ms=1.0) as s:
        yield s


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=_chat | _json)
def test_fuzzed_chat_bodies_never_get_a_5xx(fuzz_server: CriticServer, body: object) -> None:
    status, answer = post_raw(fuzz_server.base_url + "/chat/completions", json.dumps(body).encode())
    assert status < 500, (body, answer)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=_score | _json, garbage=st.binary(max_size=40))
def test_fuzzed_score_bodies_never_get_a_5xx(fuzz_server: CriticServer, body: object, garbage: bytes) -> None:
    status, answer = post_raw(fuzz_server.url + "/v1/score", json.dumps(body).encode())
    assert status < 500, (body, answer)
    status, answer = post_raw(fuzz_server.url + "/v1/score", garbage)
    assert 400 <= status < 500, (garbage, answer)


# ---------------------------------------------------------------------------- shutdown


def test_sigterm_under_load_answers_everything_in_flight(tmp_path: Path) -> None:
    url_file = tmp_path / "url.json"
    cmd = [
        sys.executable, "-m", "firm.serve", "--port", "0", "--url-file", str(url_file),
        "--max-wait-ms", "200",
        *[f"--override={k}={v}" for k, v in SMALL.items()],
        *[f"--score-max-tokens={k}={v}" for k, v in TINY_TOKENS.items()],
    ]  # fmt: skip
    env = {**os.environ, "T2I_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not url_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert url_file.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
        url = json.loads(url_file.read_text())["url"]
        n = 8
        results: list[int] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            body = {"mode": "quality", "items": [{"image": png_b64(image((20 * i, 90, 90)))}]}
            status = http("POST", url + "/v1/score", body, timeout=120)[0]
            with lock:
                results.append(status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while http("GET", url + "/health")[1]["counters"]["in_flight"] < n + 1:  # all 8 (+ this one) in
            assert time.monotonic() < deadline, "the requests never arrived"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(120)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert results == [200] * n  # everything in flight was answered
    assert json.loads(out[out.index("{") :])["requests_by_endpoint"]["POST /v1/score"] == n
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=2).close()
