"""The evaluator's supervised stages: examples, SFT training, the cached format warm-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.models.builders import load_vlm
from common.parsing import parse_score_detailed
from common.runtime import RunSettings
from common.sft import SFTConfig
from t2ieval_r1.sft import WarmupSpec, ensure_warmup, evaluator_examples, train_evaluator_sft
from tests.common.engine._launch import free_port, rank_envs, run_workers

from . import _warmup_worker as warmup_worker
from .conftest import small_vlm

WORKER = "tests.t2ieval_r1._warmup_worker"


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
    with pytest.raises(ValueError, match=r"model\.warmup\.think: unknown style 'both'"):
        WarmupSpec.from_dict({"think": "both"})


def test_the_think_style_keys_the_cache_only_when_it_is_not_the_default() -> None:
    spec = WarmupSpec.from_dict({"sft": {"lr": 5e-4}})
    assert spec.key("base") == WarmupSpec.from_dict({"sft": {"lr": 5e-4}, "think": "caption"}).key("base")
    compare = WarmupSpec.from_dict({"sft": {"lr": 5e-4}, "think": "compare"})
    assert compare.key("base") != spec.key("base")


def test_compare_warmup_examples_restate_each_items_prompt(single_corpus) -> None:
    examples, _ = evaluator_examples(single_corpus, "format", bundle=small_vlm(), seed=1, think="compare")
    for ex, prompt in zip(examples, single_corpus["prompt"], strict=True):
        asked = prompt.lower().removeprefix("a photo of ")
        assert ex.target.startswith(f"<think> the prompt asks for {asked} . the image shows ")


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


@pytest.mark.distributed
def test_two_ddp_ranks_never_deadlock_on_the_warmup(tmp_path: Path) -> None:
    """Empty cache: both ranks refuse at once with the one-process command (before, rank 0
    trained under the file lock while rank 1 waited on it). Built once in one process: both
    ranks read the cached warm-up."""
    start, cache = tmp_path / "base", tmp_path / "cache"
    small_vlm().save_pretrained(start)
    args = [str(tmp_path), str(start), str(cache)]

    def ranks() -> list[dict[str, str]]:
        envs = rank_envs(2, free_port())
        finished = run_workers(args, envs, tmp_path / "logs", timeout=180, module=WORKER)
        finished.check()
        return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    for found in ranks():
        assert "engine 'ddp' runs 2 processes" in found["error"] and "engine=cpu" in found["error"]
    assert not (cache / "t2ieval_r1_warmup").exists() or not any((cache / "t2ieval_r1_warmup").iterdir())
    one = RunSettings.from_config({"paths": {"cache_dir": str(cache)}})
    built = ensure_warmup(start, WarmupSpec.from_dict(warmup_worker.SPEC), one, progress=False)
    assert [found.get("path") for found in ranks()] == [str(built)] * 2
