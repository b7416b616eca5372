"""Acceptance: ``+exp=firm_gen_curate`` / ``+exp=firm_edit_curate`` with the HTTP annotator
pointed at the reward server serving a tiny random VLM (a real HTTP round trip, no mocks).

A random model writes garbage, so most annotations are rejected: the runs must still finish,
the server must have answered every request, and the rejections must be in the datasets'
``rejected.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from datasets import load_from_disk

from firm.serve import CriticServer
from tests.firm.conftest import run_experiment
from tests.firm.serve_helpers import http, tiny_server


@pytest.fixture(scope="module")
def server() -> Iterator[CriticServer]:
    with tiny_server(max_batch_size=8, max_wait_ms=20.0, limits={"max_tokens": 64}) as s:
        yield s


def http_annotator(server: CriticServer, tmp_path: Path) -> list[str]:
    return [
        "annotator=openai",
        f"annotator.base_url={server.base_url}",
        f"annotator.model={server.model}",
        f"annotator.cache_dir={tmp_path / 'responses'}",
        "annotator.max_tokens=12",  # a random model never stops by itself
        "annotator.concurrency=4",
        "annotator.max_retries=0",
    ]


def chat_requests(server: CriticServer) -> int:
    counters = http("GET", server.url + "/health")[1]["counters"]
    return int(counters["requests_by_endpoint"].get("POST /v1/chat/completions", 0))


def rejections(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_gen_curation_through_the_server(server: CriticServer, tmp_path: Path) -> None:
    before = chat_requests(server)
    metrics, _ = run_experiment(
        "firm_gen_curate",
        tmp_path,
        *http_annotator(server, tmp_path),
        "task.n_prompts=6",
        "task.chunk_size=4",
    )
    sent = chat_requests(server) - before
    stats = metrics["annotator"]
    assert stats["backend_calls"] == sent and stats["errors"] == 0  # every request answered over HTTP
    assert sent >= 12  # a plan and a quality rating per prompt (+ evaluations of accepted plans)
    out = Path(metrics["out_dir"])
    rejected = rejections(out / "rejected.jsonl")
    assert len(rejected) == metrics["rejected_total"] > 0
    assert {r["dataset"] for r in rejected} <= {"instruction", "quality"}
    assert all(r["reason"] != "request_error" for r in rejected)  # rejected for content, not transport
    kept = len(load_from_disk(str(out / "instruction"))) + len(load_from_disk(str(out / "quality")))
    assert kept + len(rejected) == 12  # every item is either kept or logged as rejected


def test_edit_curation_through_the_server(server: CriticServer, tmp_path: Path) -> None:
    before = chat_requests(server)
    metrics, _ = run_experiment(
        "firm_edit_curate",
        tmp_path,
        *http_annotator(server, tmp_path),
        "task.n_examples=6",
        "task.chunk_size=4",
    )
    sent = chat_requests(server) - before
    assert metrics["annotator"]["backend_calls"] == sent and metrics["annotator"]["errors"] == 0
    assert sent >= 6 * 2  # two difference passes per example, then the rubrics
    out = Path(metrics["out_dir"])
    rejected = rejections(out / "rejected.jsonl")
    assert len(rejected) == metrics["rejected_total"] > 0
    assert {r["dataset"] for r in rejected} <= {"execution", "consistency"}
    assert metrics["rows"]["execution"] + sum(metrics["rejected"].get("execution", {}).values()) == 6
    assert all(r["reason"] != "request_error" for r in rejected)
    health = http("GET", server.url + "/health")[1]
    assert (
        health["counters"]["errors"] == 0
        and health["counters"]["generate_calls"] < health["counters"]["items"]
    )
