"""Loaders of whole bundles: one function per family, for hub ids and local directories alike.

``load_vlm("Qwen/Qwen2.5-VL-7B-Instruct")`` (paper scale) and ``load_vlm("/runs/x/critic")`` (a
tiny model saved with ``VLMBundle.save_pretrained``) run the same code: the library's
``from_pretrained`` on the string given. Likewise :func:`load_t2i` reads a diffusers pipeline
layout (``model_index.json``) from the hub or from disk. Missing hub models give a clear
:class:`~common.models.hub.ModelNotAvailableError` (``HF_HUB_OFFLINE`` is respected).

The ``conf/model/*.yaml`` presets name these functions (paper scale) or the tiny builders of
:mod:`common.models.tiny` / :mod:`common.models.tiny_generators` as their
``_target_``; :func:`build_model` instantiates a preset by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from common.models.hub import as_dtype, resolve_file
from common.models.module_io import attach_saved_adapters
from common.models.patch_embed import apply_linear_patch_embed
from common.models.processor import PROCESSOR_CLASSES
from common.models.t2i import T2IBundle, T2ISpec, family_of_pipeline
from common.models.tiny import VLM_CLASSES
from common.models.vlm_bundle import VLMBundle
from common.presets import load_preset
from common.runtime import Scale


def load_vlm(
    name_or_path: str,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    attn_implementation: str | None = "sdpa",
    expected_class: str | None = None,
    linear_patch_embed: bool | None = None,
    **from_pretrained_kwargs: Any,
) -> VLMBundle:
    """Load a Qwen2.5-VL / Qwen3-VL model with its (image-only) processor.

    Args:
        name_or_path: hub id (``"Qwen/Qwen3-VL-8B-Instruct"``) or a directory written by
            :meth:`VLMBundle.save_pretrained`.
        dtype: weights dtype (``"bfloat16"`` at paper scale); ``None`` keeps the saved one.
        device: where to put the model (``None``: leave where ``from_pretrained`` puts it).
        attn_implementation: ``"sdpa"``, ``"eager"`` or ``"flash_attention_2"``.
        expected_class: if given, the model class the checkpoint must have (a preset's check
            that its hub id names the right architecture).
        linear_patch_embed: run the vision tower's patch-embedding ``Conv3d`` as the equal
            ``F.linear`` (:mod:`common.models.patch_embed`; 6-7x faster on CPU); ``None`` follows
            the checkpoint's ``config.json`` (the tiny builders record ``true``; hub models have
            no entry: ``Conv3d``). The paper-scale presets say ``false``.
        **from_pretrained_kwargs: passed to the model's ``from_pretrained`` (``device_map``,
            ``revision`` ...).
    """
    import transformers

    config_path = resolve_file(name_or_path, "config.json")
    model_type = json.loads(Path(config_path).read_text()).get("model_type")
    if model_type not in VLM_CLASSES:
        raise ValueError(
            f"{name_or_path}: model_type {model_type!r} is not a supported VLM ({', '.join(VLM_CLASSES)})"
        )
    class_name = VLM_CLASSES[model_type]
    if expected_class is not None and expected_class != class_name:
        raise ValueError(f"{name_or_path} holds a {class_name}, not the expected {expected_class}")
    model_cls = getattr(transformers, class_name)
    kwargs = dict(from_pretrained_kwargs)
    if dtype is not None:
        kwargs["dtype"] = as_dtype(dtype)
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    model = model_cls.from_pretrained(name_or_path, **kwargs)
    apply_linear_patch_embed(model, linear_patch_embed)
    attach_saved_adapters({"model": model}, name_or_path)
    if device is not None:
        model.to(device)
    processor = PROCESSOR_CLASSES[model_type].from_pretrained(name_or_path)
    return VLMBundle(model=model, processor=processor)


def _load_component(source: str, name: str, library: str, class_name: str, dtype: torch.dtype | None) -> Any:
    """One pipeline component, by the ``[library, class]`` entry of ``model_index.json``."""
    import diffusers
    import transformers

    if name.startswith("tokenizer"):
        return transformers.AutoTokenizer.from_pretrained(source, subfolder=name)
    if name == "processor":
        return PROCESSOR_CLASSES["qwen2_5_vl"].from_pretrained(source, subfolder=name)
    module = {"diffusers": diffusers, "transformers": transformers}.get(library)
    if module is None or not hasattr(module, class_name):
        raise ValueError(f"{source}: component {name} has unsupported class {library}.{class_name}")
    cls = getattr(module, class_name)
    if name == "scheduler":
        return cls.from_pretrained(source, subfolder=name)
    if library == "diffusers":
        return cls.from_pretrained(source, subfolder=name, torch_dtype=dtype)
    component = cls.from_pretrained(source, subfolder=name, dtype=dtype)
    if getattr(component.config, "model_type", None) in VLM_CLASSES:  # the editor's text encoder
        apply_linear_patch_embed(component)
    return component


def load_t2i(
    name_or_path: str,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    expected_pipeline: str | None = None,
    skip: tuple[str, ...] = (),
    spec_overrides: dict[str, Any] | None = None,
) -> T2IBundle:
    """Load a flow-matching image model (generator or editor) from a hub id or a directory.

    Args:
        name_or_path: hub id (``"stabilityai/stable-diffusion-3.5-medium"``,
            ``"Qwen/Qwen-Image-Edit-2509"``) or a directory written by :meth:`T2IBundle.save_pretrained`.
        dtype: weights dtype of every module; ``None`` keeps the saved one.
        device: where to put the modules.
        expected_pipeline: if given, the pipeline class ``model_index.json`` must name.
        skip: components not to load (e.g. ``("text_encoder_3",)`` to drop SD3's T5).
        spec_overrides: fields of :class:`T2ISpec` to override (e.g. ``{"resolution": 512}``).
    """
    index = json.loads(Path(resolve_file(name_or_path, "model_index.json")).read_text())
    pipeline_class = index.get("_class_name", "")
    if expected_pipeline is not None and pipeline_class != expected_pipeline:
        raise ValueError(f"{name_or_path} is a {pipeline_class}, not the expected {expected_pipeline}")
    family = family_of_pipeline(pipeline_class)
    torch_dtype = as_dtype(dtype)
    components: dict[str, Any] = {}
    for name, entry in index.items():
        if name.startswith("_") or name in skip or not isinstance(entry, list) or entry[0] is None:
            continue
        components[name] = _load_component(name_or_path, name, entry[0], entry[1], torch_dtype)
    try:
        spec = T2ISpec.from_dict(json.loads(Path(resolve_file(name_or_path, "t2i_bundle.json")).read_text()))
    except (FileNotFoundError, OSError):
        spec = family.default_spec(components)
    if spec_overrides:
        spec = T2ISpec.from_dict({**spec.to_dict(), **spec_overrides})
    known = {k: v for k, v in components.items() if k in T2IBundle.__dataclass_fields__}
    attach_saved_adapters(components, name_or_path)
    bundle = T2IBundle(**known, spec=spec)
    if device is not None:
        bundle.to(device=device)
    return bundle


def load_model(name_or_path: str, **kwargs: Any) -> VLMBundle | T2IBundle:
    """Either family: a directory/repo with ``model_index.json`` is a T2I model, else a VLM."""
    try:
        resolve_file(name_or_path, "model_index.json")
    except (FileNotFoundError, OSError):
        return load_vlm(name_or_path, **kwargs)
    return load_t2i(name_or_path, **kwargs)


def model_preset(name: str) -> Any:
    """The ``conf/model/<name>.yaml`` preset as an OmegaConf node (interpolations unresolved)."""
    return load_preset("model", name)


def build_model(preset: str | Any, **overrides: Any) -> VLMBundle | T2IBundle:
    """Instantiate a model preset (a name in ``conf/model`` or a config node with ``_target_``).

    ``overrides`` replace keys of the preset (e.g. ``dtype="bfloat16"``, ``text_layers=2``).
    Interpolations such as ``${oc.select:scale.dtype,float32}`` resolve to their defaults when
    the preset is used outside a full Hydra config.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    node = model_preset(preset) if isinstance(preset, str) else preset
    node = OmegaConf.merge(node, overrides) if overrides else node
    return instantiate(node, _convert_="all")


def build_role(role: str, scale: str | Scale | Any = "tiny", **overrides: Any) -> VLMBundle | T2IBundle:
    """Build the model a scale assigns to ``role`` (evaluator, reward_model, generator, editor).

    ``scale`` is a name in ``conf/scale``, a :class:`common.runtime.Scale` (``settings.scale``) or a
    scale node; its ``dtype`` (and ``device`` for the tiny builders) apply unless ``overrides`` say
    otherwise.
    """
    scale_cfg = Scale.of(scale)
    preset = scale_cfg.model(role)
    if preset is None:
        raise KeyError(
            f"scale {scale_cfg.name!r} assigns no model to role {role!r}; roles: {list(scale_cfg.models)}"
        )
    node = model_preset(preset)
    settings: dict[str, Any] = {}
    if "dtype" in node:
        settings["dtype"] = scale_cfg.dtype
    if "device" in node:
        settings["device"] = scale_cfg.device
    return build_model(node, **{**settings, **overrides})
