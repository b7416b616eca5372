"""The world oracle: answers the pipelines' prompts from ground truth, in the real output formats.

The pipeline that builds a request knows the world's truth for it (the scenes, the edit, the
prompt's requirements) and puts what the answer must say into ``request.meta["oracle"]``, a
side channel that HTTP and in-process backends never see. The oracle writes that answer in the
exact format a real MLLM is asked for, so one parser reads both. Formats (``meta["oracle"]``):

    {"format": "text", "text": str}
        free text (difference reports, analysis plans), returned as is.
    {"format": "json_score", "score": int, "reasoning": str, "lo": 1, "hi": 5}
        ``{"reasoning": "...", "score": n}`` (FIRM's edit rubrics).
    {"format": "json_scores", "scores": {name: int}, "reasoning": str, "lo": 1, "hi": 5}
        ``{"reasoning": "...", "<name>": n, ...}`` (FIRM's quality prompt: three sub-scores).
    {"format": "boxed_rating", "score": int, "groups": {group: [[question, ok, note], ...]},
     "summary": str, "lo": 1, "hi": 5, "description": str (optional)}
        "The image shows <description>" when given, then a per-group checklist,
        ``Final Analysis: ...``, ``Final Alignment Rating: X`` and ``\\boxed{X}`` (FIRM's
        generation evaluator).
    {"format": "think_answer", "score": number, "reasoning": str, "lo": ..., "hi": ...}
        ``<think>...</think><answer>n</answer>`` (T2I-Eval-R1's format).

Noise (all seeded by ``seed`` and the request's cache key, so a rerun answers identically):
    ``noise``            standard deviation of Gaussian noise added to every true score before it
                         is rounded (integers for integer scores) and clipped to ``[lo, hi]``.
    ``malformed_rate``   probability of an answer in the wrong format (out-of-range score,
                         conflicting ratings, truncated output, empty answer), for testing that
                         pipelines log and drop malformed annotations.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from common.annotators.base import CachedAnnotator, Pending
from common.annotators.cache import request_key
from common.annotators.types import ChatRequest, ChatResponse

__all__ = ["ORACLE_FORMATS", "WorldOracleAnnotator", "oracle_meta"]

OracleFormatter = Callable[[dict[str, Any], "WorldOracleAnnotator", random.Random, bool], str]
ORACLE_FORMATS: dict[str, OracleFormatter] = {}
"""Answer format name -> formatter ``(spec, oracle, rng, malformed) -> text``."""


def _register(name: str) -> Callable[[OracleFormatter], OracleFormatter]:
    def deco(fn: OracleFormatter) -> OracleFormatter:
        ORACLE_FORMATS[name] = fn
        return fn

    return deco


def oracle_meta(format: str, **spec: Any) -> dict[str, Any]:
    """``{"oracle": {"format": format, **spec}}``: what a pipeline puts in ``ChatRequest.meta``."""
    if format not in ORACLE_FORMATS:
        raise ValueError(f"unknown oracle format {format!r}; known: {', '.join(ORACLE_FORMATS)}")
    return {"oracle": {"format": format, **spec}}


def _bounds(spec: Mapping[str, Any]) -> tuple[float, float]:
    return float(spec.get("lo", 1)), float(spec.get("hi", 5))


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _malformed_score_text(rng: random.Random, hi: float, valid: str) -> str:
    """A wrong-format variant of a score answer; ``valid`` is the well-formed answer."""
    kind = rng.randrange(4)
    if kind == 0:
        return ""
    if kind == 1:  # cut off before any score is written
        return "I will compare the two images carefully, then decide"
    if kind == 2:  # a value above the scale
        return valid.replace(f"{_placeholder}", _fmt_num(hi + 2 + rng.randrange(5)))
    return valid.replace(f"{_placeholder}", "a high")  # no number at all


_placeholder = "\x00SCORE\x00"


@_register("text")
def _text(spec: dict[str, Any], oracle: WorldOracleAnnotator, rng: random.Random, malformed: bool) -> str:
    return "" if malformed else str(spec.get("text", ""))


@_register("json_score")
def _json_score(
    spec: dict[str, Any], oracle: WorldOracleAnnotator, rng: random.Random, malformed: bool
) -> str:
    lo, hi = _bounds(spec)
    template = json.dumps({"reasoning": str(spec.get("reasoning", "")), "score": 0}).replace(
        '"score": 0', f'"score": {_placeholder}'
    )
    if malformed:
        return _malformed_score_text(rng, hi, template)
    return template.replace(_placeholder, _fmt_num(oracle.perturb(spec["score"], lo, hi, rng)))


@_register("json_scores")
def _json_scores(
    spec: dict[str, Any], oracle: WorldOracleAnnotator, rng: random.Random, malformed: bool
) -> str:
    lo, hi = _bounds(spec)
    scores = {str(k): oracle.perturb(v, lo, hi, rng) for k, v in dict(spec["scores"]).items()}
    obj: dict[str, Any] = {"reasoning": str(spec.get("reasoning", ""))}
    obj.update({k: int(v) if float(v).is_integer() else v for k, v in scores.items()})
    if malformed:
        kind = rng.randrange(3)
        victim = sorted(scores)[rng.randrange(len(scores))]
        if kind == 0:
            obj.pop(victim)  # a sub-score missing
        elif kind == 1:
            obj[victim] = int(hi + 1 + rng.randrange(5))  # out of range
        else:
            return json.dumps(obj)[: max(1, len(json.dumps(obj)) // 2)]  # truncated JSON
    return json.dumps(obj)


@_register("boxed_rating")
def _boxed(spec: dict[str, Any], oracle: WorldOracleAnnotator, rng: random.Random, malformed: bool) -> str:
    lo, hi = _bounds(spec)
    lines: list[str] = []
    if spec.get("description"):  # what the image shows, before the plan is checked
        lines += [f"The image shows {spec['description']}", ""]
    for group, items in dict(spec.get("groups", {})).items():
        lines.append(f"**{group}**")
        for question, ok, note in items:
            mark = "Yes" if ok else "No"
            lines.append(f"- {question} {mark}. {note}".rstrip())
        lines.append("")
    lines.append(f"Final Analysis: {spec.get('summary', '')}".rstrip())
    score = oracle.perturb(spec["score"], lo, hi, rng)
    s = _fmt_num(score)
    if malformed:
        kind = rng.randrange(3)
        if kind == 0:  # stops before the rating
            return "\n".join(lines)
        if kind == 1:  # rating and box disagree
            other = _fmt_num(lo if score != lo else hi)
            return "\n".join([*lines, f"Final Alignment Rating: {s}", f"\\boxed{{{other}}}"])
        s = _fmt_num(hi + 1 + rng.randrange(5))
    return "\n".join([*lines, f"Final Alignment Rating: {s}", f"\\boxed{{{s}}}"])


@_register("think_answer")
def _think(spec: dict[str, Any], oracle: WorldOracleAnnotator, rng: random.Random, malformed: bool) -> str:
    lo, hi = _bounds(spec)
    score = _fmt_num(oracle.perturb(spec["score"], lo, hi, rng))
    if malformed:
        return f"<think>{spec.get('reasoning', '')}</think>" if rng.random() < 0.5 else f"<answer>{score}"
    return f"<think>{spec.get('reasoning', '')}</think><answer>{score}</answer>"


class WorldOracleAnnotator(CachedAnnotator):
    """Answers from ``request.meta["oracle"]`` (see the module docstring).

    Args:
        noise: standard deviation of the Gaussian noise on every score (0: exact truth).
        malformed_rate: probability of a wrong-format answer.
        seed: seeds the noise (together with each request's key).
        integer_scores: round noisy scores to integers (the papers' 1-5 scales are integers).
        model: the name reported in responses and cache keys.
        cache_dir: optional response cache (off by default: answering is free).
    """

    name = "oracle"

    def __init__(
        self,
        *,
        noise: float = 0.0,
        malformed_rate: float = 0.0,
        seed: int = 0,
        integer_scores: bool = True,
        model: str = "world-oracle",
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(model, cache_dir=cache_dir)
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if not 0.0 <= malformed_rate <= 1.0:
            raise ValueError(f"malformed_rate must be in [0, 1], got {malformed_rate}")
        self.noise = float(noise)
        self.malformed_rate = float(malformed_rate)
        self.seed = int(seed)
        self.integer_scores = bool(integer_scores)

    def perturb(self, score: float, lo: float, hi: float, rng: random.Random) -> float:
        """``score`` plus the configured noise, rounded (half up) and clipped to ``[lo, hi]``."""
        x = float(score) + (rng.gauss(0.0, self.noise) if self.noise > 0 else 0.0)
        if self.integer_scores:
            x = math.floor(x + 0.5)
        return min(hi, max(lo, x))

    def cache_key(self, request: ChatRequest, params: Mapping[str, Any]) -> str:
        """Messages AND the oracle spec: the same prompt about another truth is another request."""
        spec = json.dumps(request.meta.get("oracle"), sort_keys=True, default=str)
        return hashlib.sha256(f"{request_key(self.model, request, params)}:{spec}".encode()).hexdigest()

    def _rng(self, request: ChatRequest) -> random.Random:
        key = self.cache_key(request, self.effective_params(request))
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "little"))

    def answer(self, request: ChatRequest) -> ChatResponse:
        """The oracle's answer to one request (an error response if it carries no oracle spec)."""
        spec = request.meta.get("oracle")
        if not isinstance(spec, Mapping) or spec.get("format") not in ORACLE_FORMATS:
            return ChatResponse(
                text="",
                model=self.model,
                error="the world oracle needs request.meta['oracle'] with a known format",
            )
        rng = self._rng(request)
        malformed = rng.random() < self.malformed_rate
        try:
            text = ORACLE_FORMATS[str(spec["format"])](dict(spec), self, rng, malformed)
        except (KeyError, TypeError, ValueError) as e:
            return ChatResponse(text="", model=self.model, error=f"bad oracle spec: {type(e).__name__}: {e}")
        return ChatResponse(text=text, model=self.model, finish_reason="stop")

    def _answer(self, pending: list[Pending], store: Callable[[Pending, ChatResponse], None]) -> None:
        for item in pending:
            store(item, self.answer(item.request))
