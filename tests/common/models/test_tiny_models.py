"""Tiny models of the real classes: build, forward + backward, save / from_pretrained round trips."""

from __future__ import annotations

import json
import os

import pytest
import torch
from diffusers import (
    AutoencoderKL,
    FlowMatchEulerDiscreteScheduler,
    QwenImageTransformer2DModel,
    SD3Transformer2DModel,
)
from transformers import (
    CLIPTextModelWithProjection,
    Qwen2_5_VLForConditionalGeneration,
    Qwen3VLForConditionalGeneration,
)

from common.models.builders import load_model, load_t2i, load_vlm
from common.models.hub import ModelNotAvailableError, resolve_file
from common.models.t2i import Conditioning, T2IBundle, T2ISpec, pack_patches, unpack_patches
from common.models.tiny import build_tiny_vlm, count_parameters
from common.models.tiny_generators import build_tiny_editor, build_tiny_sd3
from common.models.vlm_bundle import VLMBundle
from tests.common.models.conftest import SMALL_IMAGE_MODEL, SMALL_VLM, chats

VLM_CLASSES = {"qwen2_5_vl": Qwen2_5_VLForConditionalGeneration, "qwen3_vl": Qwen3VLForConditionalGeneration}


@pytest.mark.parametrize(("arch", "low", "high"), [("qwen2_5_vl", 3.0e6, 4.0e6), ("qwen3_vl", 3.3e6, 4.3e6)])
def test_default_tiny_vlm_is_the_real_class_at_the_documented_size(
    arch: str, low: float, high: float
) -> None:
    bundle = build_tiny_vlm(arch)
    assert type(bundle.model) is VLM_CLASSES[arch]
    assert bundle.arch == arch
    assert low < count_parameters(bundle.model) < high
    config = bundle.model.config
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    assert sum(config.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    assert config.image_token_id == bundle.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.text_config.vocab_size == len(bundle.tokenizer)


def test_default_tiny_image_models_are_the_real_classes() -> None:
    sd3 = build_tiny_sd3()
    assert isinstance(sd3.transformer, SD3Transformer2DModel)
    assert isinstance(sd3.text_encoder, CLIPTextModelWithProjection)
    assert isinstance(sd3.scheduler, FlowMatchEulerDiscreteScheduler) and sd3.scheduler.config.shift == 1.0
    assert sd3.vae is None and sd3.latent_shape(2) == (2, 3, 32, 32)
    assert 2.2e6 < count_parameters(sd3.transformer) < 2.4e6
    editor = build_tiny_editor()
    assert isinstance(editor.transformer, QwenImageTransformer2DModel)
    assert isinstance(editor.text_encoder, Qwen2_5_VLForConditionalGeneration)
    assert editor.is_editor and not sd3.is_editor
    latent = build_tiny_sd3(latent=True, resolution=64, patch_size=2, **SMALL_IMAGE_MODEL)
    assert isinstance(latent.vae, AutoencoderKL) and latent.latent_shape(1) == (1, 4, 16, 16)


def test_builders_are_deterministic_in_the_seed() -> None:
    a, b = build_tiny_vlm("qwen3_vl", seed=3, **SMALL_VLM), build_tiny_vlm("qwen3_vl", seed=3, **SMALL_VLM)
    c = build_tiny_vlm("qwen3_vl", seed=4, **SMALL_VLM)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_vlm_forward_and_backward_reach_every_parameter(small_vlm: VLMBundle, images) -> None:
    conversation = [
        *chats(images)[0],
        {"role": "assistant", "content": "<think> a red circle </think> <answer> 7 </answer>"},
    ]
    batch = small_vlm.encode_chat([conversation], add_generation_prompt=False)
    model = small_vlm.model
    model.zero_grad()
    out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape == (*batch["input_ids"].shape, len(small_vlm.tokenizer))
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    model.zero_grad(set_to_none=True)


def _text_stream_of_last_block(name: str, n_layers: int) -> bool:
    # In the last joint block the text stream's output is discarded: no gradient reaches it.
    last = f"transformer_blocks.{n_layers - 1}."
    parts = ("add_q_proj", "to_add_out", "norm_added_q", "txt_mlp", "ff_context", "norm2_context")
    return name.startswith(last) and any(p in name for p in parts)


@pytest.mark.parametrize("which", ["small_sd3", "small_editor", "small_unet", "small_unet_editor"])
def test_image_model_forward_and_backward(which: str, request, images) -> None:
    bundle: T2IBundle = request.getfixturevalue(which)
    prompts = ["make the red circle blue", "remove the green star"]
    sources = images[:2] if bundle.is_editor else None
    for module in bundle.modules().values():
        module.zero_grad(set_to_none=True)
    cond = bundle.encode_prompt(prompts, sources)
    x = torch.randn(bundle.latent_shape(2), generator=torch.Generator().manual_seed(0))
    v = bundle.velocity(x, torch.tensor([0.3, 0.8]), cond)
    assert v.shape == x.shape
    v.pow(2).mean().backward()
    n_layers = bundle.transformer.config.get("num_layers", 0)
    for name, module in (("transformer", bundle.transformer), ("text_encoder", bundle.text_encoder)):
        missing = [
            n
            for n, p in module.named_parameters()
            if (p.grad is None or not p.grad.abs().sum() > 0) and not _text_stream_of_last_block(n, n_layers)
        ]
        assert missing == [], f"{name}: no gradient for {missing}"
    for module in bundle.modules().values():
        module.zero_grad(set_to_none=True)


@pytest.mark.parametrize("which", ["small_editor", "small_unet_editor"])
def test_editor_conditioning_uses_the_source_image(which: str, request, images) -> None:
    editor: T2IBundle = request.getfixturevalue(which)
    assert editor.is_editor
    with torch.no_grad():
        a = editor.encode_prompt(["make the circle blue"], [images[0]])
        b = editor.encode_prompt(["make the circle blue"], [images[1]])
        assert a.source is not None and a.source.shape == (1, 3, 32, 32)
        if a.mask is not None:
            assert a.embeds.shape[:2] == a.mask.shape
        x = torch.randn(editor.latent_shape(1))
        assert not torch.allclose(editor.velocity(x, 0.5, a), editor.velocity(x, 0.5, b))
    with pytest.raises(ValueError, match="needs source images"):
        editor.encode_prompt(["make the circle blue"], None)


def test_pack_patches_round_trip_and_conditioning_cat() -> None:
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(unpack_patches(pack_patches(x, 4), 32, 32, 4), x)
    assert pack_patches(x, 4).shape == (2, 64, 48)
    a = Conditioning(embeds=torch.randn(2, 5, 8), mask=torch.ones(2, 5, dtype=torch.long))
    b = Conditioning(embeds=torch.randn(1, 3, 8), mask=torch.ones(1, 3, dtype=torch.long))
    both = Conditioning.cat([a, b])
    assert both.embeds.shape == (3, 5, 8) and both.mask[2].tolist() == [1, 1, 1, 0, 0]
    assert len(both.repeat_interleave(2)) == 6 and len(both.select([0])) == 1


def test_vlm_round_trip_through_load_vlm(small_vlm: VLMBundle, images, tmp_path) -> None:
    small_vlm.save_pretrained(tmp_path)
    loaded = load_vlm(str(tmp_path))
    assert type(loaded.model) is type(small_vlm.model) and type(loaded.processor) is type(small_vlm.processor)
    conversations = chats(images)
    a, b = small_vlm.encode_chat(conversations), loaded.encode_chat(conversations)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        assert torch.equal(small_vlm.model(**a).logits, loaded.model(**b).logits)
    assert loaded.model.generation_config.eos_token_id == small_vlm.model.generation_config.eos_token_id
    assert isinstance(load_model(str(tmp_path)), VLMBundle)


@pytest.mark.parametrize(
    "which", ["small_sd3", "small_editor", "latent_sd3", "small_unet", "small_unet_editor"]
)
def test_t2i_round_trip_through_load_t2i(which: str, request, images, tmp_path) -> None:
    if which == "latent_sd3":
        bundle = build_tiny_sd3(latent=True, resolution=64, patch_size=2, **SMALL_IMAGE_MODEL)
    else:
        bundle = request.getfixturevalue(which)
    bundle.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == bundle.family.pipeline_class
    loaded = load_t2i(str(tmp_path))
    assert loaded.spec == bundle.spec
    assert {k: type(v) for k, v in loaded.modules().items()} == {
        k: type(v) for k, v in bundle.modules().items()
    }
    sources = images[:1] if bundle.is_editor else None
    x = torch.randn(bundle.latent_shape(1), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        va = bundle.velocity(x, 0.4, bundle.encode_prompt(["a red circle"], sources))
        vb = loaded.velocity(x, 0.4, loaded.encode_prompt(["a red circle"], sources))
        # equal weights; kernels may differ by an ulp between the two tensors' memory layouts
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6)
        if bundle.vae is not None:
            assert torch.equal(bundle.encode_images(images[:1]), loaded.encode_images(images[:1]))
    assert isinstance(load_model(str(tmp_path)), T2IBundle)


def test_x_prediction_velocity_is_derived_from_the_predicted_sample(small_sd3: T2IBundle, tmp_path) -> None:
    """``prediction="sample"``: the transformer's output is x0_hat and ``velocity`` returns
    ``(x_t - x0_hat) / max(sigma, 0.05)``; the choice survives a save / load round trip."""
    bundle = build_tiny_sd3(prediction="sample", **SMALL_IMAGE_MODEL)
    assert bundle.spec.prediction == "sample" and small_sd3.spec.prediction == "velocity"
    x = torch.randn(bundle.latent_shape(3), generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.8, 0.3, 0.01])
    with torch.no_grad():
        cond = bundle.encode_prompt(["a red circle"] * 3)
        raw = bundle.family.velocity(bundle, x, sigma, cond)  # the transformer's own output
        v = bundle.velocity(x, sigma, cond)
    expected = (x - raw) / torch.tensor([0.8, 0.3, 0.05]).view(3, 1, 1, 1)
    torch.testing.assert_close(v, expected)
    bundle.save_pretrained(tmp_path)
    assert load_t2i(str(tmp_path)).spec.prediction == "sample"
    with pytest.raises(ValueError, match="prediction"):
        T2ISpec(family="sd3", prediction="epsilon")


def test_encode_decode_images_in_pixel_space(small_sd3: T2IBundle, images) -> None:
    x0 = small_sd3.encode_images(images[:2])
    assert x0.shape == (2, 3, 32, 32) and x0.min() >= -1 and x0.max() <= 1
    pixels = small_sd3.decode(x0)
    assert torch.allclose(small_sd3.encode_images(pixels), x0, atol=1e-6)


def test_hub_ids_that_are_not_cached_fail_clearly(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE"):
        load_vlm("Qwen/Qwen2.5-VL-7B-Instruct")
    with pytest.raises(ModelNotAvailableError, match="huggingface-cli download"):
        load_t2i("stabilityai/stable-diffusion-3.5-medium")
    with pytest.raises(FileNotFoundError):
        resolve_file("/nonexistent/dir", "config.json")
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_bundles_move_and_cast(small_vlm: VLMBundle) -> None:
    bundle = build_tiny_sd3(**SMALL_IMAGE_MODEL, dtype="bfloat16")
    assert bundle.dtype == torch.bfloat16 and bundle.text_encoder.dtype == torch.bfloat16
    with torch.no_grad():
        cond = bundle.encode_prompt(["a red circle"])
        v = bundle.velocity(torch.randn(bundle.latent_shape(1)), 0.5, cond)
    assert v.dtype == torch.bfloat16 and torch.isfinite(v.float()).all()
    assert small_vlm.device.type == "cpu"


def test_load_vlm_reads_the_hub_repo_layout(tmp_path) -> None:
    """Hub repos keep the image processor in preprocessor_config.json and may name the stock
    processor class and a video processor; the image-only processor loads them all the same."""
    bundle = build_tiny_vlm("qwen2_5_vl", **SMALL_VLM)
    bundle.model.save_pretrained(tmp_path)
    bundle.processor.image_processor.save_pretrained(tmp_path)
    bundle.tokenizer.save_pretrained(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({"processor_class": "Qwen2_5_VLProcessor"}))
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps({"patch_size": 14}))
    loaded = load_vlm(str(tmp_path))
    assert type(loaded.processor) is type(bundle.processor)
    assert loaded.processor.image_processor.to_dict() == bundle.processor.image_processor.to_dict()
