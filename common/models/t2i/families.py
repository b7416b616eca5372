"""How each T2I architecture encodes prompts and predicts velocities, and the registry of families.

:class:`T2IFamily` is subclassed per architecture (SD3, Qwen-Image-Edit, the tiny flow UNets) and
registered in :data:`T2I_FAMILIES`; :class:`~common.models.t2i.bundle.T2IBundle` delegates
``encode_prompt`` and ``velocity`` to the family named by its spec. A family sees the bundle
through :class:`BundleParts` (what it reads of one), so this module does not import the bundle
(which imports this one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import torch
import torch.nn.functional as F

from common.models.t2i.conditioning import Conditioning
from common.models.t2i.images import ImagesLike, pack_patches, pil_to_tensor, tensor_to_pil, unpack_patches
from common.models.t2i.spec import T2ISpec
from common.models.t2i.vae import vae_scale_factor
from common.registry import Registry


class BundleParts(Protocol):
    """What a family reads of a :class:`~common.models.t2i.bundle.T2IBundle` (its components, spec)."""

    transformer: Any
    text_encoder: Any
    tokenizer: Any
    processor: Any
    text_encoder_2: Any
    tokenizer_2: Any
    text_encoder_3: Any
    tokenizer_3: Any
    spec: T2ISpec

    @property
    def device(self) -> torch.device:
        """Where the transformer's weights are."""
        ...

    def encode_images(self, images: ImagesLike) -> torch.Tensor:
        """Images -> the model's space ``x_0``."""
        ...


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
        self, bundle: BundleParts, prompts: Sequence[str], source_images: ImagesLike | None
    ) -> Conditioning:
        raise NotImplementedError

    def velocity(
        self, bundle: BundleParts, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        raise NotImplementedError


T2I_FAMILIES: Registry[T2IFamily] = Registry("t2i family")


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
        self, bundle: BundleParts, prompts: Sequence[str], source_images: ImagesLike | None
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
        self, bundle: BundleParts, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
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
        self, bundle: BundleParts, prompts: Sequence[str], source_images: ImagesLike | None
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
        self, bundle: BundleParts, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
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

    The tiny scale's convolutional alternative to the SD3 transformer
    (docs/experiments/generator.md says when and why): the same CLIP text encoder and prompt embedding as
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
        self, bundle: BundleParts, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
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
        self, bundle: BundleParts, prompts: Sequence[str], source_images: ImagesLike | None
    ) -> Conditioning:
        if source_images is None:
            raise ValueError("the editor needs source images")
        pixels = pil_to_tensor(source_images)
        if len(pixels) != len(prompts):
            raise ValueError(f"{len(prompts)} instructions but {len(pixels)} source images")
        text = super().encode_prompt(bundle, prompts, None)
        return Conditioning(embeds=text.embeds, pooled=text.pooled, source=bundle.encode_images(pixels))

    def velocity(
        self, bundle: BundleParts, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning
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
