"""The evaluator's supervised stages: examples, SFT training, the cached format warm-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.models.builders import load_vlm
from common.parsing import parse_score_detailed
from common.runtime import RunSettings
from common.sft import SFTConfig
from t2ieval_r1.sft import WarmupSpec, ensure_warmup, evaluator_examples, train_evaluator_sft

from .conftest import small_vlm


def test_examples_hold_the_evaluation_prompt_and_targets(single_corpus) -> None:
    bundle = small_vlm()
    examples, summary = evaluator_examples(single_corpus, "format", bundle=bundle, seed=1)
    assert len(examples) == len(single_corpus) == summary["n_examples"]
    text = examples[0].messages[-1]["content"][-1]["text"]
    assert "rate the image on a scale from 0 to 10" in text
    for ex in examples:
        assert ex.target.startswith("<think>") and ex.target.endswith("</answer>")
        assert parse_score_detailed(ex.target, 0, 10).value is not None
    rationale, _ = evaluator_examples(single_corpus, "rationale")  # no model needed
    assert rationale[0].target.startswith("<think> the image shows")
    with pytest.raises(ValueError, match="needs the model"):
        evaluator_examples(single_corpus, "scores")


def test_sft_on_scores_lowers_the_loss_and_moves_the_weights(single_corpus, tmp_path: Path) -> None:
    bundle = small_vlm()
    before = [p.detach().clone() for p in bundle.model.parameters()]
    cfg = SFTConfig(lr=3e-3, steps=12, batch_size=4, warmup_ratio=0.0, seed=0, checkpoint_every=100)
    out = train_evaluator_sft(bundle, single_corpus, "scores", cfg, tmp_path / "state", progress=False)
    assert out["train"]["steps"] == 12 and out["data"]["kind"] == "scores"
    assert out["train"]["final_loss"] < 0.85 * out["train"]["first_loss"]
    changed = sum(not torch.equal(a, b) for a, b in zip(before, bundle.model.parameters(), strict=True))
    assert changed > 0.9 * len(before)


def test_warmup_is_built_once_and_cached(single_corpus, tmp_path: Path) -> None:
    cfg = RunSettings.from_config({"paths": {"cache_dir": str(tmp_path / "cache")}, "seed": 0})
    start = tmp_path / "base"
    small_vlm().save_pretrained(start)
    spec = WarmupSpec.from_dict(
        {
            "corpus": {"source": "world_quick", "kind": "single", "n": 8, "seed": 0},
            "sft": {"lr": 3e-3, "steps": 6, "batch_size": 4, "warmup_ratio": 0.0},
        }
    )
    path = ensure_warmup(start, spec, cfg, progress=False)
    assert path.parent == tmp_path / "cache" / "t2ieval_r1_warmup" and (path / "warmup.json").is_file()
    assert not list(path.parent.glob(".*.partial"))
    stamp = (path / "warmup.json").stat().st_mtime_ns
    assert ensure_warmup(start, spec, cfg, progress=False) == path  # reused
    assert (path / "warmup.json").stat().st_mtime_ns == stamp
    other = WarmupSpec.from_dict({**spec.__dict__, "sft": {**spec.sft, "steps": 7}})
    assert ensure_warmup(start, other, cfg, progress=False) != path  # another config, another entry
    model = load_vlm(str(path)).model
    base = load_vlm(str(start)).model
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), base.parameters(), strict=True))


def test_warmup_spec_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"model\.warmup"):
        WarmupSpec.from_dict({"kind": "format", "stepz": 3})


def test_pairwise_format_warmup_answers_two_scores(pair_corpus) -> None:
    from common.parsing import parse_completion, parse_pair_scores

    examples, summary = evaluator_examples(pair_corpus, "format", bundle=small_vlm(), seed=0)
    assert summary["pairwise"] and len(examples) == len(pair_corpus)
    for ex in examples:
        think = ex.target.split("</think>")[0]
        assert "image 1 :" in think and "image 2 :" in think
        parsed = parse_completion(ex.target)
        assert parsed.well_formed and parse_pair_scores(parsed.answer, 0, 10) is not None
    with pytest.raises(ValueError, match="pairwise corpora support only"):
        evaluator_examples(pair_corpus, "scores", bundle=small_vlm())
