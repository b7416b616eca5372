"""Where the evaluator policy comes from: ``task.model`` of the T2I-Eval-R1 experiments.

Exactly one source is used, in this order of precedence:

* ``name_or_path``: a hub id (``Qwen/Qwen2.5-VL-7B-Instruct``) or a directory written by
  ``VLMBundle.save_pretrained`` (e.g. a previous run's ``evaluator/``), via
  :func:`common.models.builders.load_vlm`;
* ``base``: a pretrained tiny base of ``conf/pretrain`` (``tiny_qwen2_5_vl``), built on first
  use and cached (:func:`common.models.pretrain.ensure_base`);
* ``preset``: a ``conf/model`` preset with ``overrides`` (random init for the tiny presets);
* none of them: the model the scale assigns to the ``evaluator`` role (``conf/scale``).

``warmup`` (fields of :class:`t2ieval_r1.sft.WarmupSpec`, with ``base``) starts from the base
after the label-free format warm-up, built on first use and cached (:func:`start_checkpoint`).

``lora`` (fields of :class:`common.models.lora.LoRASettings`) injects an adapter and trains only
it; the KL reference is then the base with the adapter disabled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.models.vlm_bundle import VLMBundle

__all__ = ["PolicySpec", "build_policy", "policy_source", "start_checkpoint"]


@dataclass
class PolicySpec:
    """``task.model`` (see the module docstring)."""

    name_or_path: str | None = None
    base: str | None = None
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None
    lora: dict[str, Any] | None = None
    warmup: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> PolicySpec:
        from t2ieval_r1.grpo.config import build_dataclass

        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(data, DictConfig):
                data = OmegaConf.to_container(data, resolve=True)
        except ImportError:  # pragma: no cover
            pass
        return build_dataclass(cls, data or {}, "model")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def start_checkpoint(spec: PolicySpec, cfg: Any = None, level: str | None = None) -> Any:
    """The directory the policy of a ``base`` spec starts from: the pretrained base, or the base
    after its format warm-up when ``spec.warmup`` is set (both built on first use, cached; a world
    warm-up corpus at world ``level``)."""
    from common.models.pretrain import ensure_base

    if spec.base is None:
        raise ValueError("start_checkpoint needs task.model.base")
    path = ensure_base(spec.base, cfg)
    if spec.warmup is None:
        return path
    from t2ieval_r1.sft import WarmupSpec, ensure_warmup

    return ensure_warmup(path, WarmupSpec.from_dict(spec.warmup), cfg, level=level)


def policy_source(spec: PolicySpec, cfg: Any = None, level: str | None = None) -> str | None:
    """What the policy's weights come from, for resume keys: the starting checkpoint's directory
    name for a ``base`` spec (it carries the base's config hash, and the warm-up's), the given
    path or hub id for ``name_or_path``, ``None`` when the weights are built from the config.

    Without it a rebuilt base (same name, new weights) would resume the old base's checkpoints.
    """
    if spec.name_or_path is not None:
        return str(spec.name_or_path)
    if spec.base is not None:
        return Path(str(start_checkpoint(spec, cfg, level))).name
    return None


def build_policy(spec: PolicySpec, cfg: Any = None, level: str | None = None) -> VLMBundle:
    """Build / load the policy of ``spec`` (``cfg``: the run config, for the scale and the cache;
    ``level``: the world level of a world warm-up corpus)."""
    from omegaconf import OmegaConf

    from common.models.builders import build_model, build_role, load_vlm

    scale = OmegaConf.select(cfg, "scale") if cfg is not None else None
    dtype = spec.dtype or (str(OmegaConf.select(scale, "dtype")) if scale is not None else None)
    if spec.name_or_path is not None:
        bundle: Any = load_vlm(spec.name_or_path, dtype=dtype)  # Fabric moves it to the run's device
    elif spec.base is not None:
        bundle = load_vlm(str(start_checkpoint(spec, cfg, level)), dtype=dtype)
    elif spec.preset is not None:
        bundle = build_model(spec.preset, **spec.overrides)
    else:
        bundle = build_role("evaluator", scale if scale is not None else "tiny", **spec.overrides)
    if not isinstance(bundle, VLMBundle):
        raise ValueError(f"model {spec} is not a vision-language model (got {type(bundle).__name__})")
    if spec.lora is not None:
        from common.models.lora import LoRASettings, add_lora

        add_lora(bundle.model, LoRASettings(**spec.lora))
    return bundle
