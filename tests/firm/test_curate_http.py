"""Curation over a real HTTP round trip, and a run killed midway that resumes from the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from datasets import load_from_disk

from common.annotators import OpenAICompatibleAnnotator, ResponseCache
from firm.curation.assemble import RejectionLog
from firm.curation.edit import curate_edit, rebalance, sample_edit_items
from tests.common.annotators.chat_server import ChatServer

ROOT = Path(__file__).resolve().parents[2]


def test_edit_curation_over_http(tmp_path: Path) -> None:
    items = rebalance(sample_edit_items(8, 1), 0.25, 1)
    n_mis = sum(1 for it in items if it.mismatch)
    with ChatServer() as server:
        ann = OpenAICompatibleAnnotator(server.base_url, "canned", concurrency=4, backoff=0.01)
        records = curate_edit(items, ann, RejectionLog(tmp_path / "rejected.jsonl"), chunk_size=5)
    assert len(records["execution"]) == 8 and len(records["consistency"]) == 8 - n_mis
    assert len(server.received) == 16 + 8 + 8 - n_mis  # two difference passes, then the rubrics
    bodies = [b for b in server.bodies if "Evaluate EXECUTION" in str(b)]
    assert all("oracle" not in str(b) for b in server.bodies) and len(bodies) == 8
    assert all(r["gt_score"] is not None for r in records["execution"])


def curate_cmd(base_url: str, cache: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.run",
        "+exp=firm_gen_curate",
        "annotator=openai",
        f"annotator.base_url={base_url}",
        "annotator.model=canned",
        f"annotator.cache_dir={cache}",
        "annotator.concurrency=3",
        "annotator.max_retries=0",
        "task.n_prompts=14",
        "task.chunk_size=4",
        f"paths.output_dir={out}",
        "runtime.progress=false",
    ]


def cached(cache_dir: Path) -> int:
    """Entries in the response cache (0 before it exists)."""
    if not (cache_dir / ResponseCache.FILENAME).exists():
        return 0
    cache = ResponseCache(cache_dir)
    try:
        return len(cache)
    finally:
        cache.close()


def test_killed_run_resumes_without_repeating_requests(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "T2I_THREADS": "1"}
    limit = 11
    with ChatServer(answer_limit=limit) as server:
        proc = subprocess.Popen(
            curate_cmd(server.base_url, cache_dir, tmp_path / "out1"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            # Wait until the client has cached every answer the server gave, then kill it hard.
            while time.monotonic() < deadline and proc.poll() is None:
                if len(server.answered) == limit and cached(cache_dir) == limit:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        first = list(server.answered)
        assert len(first) == limit and cached(cache_dir) == limit
        assert not list((tmp_path / "out1").glob("runs/firm_gen_curate/*/metrics.json"))  # never finished
        server.answer_limit = None
        server.release()
        done = subprocess.run(
            curate_cmd(server.base_url, cache_dir, tmp_path / "out2"),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        second = server.answered[limit:]
    assert not set(first) & set(second), "a request answered before the kill was sent again"
    assert len(set(server.answered)) == len(server.answered)
    (run_dir,) = (tmp_path / "out2" / "runs" / "firm_gen_curate").iterdir()
    out = run_dir / "datasets" / "firm_gen"
    inst, qual = load_from_disk(str(out / "instruction")), load_from_disk(str(out / "quality"))
    assert len(inst) == 14 and len(qual) == 14  # complete: every canned answer is well formed
    assert (out / "rejected.jsonl").read_text() == ""
    assert cached(cache_dir) == len(server.answered)
