"""Where the evaluator policy comes from: ``task.model`` of the T2I-Eval-R1 experiments.

``kind`` / ``name`` / ``overrides`` are a :class:`common.models.source.ModelSource` (the keys
every model source uses), resolved for the ``evaluator`` role:

* ``kind: hub`` / ``kind: path``: a hub id (``Qwen/Qwen2.5-VL-7B-Instruct``) or a directory
  written by ``VLMBundle.save_pretrained`` (e.g. a previous run's ``evaluator/``), via
  :func:`common.models.builders.load_vlm`;
* ``kind: base``: a pretrained tiny base of ``conf/pretrain`` (``tiny_qwen2_5_vl``), built on
  first use and cached (:func:`common.models.pretrain.ensure_base`);
* ``kind: preset``: a ``conf/model`` preset with ``overrides`` (random init for the tiny presets);
  without ``name`` (the default): the model the scale assigns to the ``evaluator`` role
  (``conf/scale``).

``dtype`` (default: the scale's) applies to loaded weights (hub, path, base), not to presets.

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

from common.config import to_dataclass, without_config_keys
from common.models.lora import LoRASettings, add_lora
from common.models.source import ModelSource, load_source, resolve_path
from common.models.vlm_bundle import VLMBundle
from common.runtime import RunSettings
from t2ieval_r1.sft import WarmupSpec, ensure_warmup

__all__ = ["PolicySpec", "build_policy", "policy_source", "start_checkpoint", "start_path"]


@dataclass
class PolicySpec:
    """``task.model`` (see the module docstring)."""

    kind: str = "preset"
    name: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None
    lora: dict[str, Any] | None = None
    warmup: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.source()  # a bad kind / name is an error here, naming task.model
        if self.warmup is not None:  # read as a WarmupSpec where used; its YAML names it (_config_)
            self.warmup = without_config_keys(self.warmup)

    @classmethod
    def from_dict(cls, data: Any) -> PolicySpec:
        """From ``task.model`` (a mapping or an OmegaConf node; :func:`common.config.to_dataclass`)."""
        return to_dataclass(cls, data, "model")

    def source(self) -> ModelSource:
        """The model source (``kind``, ``name``, ``overrides``; :func:`build_policy` applies ``dtype``)."""
        return ModelSource.from_config(
            {"kind": self.kind, "name": self.name, "overrides": self.overrides}, "task.model"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ROLE = "evaluator"
"""The scale role whose model a source without ``name`` means."""


def start_checkpoint(spec: PolicySpec, settings: RunSettings | None = None, level: str | None = None) -> Any:
    """The directory the policy of a ``base`` spec starts from: the pretrained base, or the base
    after its format warm-up when ``spec.warmup`` is set (both built on first use, cached; a world
    warm-up corpus at world ``level``)."""
    if spec.kind != "base":
        raise ValueError(f"start_checkpoint needs task.model.kind=base, got {spec.kind!r}")
    path = Path(str(resolve_path(spec.source(), settings, role=ROLE)))
    if spec.warmup is None:
        return path

    return ensure_warmup(path, WarmupSpec.from_dict(spec.warmup), settings, level=level)


def policy_source(
    spec: PolicySpec, settings: RunSettings | None = None, level: str | None = None
) -> str | None:
    """What the policy's weights come from, for resume keys: the starting checkpoint's directory
    name for a ``base`` spec (it carries the base's config hash, and the warm-up's), the given
    path or hub id for ``hub`` / ``path``, ``None`` when the weights are built from the config.

    Without it a rebuilt base (same name, new weights) would resume the old base's checkpoints.
    """
    if spec.kind in ("hub", "path"):
        return str(spec.name)
    if spec.kind == "base":
        return Path(str(start_checkpoint(spec, settings, level))).name
    return None


def start_path(spec: PolicySpec, settings: RunSettings | None = None, level: str | None = None) -> Any:
    """Where the policy's weights are read from: the starting checkpoint of a ``base`` spec, the
    name of a ``hub`` / ``path`` spec, ``None`` for a preset (built from the config)."""
    if spec.kind == "base":
        return start_checkpoint(spec, settings, level)
    return spec.name if spec.kind in ("hub", "path") else None


def build_policy(
    spec: PolicySpec, settings: RunSettings | None = None, level: str | None = None
) -> VLMBundle:
    """Build / load the policy of ``spec`` (``settings``: the run's, for the scale and the cache;
    ``level``: the world level of a world warm-up corpus)."""
    dtype = spec.dtype or (settings.scale.dtype if settings is not None else None)
    source = spec.source()
    if spec.kind == "base":  # from the starting checkpoint (the base, or its warm-up)
        start = Path(str(start_checkpoint(spec, settings, level)))  # a hub id for a paper-scale preset
        source = ModelSource("path" if start.is_dir() else "hub", str(start))
    if source.kind != "preset":
        source = source.with_settings(dtype=dtype)  # Fabric moves it to the run's device
    bundle: Any = load_source(source, settings, role=ROLE)
    if not isinstance(bundle, VLMBundle):
        raise ValueError(f"model {spec} is not a vision-language model (got {type(bundle).__name__})")
    if spec.lora is not None:
        add_lora(bundle.model, LoRASettings(**spec.lora))
    return bundle
