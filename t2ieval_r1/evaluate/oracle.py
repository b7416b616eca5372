"""The oracle evaluator: answers every meta-evaluation request from the world's ground truth.

A reference row for the tables (how well a perfect reader of the world agrees with the
simulated raters) and an offline, free backend for tests. It implements the
:class:`common.annotators.Annotator` interface and reads only ``ChatRequest.meta`` (never sent to
a real backend), which the meta-evaluation fills for world items:

* ``truth``: the ground-truth score on the item's scale (single-wise), or ``[t_a, t_b]`` (pairwise);
* ``scene`` (single-wise) or ``scenes`` (pairwise): the drawn scene(s) as dicts;
* ``scale``: ``[lo, hi]``; ``key``: the request's id (seeds the noise and the failures).

Answer: ``<think> caption </think> <answer> s </answer>`` where the caption is
:func:`common.world.captions.describe` of the scene (the tiny models' caption format; every
fact in it is true) and ``s = clip(truth + noise, lo, hi)`` rounded to ``decimals``, with
``noise ~ N(0, noise^2)`` drawn from ``numpy.random.default_rng([seed, crc32(key)])``. Pairwise:
``<think> image 1 : caption_a image 2 : caption_b </think> <answer> s_a , s_b </answer>``.

With probability ``fail_share`` (decided by the same seeded generator) the answer is left out
(``<think> caption </think>`` only), which the meta-evaluation counts as a parse failure and
mean-fills. A request without ``truth`` (a real benchmark) gets an error response.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.annotators.types import ChatRequest, ChatResponse
from common.world.captions import describe
from common.world.scene import Scene

__all__ = ["OracleEvaluator"]


class OracleEvaluator:
    """Ground-truth answers in the evaluator's output format (see the module docstring).

    Args:
        noise: standard deviation of the Gaussian noise added to each score (0: exact truth).
        fail_share: share of requests answered without an ``<answer>`` block.
        decimals: rounding of the scores written.
        seed: seeds the noise and the failures (with each request's key).
    """

    name = "oracle"

    def __init__(self, noise: float = 0.0, fail_share: float = 0.0, decimals: int = 2, seed: int = 0) -> None:
        if noise < 0:
            raise ValueError(f"oracle noise must be >= 0, got {noise}")
        if not 0.0 <= fail_share <= 1.0:
            raise ValueError(f"oracle fail_share must be in [0, 1], got {fail_share}")
        self.noise = float(noise)
        self.fail_share = float(fail_share)
        self.decimals = int(decimals)
        self.seed = int(seed)
        self.model = "oracle"

    def _rng(self, key: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(key.encode("utf-8"))])

    def _score(self, truth: float, rng: np.random.Generator, scale: Sequence[float]) -> str:
        value = float(truth) + (rng.normal(0.0, self.noise) if self.noise > 0 else 0.0)
        value = min(max(value, float(scale[0])), float(scale[1]))
        return f"{round(value, self.decimals):g}"

    @staticmethod
    def _caption(scene: Any) -> str:
        return describe(Scene.from_dict(dict(scene))) if isinstance(scene, Mapping) else "nothing ."

    def answer(self, meta: Mapping[str, Any]) -> ChatResponse:
        """The response to one request's ``meta``."""
        truth = meta.get("truth")
        if truth is None:
            return ChatResponse(text="", model=self.model, error="oracle: the item has no world ground truth")
        key = str(meta.get("key", ""))
        scale = meta.get("scale") or (0.0, 10.0)
        rng = self._rng(key)
        fail = self.fail_share > 0 and rng.random() < self.fail_share
        if isinstance(truth, Sequence) and not isinstance(truth, str):
            scenes = list(meta.get("scenes") or [None, None])
            think = " ".join(f"image {k + 1} : {self._caption(s)}" for k, s in enumerate(scenes[:2]))
            answer = " , ".join(self._score(t, rng, scale) for t in truth)
        else:
            think = self._caption(meta.get("scene"))
            answer = self._score(float(truth), rng, scale)
        text = f"<think> {think} </think>" + ("" if fail else f" <answer> {answer} </answer>")
        return ChatResponse(text=text, model=self.model, finish_reason="stop")

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer ``requests`` in order (see :meth:`answer`)."""
        return [self.answer(r.meta) for r in requests]
