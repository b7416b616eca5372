"""The SFT trainer: answer-only labels, token-mean accumulation, learning, exact resume, export."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from common.models.builders import load_vlm
from common.models.tiny import build_tiny_vlm
from common.models.vlm_bundle import VLMBundle
from common.sft import (
    ConcatExamples,
    ExampleOrder,
    LazyExamples,
    SFTConfig,
    SFTExample,
    SFTObjective,
    SFTTrainer,
    encode_sft_batch,
    target_token_count,
)
from tests.common.models.conftest import SMALL_VLM, random_image


class SimulatedKillError(RuntimeError):
    pass


def small_bundle(arch: str = "qwen3_vl") -> VLMBundle:
    return build_tiny_vlm(arch, seed=0, **SMALL_VLM)


def examples(n: int = 8) -> list[SFTExample]:
    """Image questions with short world-vocabulary answers; one has a system message and two images."""
    out = []
    for i in range(n):
        content = [{"type": "image", "image": random_image(i)}]
        if i == 1:
            content.append({"type": "image", "image": random_image(100 + i)})
        content.append({"type": "text", "text": "what colour is the circle ?"})
        messages = [{"role": "user", "content": content}]
        if i == 1:
            messages.insert(0, {"role": "system", "content": "answer in json ."})
        colour = ("red", "blue", "green", "yellow")[i % 4]
        out.append(SFTExample(messages, f"the circle is {colour} , score : {i % 5 + 1}"))
    return out


def tiny_cfg(**kw: object) -> SFTConfig:
    base = {
        "lr": 3e-3,
        "steps": 6,
        "batch_size": 2,
        "grad_accum": 2,
        "warmup_ratio": 0.0,
        "log_every": 1,
        "checkpoint_every": 2,
    }
    return SFTConfig(**{**base, **kw})  # type: ignore[arg-type]


def state(bundle: VLMBundle) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in bundle.model.state_dict().items()}


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_labels_cover_only_the_target_and_its_end_token(arch: str) -> None:
    bundle = small_bundle(arch)
    exs = examples(3)
    batch = encode_sft_batch(bundle, exs)
    assert batch["labels"].shape == batch["input_ids"].shape
    for row, ex in zip(batch["labels"], exs, strict=True):
        kept = row[row != -100]
        assert bundle.tokenizer.decode(kept, skip_special_tokens=False) == f"{ex.target} <|im_end|>"
        assert len(kept) == target_token_count(bundle, ex.target)
        assert (row != -100).nonzero().max() == len(row) - 1  # the span ends the row (left padding)
    # the image and the question are context only
    image_pad = bundle.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert not bool(((batch["input_ids"] == image_pad) & (batch["labels"] != -100)).any())


def test_bad_examples_and_configs_are_refused() -> None:
    msgs = examples(1)[0].messages
    with pytest.raises(ValueError, match="non-empty target"):
        SFTExample(msgs, "  ")
    with pytest.raises(ValueError, match="assistant"):
        SFTExample([*msgs, {"role": "assistant", "content": "x"}], "y")
    with pytest.raises(ValueError, match=r"^sft: unknown key\(s\) \['learning_rate'\] for SFTConfig"):
        SFTConfig.from_dict({"learning_rate": 1e-5})
    with pytest.raises(ValueError, match="batch_size"):
        SFTConfig(batch_size=0)
    with pytest.raises(ValueError, match="epochs"):
        SFTConfig(steps=None, epochs=0)


def test_schedule_from_epochs_and_warmup_ratio() -> None:
    cfg = SFTConfig(epochs=1.0, batch_size=5, grad_accum=2, warmup_ratio=0.1)
    s = cfg.schedule(n_examples=1000, world_size=8)  # FIRM-Gen-8B: 5 x 2 x 8 = 80
    assert s.global_batch == 80 and s.steps == 13 and s.warmup_steps == 2
    assert s.epochs == pytest.approx(13 * 80 / 1000)
    assert SFTConfig(steps=7, batch_size=2).schedule(3).steps == 7


def test_example_order_shuffles_each_epoch_and_is_a_function_of_seed_and_step() -> None:
    order = ExampleOrder(10, seed=3)
    first_epoch = [i for s in range(5) for i in order.indices(s, 2)]
    assert sorted(first_epoch) == list(range(10))
    assert order.indices(7, 2) == ExampleOrder(10, seed=3).indices(7, 2)
    assert sorted(order.indices(5, 10)) == list(range(10)) and order.indices(5, 10) != first_epoch
    assert ExampleOrder(10, seed=4).indices(0, 10) != order.indices(0, 10)


def test_ranks_split_the_global_batch_and_the_weights_average_the_tokens() -> None:
    bundle = small_bundle()
    exs = examples(8)
    cfg = tiny_cfg(batch_size=1, grad_accum=2)
    schedule = cfg.schedule(len(exs), world_size=2)
    objs = [SFTObjective(exs, cfg, schedule, rank=r, world_size=2) for r in (0, 1)]
    shares = [i for o in objs for mb in o.rank_micro_indices(3) for i in mb]
    assert shares == objs[0].step_indices(3) and len(shares) == 4
    weights = [w for o in objs for _, w in o.micro_batches(schedule, bundle, None, 3)]
    assert sum(weights) / 2 == pytest.approx(1.0)  # DDP averages over the 2 ranks


def test_accumulated_loss_is_the_token_mean_of_the_whole_step() -> None:
    bundle = small_bundle()
    bundle.model.eval()
    exs = examples(4)
    cfg = tiny_cfg(batch_size=2, grad_accum=2)
    obj = SFTObjective(exs, cfg, cfg.schedule(len(exs)))
    module = obj.module(cfg, bundle)
    with torch.no_grad():
        accumulated = sum(float(module(b)) * w for b, w in obj.micro_batches(None, bundle, None, 0))
        whole = float(module(obj.batch(None, bundle, None, 0)))
    assert accumulated == pytest.approx(whole, rel=1e-5)


def test_training_lowers_the_loss_and_changes_the_parameters(tmp_path: Path) -> None:
    bundle = small_bundle()
    before = state(bundle)
    result = SFTTrainer(bundle, examples(4), tiny_cfg(steps=8), tmp_path, progress=False).fit()
    losses = [h["loss"] for h in result["history"]]
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0] and all(a > b for a, b in itertools.pairwise(losses)), losses
    after = state(bundle)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > 0.8 * len(before)
    assert any(".visual." in f".{k}" for k in changed)  # the vision tower trains too
    assert result["steps"] == result["planned_steps"] == 8 and result["global_batch"] == 4
    assert result["examples_seen"] == 32 and not result["stopped_by_time"]


def test_a_frozen_vision_tower_stays_unchanged(tmp_path: Path) -> None:
    bundle = small_bundle()
    before = state(bundle)
    SFTTrainer(bundle, examples(4), tiny_cfg(steps=2, train_vision=False), tmp_path, progress=False).fit()
    after = state(bundle)
    vision = [k for k in before if ".visual." in f".{k}"]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in vision)


def test_resume_after_a_kill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    exs = examples(6)
    straight = small_bundle()
    SFTTrainer(straight, exs, tiny_cfg(), tmp_path / "a", progress=False).fit()

    def kill_at_3(step: int, loss: float) -> None:
        if step == 3:
            raise SimulatedKillError("simulated kill")

    killed = small_bundle()
    with pytest.raises(SimulatedKillError):
        SFTTrainer(killed, exs, tiny_cfg(), tmp_path / "b", progress=False, hooks=[kill_at_3]).fit()
    resumed = small_bundle()  # a fresh process: the initial weights, then the checkpoint of step 2
    result = SFTTrainer(resumed, exs, tiny_cfg(), tmp_path / "b", progress=False).fit()
    assert result["resumed_from"] == 2 and result["steps"] == 6
    want, got = state(straight), state(resumed)
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_max_time_stops_resumably(tmp_path: Path) -> None:
    bundle = small_bundle()
    result = SFTTrainer(bundle, examples(4), tiny_cfg(max_time_s=1e-6), tmp_path, progress=False).fit()
    assert result["stopped_by_time"] and result["steps"] == 1
    again = SFTTrainer(small_bundle(), examples(4), tiny_cfg(max_time_s=1e-6), tmp_path, progress=False)
    assert again.fit()["steps"] == 1  # the budget is spent: a rerun does not train further


def test_export_loads_back_with_the_trained_weights(tmp_path: Path) -> None:
    bundle = small_bundle()
    trainer = SFTTrainer(bundle, examples(4), tiny_cfg(steps=1), tmp_path / "work", progress=False)
    trainer.fit()
    path = trainer.export(tmp_path / "model")
    loaded = load_vlm(str(path))
    want, got = state(bundle), state(loaded)
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_lazy_and_concatenated_examples() -> None:
    rows = [{"q": "what colour is the circle ?", "a": "red"}, {"q": "how many ?", "a": "two"}]

    def to_example(r: dict) -> SFTExample:
        return SFTExample([{"role": "user", "content": r["q"]}], r["a"])

    lazy = LazyExamples(rows, to_example)
    both = ConcatExamples([lazy, LazyExamples(rows[:1], to_example)])
    assert len(both) == 3 and [e.target for e in both] == ["red", "two", "red"]
    assert both[2].target == "red"
    with pytest.raises(IndexError):
        both[3]
