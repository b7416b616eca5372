"""One interface per model family, so trainers never branch on the architecture.

- :class:`VLMBundle` (model, processor, tokenizer): Qwen2.5-VL and Qwen3-VL evaluators / reward
  models. ``encode_chat`` turns chat messages with images into a model batch.
- :class:`T2IBundle` (transformer, text encoder, tokenizer, scheduler, vae or ``None``, ...):
  flow-matching image models, either a text-to-image generator (``SD3Transformer2DModel``,
  family ``"sd3"``) or an editor (``QwenImageTransformer2DModel``, family
  ``"qwen_image_edit"``). Trainers and samplers use four methods only:
  ``encode_prompt(prompts, source_images=None) -> Conditioning``,
  ``velocity(x_t, sigma, cond) -> v``, ``encode_images(images) -> x_0``,
  ``decode(x_0) -> images``; the family-specific details live in :data:`T2I_FAMILIES`.

Flow-matching convention everywhere: ``x_t = (1 - sigma) x_0 + sigma * noise``, velocity
``v = noise - x_0``, sampling runs sigma from 1 to 0. ``sigma`` is always in [0, 1]; each family
converts it to what its transformer expects (SD3: ``sigma * 1000``; Qwen-Image: ``sigma``).

Checkpoints use the layouts of the real ones: a VLM directory is what ``save_pretrained`` of
the model and processor write (as a hub repo); a T2I directory is a diffusers pipeline layout
(``model_index.json`` + one sub-folder per component), so ``load_t2i`` reads a hub repo such as
``stabilityai/stable-diffusion-3.5-medium`` and a tiny saved bundle with the same code.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from common.registry import Registry

BUNDLE_FILE = "t2i_bundle.json"
"""Project-specific settings of a T2I bundle (absent from hub repos: defaults apply)."""

ADAPTERS_DIR = "adapters"
"""Sub-folder of a saved bundle holding LoRA adapters, one folder per component (``model`` for a
VLM). The base weights are saved without LoRA in the libraries' normal format beside it."""


def save_module(module: Any, path: Path, adapter_dir: Path) -> None:
    """``module.save_pretrained(path)``; a LoRA adapter, if injected, goes to ``adapter_dir``."""
    from common.models.lora import has_lora, lora_removed, save_lora

    if isinstance(module, torch.nn.Module) and has_lora(module):
        with lora_removed(module):
            module.save_pretrained(path)
        save_lora(module, adapter_dir)
    else:
        module.save_pretrained(path)


def attach_saved_adapters(modules: dict[str, Any], root: str) -> None:
    """Re-inject adapters saved by :func:`save_module` under ``root/adapters`` (local dirs only)."""
    from common.models.hub import looks_local
    from common.models.lora import load_lora

    if not looks_local(root):
        return
    base = Path(root).expanduser() / ADAPTERS_DIR
    for name, module in modules.items():
        if (base / name / "adapter_config.json").is_file():
            load_lora(module, base / name)


# --------------------------------------------------------------------------------------------
# VLM
# --------------------------------------------------------------------------------------------


@dataclass
class VLMBundle:
    """A vision-language model with its processor and tokenizer.

    Attributes:
        model: ``Qwen2_5_VLForConditionalGeneration`` or ``Qwen3VLForConditionalGeneration``
            (possibly with LoRA adapters injected: the class stays the same).
        processor: the image-only Qwen processor (:mod:`common.models.processor`).
        tokenizer: the processor's tokenizer (filled in when omitted).
    """

    model: Any
    processor: Any
    tokenizer: Any = None

    def __post_init__(self) -> None:
        if self.tokenizer is None:
            self.tokenizer = self.processor.tokenizer

    @property
    def arch(self) -> str:
        """``"qwen2_5_vl"`` or ``"qwen3_vl"`` (the config's ``model_type``)."""
        return str(self.model.config.model_type)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> VLMBundle:
        """Move the model (in place) and return the bundle."""
        self.model.to(device=device, dtype=dtype)
        return self

    def encode_chat(
        self,
        conversations: Sequence[Sequence[dict[str, Any]]],
        add_generation_prompt: bool = True,
    ) -> Any:
        """Chat conversations (with PIL images inside) -> a padded model batch on the model's device.

        Each conversation is a list of messages ``{"role": ..., "content": str | list}``; content
        items are ``{"type": "text", "text": ...}`` or ``{"type": "image", "image": PIL.Image}``.
        Images are taken in reading order. Returns the processor's ``BatchFeature``:
        ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` and, when there are images,
        ``pixel_values`` and ``image_grid_thw``. Padding is on the tokenizer's side (left).
        """
        texts = self.processor.apply_chat_template(
            [list(c) for c in conversations], add_generation_prompt=add_generation_prompt, tokenize=False
        )
        images = [
            item["image"]
            for conv in conversations
            for message in conv
            if not isinstance(message["content"], str)
            for item in message["content"]
            if item.get("type") == "image"
        ]
        batch = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        return batch.to(self.device)

    def save_pretrained(self, path: str | Path) -> None:
        """Write model + processor (+ tokenizer + chat template) as a hub-style directory.

        A LoRA adapter on the model is saved under ``adapters/model`` and re-attached on load.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_module(self.model, path, path / ADAPTERS_DIR / "model")
        self.processor.save_pretrained(path)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **kwargs: Any) -> VLMBundle:
        """Same as :func:`common.models.builders.load_vlm`."""
        from common.models.builders import load_vlm

        return load_vlm(str(name_or_path), **kwargs)


# --------------------------------------------------------------------------------------------
# T2I
# --------------------------------------------------------------------------------------------


@dataclass
class Conditioning:
    """Everything the transformer is conditioned on, batched.

    Attributes:
        embeds: text(-and-image) embeddings ``[B, L, D]``.
        pooled: pooled text embedding ``[B, P]`` (SD3) or ``None``.
        mask: 1 for valid tokens of ``embeds`` ``[B, L]`` (Qwen-Image) or ``None`` (all valid).
        source: the editor's source image in the model's space ``[B, C, H, W]``, or ``None``.
    """

    embeds: torch.Tensor
    pooled: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    source: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.embeds.shape[0])

    def _map(self, fn: Any) -> Conditioning:
        return Conditioning(
            **{
                f.name: (None if (v := getattr(self, f.name)) is None else fn(v))
                for f in dataclasses.fields(self)
            }
        )

    def repeat_interleave(self, n: int) -> Conditioning:
        """Each item repeated ``n`` times in place (a group of ``n`` samples per prompt)."""
        return self._map(lambda t: t.repeat_interleave(n, dim=0))

    def select(self, index: torch.Tensor | slice | Sequence[int]) -> Conditioning:
        """The items at ``index``."""
        return self._map(lambda t: t[index])

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Conditioning:
        """Move (and cast floating tensors; masks keep their dtype)."""
        return self._map(lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None))

    def detach(self) -> Conditioning:
        return self._map(lambda t: t.detach())

    @staticmethod
    def cat(items: Sequence[Conditioning]) -> Conditioning:
        """Concatenate along the batch; embeddings of different lengths are right-padded and masked."""
        length = max(c.embeds.shape[1] for c in items)
        need_mask = any(c.mask is not None for c in items) or any(c.embeds.shape[1] != length for c in items)
        embeds, masks = [], []
        for c in items:
            pad = length - c.embeds.shape[1]
            embeds.append(F.pad(c.embeds, (0, 0, 0, pad)))
            mask = c.mask if c.mask is not None else c.embeds.new_ones(c.embeds.shape[:2], dtype=torch.long)
            masks.append(F.pad(mask, (0, pad)))

        def cat_opt(name: str) -> torch.Tensor | None:
            values = [getattr(c, name) for c in items]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise ValueError(f"cannot concatenate conditionings where only some have {name!r}")
            return torch.cat(values, dim=0)

        return Conditioning(
            embeds=torch.cat(embeds, dim=0),
            pooled=cat_opt("pooled"),
            mask=torch.cat(masks, dim=0) if need_mask else None,
            source=cat_opt("source"),
        )


PREDICTIONS: tuple[str, ...] = ("velocity", "sample")
"""What a T2I transformer may be trained to output (:attr:`T2ISpec.prediction`)."""
SAMPLE_PREDICTION_MIN_SIGMA = 0.05
"""Floor of ``sigma`` when an x-prediction is turned into a velocity (JiT clips ``1 - t`` at 0.05)."""


@dataclass
class T2ISpec:
    """Project-level settings of a T2I bundle (saved as ``t2i_bundle.json``).

    Attributes:
        family: key of :data:`T2I_FAMILIES` (``"sd3"`` or ``"qwen_image_edit"``).
        resolution: side in pixels of the images the model makes (32 for the tiny pixel models).
        text_max_length: tokens per prompt of a CLIP-style encoder (padding to this length).
        text_hidden_layer: which hidden state of the CLIP encoders is used (SD3: -2).
        t5_max_length: tokens of the T5 encoder, when the bundle has one.
        encode_template: the editor's chat template for its VL text encoder (``{}`` = user turn).
        encode_image_template: how each source image enters the user turn (``{}`` = image index).
        encode_drop_idx: leading tokens (the system prompt) dropped from the encoder's output.
        condition_resolution: side in pixels of the source image shown to the VL text encoder.
        prediction: what the transformer outputs: ``"velocity"`` (``v = noise - x_0``, as SD3 and
            Qwen-Image are trained) or ``"sample"`` (the clean ``x_0``, "x-prediction" of Li & He,
            JiT, 2025), turned into the velocity ``v = (x_t - x0_hat) / max(sigma, 0.05)`` by
            :meth:`T2IBundle.velocity`, so losses, samplers and RL see a velocity either way.
    """

    family: str
    resolution: int = 32
    text_max_length: int = 77
    text_hidden_layer: int = -2
    t5_max_length: int = 256
    encode_template: str | None = None
    encode_image_template: str | None = None
    encode_drop_idx: int = 0
    condition_resolution: int = 128
    prediction: str = "velocity"

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"T2ISpec.prediction must be one of {PREDICTIONS}, got {self.prediction!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> T2ISpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


ImagesLike = torch.Tensor | Sequence[Image.Image]


def pil_to_tensor(images: ImagesLike) -> torch.Tensor:
    """PIL images (RGB) or a ``[B, 3, H, W]`` tensor -> float tensor in [0, 1]."""
    if isinstance(images, torch.Tensor):
        return images.float()
    arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def tensor_to_pil(images: torch.Tensor) -> list[Image.Image]:
    """``[B, 3, H, W]`` in [0, 1] -> PIL images."""
    arr = (
        (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    )
    return [Image.fromarray(a) for a in arr]


def pack_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, (H/p)(W/p), C*p*p]`` in the Qwen-Image packing order (channel, dy, dx)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def unpack_patches(tokens: torch.Tensor, h: int, w: int, p: int) -> torch.Tensor:
    """Inverse of :func:`pack_patches`: ``[B, (h/p)(w/p), C*p*p]`` -> ``[B, C, h, w]``."""
    b, _, d = tokens.shape
    c = d // (p * p)
    x = tokens.view(b, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, h, w)


class T2IFamily:
    """How one architecture encodes prompts and predicts velocities (subclassed per family)."""

    name: ClassVar[str]
    pipeline_class: ClassVar[str]
    """The diffusers pipeline class named in ``model_index.json`` of this family's checkpoints."""
    is_editor: ClassVar[bool] = False
    """True when the family is conditioned on a source image (an editor)."""

    def default_spec(self, components: dict[str, Any]) -> T2ISpec:
        raise NotImplementedError

    def encode_prompt(
        self, bundle: T2IBundle, prompts: Sequence[str], source_images: ImagesLike | None
    ) -> Conditioning:
        raise NotImplementedError

    def velocity(
        self, bundle: T2IBundle, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        raise NotImplementedError


T2I_FAMILIES: Registry[T2IFamily] = Registry("t2i family")


def _is_video_vae(vae: Any) -> bool:
    """``AutoencoderKLQwenImage`` (5-D video latents, per-channel mean/std normalisation)."""
    return hasattr(vae.config, "temperal_downsample")


def vae_scale_factor(vae: Any) -> int:
    """Spatial down-sampling of ``vae`` (1 for pixel space, ``vae`` ``None``)."""
    if vae is None:
        return 1
    if _is_video_vae(vae):
        return 2 ** len(vae.config.temperal_downsample)
    return 2 ** (len(vae.config.block_out_channels) - 1)


class SD3Family(T2IFamily):
    """``SD3Transformer2DModel`` with CLIP text encoder(s) and, at paper scale, T5.

    Prompt embeddings follow SD3: hidden states ``text_hidden_layer`` of each CLIP encoder,
    concatenated along channels and zero-padded to ``joint_attention_dim``, then (if a T5 encoder
    is present) T5's last hidden states appended along the sequence; the pooled embedding is the
    concatenation of the CLIP projections. The tiny model has one CLIP encoder and no T5.
    """

    name = "sd3"
    pipeline_class = "StableDiffusion3Pipeline"

    def default_spec(self, components: dict[str, Any]) -> T2ISpec:
        transformer = components["transformer"]
        factor = vae_scale_factor(components.get("vae"))
        return T2ISpec(family=self.name, resolution=int(transformer.config.sample_size) * factor)

    def encode_prompt(
        self, bundle: T2IBundle, prompts: Sequence[str], source_images: ImagesLike | None
    ) -> Conditioning:
        spec = bundle.spec
        device = bundle.device
        hidden, pooled = [], []
        for enc, tok in (
            (bundle.text_encoder, bundle.tokenizer),
            (bundle.text_encoder_2, bundle.tokenizer_2),
        ):
            if enc is None:
                continue
            length = min(spec.text_max_length, int(enc.config.max_position_embeddings))
            ids = tok(
                list(prompts), padding="max_length", max_length=length, truncation=True, return_tensors="pt"
            ).input_ids.to(device)
            out = enc(ids, output_hidden_states=True)
            hidden.append(out.hidden_states[spec.text_hidden_layer])
            pooled.append(out.text_embeds)
        embeds = torch.cat(hidden, dim=-1)
        joint = self.context_width(bundle.transformer)
        embeds = F.pad(embeds, (0, joint - embeds.shape[-1]))
        if bundle.text_encoder_3 is not None:
            ids = bundle.tokenizer_3(
                list(prompts),
                padding="max_length",
                max_length=spec.t5_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(device)
            t5 = bundle.text_encoder_3(ids).last_hidden_state
            embeds = torch.cat([embeds, t5.to(embeds.dtype)], dim=1)
        return Conditioning(embeds=embeds, pooled=torch.cat(pooled, dim=-1))

    def context_width(self, model: Any) -> int:
        """Channels the denoiser's cross-attention expects from the text (``joint_attention_dim``)."""
        return int(model.config.joint_attention_dim)

    def velocity(
        self, bundle: T2IBundle, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        t = bundle.transformer
        out = t(
            hidden_states=x.to(t.dtype),
            encoder_hidden_states=cond.embeds.to(t.dtype),
            pooled_projections=cond.pooled.to(t.dtype),
            timestep=(sigma * 1000.0).to(t.dtype),
            return_dict=False,
        )[0]
        return out


class QwenImageEditFamily(T2IFamily):
    """``QwenImageTransformer2DModel`` editor, conditioned as Qwen-Image-Edit(-2509) is.

    The instruction and the source image go through a Qwen2.5-VL text encoder (last hidden
    states, system-prompt tokens dropped); the source image, in the model's space, is packed into
    patch tokens and appended to the noisy tokens along the sequence (``img_shapes`` gives the
    RoPE layout of both); the velocity is read from the first (noisy) part of the output.
    """

    name = "qwen_image_edit"
    pipeline_class = "QwenImageEditPlusPipeline"
    is_editor = True

    def default_spec(self, components: dict[str, Any]) -> T2ISpec:
        from diffusers import QwenImageEditPlusPipeline

        # The real pipeline's prompt template, read from the library rather than restated here.
        empty = QwenImageEditPlusPipeline(
            scheduler=None, vae=None, text_encoder=None, tokenizer=None, processor=None, transformer=None
        )
        return T2ISpec(
            family=self.name,
            resolution=1024,
            encode_template=empty.prompt_template_encode,
            encode_image_template="Picture {}: <|vision_start|><|image_pad|><|vision_end|>",
            encode_drop_idx=int(empty.prompt_template_encode_start_idx),
            condition_resolution=384,
        )

    def encode_prompt(
        self, bundle: T2IBundle, prompts: Sequence[str], source_images: ImagesLike | None
    ) -> Conditioning:
        spec = bundle.spec
        if source_images is None:
            raise ValueError("the editor needs source images")
        if spec.encode_template is None or spec.encode_image_template is None:
            raise ValueError("the editor's spec has no encode_template / encode_image_template")
        pixels = pil_to_tensor(source_images)
        if len(pixels) != len(prompts):
            raise ValueError(f"{len(prompts)} instructions but {len(pixels)} source images")
        size = spec.condition_resolution
        shown = tensor_to_pil(F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True))
        texts = [spec.encode_template.format(spec.encode_image_template.format(1) + p) for p in prompts]
        batch = bundle.processor(text=texts, images=shown, padding=True, return_tensors="pt").to(
            bundle.device
        )
        out = bundle.text_encoder(**batch, output_hidden_states=True, logits_to_keep=1)
        hidden = out.hidden_states[-1]
        mask = batch["attention_mask"].bool()
        pieces = [h[m][spec.encode_drop_idx :] for h, m in zip(hidden, mask, strict=True)]
        length = max(p.shape[0] for p in pieces)
        embeds = torch.stack([F.pad(p, (0, 0, 0, length - p.shape[0])) for p in pieces])
        emb_mask = torch.stack(
            [
                F.pad(torch.ones(p.shape[0], dtype=torch.long, device=p.device), (0, length - p.shape[0]))
                for p in pieces
            ]
        )
        source = bundle.encode_images(pixels)
        return Conditioning(embeds=embeds, mask=emb_mask, source=source)

    def velocity(
        self, bundle: T2IBundle, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        t = bundle.transformer
        if cond.source is None:
            raise ValueError("the editor's conditioning has no source image")
        p = int(t.config.patch_size)
        _, _, h, w = x.shape
        hs, ws = cond.source.shape[-2:]
        noisy = pack_patches(x.to(t.dtype), p)
        source = pack_patches(cond.source.to(t.dtype), p)
        img_shapes = [[(1, h // p, w // p), (1, hs // p, ws // p)]] * x.shape[0]
        out = t(
            hidden_states=torch.cat([noisy, source], dim=1),
            encoder_hidden_states=cond.embeds.to(t.dtype),
            encoder_hidden_states_mask=cond.mask,
            timestep=sigma.to(t.dtype),
            img_shapes=img_shapes,
            return_dict=False,
        )[0]
        return unpack_patches(out[:, : noisy.shape[1]], h, w, p)


class FlowUNetFamily(SD3Family):
    """A ``UNet2DConditionModel`` trained by flow matching, conditioned like the tiny SD3.

    The tiny scale's convolutional alternative to the SD3 transformer (docs/experiments/
    generator.md says when and why): the same CLIP text encoder and prompt embedding as
    :class:`SD3Family`; the token embeddings enter through cross-attention
    (``cross_attention_dim``), the pooled embedding through the UNet's projection class
    embedding (added to the timestep embedding, as SD3 adds its pooled text); the timestep is
    ``sigma * 1000``; the output is the velocity. Saved as the ``transformer`` component of a
    ``FlowMatchUNetPipeline`` layout (a project name: no diffusers pipeline samples it; the
    project's sampler does).
    """

    name = "flow_unet"
    pipeline_class = "FlowMatchUNetPipeline"

    def default_spec(self, components: dict[str, Any]) -> T2ISpec:
        unet = components["transformer"]
        return T2ISpec(family=self.name, resolution=int(unet.config.sample_size))

    def context_width(self, model: Any) -> int:
        return int(model.config.cross_attention_dim)

    def velocity(
        self, bundle: T2IBundle, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        unet = bundle.transformer
        return unet(
            x.to(unet.dtype),
            (sigma * 1000.0).to(unet.dtype),
            encoder_hidden_states=cond.embeds.to(unet.dtype),
            class_labels=cond.pooled.to(unet.dtype),
            return_dict=False,
        )[0]


class FlowUNetEditFamily(FlowUNetFamily):
    """A flow-matching ``UNet2DConditionModel`` editor in the InstructPix2Pix layout (Brooks et al.,
    2023): the source image, in the model's space, is concatenated to the noisy image along the
    channels (``in_channels = 2 x image channels``); the instruction is encoded as the text of
    :class:`FlowUNetFamily`. The tiny scale's convolutional alternative to the Qwen-Image-Edit
    transformer (docs/experiments/editor.md)."""

    name = "flow_unet_edit"
    pipeline_class = "FlowMatchUNetEditPipeline"
    is_editor = True

    def encode_prompt(
        self, bundle: T2IBundle, prompts: Sequence[str], source_images: ImagesLike | None
    ) -> Conditioning:
        if source_images is None:
            raise ValueError("the editor needs source images")
        pixels = pil_to_tensor(source_images)
        if len(pixels) != len(prompts):
            raise ValueError(f"{len(prompts)} instructions but {len(pixels)} source images")
        text = super().encode_prompt(bundle, prompts, None)
        return Conditioning(embeds=text.embeds, pooled=text.pooled, source=bundle.encode_images(pixels))

    def velocity(
        self, bundle: T2IBundle, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        if cond.source is None:
            raise ValueError("the editor's conditioning has no source image")
        return super().velocity(bundle, torch.cat([x, cond.source.to(x.dtype)], dim=1), sigma, cond)


T2I_FAMILIES.register(SD3Family.name)(SD3Family())
T2I_FAMILIES.register(FlowUNetFamily.name)(FlowUNetFamily())
T2I_FAMILIES.register(FlowUNetEditFamily.name)(FlowUNetEditFamily())
T2I_FAMILIES.register(QwenImageEditFamily.name)(QwenImageEditFamily())


def family_of_pipeline(pipeline_class: str) -> T2IFamily:
    """The family whose checkpoints name ``pipeline_class`` in ``model_index.json``."""
    for name in T2I_FAMILIES:
        fam = T2I_FAMILIES.get(name)
        if fam.pipeline_class == pipeline_class:
            return fam
    known = ", ".join(T2I_FAMILIES.get(n).pipeline_class for n in T2I_FAMILIES)
    raise ValueError(f"no T2I family for pipeline class {pipeline_class!r}; known: {known}")


T2I_COMPONENTS: tuple[str, ...] = (
    "transformer",
    "text_encoder",
    "tokenizer",
    "scheduler",
    "vae",
    "processor",
    "text_encoder_2",
    "tokenizer_2",
    "text_encoder_3",
    "tokenizer_3",
)
"""Component names, as in the diffusers pipelines' ``model_index.json``."""


@dataclass
class T2IBundle:
    """A flow-matching image model with everything needed to condition and sample it.

    Attributes:
        transformer: ``SD3Transformer2DModel`` or ``QwenImageTransformer2DModel``.
        text_encoder: ``CLIPTextModelWithProjection`` (SD3) or ``Qwen2_5_VLForConditionalGeneration``
            (editor).
        tokenizer: the text encoder's tokenizer.
        scheduler: ``FlowMatchEulerDiscreteScheduler`` (the sampler reads its sigmas).
        vae: ``None`` in pixel space (the tiny default: the model works on RGB in [-1, 1]),
            else ``AutoencoderKL`` / ``AutoencoderKLQwenImage``.
        processor: the editor's VL processor (``None`` for SD3).
        text_encoder_2 / tokenizer_2 / text_encoder_3 / tokenizer_3: SD3's CLIP-G and T5 at paper
            scale (``None`` for the tiny model).
        spec: project-level settings (:class:`T2ISpec`).
    """

    transformer: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    vae: Any = None
    processor: Any = None
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    text_encoder_3: Any = None
    tokenizer_3: Any = None
    spec: T2ISpec = field(default_factory=lambda: T2ISpec(family="sd3"))

    @property
    def family(self) -> T2IFamily:
        return T2I_FAMILIES.get(self.spec.family)

    @property
    def is_editor(self) -> bool:
        """True when the model is conditioned on a source image."""
        return self.family.is_editor

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    def modules(self) -> dict[str, torch.nn.Module]:
        """The torch modules of the bundle, by component name."""
        return {
            name: value
            for name in T2I_COMPONENTS
            if isinstance(value := getattr(self, name), torch.nn.Module)
        }

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> T2IBundle:
        """Move every module (in place) and return the bundle."""
        for module in self.modules().values():
            kwargs: dict[str, Any] = {} if device is None else {"device": device}
            if dtype is not None and dtype != next(module.parameters()).dtype:
                kwargs["dtype"] = dtype
            # Only the keys that change anything: diffusers' ``to`` warns about float32 modules
            # whenever a ``dtype`` key is present, even ``dtype=None``.
            if kwargs:
                module.to(**kwargs)
        return self

    # ---- the four methods trainers use -------------------------------------------------------

    def encode_prompt(self, prompts: Sequence[str], source_images: ImagesLike | None = None) -> Conditioning:
        """Prompts (and, for an editor, source images) -> :class:`Conditioning`."""
        return self.family.encode_prompt(self, prompts, source_images)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: Conditioning) -> torch.Tensor:
        """Predicted velocity ``v = noise - x_0`` at noise level ``sigma`` (``[B]`` or scalar, in [0, 1]).

        With ``spec.prediction == "sample"`` the transformer's output is ``x0_hat`` and the
        velocity is ``(x_t - x0_hat) / max(sigma, SAMPLE_PREDICTION_MIN_SIGMA)`` (since
        ``x_t - x_0 = sigma * (noise - x_0)``).
        """
        if not torch.is_tensor(sigma) or sigma.ndim == 0:
            sigma = torch.full((x.shape[0],), float(sigma), device=x.device)
        sigma = sigma.to(x.device).float()
        out = self.family.velocity(self, x, sigma, cond)
        if self.spec.prediction == "sample":
            s = sigma.clamp_min(SAMPLE_PREDICTION_MIN_SIGMA).view(-1, *([1] * (x.ndim - 1)))
            out = ((x.float() - out.float()) / s).to(out.dtype)
        return out

    def encode_images(self, images: ImagesLike) -> torch.Tensor:
        """Images (PIL, or ``[B, 3, H, W]`` in [0, 1]) -> the model's space ``x_0``.

        Pixel space: resized to ``spec.resolution`` and mapped to [-1, 1]. Latent space: the
        VAE's mean latent, normalised as the pipelines do (SD3: ``(z - shift) * scale``;
        Qwen-Image: per-channel ``(z - mean) / std``).
        """
        x = pil_to_tensor(images).to(self.device)
        size = self.spec.resolution
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x * 2.0 - 1.0
        if self.vae is None:
            return x.to(self.dtype)
        vae = self.vae
        x = x.to(vae.dtype)
        if _is_video_vae(vae):  # AutoencoderKLQwenImage: a video VAE, one frame
            z = vae.encode(x[:, :, None]).latent_dist.mode()[:, :, 0]
            mean = torch.tensor(vae.config.latents_mean, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            std = torch.tensor(vae.config.latents_std, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            return ((z - mean) / std).to(self.dtype)
        z = vae.encode(x).latent_dist.mode()
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        return ((z - shift) * vae.config.scaling_factor).to(self.dtype)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """The model's space -> images ``[B, 3, H, W]`` in [0, 1] (inverse of :meth:`encode_images`)."""
        if self.vae is None:
            return ((x0.float() + 1.0) / 2.0).clamp(0, 1)
        vae = self.vae
        z = x0.to(vae.dtype)
        if _is_video_vae(vae):
            mean = torch.tensor(vae.config.latents_mean, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            std = torch.tensor(vae.config.latents_std, device=z.device, dtype=z.dtype).view(1, -1, 1, 1)
            x = vae.decode((z * std + mean)[:, :, None], return_dict=False)[0][:, :, 0]
        else:
            shift = getattr(vae.config, "shift_factor", None) or 0.0
            x = vae.decode(z / vae.config.scaling_factor + shift, return_dict=False)[0]
        return ((x.float() + 1.0) / 2.0).clamp(0, 1)

    def latent_shape(self, batch_size: int) -> tuple[int, int, int, int]:
        """Shape of ``x_0`` for ``batch_size`` images at ``spec.resolution``."""
        size = self.spec.resolution // vae_scale_factor(self.vae)
        channels = (
            3
            if self.vae is None
            else int(self.vae.config.get("latent_channels", self.vae.config.get("z_dim")))
        )
        return (batch_size, channels, size, size)

    # ---- persistence ---------------------------------------------------------------------------

    def save_pretrained(self, path: str | Path) -> None:
        """Write a diffusers pipeline layout: ``model_index.json``, one folder per component, spec.

        LoRA adapters are saved under ``adapters/<component>`` and re-attached on load.
        """
        import diffusers

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {
            "_class_name": self.family.pipeline_class,
            "_diffusers_version": diffusers.__version__,
        }
        for name in T2I_COMPONENTS:
            value = getattr(self, name)
            if value is None:
                if name in ("vae", "processor") or name.endswith(("_2", "_3")):
                    index[name] = [None, None]
                continue
            library = "diffusers" if type(value).__module__.startswith("diffusers") else "transformers"
            index[name] = [library, type(value).__name__]
            save_module(value, path / name, path / ADAPTERS_DIR / name)
        (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        (path / BUNDLE_FILE).write_text(json.dumps(self.spec.to_dict(), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **kwargs: Any) -> T2IBundle:
        """Same as :func:`common.models.builders.load_t2i`."""
        from common.models.builders import load_t2i

        return load_t2i(str(name_or_path), **kwargs)
