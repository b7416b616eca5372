"""The online flow-matching RL trainer (common.flow_rl.trainer) on small real models of each family:
updates move only the trained adapter, Flow-GRPO's ratio starts at 1, groups differ, outages are
survivable and a killed run resumes exactly."""

from __future__ import annotations

import itertools
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from common.flow_rl import FlowRLConfig, FlowRLTrainer, RewardBatch
from common.flow_rl.policy import OLD_ADAPTER, FlowPolicy
from common.flow_rl.rollout import dpm2_step, rollout
from common.flow_rl.trainer import fill_nan_rewards
from common.models.lora import LoRASettings
from common.models.tiny_generators import build_tiny_editor, build_tiny_flow_unet, build_tiny_sd3
from common.rewards.critic_client import CriticClient, CriticUnavailableError
from common.rl.flow_sde import sde_step_with_logprob
from common.run_checkpoints import latest_checkpoint

FAMILIES = {
    "flow_unet": lambda: build_tiny_flow_unet(
        block_out_channels=(16, 32), cross_attention_levels=1, attention_heads=2
    ),
    "sd3": lambda: build_tiny_sd3(num_layers=2),
    "qwen_image_edit": lambda: build_tiny_editor(num_layers=2),
}
LORA = LoRASettings(r=4, alpha=8)


@dataclass(frozen=True)
class Item:
    prompt: str
    source_image: Any = None


def items_for(bundle: Any, n: int, offset: int = 0) -> list[Item]:
    words = ["a red circle", "two blue squares", "a green cross", "a yellow triangle", "a black star"]
    source = Image.new("RGB", (bundle.spec.resolution,) * 2, (120, 30, 200)) if bundle.is_editor else None
    return [Item(words[(i + offset) % len(words)], source) for i in range(n)]


def brightness_reward(items: Any, images: Any) -> RewardBatch:
    """A deterministic reward with spread inside every group: the mean pixel value."""
    r = np.array([np.asarray(im, dtype=np.float64).mean() / 255.0 for im in images])
    return RewardBatch(r, {"instruction": 1.0 + 4.0 * r})


def small_cfg(**kw: Any) -> FlowRLConfig:
    base = dict(
        steps=1,
        prompts_per_iteration=2,
        group_size=3,
        sample_steps=3,
        sample_chunks=2,
        train_batch=4,
        lr=1e-2,
        lora={"r": 4, "alpha": 8},
        timesteps_per_sample=1,
        checkpoint_every=0,
    )
    return FlowRLConfig(**{**base, **kw})


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("algorithm", ["diffusion_nft", "flow_grpo"])
def test_one_step_moves_the_trained_adapter_only(family: str, algorithm: str) -> None:
    torch.manual_seed(0)
    bundle = FAMILIES[family]()
    policy = FlowPolicy(bundle, LORA)
    cfg = small_cfg(algorithm=algorithm, clip_range=0.2)
    text_before = snapshot(bundle.text_encoder)
    before = snapshot(bundle.transformer)
    trainer = FlowRLTrainer(
        policy, cfg, lambda step: items_for(bundle, 2, step), brightness_reward, progress=False
    )
    metrics = trainer.train_step(0)
    after = snapshot(bundle.transformer)
    moved = changed(before, after)
    current = {k for k in before if "lora_" in k and f".{OLD_ADAPTER}." not in k}
    old = {k for k in before if "lora_" in k and f".{OLD_ADAPTER}." in k}
    assert moved, "no parameter moved"
    assert moved <= current | old, f"frozen weights moved: {sorted(moved - current - old)[:3]}"
    assert moved & {k for k in current if "lora_B" in k}, "the trained adapter's B matrices did not move"
    assert not changed(text_before, snapshot(bundle.text_encoder))
    # FIRM's decay at step 0 is 0: the old policy takes the new weights exactly
    params = dict(bundle.transformer.named_parameters())
    for k in current:
        assert torch.equal(params[k], params[k.replace(".default.", f".{OLD_ADAPTER}.")])
    assert np.isfinite(metrics["loss"]) and metrics["reward_std"] > 0


def test_flow_grpo_ratio_is_one_before_the_first_update_and_logprobs_recompute() -> None:
    torch.manual_seed(0)
    bundle = FAMILIES["sd3"]()
    policy = FlowPolicy(bundle, LORA)
    ro = rollout(
        policy,
        ["a red circle", "a blue square"],
        group_size=2,
        num_steps=4,
        sampler="sde",
        generator=torch.Generator().manual_seed(3),
    )
    assert ro.states is not None and ro.log_probs is not None
    for j in range(4):
        s, s_next = float(ro.sigmas[j]), float(ro.sigmas[j + 1])
        v = policy.velocity(ro.states[j], s, ro.cond)
        again = sde_step_with_logprob(ro.states[j], v, s, s_next, 0.7, prev_sample=ro.states[j + 1])
        assert torch.equal(again.log_prob, ro.log_probs[j])  # ratio exp(0) = 1 exactly
        assert torch.equal(torch.exp(again.log_prob - ro.log_probs[j]), torch.ones(4))


@pytest.mark.parametrize("sampler", ["dpm2", "euler", "sde"])
def test_samples_of_a_group_differ(sampler: str) -> None:
    bundle = FAMILIES["flow_unet"]()
    policy = FlowPolicy(bundle, LORA)
    ro = rollout(
        policy,
        ["a red circle"],
        group_size=4,
        num_steps=3,
        sampler=sampler,
        generator=torch.Generator().manual_seed(0),
    )
    x = ro.x0.flatten(1)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.allclose(x[i], x[j])
    again = rollout(
        policy,
        ["a red circle"],
        group_size=4,
        num_steps=3,
        sampler=sampler,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(ro.x0, again.x0)  # seeded: reproducible


def test_dpm2_is_exact_on_a_straight_flow() -> None:
    """When the model's x0 prediction is constant (a straight path), every step lands on the path."""
    x0, noise = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    sigmas = [1.0, 0.7, 0.4, 0.1, 0.0]
    x, prev = noise.clone(), None
    for s, s_next in itertools.pairwise(sigmas):
        v = noise - x0  # the true velocity of x_t = (1 - t) x0 + t noise
        x, prev = dpm2_step(x, v, s, s_next, prev)
        assert torch.allclose(x, (1 - s_next) * x0 + s_next * noise, atol=1e-5)


def test_nan_rewards_take_their_group_mean() -> None:
    r, n = fill_nan_rewards(np.array([0.2, np.nan, 0.4, np.nan, np.nan, np.nan]), 3)
    assert n == 4
    np.testing.assert_allclose(r, [0.2, 0.3, 0.4, 0.0, 0.0, 0.0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_critic_outage_retries_then_fails_clearly_keeping_finished_steps(tmp_path: Path) -> None:
    bundle = FAMILIES["flow_unet"]()
    policy = FlowPolicy(bundle, LORA)
    client = CriticClient(
        f"http://127.0.0.1:{_free_port()}", retries=2, backoff=0.05, backoff_max=0.1, deadline=5.0
    )
    calls: list[float] = []

    def reward(items: Any, images: Any) -> RewardBatch:
        if len(calls) >= 4:  # two finished steps (two chunks each), then the server is gone
            t0 = time.perf_counter()
            try:
                client.score("instruction", images, [it.prompt for it in items])
            finally:
                calls.append(time.perf_counter() - t0)
        calls.append(0.0)
        return brightness_reward(items, images)

    trainer = FlowRLTrainer(
        policy,
        small_cfg(steps=5),
        lambda s: items_for(bundle, 2, s),
        reward,
        checkpoint_root=tmp_path / "ckpt",
        progress=False,
    )
    with pytest.raises(CriticUnavailableError, match="rerun the same command to resume") as info:
        trainer.fit()
    assert isinstance(info.value.__cause__, CriticUnavailableError)
    assert "127.0.0.1" in str(info.value)
    last = latest_checkpoint(tmp_path / "ckpt")
    assert last is not None and last.name == "step_00000002"


def test_a_killed_run_resumes_exactly(tmp_path: Path) -> None:
    def run(steps: int, root: Path, seen: list[int]) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        bundle = FAMILIES["flow_unet"]()
        policy = FlowPolicy(bundle, LORA)

        def batch(step: int) -> list[Item]:
            seen.append(step)
            return items_for(bundle, 2, step)

        trainer = FlowRLTrainer(
            policy,
            small_cfg(steps=steps, checkpoint_every=1),
            batch,
            brightness_reward,
            checkpoint_root=root,
            progress=False,
        )
        trainer.fit()
        return snapshot(bundle.transformer)

    straight_seen: list[int] = []
    straight = run(3, tmp_path / "a", straight_seen)
    first_seen: list[int] = []
    run(2, tmp_path / "b", first_seen)  # "killed" after two steps (their checkpoints are written)
    resumed_seen: list[int] = []
    resumed = run(3, tmp_path / "b", resumed_seen)
    assert straight_seen == [0, 1, 2] and first_seen == [0, 1] and resumed_seen == [2]
    assert not changed(straight, resumed)


def test_invalid_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        FlowRLConfig(group_size=1)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        FlowRLConfig(algorithm="ppo")
    with pytest.raises(ValueError, match="multiple of sample_chunks"):
        FlowRLConfig(prompts_per_iteration=3, sample_chunks=2)
