"""Where a model comes from: one spec (:class:`ModelSource`) and one resolver for every role.

Every config node that names a model uses the same keys:

=============  ====================================================================================
key            meaning
=============  ====================================================================================
``kind``       ``hub``: a hub id (``Qwen/Qwen2.5-VL-7B-Instruct``; from the local HF cache);
               ``path``: a directory written by ``save_pretrained`` (a run's ``<run_dir>/evaluator``);
               ``preset``: a ``conf/model`` preset built in code (random weights for the tiny ones);
               ``base``: a pretrained base of ``conf/pretrain``, built on first use and cached
               (:func:`common.models.pretrain.ensure_base`); a ``conf/model`` preset that names a
               hub checkpoint (``qwen3_vl_8b`` at ``scale=paper``) resolves to its hub id.
``name``       the hub id, directory, preset or base. For ``preset`` and ``base`` it may be
               ``null``: the model the scale assigns to the caller's role (``scale.models.<role>``).
``overrides``  keys of the preset to replace (``kind: preset`` only), e.g. ``{text_layers: 2}``.
``dtype``      weights dtype (``null``: the checkpoint's or the preset's own).
``device``     where the model goes (``null``: where it is loaded / the preset's own).
=============  ====================================================================================

The short string form ``<kind>:<name>`` (``base:tiny_qwen3_vl``, ``path:/runs/x/rm``,
``hub:Qwen/Qwen3-VL-8B-Instruct``, ``preset:tiny_qwen3_vl``; ``base`` / ``preset`` alone: the
role's model) is accepted wherever a source is, and parsed only by :meth:`ModelSource.parse`. A
string without a kind is read as: a ``conf/pretrain`` base name -> ``base``; an existing or
path-like string (``/``, ``./``, ``~``, two or more ``/``) -> ``path``; anything else -> ``hub``.

:func:`resolve_path` turns a source into what ``from_pretrained`` reads (a directory or hub id;
``None`` for a preset); :func:`load_source` returns the loaded (or built) model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import ConfigError, InputError, plain, to_dataclass
from common.runtime import RunSettings

__all__ = [
    "KINDS",
    "MissingModelSourceError",
    "ModelSource",
    "ModelSourceError",
    "load_source",
    "resolve_path",
    "role_model",
]

KINDS = ("hub", "path", "preset", "base")
"""The kinds of :class:`ModelSource`."""

FIELDS = ("kind", "name", "overrides", "dtype", "device")
"""The config keys of a source mapping."""


class ModelSourceError(InputError):
    """A model source is malformed or cannot be resolved (the message names the field and the fix).

    ``problem`` is what is wrong without the advice, for callers that know better what to advise
    (``task.evaluator: <problem>; give ...``)."""

    def __init__(self, message: str, *, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message


class MissingModelSourceError(ModelSourceError, FileNotFoundError):
    """A ``path`` source names a directory that does not exist or holds no model."""


@dataclass(frozen=True)
class ModelSource:
    """Which model to load (keys and string form: the module docstring)."""

    kind: str
    name: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    dtype: str | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelSourceError(
                f"model source kind {self.kind!r} is unknown; set `kind` to one of {'|'.join(KINDS)} "
                "(e.g. kind: base, name: tiny_qwen2_5_vl)"
            )
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ModelSourceError(
                f"model source `name` must be a non-empty string, got {self.name!r} (kind {self.kind})"
            )
        if self.name is None and self.kind in ("hub", "path"):
            example = "Qwen/Qwen2.5-VL-7B-Instruct" if self.kind == "hub" else "/runs/x/evaluator"
            raise ModelSourceError(f"model source kind {self.kind!r} needs `name` (e.g. name: {example})")
        if not isinstance(self.overrides, Mapping):
            raise ModelSourceError(
                f"model source `overrides` must be a mapping of preset keys, got {self.overrides!r}"
            )
        if self.overrides and self.kind != "preset":
            raise ModelSourceError(
                f"model source `overrides` ({sorted(self.overrides)}) apply to kind 'preset' only, not "
                f"{self.kind!r}; remove them or use kind: preset"
            )
        object.__setattr__(self, "overrides", dict(self.overrides))
        for key in ("dtype", "device"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ModelSourceError(f"model source `{key}` must be a string or null, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> ModelSource:
        """The source of the string form ``<kind>:<name>`` (or a bare string; module docstring)."""
        if not isinstance(text, str):
            raise ModelSourceError(f"a model source string must be a string, got {type(text).__name__}")
        text = text.strip()
        if not text:
            raise ModelSourceError(
                "empty model source; give <kind>:<name> (kinds: hub, path, preset, base), a directory "
                "or a hub id"
            )
        if text in ("base", "preset"):
            return cls(text)
        prefix, sep, rest = text.partition(":")
        if sep:
            if prefix not in KINDS:
                raise ModelSourceError(
                    f"model source {text!r}: unknown kind {prefix!r}; use {'|'.join(KINDS)}:<name>"
                )
            if not rest.strip():
                raise ModelSourceError(f"model source {text!r}: give a name after '{prefix}:'")
            return cls(prefix, rest.strip())
        # lazy: transformers (~5-7 s); keeps `python -m firm.serve` start-up and source parsing light
        from common.models.hub import looks_local
        from common.models.pretrain.config import available_bases

        if text in available_bases():
            return cls("base", text)
        if Path(text).expanduser().exists() or looks_local(text):
            return cls("path", text)
        return cls("hub", text)

    def to_string(self) -> str:
        """The string form: ``kind`` and ``name`` (``overrides``, ``dtype``, ``device`` are not in it)."""
        return self.kind if self.name is None else f"{self.kind}:{self.name}"

    def __str__(self) -> str:
        return self.to_string()

    @classmethod
    def from_config(cls, value: Any, where: str = "model") -> ModelSource:
        """A source from a config value: a :class:`ModelSource`, its string form, or a mapping with
        the keys of :data:`FIELDS` (``where`` names the config node in errors)."""
        value = plain(value)
        if isinstance(value, ModelSource):
            return value
        try:
            if isinstance(value, str):
                return cls.parse(value)
            if isinstance(value, Mapping):
                if value.get("kind") is None and not set(map(str, value)) - set(FIELDS):
                    raise ModelSourceError(
                        f"`kind` is missing; set it to one of {'|'.join(KINDS)} (with `name`)"
                    )
                data = {k: v for k, v in value.items() if not (k == "overrides" and v is None)}
                return to_dataclass(cls, data, where)  # its errors name `where` themselves
        except ModelSourceError as e:
            raise type(e)(f"{where}: {e}") from None
        except ConfigError as e:
            raise ModelSourceError(str(e)) from None
        raise ModelSourceError(
            f"{where}: a model source is a string (<kind>:<name>, a directory, a hub id) or a mapping "
            f"with {list(FIELDS)}, got {type(value).__name__}: {value!r}"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_settings(self, dtype: Any = None, device: Any = None) -> ModelSource:
        """This source with ``dtype`` / ``device`` filled where it leaves them unset."""
        return dataclasses.replace(
            self,
            dtype=self.dtype if self.dtype is not None or dtype is None else str(dtype),
            device=self.device if self.device is not None or device is None else str(device),
        )


def role_model(role: str | None, settings: RunSettings | None = None) -> str:
    """The ``conf/model`` preset the run's scale (``tiny`` without settings) assigns to ``role``."""
    if role is None:
        raise ModelSourceError(
            "a `base` / `preset` source without `name` means the scale's model of the caller's role, "
            "and no role was given; set `name`"
        )
    scale = RunSettings.of(settings).scale
    preset = scale.model(role)
    if preset is None:
        raise ModelSourceError(f"scale {scale.name!r} assigns no model to role {role!r}; set `name`")
    return preset


def _base_path(name: str, settings: RunSettings | None) -> str:
    # lazy: torch + transformers (~7.5 s), only needed to resolve a base
    from common.models.builders import model_preset
    from common.models.pretrain import available_bases, ensure_base

    if name in available_bases():
        return str(ensure_base(name, settings))
    try:
        preset = model_preset(name)
    except KeyError:
        preset = {}
    if "name_or_path" not in preset:
        raise ModelSourceError(
            f"base {name!r} is neither a pretrained base ({', '.join(available_bases())}) nor a "
            "conf/model preset of a hub checkpoint; fix `name` or use kind: path / hub"
        )
    return str(preset["name_or_path"])


def _local_path(name: str, export_dir: str | None) -> str:
    path = Path(name).expanduser()
    if export_dir is not None and (path / export_dir / "config.json").is_file():
        return str(path / export_dir)
    if (path / "config.json").is_file() or (path / "model_index.json").is_file():
        return str(path)
    inside = f" nor an export ({export_dir}/)" if export_dir else ""
    if path.exists():
        problem = (
            f"model source path {str(path)!r} holds neither a model (config.json / model_index.json){inside}"
        )
        raise MissingModelSourceError(
            f"{problem}; give a directory written by save_pretrained", problem=problem
        )
    problem = f"model source path {name!r} does not exist"
    raise MissingModelSourceError(
        f"{problem}; give a directory written by save_pretrained (e.g. a run's <run_dir>/evaluator), "
        "or kind: hub for a hub id",
        problem=problem,
    )


def resolve_path(
    source: Any,
    settings: RunSettings | None = None,
    *,
    role: str | None = None,
    export_dir: str | None = None,
) -> str | None:
    """What ``from_pretrained`` reads for ``source``: a local directory or a hub id (``None`` for a
    ``preset``, which is built in code). ``settings`` are the run's (its scale, for a source without
    ``name``, and its cache, for a base; ``None``: the defaults); ``role`` picks
    ``scale.models.<role>``; ``export_dir`` is a subdirectory a run directory exports its model to
    (``rm`` for a FIRM RM run): a ``path`` source that holds ``<export_dir>/config.json`` resolves
    to it."""
    source = ModelSource.from_config(source)
    if source.kind == "hub":
        return str(source.name)
    if source.kind == "path":
        return _local_path(str(source.name), export_dir)
    if source.kind == "base":
        return _base_path(source.name or role_model(role, settings), settings)
    return None


def load_source(
    source: Any,
    settings: RunSettings | None = None,
    *,
    role: str | None = None,
    export_dir: str | None = None,
) -> Any:
    """The model of ``source`` (a bundle): ``hub`` / ``path`` / ``base`` through
    :func:`common.models.builders.load_vlm` with the source's ``dtype`` / ``device`` (every role
    that names a source is a VLM's), a ``preset``
    through :func:`~common.models.builders.build_model` (``overrides``, and ``dtype`` / ``device``
    where set), a preset without ``name`` through :func:`~common.models.builders.build_role`."""
    # lazy: torch + transformers (~7.5 s), only needed to load a model
    from common.models.builders import build_model, build_role, load_vlm

    source = ModelSource.from_config(source)
    if source.kind != "preset":
        path = resolve_path(source, settings, role=role, export_dir=export_dir)
        return load_vlm(str(path), dtype=source.dtype, device=source.device)
    overrides = dict(source.overrides)
    overrides.update({k: v for k, v in (("dtype", source.dtype), ("device", source.device)) if v is not None})
    if source.name is not None:
        return build_model(source.name, **overrides)
    role_model(role, settings)  # a clear error when the scale names no model for the role
    return build_role(str(role), RunSettings.of(settings).scale, **overrides)
