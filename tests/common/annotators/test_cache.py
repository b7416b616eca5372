"""Response cache keys and persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.annotators import ChatRequest, ChatResponse, ResponseCache, request_key, user_message


def img(value: int) -> Image.Image:
    return Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8))


def req(text: str = "t", im: Image.Image | None = None, **meta: object) -> ChatRequest:
    return ChatRequest([user_message(text, [im] if im is not None else [])], meta=dict(meta))


def test_key_depends_on_model_messages_pixels_and_params_not_meta() -> None:
    base = request_key("m", req("t", img(1)), {"temperature": 0})
    assert base == request_key("m", req("t", img(1), secret=1), {"temperature": 0})
    assert base != request_key("m2", req("t", img(1)), {"temperature": 0})
    assert base != request_key("m", req("u", img(1)), {"temperature": 0})
    assert base != request_key("m", req("t", img(2)), {"temperature": 0})
    assert base != request_key("m", req("t", img(1)), {"temperature": 1})
    assert base != request_key("m", req("t"), {"temperature": 0})


def test_persists_across_instances_and_refuses_failures(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put("k1", ChatResponse(text="hello", model="m", usage={"total_tokens": 3}))
    with pytest.raises(ValueError):
        cache.put("k2", ChatResponse(text="", error="boom"))
    cache.close()
    again = ResponseCache(tmp_path)
    hit = again.get("k1")
    assert hit is not None and hit.text == "hello" and hit.cached and hit.usage == {"total_tokens": 3}
    assert again.get("k2") is None and "k1" in again and len(again) == 1 and list(again.keys()) == ["k1"]


def test_concurrent_writers(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)

    def write(start: int) -> None:
        for i in range(start, start + 25):
            cache.put(f"k{i}", ChatResponse(text=str(i)))

    threads = [threading.Thread(target=write, args=(s,)) for s in (0, 25, 50, 75)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 100 and cache.get("k42").text == "42"  # type: ignore[union-attr]
