"""Tiny VLMs of the real classes, built from small configs in code (random init).

- :func:`build_tiny_vlm`: ``Qwen2_5_VLForConditionalGeneration`` / ``Qwen3VLForConditionalGeneration``
  with the project's tokenizer and the real (image-only) processor.
- :func:`seeded`: run a block under a fixed torch seed (every tiny builder's initialisation).
- :func:`count_parameters`: parameters of a module, shared tensors counted once.

The tiny generators and editors (SD3, flow UNet, Qwen-Image-Edit, autoencoder) are built by
:mod:`common.models.tiny_generators`.

Configs that trained on 2 CPU cores are the defaults (measurements: docs/experiments/); the
tests use smaller sizes. All builders are deterministic given ``seed``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from common.models.hub import as_dtype
from common.models.patch_embed import apply_linear_patch_embed
from common.models.processor import build_image_processor, build_processor
from common.models.tokenizer import build_tokenizer, special_token_ids
from common.models.vlm_bundle import VLMBundle


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the previous state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _mrope_section(arch: str, head_dim: int) -> list[int]:
    """M-RoPE split of ``head_dim / 2`` rotary frequencies into (temporal, height, width).

    Scaled from the real models' splits for head_dim 128: Qwen2.5-VL [16, 24, 24], Qwen3-VL
    [24, 20, 20]; the parts must sum to ``head_dim / 2``.
    """
    if head_dim % 32:
        raise ValueError(f"head_dim must be a multiple of 32 for M-RoPE, got {head_dim}")
    if arch == "qwen2_5_vl":
        return [head_dim // 8, 3 * head_dim // 16, 3 * head_dim // 16]
    return [3 * head_dim // 16, 5 * head_dim // 32, 5 * head_dim // 32]


def tiny_vlm_config(
    arch: str,
    vocab_size: int,
    token_ids: dict[str, int],
    *,
    text_hidden_size: int = 256,
    text_intermediate_size: int = 512,
    text_layers: int = 4,
    text_heads: int = 4,
    text_kv_heads: int = 2,
    vision_hidden_size: int = 128,
    vision_intermediate_size: int = 256,
    vision_depth: int = 2,
    vision_heads: int = 4,
    max_position_embeddings: int = 4096,
    rope_theta: float = 10000.0,
) -> Any:
    """The config of a tiny Qwen2.5-VL (``arch="qwen2_5_vl"``) or Qwen3-VL (``"qwen3_vl"``)."""
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    head_dim = text_hidden_size // text_heads
    rope = {"rope_type": "default", "rope_theta": rope_theta, "mrope_section": _mrope_section(arch, head_dim)}
    text = {
        "vocab_size": vocab_size,
        "hidden_size": text_hidden_size,
        "intermediate_size": text_intermediate_size,
        "num_hidden_layers": text_layers,
        "num_attention_heads": text_heads,
        "num_key_value_heads": text_kv_heads,
        "max_position_embeddings": max_position_embeddings,
        "pad_token_id": token_ids["pad_token_id"],
    }
    special = {
        k: token_ids[k]
        for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    }
    if arch == "qwen2_5_vl":
        text.update(
            rope_parameters=rope,
            bos_token_id=token_ids["bos_token_id"],
            eos_token_id=token_ids["eos_token_id"],
        )
        vision = {
            "depth": vision_depth,
            "hidden_size": vision_hidden_size,
            "intermediate_size": vision_intermediate_size,
            "num_heads": vision_heads,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "out_hidden_size": text_hidden_size,
            "fullatt_block_indexes": [vision_depth - 1],
        }
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **special)
    if arch == "qwen3_vl":
        text.update(rope_parameters={**rope, "mrope_interleaved": True}, head_dim=head_dim)
        vision = {
            "depth": vision_depth,
            "hidden_size": vision_hidden_size,
            "intermediate_size": vision_intermediate_size,
            "num_heads": vision_heads,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": text_hidden_size,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        }
        return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **special)
    raise ValueError(f"unknown VLM architecture {arch!r}; known: qwen2_5_vl, qwen3_vl")


VLM_CLASSES: dict[str, str] = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
}
"""Model class name (in ``transformers``) by ``config.model_type``."""


def build_tiny_vlm(
    arch: str = "qwen2_5_vl",
    *,
    text_hidden_size: int = 256,
    text_intermediate_size: int = 512,
    text_layers: int = 4,
    text_heads: int = 4,
    text_kv_heads: int = 2,
    vision_hidden_size: int = 128,
    vision_intermediate_size: int = 256,
    vision_depth: int = 2,
    vision_heads: int = 4,
    image_pixels: int | None = None,
    rope_theta: float = 10000.0,
    linear_patch_embed: bool = True,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
    attn_implementation: str = "sdpa",
) -> VLMBundle:
    """A randomly initialised tiny VLM of the real class, with tokenizer and processor.

    The defaults are the Qwen2.5-VL config that trained well on 2 cores (3.3M parameters); the
    Qwen3-VL one has the same sizes. ``image_pixels`` is the processor's pixel budget (default:
    16 image tokens for a 128x128 world image; the presets use 224*224, see ``conf/model``).
    ``rope_theta`` is the language model's RoPE base (see ``conf/model/tiny_qwen2_5_vl.yaml`` for
    why that preset lowers it).

    ``linear_patch_embed`` runs the vision tower's patch-embedding ``Conv3d`` (kernel == stride,
    one window per ``pixel_values`` row) as the equal ``F.linear`` over the same weights
    (:mod:`common.models.patch_embed`): same parameter names, shapes and checkpoints, outputs
    equal to ~1e-6, and on CPU (batch 64, 224 px, one thread) the patch embedding's forward +
    backward runs 6-7x faster (Qwen3-VL 1.09 -> 0.17 s), the vision tower's 1.6-2x (2.12 ->
    1.08 s). Recorded in the config, so :func:`~common.models.builders.load_vlm` restores it.
    """
    import transformers

    tokenizer = build_tokenizer(padding_side="left")
    ids = special_token_ids(tokenizer)
    config = tiny_vlm_config(
        arch,
        len(tokenizer),
        ids,
        text_hidden_size=text_hidden_size,
        text_intermediate_size=text_intermediate_size,
        text_layers=text_layers,
        text_heads=text_heads,
        text_kv_heads=text_kv_heads,
        vision_hidden_size=vision_hidden_size,
        vision_intermediate_size=vision_intermediate_size,
        vision_depth=vision_depth,
        vision_heads=vision_heads,
        rope_theta=rope_theta,
    )
    config._attn_implementation = attn_implementation
    model_cls = getattr(transformers, VLM_CLASSES[arch])
    with seeded(seed):
        model = model_cls(config)
    gen = model.generation_config
    gen.pad_token_id = ids["pad_token_id"]
    gen.eos_token_id = [ids["eos_token_id"], ids["pad_token_id"]]
    gen.bos_token_id = ids["bos_token_id"]
    gen.do_sample = False
    apply_linear_patch_embed(model, linear_patch_embed)
    model.to(device=device, dtype=as_dtype(dtype))
    processor = build_processor(arch, tokenizer, build_image_processor(arch, pixels=image_pixels))
    return VLMBundle(model=model, processor=processor, tokenizer=tokenizer)


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
