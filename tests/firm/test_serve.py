"""FIRM's reward server over real HTTP on 127.0.0.1, with a tiny random Qwen3-VL behind it.

A random model writes garbage, so its verdicts come back as results with ``error`` set; the
scoring path with readable answers is checked over an upstream OpenAI-compatible peer that
answers in the RM formats (two real HTTP hops).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from common.annotators import ChatRequest, OpenAICompatibleAnnotator, TransformersVLMAnnotator, user_message
from common.rewards.modes import RM_MODES
from firm.serve import (
    CriticServer,
    DynamicBatcher,
    ModelSpec,
    ServeConfig,
    ServeLimits,
    build_backend,
    config_from_mapping,
    resolve_template,
)
from firm.serve.__main__ import main as serve_main
from firm.serve.__main__ import parse_args
from tests.common.annotators.chat_server import ChatServer, free_port
from tests.firm.serve_helpers import (
    SMALL,
    TINY_TOKENS,
    http,
    image,
    png_b64,
    rm_answer,
    tiny_annotator,
    tiny_bundle,
    tiny_server,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[CriticServer]:
    with tiny_server(limits={"max_items": 6, "max_body_bytes": 400_000, "max_image_side": 256}) as s:
        yield s


def edit_item(instruction: str = "make the square blue") -> dict[str, str]:
    return {
        "image": png_b64(image((40, 40, 200))),
        "source_image": png_b64(image()),
        "instruction": instruction,
    }


def items_for(mode: str, n: int) -> list[dict[str, str]]:
    if mode in ("execution", "consistency"):
        return [edit_item(f"make the square blue {i}") for i in range(n)]
    if mode == "instruction":
        return [{"image": png_b64(image()), "instruction": f"a red square {i}"} for i in range(n)]
    return [{"image": png_b64(image((i * 40, 90, 90)))} for i in range(n)]


def test_health_and_models(server: CriticServer) -> None:
    status, health = http("GET", server.url + "/health")
    assert status == 200 and health["status"] == "ok"
    assert health["model"] == "tiny-critic" and health["modes"] == list(RM_MODES)
    assert health["template"] == "tiny" and set(health["templates"]) == {"tiny", "full"}
    for key in ("requests", "generate_calls", "items", "batch_sizes", "errors"):
        assert key in health["counters"]
    status, models = http("GET", server.base_url + "/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["tiny-critic"]


@pytest.mark.parametrize("mode", RM_MODES)
def test_score_every_mode_reports_unreadable_answers(server: CriticServer, mode: str) -> None:
    status, out = http("POST", server.url + "/v1/score", {"mode": mode, "items": items_for(mode, 3)})
    assert status == 200, out
    assert out["mode"] == mode and out["model"] == "tiny-critic" and out["template"] == "tiny"
    assert len(out["results"]) == 3
    for r in out["results"]:
        assert set(r) == {"score", "normalised", "parts", "reasoning", "text", "error"}
        assert isinstance(r["text"], str) and r["text"]  # the random model wrote something
        if r["error"] is None:  # a lucky parse must still be on the scale
            assert 1 <= r["score"] <= 5 and r["normalised"] == pytest.approx((r["score"] - 1) / 4)
        else:
            assert r["score"] is None and r["normalised"] is None


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(server: CriticServer) -> None:
    url = server.url + "/v1/score"
    cases = [
        (
            http("POST", url, raw=b'{"mode": "execution", "items": [', content_type="application/json"),
            400,
            "not valid JSON",
        ),
        (
            http("POST", url, {"mode": "judge", "items": items_for("quality", 1)}),
            400,
            "valid modes: execution, consistency",
        ),
        (http("POST", url, raw=b"x" * 500_000), 413, "limit of 400000 bytes"),
        (
            http(
                "POST", url, {"mode": "execution", "items": [{"image": png_b64(image()), "instruction": "x"}]}
            ),
            400,
            "items[0].source_image is required",
        ),
        (http("POST", url, {"mode": "quality", "items": items_for("quality", 7)}), 400, "at most 6"),
        (
            http(
                "POST", url, {"mode": "quality", "items": items_for("quality", 1)}, content_type="text/plain"
            ),
            415,
            "application/json",
        ),
        (
            http("POST", url, {"mode": "quality", "items": [{"image": "not base64!"}]}),
            400,
            "items[0].image is not valid base64",
        ),
        (
            http("POST", url, {"mode": "quality", "items": [{"image": png_b64(image(side=300))}]}),
            400,
            "300x300",
        ),
        (
            http("POST", url, {"mode": "instruction", "items": [{"image": png_b64(image())}]}),
            400,
            "instruction is required",
        ),
        (
            http("POST", url, {"mode": "quality", "items": items_for("quality", 1), "template": "huge"}),
            400,
            "valid templates",
        ),
        (
            http("POST", url, {"mode": "quality", "items": items_for("quality", 1), "model": "gpt"}),
            404,
            "serves 'tiny-critic'",
        ),
        (http("GET", url), 405, "takes POST"),
        (http("GET", server.url + "/v2/nothing"), 404, "POST /v1/score"),
        (
            http("POST", server.base_url + "/chat/completions", {"messages": []}),
            400,
            "messages: List should have at least 1 item",
        ),
        (
            http(
                "POST",
                server.base_url + "/chat/completions",
                {"messages": [{"role": "user", "content": "hi"}], "stop": ["."]},
            ),
            400,
            "does not support ['stop']",
        ),
        (
            http(
                "POST",
                server.base_url + "/chat/completions",
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6},
            ),
            400,
            "limits.max_tokens",
        ),
    ]
    for (status, body), want_status, want_text in cases:
        assert status == want_status, (want_text, body)
        assert set(body["error"]) >= {"message", "type"} and want_text in body["error"]["message"], body
    status, out = http("POST", url, {"mode": "execution", "items": [edit_item()]})
    assert status == 200 and len(out["results"]) == 1
    assert http("GET", server.url + "/health")[1]["counters"]["errors"] >= len(cases)


def test_concurrent_requests_are_batched() -> None:
    n = 6
    with tiny_server(max_batch_size=8, max_wait_ms=300.0) as s:
        barrier = threading.Barrier(n)
        statuses: list[int] = []

        def one(i: int) -> None:
            body = {
                "mode": "instruction",
                "items": [{"image": png_b64(image()), "instruction": f"a square {i}"}],
            }
            barrier.wait()
            statuses.append(http("POST", s.url + "/v1/score", body)[0])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        counters = http("GET", s.url + "/health")[1]["counters"]
    assert statuses == [200] * n
    assert counters["requests_by_endpoint"]["POST /v1/score"] == n and counters["items"] == n
    assert counters["generate_calls"] < n
    assert max(int(k) for k in counters["batch_sizes"]) > 1


def test_one_at_a_time_without_batching() -> None:
    with tiny_server(max_batch_size=1, max_wait_ms=0.0) as s:
        status, out = http("POST", s.url + "/v1/score", {"mode": "quality", "items": items_for("quality", 3)})
        counters = http("GET", s.url + "/health")[1]["counters"]
    assert status == 200 and len(out["results"]) == 3
    assert counters["generate_calls"] == 3 and counters["batch_sizes"] == {"1": 3}


def test_chat_completions_round_trip_with_the_openai_client(server: CriticServer) -> None:
    client = OpenAICompatibleAnnotator(
        server.base_url, "tiny-critic", max_tokens=6, max_retries=0, concurrency=2
    )
    assert client.check() == ["tiny-critic"]
    requests = [
        ChatRequest([user_message("describe the image .", [image()])]),
        ChatRequest(
            [user_message("two images .", [image(), image((0, 0, 255))])],
            params={"temperature": 0.7, "seed": 3},
        ),
    ]
    answers = client.complete(requests)
    assert all(a.ok and isinstance(a.text, str) for a in answers)
    assert all(a.model == "tiny-critic" and a.finish_reason in ("stop", "length") for a in answers)
    assert all(a.usage["prompt_tokens"] > 0 and 0 < a.usage["completion_tokens"] <= 6 for a in answers)
    wrong = OpenAICompatibleAnnotator(server.base_url, "other-model", max_retries=0).complete(requests[:1])
    assert wrong[0].error is not None and "serves 'tiny-critic'" in wrong[0].error


def test_logprobs_over_http_equal_the_in_process_ones(server: CriticServer) -> None:
    client = OpenAICompatibleAnnotator(server.base_url, "tiny-critic", max_tokens=5, max_retries=0)
    params = {"temperature": 0.0, "max_tokens": 5, "logprobs": True, "top_logprobs": 3}
    requests = [ChatRequest([user_message("describe the image .", [image()])], params=params)]
    (remote,) = client.complete(requests)
    (local,) = tiny_annotator().complete(requests)
    assert remote.ok and remote.logprobs is not None and len(remote.logprobs) > 0
    assert remote.text == local.text and local.logprobs is not None
    assert [e["token"] for e in remote.logprobs] == [e["token"] for e in local.logprobs]
    for r, lo in zip(remote.logprobs, local.logprobs, strict=True):
        assert r["logprob"] == pytest.approx(lo["logprob"], abs=1e-5) and len(r["top_logprobs"]) == 3
        assert [a["token"] for a in r["top_logprobs"]] == [a["token"] for a in lo["top_logprobs"]]
    (plain,) = client.complete([ChatRequest(requests[0].messages, params={"max_tokens": 5})])
    assert plain.ok and plain.logprobs is None
    url = server.url + "/v1/chat/completions"
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 2}
    for extra, message in (
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs: Input should be less than or equal to 20"),
        ({"top_logprobs": 2}, "top_logprobs needs logprobs=true"),
        ({"logprobs": "yes"}, "logprobs: Input should be a valid boolean"),
        ({"presence_penalty": 0.5}, "does not support ['presence_penalty']"),
    ):
        status, answer = http("POST", url, {**body, **extra})
        assert status == 400 and message in json.dumps(answer), (extra, answer)
    status, _ = http("POST", url, {**body, "logprobs": False, "top_logprobs": 0})  # neutral values are fine
    assert status == 200


def test_upstream_backend_parses_scores_over_two_hops() -> None:
    with ChatServer(answer=rm_answer) as upstream:
        cfg = ServeConfig(port=0, upstream_url=upstream.base_url, upstream_model="canned", max_wait_ms=5.0)
        backend = OpenAICompatibleAnnotator(
            upstream.base_url, "canned", max_retries=0, temperature=None, max_tokens=None
        )
        with CriticServer(backend, cfg, template="full") as s:
            outs = {
                m: http("POST", s.url + "/v1/score", {"mode": m, "items": items_for(m, 2)})[1]
                for m in RM_MODES
            }
            health = http("GET", s.url + "/health")[1]
    assert health["backend"]["upstream"] == upstream.base_url
    for mode, out in outs.items():
        for r in out["results"]:
            assert r["error"] is None, (mode, r)
            assert r["score"] in (1, 2, 3, 4, 5) and r["normalised"] == (r["score"] - 1) / 4
            assert r["reasoning"]
        if mode == "quality":
            assert all(
                r["parts"]["quality"] == 5 and r["score"] == min(r["parts"].values()) for r in out["results"]
            )
    sent = [b for b in upstream.bodies if "Evaluate EXECUTION" in json.dumps(b)]
    assert len(sent) == 2 and all(b["temperature"] == 0.0 and b["max_tokens"] == 256 for b in sent)
    assert all("<report>" not in json.dumps(b) for b in upstream.bodies)  # the RM sees no report


def test_a_request_the_backend_chokes_on_fails_alone() -> None:
    batcher = DynamicBatcher(tiny_annotator(), max_batch_size=4, max_wait_ms=50.0).start()
    try:
        good = ChatRequest([user_message("a red square .", [image()])], params={"max_tokens": 4})
        bad = ChatRequest([user_message("a blue square .")], params={"max_tokens": 4, "stop": ["."]})
        futures = batcher.submit([good, bad, good])
        assert futures[0].result(60).ok and futures[2].result(60).ok
        with pytest.raises(ValueError, match="does not support sampling parameters"):
            futures[1].result(60)
    finally:
        batcher.close()
    stats = batcher.stats.to_dict()
    assert stats["batch_sizes"] == {"1": 3, "3": 1} and stats["failed_calls"] == 2


def test_upstream_batches_overlap_with_several_workers() -> None:
    with ChatServer(answer=rm_answer, delay=0.8) as upstream:
        backend = OpenAICompatibleAnnotator(upstream.base_url, "canned", max_retries=0)
        cfg = ServeConfig(port=0, max_batch_size=1, max_wait_ms=0.0, upstream_workers=3)
        with CriticServer(backend, cfg, template="full") as s:
            barrier = threading.Barrier(3)

            def one() -> None:
                barrier.wait()
                http("POST", s.url + "/v1/score", {"mode": "quality", "items": items_for("quality", 1)})

            threads = [threading.Thread(target=one) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            workers = http("GET", s.url + "/health")[1]["batching"]["workers"]
    assert workers == 3 and upstream.max_in_flight == 3 and len(upstream.answered) == 3


def test_upstream_down_is_a_503_naming_it() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAICompatibleAnnotator(dead, "gone", max_retries=0)
    with CriticServer(backend, ServeConfig(port=0), template="tiny") as s:
        status, out = http("POST", s.url + "/v1/score", {"mode": "quality", "items": items_for("quality", 2)})
        assert status == 503 and dead in out["error"]["message"]
        assert http("GET", s.url + "/health")[0] == 200


def test_graceful_stop_answers_in_flight_requests() -> None:
    with ChatServer(answer=rm_answer, delay=0.6) as upstream:
        backend = OpenAICompatibleAnnotator(upstream.base_url, "canned", max_retries=0)
        s = CriticServer(backend, ServeConfig(port=0), template="full").start()
        got: list[tuple[int, dict]] = []
        t = threading.Thread(
            target=lambda: got.append(
                http("POST", s.url + "/v1/score", {"mode": "quality", "items": items_for("quality", 1)})
            )
        )
        t.start()
        deadline = time.monotonic() + 10
        while not upstream.received and time.monotonic() < deadline:
            time.sleep(0.01)
        s.stop()
        t.join(10)
    assert got and got[0][0] == 200 and got[0][1]["results"][0]["error"] is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(s.url + "/health", timeout=2)


def test_config_defaults_errors_and_template() -> None:
    # +exp=firm_serve and the CLI start from these defaults: tests/test_config_defaults.py
    tiny = yaml.safe_load((ROOT / "conf" / "scale" / "tiny.yaml").read_text())
    assert ServeConfig().model.name == tiny["models"]["reward_model"]
    with pytest.raises(ValueError, match=r"^server: unknown key\(s\) \['prot'\] .*did you mean 'port'"):
        config_from_mapping({"prot": 1})
    with pytest.raises(ValueError, match=r"limits\.max_items must be a positive"):
        ServeLimits(max_items=0)
    assert resolve_template(None, ServeConfig()) == "tiny"
    assert resolve_template(None, ServeConfig(upstream_url="http://x/v1")) == "full"
    assert resolve_template(None, ServeConfig(), scale_name="paper") == "full"


def test_cli_parses_and_serves_for_a_moment(tmp_path: Path) -> None:
    overrides = [f"--override={k}={v}" for k, v in SMALL.items()]
    tokens = [f"--score-max-tokens={k}={v}" for k, v in TINY_TOKENS.items()]
    argv = [
        "--port",
        "0",
        *overrides,
        *tokens,
        "--limit",
        "max_items=3",
        "--url-file",
        str(tmp_path / "u.json"),
    ]
    cfg, _ = parse_args(argv)
    assert cfg.model.overrides["text_layers"] == 2 and cfg.limits.max_items == 3 and cfg.port == 0
    assert serve_main([*argv, "--duration-s", "0.2"]) == 0
    info = json.loads((tmp_path / "u.json").read_text())
    assert info["model"] == "preset:tiny_qwen3_vl" and info["base_url"].endswith("/v1")
    with pytest.raises(SystemExit):
        parse_args(["--limit", "max_itemz=3"])


def test_experiment_serves_until_sigterm(tmp_path: Path) -> None:
    overrides = [f"+task.model.overrides.{k}={v}" for k, v in SMALL.items()]
    cmd = [
        sys.executable,
        "-m",
        "experiments.run",
        "+exp=firm_serve",
        "task.port=0",
        *overrides,
        f"hydra.run.dir={tmp_path}",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "T2I_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "server.json").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "server.json").exists(), (
            proc.stderr.read() if proc.poll() is not None else "timeout"
        )
        info = json.loads((tmp_path / "server.json").read_text())
        assert info["url"].startswith("http://127.0.0.1:") and info["template"] == "tiny"
        status, health = http("GET", info["url"] + "/health")
        assert status == 200 and health["model"] == "preset:tiny_qwen3_vl"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert info["url"] in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["url"] == info["url"] and metrics["requests"] >= 1 and metrics["errors"] == 0


def test_backend_from_a_saved_checkpoint(tmp_path: Path) -> None:
    tiny_bundle().save_pretrained(tmp_path / "critic")
    backend = build_backend(
        ServeConfig(model=ModelSpec(kind="path", name=str(tmp_path / "critic")), max_batch_size=3)
    )
    assert isinstance(backend, TransformersVLMAnnotator) and backend.batch_size == 3
    assert backend.model == str(tmp_path / "critic") and backend.cache is None
    (answer,) = backend.complete(
        [ChatRequest([user_message("a red square .", [image()])], {"max_tokens": 3})]
    )
    assert answer.ok and answer.usage["completion_tokens"] <= 3
