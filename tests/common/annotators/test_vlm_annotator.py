"""The in-process VLM backend answers with the tiny model zoo VLM (random weights) and caches."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.annotators import ChatRequest, TransformersVLMAnnotator, system_message, user_message
from common.models.tiny import build_tiny_vlm

SMALL = {
    "text_hidden_size": 64,
    "text_intermediate_size": 128,
    "text_layers": 2,
    "text_heads": 2,
    "text_kv_heads": 1,
    "vision_hidden_size": 32,
    "vision_intermediate_size": 64,
    "vision_depth": 2,
    "vision_heads": 2,
}


def test_answers_in_order_and_caches(tmp_path: Path) -> None:
    bundle = build_tiny_vlm("qwen3_vl", **SMALL)
    ann = TransformersVLMAnnotator(bundle, model="tiny-test", batch_size=2, max_tokens=4, cache_dir=tmp_path)
    im = Image.fromarray(np.full((128, 128, 3), 120, dtype=np.uint8))
    reqs = [
        ChatRequest([system_message("you are a judge ."), user_message("a red circle", [im])]),
        ChatRequest([user_message("a blue square")]),
        ChatRequest([user_message("two stars", [im, im])]),
    ]
    first = ann.complete(reqs)
    assert len(first) == 3 and all(r.ok and isinstance(r.text, str) for r in first)
    assert all(r.finish_reason in ("stop", "length") for r in first)
    again = TransformersVLMAnnotator(bundle, model="tiny-test", max_tokens=4, cache_dir=tmp_path).complete(
        reqs
    )
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)


def test_needs_exactly_one_model_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TransformersVLMAnnotator()


def test_logprobs_in_the_openai_layout_match_the_sampler(tmp_path: Path) -> None:
    from common.models.vlm_sampling import sample_vlm

    bundle = build_tiny_vlm("qwen2_5_vl", **SMALL)
    ann = TransformersVLMAnnotator(bundle, model="tiny-lp", batch_size=2, max_tokens=6, cache_dir=tmp_path)
    im = Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8))
    reqs = [
        ChatRequest([user_message("a red circle", [im])], params={"logprobs": True, "top_logprobs": 3}),
        ChatRequest([user_message("two stars")], params={"logprobs": True, "top_logprobs": 3}),
    ]
    answers = ann.complete(reqs)
    rollout = sample_vlm(
        bundle, bundle.encode_chat([r.messages for r in reqs]), temperature=0.0, max_new_tokens=6
    )
    special = set(bundle.tokenizer.all_special_ids)
    for i, answer in enumerate(answers):
        assert answer.logprobs is not None
        ids = [
            int(t) for t, m in zip(rollout.completion_ids[i], rollout.completion_mask[i], strict=True) if m
        ]
        kept = [k for k, t in enumerate(ids) if t not in special]
        assert [e["token"] for e in answer.logprobs] == [bundle.tokenizer.decode([ids[k]]) for k in kept]
        assert " ".join(e["token"] for e in answer.logprobs) == answer.text
        for e, k in zip(answer.logprobs, kept, strict=True):
            assert e["logprob"] == pytest.approx(float(rollout.logprobs[i, k]), abs=1e-5)
            top = e["top_logprobs"]
            assert len(top) == 3 and top[0]["token"] == e["token"]  # greedy: the chosen token is the mode
            assert [a["logprob"] for a in top] == sorted((a["logprob"] for a in top), reverse=True)
            assert sum(math.exp(a["logprob"]) for a in top) <= 1 + 1e-6
    again = TransformersVLMAnnotator(bundle, model="tiny-lp", max_tokens=6, cache_dir=tmp_path).complete(reqs)
    assert all(r.cached for r in again) and [r.logprobs for r in again] == [r.logprobs for r in answers]
    plain = ann.complete([ChatRequest([user_message("two stars")])])
    assert plain[0].logprobs is None


def test_top_logprobs_needs_logprobs_and_a_bound() -> None:
    ann = TransformersVLMAnnotator(build_tiny_vlm("qwen2_5_vl", **SMALL), max_tokens=2)
    with pytest.raises(ValueError, match="needs logprobs=true"):
        ann.complete([ChatRequest([user_message("a")], params={"top_logprobs": 2})])
    with pytest.raises(ValueError, match="top_logprobs must be in 0-20"):
        ann.complete([ChatRequest([user_message("a")], params={"logprobs": True, "top_logprobs": 21})])
