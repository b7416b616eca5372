"""The GRPO trainer on a SMALL random tiny Qwen2.5-VL: rollout/training log-prob agreement, learning,
micro-batching, the data stream, KL references and exact in-process resume."""

from __future__ import annotations

import math
from pathlib import Path

import datasets
import pytest
import torch

from common.engine import build_fabric, setup_model_and_optimizer
from common.models.vlm_sampling import banned_token_ids, sequence_logprobs
from common.run_checkpoints import checkpoints
from t2ieval_r1.grpo import DataStream, EvalItem, GRPOConfig, GRPOTrainer, load_items
from t2ieval_r1.grpo.rollout import collect_rollout, select_rows
from t2ieval_r1.grpo.update import ReferencePolicy, grpo_update, micro_batches
from tests.t2ieval_r1.conftest import small_vlm
from tests.t2ieval_r1.helpers import numeric_share


def config(**kw: object) -> GRPOConfig:
    base: dict = {
        "steps": 2,
        "batch_size": 8,
        "micro_batch_size": 4,
        "rollout": {"group_size": 4, "max_new_tokens": 10},
        "lr": 1e-3,
        "checkpoint_every": 1,
        "log_every": 1,
    }
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return GRPOConfig.from_dict(base)


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def mixed_items(single: datasets.Dataset, pair: datasets.Dataset) -> list[EvalItem]:
    return load_items(single, [0, 1]) + load_items(pair, [0, 1])


def test_rollout_logprobs_equal_training_logprobs(
    single_corpus: datasets.Dataset, pair_corpus: datasets.Dataset
) -> None:
    bundle = small_vlm()
    cfg = config(
        batch_size=16, micro_batch_size=4, rollout={"max_new_tokens": 24, "generation_batch_size": 8}
    )
    items = mixed_items(single_corpus, pair_corpus)  # 2 single-wise + 2 pairwise (two images per row)
    banned = banned_token_ids(bundle)
    rollout = collect_rollout(bundle, items, cfg, step=1, banned=banned)
    assert len(rollout) == 16 and len(rollout.chunks) == 2
    for mb in micro_batches(rollout, cfg.micro):
        with torch.no_grad():
            logp = sequence_logprobs(
                bundle.model,
                mb.prompt_batch,
                mb.completion_ids,
                mb.completion_mask,
                temperature=1.0,
                banned=banned,
            )
        ratio = torch.exp(logp - mb.old_logprobs)[mb.completion_mask.bool()]
        assert torch.allclose(ratio, torch.ones_like(ratio), atol=1e-5), float((ratio - 1).abs().max())
    # and inside the update: the ratio the loss sees before the (single) optimizer step is 1
    fabric = build_fabric({"name": "cpu"})
    model, opt = setup_model_and_optimizer(
        fabric, bundle.model, torch.optim.SGD(bundle.model.parameters(), lr=0.0)
    )
    stats = grpo_update(
        fabric, model, opt, micro_batches(rollout, cfg.micro), torch.randn(16), cfg, banned=banned
    )
    assert stats["policy/logp_mismatch"] < 1e-5
    assert stats["policy/ratio_mean"] == pytest.approx(1.0, abs=1e-5) and stats["policy/clip_frac"] == 0.0


def test_select_rows_keeps_each_rows_images(pair_corpus: datasets.Dataset) -> None:
    bundle = small_vlm()
    items = load_items(pair_corpus, [0, 1, 2])
    full = bundle.encode_chat([it.messages() for it in items])
    sub = select_rows(full, [2, 0])
    direct = bundle.encode_chat([it.messages() for it in (items[2], items[0])])
    for key in ("pixel_values", "image_grid_thw"):
        assert torch.equal(sub[key], direct[key])
    for r in range(2):
        got = sub["input_ids"][r][sub["attention_mask"][r].bool()]
        want = direct["input_ids"][r][direct["attention_mask"][r].bool()]
        assert torch.equal(got, want)


def test_data_stream_is_deterministic_resumable_and_sharded() -> None:
    a = DataStream(10, 4, seed=3)
    seq = [a.next_indices() for _ in range(5)]
    assert all(len(s) == 4 for s in seq) and sorted(seq[0] + seq[1] + seq[2][:2]) == list(range(10))
    b = DataStream(10, 4, seed=3)
    b.next_indices()
    state = b.state_dict()
    c = DataStream(10, 4, seed=3)
    c.load_state_dict(state)
    assert [c.next_indices() for _ in range(4)] == seq[1:]
    r0, r1 = DataStream(12, 3, seed=0, rank=0, world_size=2), DataStream(12, 3, seed=0, rank=1, world_size=2)
    assert not set(r0.next_indices()) & set(r1.next_indices())
    with pytest.raises(ValueError, match="same data and seed"):
        DataStream(11, 4, seed=3).load_state_dict(state)


def test_short_grpo_run_moves_parameters_and_raises_reward(single_corpus: datasets.Dataset) -> None:
    torch.manual_seed(0)
    bundle = small_vlm()
    before = params(bundle.model)
    fixed = single_corpus.select(range(4))  # a fixed tiny batch: the same 4 items every step
    cfg = config(steps=16, batch_size=16, micro_batch_size=8, rollout={"max_new_tokens": 12}, lr=3e-2)
    trainer = GRPOTrainer(cfg, bundle, fixed, reward_fn=numeric_share, verbose=False)
    summary = trainer.fit()
    rewards = [h["reward/total_mean"] for h in trainer.history]
    assert summary["steps"] == 16 and len(rewards) == 16
    moved = sum(not torch.equal(before[k], v) for k, v in params(bundle.model).items())
    assert moved > len(before) // 2
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.3, rewards
    h = trainer.history[0]
    for key in (
        "groups/zero_std_ratio",
        "completion/len_mean",
        "policy/entropy",
        "policy/clip_frac",
        "loss/kl",
        "reward/failure_rate",
        "policy/grad_norm",
        "time/step_s",
    ):
        assert key in h and not math.isnan(h[key]), key


def test_kl_references_start_at_zero_and_grow(single_corpus: datasets.Dataset) -> None:
    from common.models.lora import add_lora

    for lora in (False, True):
        bundle = small_vlm()
        if lora:
            add_lora(bundle.model, r=4, alpha=8)
        cfg = config(kl_coef=0.1, steps=2, batch_size=8, lr=2e-2)
        trainer = GRPOTrainer(cfg, bundle, single_corpus, reward_fn=numeric_share, verbose=False)
        assert trainer.reference is not None and trainer.reference.mode == ("adapters" if lora else "copy")
        trainer.fit()
        first, second = trainer.history
        assert first["loss/kl"] == pytest.approx(0.0, abs=1e-6)  # policy == reference before any update
        assert second["loss/kl"] > 1e-6
    with pytest.raises(ValueError, match="needs a LoRA policy"):
        ReferencePolicy(small_vlm().model, "adapters")


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_evaluator_reward_steps_on_both_corpus_kinds(
    kind: str, single_corpus: datasets.Dataset, pair_corpus: datasets.Dataset
) -> None:
    trainer = GRPOTrainer(
        config(steps=1),
        small_vlm(),
        single_corpus if kind == "single" else pair_corpus,
        val=single_corpus if kind == "single" else pair_corpus,
        verbose=False,
    )
    trainer.fit()
    (h,) = trainer.history
    assert (
        h["reward/failure_rate"] == 1.0 and h["reward/total_mean"] == 0.0
    )  # a random model breaks the format
    assert h["groups/zero_std_ratio"] == 1.0 and h["reward/fail_malformed"] > 0
    assert h["policy/optimizer_steps"] == 0 and h["loss/policy"] is None  # no signal: the update is skipped
    assert h["val/failure_rate"] == 1.0 and h["val/n"] == (8 if kind == "single" else 6)
    assert ("val/spearman" in h) == (kind == "single") and ("val/pair_accuracy" in h) == (kind == "pair")


def test_exact_resume_in_process(tmp_path: Path, single_corpus: datasets.Dataset) -> None:
    cfg_long = config(steps=4, kl_coef=0.05, keep_checkpoints=10)
    uninterrupted = GRPOTrainer(
        cfg_long, small_vlm(), single_corpus, checkpoint_dir=tmp_path / "a", verbose=False
    )
    uninterrupted.fit()

    first = GRPOTrainer(
        config(steps=2, kl_coef=0.05),
        small_vlm(),
        single_corpus,
        checkpoint_dir=tmp_path / "b",
        verbose=False,
    )
    first.fit()
    assert [s for s, _ in checkpoints(tmp_path / "b")] == [1, 2]
    resumed = GRPOTrainer(cfg_long, small_vlm(), single_corpus, checkpoint_dir=tmp_path / "b", verbose=False)
    assert resumed.step == 2 and resumed.resumed_from == 2
    resumed.fit()
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4]

    def strip(h: dict) -> dict:
        return {k: v for k, v in h.items() if not k.startswith("time/")}

    for a, b in zip(uninterrupted.history, resumed.history, strict=True):
        assert strip(a) == pytest.approx(strip(b), nan_ok=True, rel=0, abs=0), a["step"]
    for (k, v), w in zip(
        params(uninterrupted.bundle.model).items(), params(resumed.bundle.model).values(), strict=True
    ):
        assert torch.equal(v, w), k
    # a rerun of a finished run trains nothing
    again = GRPOTrainer(cfg_long, small_vlm(), single_corpus, checkpoint_dir=tmp_path / "b", verbose=False)
    assert again.fit()["steps"] == 4 and len(again.history) == 4


def test_max_time_counts_the_time_of_every_resume(tmp_path: Path, single_corpus: datasets.Dataset) -> None:
    budget = config(steps=4, max_time_s=1e-6)
    first = GRPOTrainer(budget, small_vlm(), single_corpus, checkpoint_dir=tmp_path, verbose=False)
    summary = first.fit()
    assert summary["stopped_by_time"] and summary["steps"] == 1
    # the budget is spent: a rerun of the same command trains nothing more
    again = GRPOTrainer(budget, small_vlm(), single_corpus, checkpoint_dir=tmp_path, verbose=False)
    summary = again.fit()
    assert summary["stopped_by_time"] and summary["steps"] == 1 and again.resumed_from == 1
    # a larger budget continues from the checkpoint
    more = GRPOTrainer(config(steps=2), small_vlm(), single_corpus, checkpoint_dir=tmp_path, verbose=False)
    assert more.fit()["steps"] == 2
