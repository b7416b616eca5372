"""Helpers of the reward-server tests: a tiny random Qwen3-VL behind a real server, raw HTTP calls."""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from PIL import Image

from common.annotators import TransformersVLMAnnotator
from common.models.builders import build_model
from firm.serve import CriticServer, ServeConfig, ServeLimits
from tests.common.models.conftest import SMALL_VLM

SMALL: dict[str, int] = dict(SMALL_VLM)
"""Overrides of the ``tiny_qwen3_vl`` preset that make it fast enough for tests (the models' SMALL_VLM)."""

TINY_TOKENS = {"execution": 8, "consistency": 8, "instruction": 8, "quality": 8}
"""``score_max_tokens`` for tests: a random model never stops by itself."""


@functools.lru_cache(maxsize=1)
def tiny_bundle() -> Any:
    """The tiny random Qwen3-VL (built once per test process)."""
    return build_model("tiny_qwen3_vl", **SMALL)


def tiny_annotator(batch_size: int = 8) -> TransformersVLMAnnotator:
    return TransformersVLMAnnotator(tiny_bundle(), model="tiny-critic", batch_size=batch_size, max_tokens=8)


def tiny_server(*, limits: dict[str, Any] | None = None, **config: Any) -> CriticServer:
    """A (not yet started) server on 127.0.0.1, an ephemeral port, over the tiny model."""
    settings = {"port": 0, "max_batch_size": 8, "max_wait_ms": 20.0, "score_max_tokens": dict(TINY_TOKENS)}
    settings.update(config)
    cfg = ServeConfig(**settings, limits=ServeLimits(**(limits or {})))
    return CriticServer(tiny_annotator(cfg.max_batch_size), cfg, template="tiny")


def image(colour: tuple[int, int, int] = (200, 40, 40), side: int = 64) -> Image.Image:
    """A flat-colour RGB image with a darker square (something to look at)."""
    arr = np.full((side, side, 3), colour, dtype=np.uint8)
    arr[side // 4 : side // 2, side // 4 : side // 2] //= 2
    return Image.fromarray(arr)


def png_b64(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
    timeout: float = 60.0,
) -> tuple[int, dict[str, Any]]:
    """``(status, JSON body)`` of one call; HTTP errors are returned, not raised."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": content_type} if content_type and data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def rm_answer(text: str, key: str) -> str:
    """What an upstream peer (``ChatServer(answer=rm_answer)``) answers to the full RM prompts:
    the right format per mode, with score ``k`` when the prompt says ``item k`` (else from the
    request hash); quality sub-scores are ``(k, 5, 4)``."""
    found = re.search(r"item (\d)", text)
    score = int(found.group(1)) if found else 1 + int(key[:8], 16) % 5
    if "aesthetics" in text:
        return json.dumps({"reasoning": "clean", "aesthetics": score, "quality": 5, "structure_texture": 4})
    if "Final Alignment Rating" in text:
        rating = f"Final Alignment Rating: {score}\n\\boxed{{{score}}}"
        return f"- the subject is present.\nFinal Analysis: fine.\n{rating}"
    return json.dumps({"reasoning": "the edit was done", "score": score})
