"""LoRA through peft on both families: targets, trainable parameters, disabling, saving."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from common.models.builders import load_t2i, load_vlm
from common.models.lora import (
    IMAGE_TRANSFORMER_TARGETS,
    UNET_TARGETS,
    LoRASettings,
    adapters_disabled,
    add_lora,
    count_trainable,
    has_lora,
    load_lora,
    lora_parameters,
    save_lora,
)
from common.models.t2i import T2IBundle
from common.models.tiny import build_tiny_vlm
from common.models.tiny_generators import build_tiny_editor, build_tiny_flow_unet, build_tiny_sd3
from tests.common.models.conftest import SMALL_IMAGE_MODEL, SMALL_VLM


def _perturb(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in lora_parameters(model):
            p.normal_(std=0.05)


def _adapted(model: torch.nn.Module) -> set[str]:
    return {n.split(".lora_")[0] for n, _ in model.named_parameters() if ".lora_" in n}


def _velocity(bundle: T2IBundle, images) -> torch.Tensor:
    sources = images[:1] if bundle.is_editor else None
    with torch.no_grad():
        cond = bundle.encode_prompt(["make the red circle blue"], sources)
        x = torch.randn(bundle.latent_shape(1), generator=torch.Generator().manual_seed(0))
        return bundle.velocity(x, 0.6, cond)


def _small_unet(**kwargs: Any) -> T2IBundle:
    small = {"block_out_channels": (16, 32), "cross_attention_levels": 1, "attention_heads": 2}
    return build_tiny_flow_unet(**small, **kwargs)


@pytest.mark.parametrize(
    ("builder", "targets"),
    [
        (lambda: build_tiny_sd3(**SMALL_IMAGE_MODEL), IMAGE_TRANSFORMER_TARGETS),
        (lambda: build_tiny_editor(**SMALL_IMAGE_MODEL), IMAGE_TRANSFORMER_TARGETS),
        (_small_unet, UNET_TARGETS),
        (lambda: _small_unet(editor=True), UNET_TARGETS),
    ],
    ids=["sd3", "editor", "unet", "unet_editor"],
)
def test_image_lora_has_firm_settings_and_only_lora_trains(builder, targets, images) -> None:
    bundle = builder()
    base = _velocity(bundle, images)
    add_lora(bundle.transformer)
    config = bundle.transformer.peft_config["default"]
    assert (config.r, config.lora_alpha, config.init_lora_weights) == (32, 64, "gaussian")
    adapted = _adapted(bundle.transformer)
    suffixes = {name.split("transformer_blocks.")[1].split(".", 1)[1] for name in adapted}
    assert suffixes == set(targets)
    assert all(".attn" in name for name in adapted)
    trainable = {n for n, p in bundle.transformer.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n for n in trainable)
    n_trainable, total = count_trainable(bundle.transformer)
    assert (
        n_trainable == sum(p.numel() for p in lora_parameters(bundle.transformer)) and 0 < n_trainable < total
    )
    assert torch.equal(_velocity(bundle, images), base)  # gaussian init: B = 0, output unchanged
    _perturb(bundle.transformer)
    assert not torch.allclose(_velocity(bundle, images), base)
    with adapters_disabled(bundle.transformer):
        assert torch.equal(_velocity(bundle, images), base)
    assert not torch.allclose(_velocity(bundle, images), base)  # re-enabled after the block


def test_vlm_lora_targets_the_language_model_by_default(images) -> None:
    bundle = build_tiny_vlm("qwen3_vl", **SMALL_VLM)
    batch = bundle.encode_chat(
        [
            [
                {
                    "role": "user",
                    "content": [{"type": "image", "image": images[0]}, {"type": "text", "text": "rate"}],
                }
            ]
        ]
    )
    with torch.no_grad():
        base = bundle.model(**batch).logits
    add_lora(bundle.model, LoRASettings(r=8, alpha=16))
    adapted = _adapted(bundle.model)
    assert adapted and all(".language_model." in n for n in adapted)
    assert {n.rsplit(".", 1)[1] for n in adapted} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    with_mlp = build_tiny_vlm("qwen2_5_vl", **SMALL_VLM)
    add_lora(with_mlp.model, include_mlp=True, adapt_vision=True, r=4)
    names = {n.rsplit(".", 1)[1] for n in _adapted(with_mlp.model)}
    assert {"gate_proj", "up_proj", "down_proj"} <= names
    assert any(".visual." in n for n in _adapted(with_mlp.model))
    _perturb(bundle.model)
    with torch.no_grad():
        assert not torch.allclose(bundle.model(**batch).logits, base)
        with adapters_disabled(bundle.model):
            assert torch.equal(bundle.model(**batch).logits, base)
    assert all(not p.requires_grad for n, p in bundle.model.named_parameters() if ".lora_" not in n)


def test_save_and_load_lora_and_lora_bundles(images, tmp_path) -> None:
    bundle = build_tiny_sd3(**SMALL_IMAGE_MODEL)
    base = _velocity(bundle, images)
    add_lora(bundle.transformer)
    _perturb(bundle.transformer)
    tuned = _velocity(bundle, images)
    save_lora(bundle.transformer, tmp_path / "adapter")
    fresh = build_tiny_sd3(**SMALL_IMAGE_MODEL)
    load_lora(fresh.transformer, tmp_path / "adapter")
    assert torch.equal(_velocity(fresh, images), tuned)
    bundle.save_pretrained(tmp_path / "bundle")
    assert (tmp_path / "bundle" / "adapters" / "transformer" / "adapter_config.json").is_file()
    loaded = load_t2i(str(tmp_path / "bundle"))
    assert has_lora(loaded.transformer)
    assert torch.equal(_velocity(loaded, images), tuned)
    with adapters_disabled(loaded.transformer):
        assert torch.equal(_velocity(loaded, images), base)

    vlm = build_tiny_vlm("qwen2_5_vl", **SMALL_VLM)
    add_lora(vlm.model, r=4)
    _perturb(vlm.model)
    vlm.save_pretrained(tmp_path / "vlm")
    again = load_vlm(str(tmp_path / "vlm"))
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.equal(again.model(input_ids=ids).logits, vlm.model(input_ids=ids).logits)
    assert count_trainable(again.model) == count_trainable(vlm.model)
