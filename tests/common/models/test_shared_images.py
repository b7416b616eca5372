"""One vision pass per distinct image: the same log-probs and gradients as encoding every copy."""

from __future__ import annotations

import torch

from common.models.shared_images import dedup_images, vision_tower
from common.models.vlm_bundle import VLMBundle
from common.models.vlm_sampling import expand_batch, sequence_logprobs
from tests.common.models.conftest import chats


def test_dedup_finds_exact_repeats_only() -> None:
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    near_a = a.clone()
    near_a[0, 0] += 1e-3
    grid = torch.tensor([[1, 2, 2]] * 5)
    d = dedup_images(torch.cat([a, a, b, near_a, b]), grid, merge=2)
    assert d.keep == [0, 2, 3] and d.source == [0, 0, 1, 2, 1]
    assert d.row_index(per_patch=False, device=torch.device("cpu")).tolist() == [0, 0, 1, 2, 1]
    assert d.row_index(per_patch=True, device=torch.device("cpu")).tolist() == (
        [0, 1, 2, 3] * 2 + [4, 5, 6, 7] + [8, 9, 10, 11] + [4, 5, 6, 7]
    )


def _patches_seen(model: torch.nn.Module, run) -> int:
    seen: list[int] = []
    tower = vision_tower(model)
    assert tower is not None
    handle = tower.patch_embed.register_forward_pre_hook(lambda m, args: seen.append(int(args[0].shape[0])))
    try:
        run()
    finally:
        handle.remove()
    return sum(seen)


def test_shared_forward_and_backward_equal_per_copy(small_vlm: VLMBundle, images) -> None:
    """A GRPO-style batch (3 prompts x 4 copies): same log-probs, same gradients, 4x fewer patches."""
    model = small_vlm.model
    batch = expand_batch(small_vlm.encode_chat(chats(images)), 4)
    words = small_vlm.tokenizer.convert_tokens_to_ids(["a", "red", "circle", "at", "the", "top"])
    completion = torch.tensor(words).roll(1).repeat(batch["input_ids"].shape[0], 1)
    completion[::2] = torch.tensor(words)
    mask = torch.ones_like(completion)
    mask[:, -2:] = 0

    def run(shared: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        lp = _logprobs(model, batch, completion, mask, shared)
        lp.sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        return lp.detach(), grads

    shared_lp, shared_grads = run(True)
    plain_lp, plain_grads = run(False)
    assert torch.allclose(shared_lp, plain_lp, atol=1e-5, rtol=0)
    vision_names = [n for n in plain_grads if "visual" in n]
    assert vision_names and set(shared_grads) == set(plain_grads)
    for name, g in plain_grads.items():
        assert torch.allclose(shared_grads[name], g, atol=1e-5, rtol=1e-4), name

    with torch.no_grad():
        n_shared = _patches_seen(model, lambda: _logprobs(model, batch, completion, mask, True))
        n_plain = _patches_seen(model, lambda: _logprobs(model, batch, completion, mask, False))
    assert n_plain == int(batch["image_grid_thw"].prod(-1).sum()) and n_shared * 4 == n_plain


def _logprobs(model, batch, completion, mask, shared: bool) -> torch.Tensor:
    return sequence_logprobs(model, batch, completion, mask, share_images=shared)
