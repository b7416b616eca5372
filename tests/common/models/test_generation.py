"""Sampling: rollout log-probs equal teacher-forced log-probs; the image sampler is reproducible."""

from __future__ import annotations

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from common.models.image_sampling import TrajectoryRecorder, sample_images
from common.models.lora import add_lora, lora_parameters
from common.models.t2i import T2IBundle
from common.models.tiny import build_tiny_vlm
from common.models.vlm_bundle import VLMBundle
from common.models.vlm_sampling import (
    completion_mask_from_ids,
    expand_batch,
    images_per_row,
    sample_vlm,
    sequence_logprobs,
)
from tests.common.models.conftest import SMALL_VLM, chats

ATOL = 1e-5


def test_prompt_batch_is_left_padded_with_images(small_vlm: VLMBundle, images) -> None:
    batch = small_vlm.encode_chat(chats(images))
    assert images_per_row(batch["mm_token_type_ids"]) == [1, 2, 0]
    assert (batch["attention_mask"][:, 0] == 0).any()  # left padding is exercised
    assert batch["image_grid_thw"].shape == (3, 3)


def test_expand_batch_equals_encoding_repeated_prompts(small_vlm: VLMBundle, images) -> None:
    conversations = chats(images)
    expanded = expand_batch(small_vlm.encode_chat(conversations), 3)
    repeated = small_vlm.encode_chat([c for c in conversations for _ in range(3)])
    assert set(expanded) == set(repeated)
    assert all(torch.equal(expanded[k], repeated[k]) for k in repeated)


@pytest.mark.parametrize("temperature", [0.7, 1.0])
def test_rollout_logprobs_equal_teacher_forced_logprobs(
    small_vlm: VLMBundle, images, temperature: float
) -> None:
    batch = small_vlm.encode_chat(chats(images))
    rollout = sample_vlm(
        small_vlm,
        batch,
        temperature=temperature,
        top_p=0.95,
        max_new_tokens=10,
        num_return_sequences=3,
        seed=0,
    )
    assert rollout.completion_ids.shape[0] == len(rollout) == 9
    assert rollout.group.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert rollout.temperature == temperature and len(rollout.texts) == 9
    with torch.no_grad():
        teacher = sequence_logprobs(
            small_vlm.model,
            rollout.prompt_batch,
            rollout.completion_ids,
            rollout.completion_mask,
            temperature,
        )
    mask = rollout.completion_mask.bool()
    assert mask[:, 0].all() and (rollout.logprobs[mask] < 0).all()
    assert torch.allclose(teacher, rollout.logprobs, atol=ATOL, rtol=0)
    # The equality is not trivial: another temperature gives other numbers.
    with torch.no_grad():
        other = sequence_logprobs(
            small_vlm.model,
            rollout.prompt_batch,
            rollout.completion_ids,
            rollout.completion_mask,
            temperature * 2,
        )
    assert not torch.allclose(other, rollout.logprobs, atol=1e-3)


def test_sampling_is_seeded_and_greedy_is_deterministic(small_vlm: VLMBundle, images) -> None:
    batch = small_vlm.encode_chat(chats(images)[:2])
    a = sample_vlm(small_vlm, batch, temperature=1.0, max_new_tokens=6, num_return_sequences=2, seed=7)
    b = sample_vlm(small_vlm, batch, temperature=1.0, max_new_tokens=6, num_return_sequences=2, seed=7)
    assert torch.equal(a.completion_ids, b.completion_ids)
    g1 = sample_vlm(small_vlm, batch, temperature=0.0, max_new_tokens=6, num_return_sequences=2)
    assert torch.equal(g1.completion_ids[0], g1.completion_ids[1])
    with torch.no_grad():
        teacher = sequence_logprobs(
            small_vlm.model, g1.prompt_batch, g1.completion_ids, g1.completion_mask, 1.0
        )
    assert torch.allclose(teacher, g1.logprobs, atol=ATOL, rtol=0)


def test_top_logprobs_are_the_modes_of_the_sampled_distribution(small_vlm: VLMBundle, images) -> None:
    batch = small_vlm.encode_chat(chats(images)[:2])
    greedy = sample_vlm(small_vlm, batch, temperature=0.0, max_new_tokens=6, top_logprobs=4)
    assert greedy.top_ids is not None and greedy.top_logprobs is not None
    assert greedy.top_ids.shape == (*greedy.completion_ids.shape, 4)
    mask = greedy.completion_mask.bool()
    assert torch.equal(greedy.top_ids[..., 0][mask], greedy.completion_ids[mask])  # greedy picks the mode
    assert torch.allclose(greedy.top_logprobs[..., 0][mask], greedy.logprobs[mask], atol=ATOL)
    assert (greedy.top_logprobs.diff(dim=-1) <= 0).all()
    hot = sample_vlm(small_vlm, batch, temperature=0.5, max_new_tokens=6, top_logprobs=2, seed=1)
    assert hot.top_logprobs is not None  # at temperature t the alternatives are of the tempered distribution
    assert (
        hot.logprobs[hot.completion_mask.bool()]
        <= hot.top_logprobs[..., 0][hot.completion_mask.bool()] + ATOL
    ).all()
    assert sample_vlm(small_vlm, batch, temperature=0.0, max_new_tokens=2).top_ids is None


def test_logprobs_match_with_lora_and_gradients_flow(images) -> None:
    bundle = build_tiny_vlm("qwen2_5_vl", **SMALL_VLM)
    add_lora(bundle.model, r=4, alpha=8)
    with torch.no_grad():
        for p in lora_parameters(bundle.model):
            p.normal_(std=0.05)
    batch = bundle.encode_chat(chats(images)[:2])
    rollout = sample_vlm(bundle, batch, temperature=1.0, max_new_tokens=8, num_return_sequences=2, seed=1)
    logprobs, entropy = sequence_logprobs(
        bundle.model,
        rollout.prompt_batch,
        rollout.completion_ids,
        rollout.completion_mask,
        1.0,
        return_entropy=True,
    )
    assert torch.allclose(logprobs.detach(), rollout.logprobs, atol=ATOL, rtol=0)
    assert (entropy[rollout.completion_mask.bool()] > 0).all()
    logprobs.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_parameters(bundle.model))


def test_completion_mask_stops_after_the_first_end_token() -> None:
    ids = torch.tensor([[5, 6, 3, 1, 1], [5, 6, 7, 8, 9], [3, 1, 1, 1, 1]])
    mask, finished = completion_mask_from_ids(ids, [3, 1])
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert finished.tolist() == [True, False, True]


def test_image_sampler_is_deterministic_and_records_the_trajectory(small_sd3: T2IBundle) -> None:
    prompts = ["a red circle", "two blue squares"]
    seen: list[int] = []
    a = sample_images(
        small_sd3,
        prompts,
        num_steps=4,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
        record_trajectory=True,
        callback=lambda step, *_: seen.append(step),
    )
    b = sample_images(
        small_sd3, prompts, num_steps=4, guidance_scale=3.0, generator=torch.Generator().manual_seed(0)
    )
    c = sample_images(
        small_sd3, prompts, num_steps=4, guidance_scale=3.0, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.x0, b.x0) and not torch.equal(a.x0, c.x0)
    assert a.images.shape == (2, 3, 32, 32) and a.images.min() >= 0 and a.images.max() <= 1
    assert len(a.pil) == 2 and a.pil[0].size == (32, 32)
    assert seen == [0, 1, 2, 3] and a.trajectory is not None and len(a.trajectory) == 4
    sigmas = [s.sigma for s in a.trajectory]
    assert sigmas[0] == 1.0 and sigmas == sorted(sigmas, reverse=True) and a.trajectory[-1].sigma_next == 0.0
    assert torch.equal(a.trajectory[0].x_t, a.noise)
    # The Euler loop is the scheduler's own step, with timestep = sigma * 1000.
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0)
    scheduler.set_timesteps(4)
    x = a.noise.clone()
    for step, t in zip(a.trajectory, scheduler.timesteps, strict=True):
        assert abs(float(t) - step.sigma * 1000) < 1e-3
        x = scheduler.step(step.v, t, x).prev_sample
    assert torch.allclose(x, a.x0, atol=1e-6)
    no_cfg = sample_images(small_sd3, prompts, num_steps=4, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(no_cfg.x0, a.x0)


def test_image_sampler_for_the_editor_groups_and_custom_step(small_editor: T2IBundle, images) -> None:
    recorder = TrajectoryRecorder(to_cpu=True)
    calls: list[float] = []

    def halfway(x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
        calls.append(sigma)
        return x + (sigma_next - sigma) * v

    out = sample_images(
        small_editor,
        ["make the circle blue", "remove the star"],
        source_images=images[:2],
        num_steps=3,
        guidance_scale=2.0,
        num_images_per_prompt=2,
        generator=torch.Generator().manual_seed(0),
        callback=recorder,
        step_fn=halfway,
    )
    assert out.images.shape == (4, 3, 32, 32) and len(recorder.steps) == 3 and len(calls) == 3
    cond = small_editor.encode_prompt(["make the circle blue"], images[:1])
    again = sample_images(small_editor, cond=cond, num_steps=3, noise=out.noise[:1])
    assert again.x0.shape == (1, 3, 32, 32)


def test_a_step_hook_may_run_other_generations_without_changing_this_one(
    small_vlm: VLMBundle, images
) -> None:
    """The reward server answers short requests between a long generation's decode steps."""
    long_batch = small_vlm.encode_chat(chats(images)[:1])  # one image: Qwen-VL keeps rope_deltas for it
    other = small_vlm.encode_chat(chats(images)[1:2])  # two images: different rope_deltas
    plain = sample_vlm(small_vlm, long_batch, temperature=1.0, max_new_tokens=8, seed=3)
    inner: list[list[str]] = []

    def hook() -> None:
        if len(inner) < 3:  # a nested greedy generation at the first few steps
            inner.append(sample_vlm(small_vlm, other, temperature=0.0, max_new_tokens=2).texts)

    hooked = sample_vlm(small_vlm, long_batch, temperature=1.0, max_new_tokens=8, seed=3, step_hook=hook)
    assert len(inner) == 3 and inner[0] == inner[1] == inner[2]
    assert torch.equal(hooked.completion_ids, plain.completion_ids)
    assert torch.allclose(hooked.logprobs, plain.logprobs, atol=1e-5)
