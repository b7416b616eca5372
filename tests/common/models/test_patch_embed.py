"""The linear patch embedding (common/models/patch_embed.py) equals the Conv3d it replaces, for both
tiny VLM families, through training, checkpoints and the presets' flag."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
import transformers
from torch import nn

from common.models.builders import load_t2i, load_vlm, model_preset
from common.models.patch_embed import CONFIG_KEY, LinearPatchConv3d, set_linear_patch_embed
from common.models.tiny import VLM_CLASSES, build_tiny_vlm
from common.models.tiny_generators import build_tiny_editor
from common.models.vlm_bundle import VLMBundle
from tests.common.models.conftest import SMALL_IMAGE_MODEL, SMALL_VLM, random_image

ARCHS = ["qwen2_5_vl", "qwen3_vl"]
TOL = 1e-5


def _proj(model: nn.Module) -> nn.Conv3d:
    return model.model.visual.patch_embed.proj


def _training_batch(bundle: VLMBundle) -> dict[str, Any]:
    """Two chats with random 224-px images (the presets' pixel budget) and their answers as labels:
    ``pixel_values`` in the processor's real row layout, random values."""
    chats = [
        [
            {
                "role": "user",
                "content": [{"type": "image", "image": random_image(seed)}, {"type": "text", "text": q}],
            },
            {"role": "assistant", "content": a},
        ]
        for seed, q, a in [(0, "describe the image", "a red circle"), (1, "how many objects ?", "two")]
    ]
    batch = dict(bundle.encode_chat(chats, add_generation_prompt=False))
    batch["labels"] = batch["input_ids"].clone()
    return batch


def _forward_backward(
    model: nn.Module, batch: dict[str, Any]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits and every parameter's gradient of the LM loss on ``batch``."""
    model.zero_grad(set_to_none=True)
    out = model(**batch, use_cache=False)
    out.loss.backward()
    return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.fixture(scope="module", params=ARCHS)
def pair(request: pytest.FixtureRequest) -> tuple[VLMBundle, VLMBundle]:
    """The same small VLM (same seed) built with the Conv3d and with the linear patch embedding."""
    sizes = {**SMALL_VLM, "image_pixels": 224 * 224}
    conv = build_tiny_vlm(request.param, linear_patch_embed=False, **sizes)
    linear = build_tiny_vlm(request.param, linear_patch_embed=True, **sizes)
    return conv, linear


def test_the_flag_switches_only_the_patch_conv_and_keeps_the_parameters(pair) -> None:
    conv, linear = pair
    assert type(_proj(conv.model)) is nn.Conv3d and not hasattr(conv.model.config, CONFIG_KEY)
    assert type(_proj(linear.model)) is LinearPatchConv3d and getattr(linear.model.config, CONFIG_KEY) is True
    assert sum(isinstance(m, LinearPatchConv3d) for m in linear.model.modules()) == 1
    a, b = conv.model.state_dict(), linear.model.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def test_linear_patch_embedding_equals_the_conv3d_in_outputs_and_gradients(pair) -> None:
    conv, linear = pair
    batch = _training_batch(conv)
    pixels, grid = batch["pixel_values"], batch["image_grid_thw"]
    patch = conv.model.config.vision_config.patch_size
    # one (C, T, P, P) window per row, C = 3 channels, T = 2 frames
    assert pixels.shape == (int(grid.prod(-1).sum()), 3 * 2 * patch * patch)
    with torch.no_grad():
        embed_conv = conv.model.model.visual.patch_embed(pixels)
        embed_linear = linear.model.model.visual.patch_embed(pixels)
    assert embed_conv.shape == (pixels.shape[0], SMALL_VLM["vision_hidden_size"])
    assert (embed_conv - embed_linear).abs().max() < TOL
    logits_conv, grads_conv = _forward_backward(conv.model, batch)
    logits_linear, grads_linear = _forward_backward(linear.model, batch)
    assert (logits_conv - logits_linear).abs().max() < TOL
    assert set(grads_conv) == set(grads_linear) == {n for n, _ in conv.model.named_parameters()}
    worst = max((grads_conv[n] - grads_linear[n]).abs().max().item() for n in grads_conv)
    assert worst < TOL
    proj = "model.visual.patch_embed.proj.weight"
    assert grads_conv[proj].abs().max() > 1e-4  # the compared gradient is not trivially zero


def test_linear_conv3d_is_exact_in_float64_and_falls_back_off_one_window() -> None:
    gen = torch.Generator().manual_seed(0)
    conv = nn.Conv3d(3, 8, kernel_size=(2, 4, 4), stride=(2, 4, 4), bias=True).double()
    x = torch.randn(32, 3, 2, 4, 4, generator=gen, dtype=torch.float64)
    reference = conv(x)
    set_linear_patch_embed(conv, True)
    assert type(conv) is LinearPatchConv3d
    assert reference.shape == (32, 8, 1, 1, 1) and (conv(x) - reference).abs().max() < 1e-12
    wide = torch.randn(2, 3, 4, 8, 8, generator=gen, dtype=torch.float64)  # 2x2x2 windows: the convolution
    assert torch.equal(conv(wide), nn.functional.conv3d(wide, conv.weight, conv.bias, stride=conv.stride))
    with pytest.raises(ValueError, match="no patch-embedding Conv3d"):
        set_linear_patch_embed(nn.Conv3d(3, 8, kernel_size=3, padding=1), True)


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoints_keep_keys_and_outputs_and_load_in_the_real_class(arch: str, tmp_path) -> None:
    bundle = build_tiny_vlm(arch, **SMALL_VLM)  # the default: linear
    assert type(_proj(bundle.model)) is LinearPatchConv3d
    bundle.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())[CONFIG_KEY] is True
    batch = _training_batch(bundle)
    with torch.no_grad():
        reference = bundle.model(**batch).logits
    loaded = load_vlm(str(tmp_path))
    assert type(_proj(loaded.model)) is LinearPatchConv3d
    assert list(loaded.model.state_dict()) == list(bundle.model.state_dict())
    real = getattr(transformers, VLM_CLASSES[arch]).from_pretrained(tmp_path)  # the library alone: Conv3d
    assert type(_proj(real)) is nn.Conv3d
    assert list(real.state_dict()) == list(bundle.model.state_dict())
    forced = load_vlm(str(tmp_path), linear_patch_embed=False)
    assert type(_proj(forced.model)) is nn.Conv3d and getattr(forced.model.config, CONFIG_KEY) is False
    with torch.no_grad():
        assert torch.equal(loaded.model(**batch).logits, reference)
        assert (real(**batch).logits - reference).abs().max() < TOL


def test_presets_turn_it_on_at_tiny_scale_only_and_the_editor_keeps_it(tmp_path) -> None:
    for name in ("tiny_qwen2_5_vl", "tiny_qwen3_vl", "tiny_editor"):
        assert model_preset(name).linear_patch_embed is True
    for name in ("qwen2_5_vl_7b", "qwen3_vl_8b"):
        assert model_preset(name).linear_patch_embed is False
    editor = build_tiny_editor(**SMALL_IMAGE_MODEL)
    assert type(_proj(editor.text_encoder)) is LinearPatchConv3d
    editor.save_pretrained(tmp_path)
    assert type(_proj(load_t2i(str(tmp_path)).text_encoder)) is LinearPatchConv3d
