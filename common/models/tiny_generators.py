"""Tiny generators and editors of the real classes, built from small configs in code (random init).

- :func:`build_tiny_sd3`: ``SD3Transformer2DModel`` + a tiny ``CLIPTextModelWithProjection``;
  pixel space 32x32 RGB by default, or a tiny ``AutoencoderKL`` latent space.
- :func:`build_tiny_flow_unet`: a flow-matching ``UNet2DConditionModel`` + the same text encoder.
- :func:`build_tiny_editor`: ``QwenImageTransformer2DModel`` + a tiny Qwen2.5-VL text encoder.
- :func:`build_tiny_autoencoder`: a tiny ``AutoencoderKL`` alone (what the autoencoder base trains).

The tiny VLMs (and the editor's text encoder) are built by :mod:`common.models.tiny`.

Why the editor is a tiny Qwen-Image transformer (and not an SD3 transformer fed source tokens):
the paper's editor is Qwen-Image-Edit-2509, so at tiny scale the RL code (DiffusionNFT on the
editor, LoRA targets, conditioning, sampling) runs on the same class and the same conditioning
path it will run on at paper scale: source image packed into patch tokens appended to the noisy
tokens with a 2-entry ``img_shapes`` RoPE layout, instruction + source image read by a
Qwen2.5-VL text encoder with the system prompt dropped. An SD3 transformer has no native slot for
source tokens (its positional embedding is a fixed 2-D grid and its joint attention has only a
text stream), so it would need a hand-made variant that no paper-scale checkpoint shares. The
cost is a text encoder that is itself a small VLM (~0.2M parameters at the default size).

Configs that trained on 2 CPU cores are the defaults (measurements: docs/experiments/); the
tests use smaller sizes. All builders are deterministic given ``seed``.
"""

from __future__ import annotations

from typing import Any

import torch

from common.models.dit_init import INITS, dit_initialise
from common.models.hub import as_dtype
from common.models.t2i import T2IBundle, T2ISpec
from common.models.tiny import build_tiny_vlm, seeded
from common.models.tokenizer import build_tokenizer

EDIT_ENCODE_TEMPLATE = (
    "<|im_start|>system\nedit the source image as the instruction says and keep the rest the same"
    "<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
)
"""The tiny editor's prompt template (all words in the project's vocabulary); ``{}`` is the
user turn. The tokens before the user turn are dropped from the encoder output, as in the real
Qwen-Image-Edit pipeline."""

EDIT_IMAGE_TEMPLATE = "picture {} : <|vision_start|><|image_pad|><|vision_end|>"


def _flow_scheduler(shift: float = 1.0) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)


def _tiny_vae(block_out_channels: tuple[int, ...], latent_channels: int, resolution: int) -> Any:
    from diffusers import AutoencoderKL

    n = len(block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=min(8, min(block_out_channels)),
        sample_size=resolution,
        scaling_factor=1.0,
        shift_factor=0.0,
    )


def build_tiny_autoencoder(
    *,
    resolution: int = 32,
    block_out_channels: tuple[int, ...] = (16, 32, 32),
    latent_channels: int = 4,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
) -> Any:
    """A tiny ``AutoencoderKL`` (down-sampling ``2**(len(block_out_channels)-1)``), randomly
    initialised: what :mod:`common.models.pretrain.autoencoder` trains for a latent-space tiny
    generator (SD3's VAE at ``scale=tiny``). 0.24M parameters at the defaults."""
    with seeded(seed):
        vae = _tiny_vae(tuple(block_out_channels), latent_channels, resolution)
    return vae.to(device=device, dtype=as_dtype(dtype))


def _initialise(transformer: torch.nn.Module, init: str) -> None:
    """Re-initialise a freshly built transformer per ``init`` (:data:`common.models.dit_init.INITS`)."""
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    if init == "dit":
        dit_initialise(transformer)


def _tiny_clip(
    tokenizer: Any,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    max_length: int,
    projection: int,
) -> torch.nn.Module:
    """The tiny generators' ``CLIPTextModelWithProjection``. Its end-of-text token is
    ``<|endoftext|>`` (id 1): transformers' CLIP pooling switches to a legacy rule for id 2."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=max_length,
        projection_dim=projection,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
    )
    return CLIPTextModelWithProjection(config)


def build_tiny_flow_unet(
    *,
    resolution: int = 32,
    block_out_channels: tuple[int, ...] = (16, 32, 32),
    layers_per_block: int = 1,
    attention_heads: int = 4,
    cross_attention_levels: int = 2,
    text_hidden_size: int = 64,
    text_layers: int = 2,
    text_heads: int = 2,
    text_intermediate_size: int = 128,
    text_projection_dim: int = 64,
    text_max_length: int = 32,
    editor: bool = False,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
) -> T2IBundle:
    """A tiny flow-matching ``UNet2DConditionModel`` + ``CLIPTextModelWithProjection`` (family
    ``flow_unet``, :class:`common.models.t2i.FlowUNetFamily`), in pixel space.

    Convolutions at full resolution with cross-attention to the prompt tokens in the
    ``cross_attention_levels`` lowest-resolution levels, the pooled prompt added to the timestep
    embedding. Same text encoder, tokenizer, sampler and bundle interface as :func:`build_tiny_sd3`.
    ``editor``: an InstructPix2Pix-style editor instead (family ``flow_unet_edit``: the source
    image concatenated to the noisy image along the channels, 6 input channels).
    """
    from diffusers import UNet2DConditionModel

    levels = len(block_out_channels)
    if not 0 <= cross_attention_levels <= levels:
        raise ValueError(f"cross_attention_levels must be in [0, {levels}], got {cross_attention_levels}")
    plain = levels - cross_attention_levels
    down = ("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * cross_attention_levels
    up = ("CrossAttnUpBlock2D",) * cross_attention_levels + ("UpBlock2D",) * plain
    tokenizer = build_tokenizer(padding_side="right", add_eos=True)
    with seeded(seed):
        unet = UNet2DConditionModel(
            sample_size=resolution,
            in_channels=6 if editor else 3,
            out_channels=3,
            down_block_types=down,
            up_block_types=up,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=min(32, min(block_out_channels) // 4),
            cross_attention_dim=text_hidden_size,
            attention_head_dim=attention_heads,  # diffusers' legacy name: the number of heads
            class_embed_type="projection",
            projection_class_embeddings_input_dim=text_projection_dim,
        )
        text_encoder = _tiny_clip(
            tokenizer, text_hidden_size, text_intermediate_size, text_layers, text_heads, text_max_length,
            text_projection_dim,
        )  # fmt: skip
    family = "flow_unet_edit" if editor else "flow_unet"
    spec = T2ISpec(family=family, resolution=resolution, text_max_length=text_max_length)
    bundle = T2IBundle(
        transformer=unet,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=_flow_scheduler(),
        spec=spec,
    )
    return bundle.to(device=device, dtype=as_dtype(dtype))


def build_tiny_sd3(
    *,
    resolution: int = 32,
    patch_size: int = 4,
    num_layers: int = 4,
    attention_head_dim: int = 32,
    num_attention_heads: int = 4,
    text_hidden_size: int = 64,
    text_layers: int = 2,
    text_heads: int = 2,
    text_intermediate_size: int = 128,
    text_projection_dim: int = 64,
    text_max_length: int = 32,
    latent: bool = False,
    vae_block_out_channels: tuple[int, ...] = (16, 32, 32),
    latent_channels: int = 4,
    qk_norm: str | None = None,
    prediction: str = "velocity",
    init: str = "default",
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
) -> T2IBundle:
    """A tiny SD3 text-to-image model (``SD3Transformer2DModel`` + ``CLIPTextModelWithProjection``).

    Pixel space by default (32x32 RGB in [-1, 1], patch 4: 64 image tokens; 2.3M transformer
    parameters at the defaults). With ``latent=True`` a tiny ``AutoencoderKL`` (down-sampling
    ``2**(len(vae_block_out_channels)-1)``) maps ``resolution``-pixel images to latents.

    The text encoder's end-of-text token is ``<|endoftext|>`` (id 1): transformers' CLIP pooling
    would switch to a legacy rule for id 2. ``prediction``: :attr:`~common.models.t2i.
    T2ISpec.prediction` (``"sample"``: the transformer outputs ``x_0``). ``init``: ``"default"``
    (diffusers' constructor) or ``"dit"`` (adaLN-Zero, :func:`common.models.dit_init.dit_initialise`).
    """
    from diffusers import SD3Transformer2DModel

    tokenizer = build_tokenizer(padding_side="right", add_eos=True)
    with seeded(seed):
        vae = _tiny_vae(tuple(vae_block_out_channels), latent_channels, resolution) if latent else None
        factor = 2 ** (len(vae_block_out_channels) - 1) if latent else 1
        channels = latent_channels if latent else 3
        size = resolution // factor
        if size % patch_size:
            raise ValueError(f"model-space side {size} is not a multiple of patch_size {patch_size}")
        transformer = SD3Transformer2DModel(
            sample_size=size,
            patch_size=patch_size,
            in_channels=channels,
            out_channels=channels,
            num_layers=num_layers,
            attention_head_dim=attention_head_dim,
            num_attention_heads=num_attention_heads,
            joint_attention_dim=text_hidden_size,
            caption_projection_dim=attention_head_dim * num_attention_heads,
            pooled_projection_dim=text_projection_dim,
            pos_embed_max_size=size // patch_size,
            qk_norm=qk_norm,
        )
        _initialise(transformer, init)
        text_encoder = _tiny_clip(
            tokenizer, text_hidden_size, text_intermediate_size, text_layers, text_heads, text_max_length,
            text_projection_dim,
        )  # fmt: skip
    spec = T2ISpec(
        family="sd3", resolution=resolution, text_max_length=text_max_length, prediction=prediction
    )
    bundle = T2IBundle(
        transformer=transformer,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=_flow_scheduler(),
        vae=vae,
        spec=spec,
    )
    return bundle.to(device=device, dtype=as_dtype(dtype))


def build_tiny_editor(
    *,
    resolution: int = 32,
    patch_size: int = 4,
    num_layers: int = 4,
    attention_head_dim: int = 32,
    num_attention_heads: int = 4,
    axes_dims_rope: tuple[int, int, int] = (8, 12, 12),
    text_hidden_size: int = 64,
    text_intermediate_size: int = 128,
    text_layers: int = 2,
    text_heads: int = 2,
    vision_hidden_size: int = 32,
    vision_intermediate_size: int = 64,
    vision_heads: int = 2,
    init: str = "default",
    linear_patch_embed: bool = True,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
) -> T2IBundle:
    """A tiny Qwen-Image-Edit-style editor (``QwenImageTransformer2DModel`` + tiny Qwen2.5-VL encoder).

    Pixel space (``resolution`` x ``resolution`` RGB). Patch tokens are ``patch_size`` x
    ``patch_size`` pixels packed as the real pipeline packs 2x2 latent patches, so
    ``in_channels = 3 * patch_size**2``; ``axes_dims_rope`` must sum to ``attention_head_dim``.
    ``init``: as :func:`build_tiny_sd3`. ``linear_patch_embed``: the text encoder's, as in
    :func:`build_tiny_vlm`. The module docstring says why this design was chosen.
    """
    from diffusers import QwenImageTransformer2DModel

    if sum(axes_dims_rope) != attention_head_dim:
        raise ValueError(
            f"axes_dims_rope {axes_dims_rope} must sum to attention_head_dim {attention_head_dim}"
        )
    encoder = build_tiny_vlm(
        "qwen2_5_vl",
        text_hidden_size=text_hidden_size,
        text_intermediate_size=text_intermediate_size,
        text_layers=text_layers,
        text_heads=text_heads,
        text_kv_heads=1,
        vision_hidden_size=vision_hidden_size,
        vision_intermediate_size=vision_intermediate_size,
        vision_depth=2,
        vision_heads=vision_heads,
        linear_patch_embed=linear_patch_embed,
        seed=seed + 1,
    )
    with seeded(seed):
        transformer = QwenImageTransformer2DModel(
            patch_size=patch_size,
            in_channels=3 * patch_size * patch_size,
            out_channels=3,
            num_layers=num_layers,
            attention_head_dim=attention_head_dim,
            num_attention_heads=num_attention_heads,
            joint_attention_dim=text_hidden_size,
            axes_dims_rope=tuple(axes_dims_rope),
        )
        _initialise(transformer, init)
    prefix = EDIT_ENCODE_TEMPLATE.split("{}")[0]
    drop_idx = len(encoder.tokenizer(prefix).input_ids)
    spec = T2ISpec(
        family="qwen_image_edit",
        resolution=resolution,
        encode_template=EDIT_ENCODE_TEMPLATE,
        encode_image_template=EDIT_IMAGE_TEMPLATE,
        encode_drop_idx=drop_idx,
        condition_resolution=128,
    )
    bundle = T2IBundle(
        transformer=transformer,
        text_encoder=encoder.model,
        tokenizer=encoder.tokenizer,
        scheduler=_flow_scheduler(),
        processor=encoder.processor,
        spec=spec,
    )
    return bundle.to(device=device, dtype=as_dtype(dtype))
