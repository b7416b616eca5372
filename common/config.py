"""Config nodes as typed dataclasses: the one converter every config uses.

:func:`to_dataclass` turns a mapping (a plain dict or an OmegaConf node, interpolations resolved)
into a dataclass, nested dataclasses included, checking every value against the field's type
hint: ``int``, ``float``, ``bool``, ``str``, ``Any``, ``None``, ``Optional`` / ``Union``,
``Literal``, ``Enum``, ``list`` / ``tuple`` / ``dict`` (or ``Sequence`` / ``Mapping``) of those,
and dataclasses. Fields left out take the dataclass's defaults. An unknown key, a missing
required field or a value of the wrong type raises :class:`ConfigError`, whose message names the
full key path (``task.grpo.rollout.top_k``), what was expected, what was given and what to do.
Range checks and checks across fields stay with each dataclass (its ``__post_init__``).

Numbers follow the YAML a person writes: an ``int`` is a valid ``float`` and is kept as given
(configs are hashed into cache and resume keys, which must not change with the converter), a
float with an integral value (``5.0e8``) is a valid ``int``, and a string that reads as a number
(YAML 1.1 reads ``5e8`` and ``1e-5`` as strings) is that number. ``bool`` is never a number.

A config group's YAML names the dataclass of its node with the key :data:`CONFIG_KEY`
(``_config_: t2ieval_r1.grpo.config.GRPOConfig``; not Hydra's ``_target_``, which
``instantiate`` would call). The converter checks that the named class is the one it builds (or
a subclass, which it then builds) and drops the key; :func:`validate_tree` walks a composed run
config and converts every node that names its dataclass, so a config is checked when it is
composed, not when its task reaches it. :func:`without_config_keys` is a tree without those
keys, for hashes that identify what a config computes (the names of its schemas do not).

Defaults written once: a dataclass's defaults are the only copy of them. :func:`register_defaults`
puts, for each dataclass of :data:`DEFAULTS_OF`, a plain node of its defaults (every field, nested
dataclasses included, plus its :data:`CONFIG_KEY`) into Hydra's ConfigStore as
``defaults_of/<name>``. A YAML pulls it in with a defaults-list entry before ``_self_``
(``- /defaults_of/grpo@task.grpo``) and writes only what differs, yet every field is in the
composed config, so ``task.grpo.clip_low=0.3`` works from the command line (an absent key would
need ``+``). Hydra reads the ConfigStore when it composes, so every compose path (``python -m
experiments.run``, :func:`firm.rm.cache.compose_rm`, the reproduction's ``compose_run``, tests)
calls :func:`register_defaults` first; it is idempotent, and imports the listed dataclasses'
modules (about 3 s: the GRPO and flow-RL config modules pull in torch; ``firm/rl/eval_config.py``
holds the RL evaluation's dataclass apart from its task so that the task's imports are not
added). A field the task sets itself (the run's ``seed``) is left out. An experiment's recipe
(``conf/recipe/<scale>/<exp>.yaml``) is merged before the experiment, so a node whose keys the
recipe sets is pulled in by the recipe, and the experiment writes its deltas on top.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import importlib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

__all__ = [
    "CONFIG_KEY",
    "DEFAULTS_GROUP",
    "DEFAULTS_OF",
    "ActionableError",
    "ConfigError",
    "DefaultsOf",
    "InputError",
    "config_class",
    "defaults_node",
    "plain",
    "register_defaults",
    "to_dataclass",
    "validate_tree",
    "without_config_keys",
]

T = TypeVar("T")

CONFIG_KEY = "_config_"
"""The key of a config node that names its dataclass (``module.Class``)."""

HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
"""Keys Hydra's ``instantiate`` consumes; a task node's other keys are its parameters."""


class ActionableError(Exception):
    """An error whose message tells the user what is wrong and what to do (which key, file, model or
    server, and the fix); ``python -m experiments.run`` prints it in one line, without a traceback
    (``HYDRA_FULL_ERROR=1`` keeps the traceback)."""


DEFAULTS_GROUP = "defaults_of"
"""The ConfigStore group of the defaults nodes (:func:`register_defaults`)."""


@dataclasses.dataclass(frozen=True)
class DefaultsOf:
    """A dataclass whose defaults are a ConfigStore node (:func:`register_defaults`).

    Attributes:
        config: the dataclass as ``module.Class`` (imported when registered, not before).
        omit: fields left out of the node: those the task sets itself (the run's ``seed``), which
            an override would not change.
    """

    config: str
    omit: tuple[str, ...] = ()


DEFAULTS_OF: dict[str, DefaultsOf] = {
    "serve": DefaultsOf("firm.serve.config.ServeConfig"),
    "grpo": DefaultsOf("t2ieval_r1.grpo.config.GRPOConfig", omit=("seed",)),
    "flow_rl": DefaultsOf("common.flow_rl.config.FlowRLConfig", omit=("seed",)),
    "rl_eval": DefaultsOf("firm.rl.eval_config.EvalConfig"),
}
"""Name in ``defaults_of/`` -> the dataclass whose defaults it holds."""


class InputError(ActionableError, ValueError):
    """Bad input from the user (a config value, a file, a model source) whose message says which
    key or file and what to do; ``python -m experiments.run`` prints it without a traceback."""


class ConfigError(InputError):
    """A config value that does not fit its dataclass; the message names the key path and the fix."""


def plain(node: Any) -> Any:
    """``node`` as plain Python data: an OmegaConf node as a container with interpolations resolved."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def config_class(name: Any, where: str = CONFIG_KEY) -> type:
    """The dataclass a :data:`CONFIG_KEY` value names (``package.module.Class``)."""
    if not isinstance(name, str) or "." not in name:
        raise ConfigError(f"{where}: expected a dataclass as module.Class, got {name!r}")
    module_name, _, attr = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"{where}: cannot import {name!r} ({e}); name a dataclass as module.Class"
        ) from None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"{where}: {name!r} is not a dataclass; name the dataclass this node is read as")
    return cls


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def to_dataclass(cls: type[T], node: Any, where: str | None = None) -> T:
    """``cls`` built from ``node`` (a mapping or an OmegaConf node; ``None`` is an empty one) with
    every value checked against its type hint (module docstring); an instance of ``cls`` is
    returned as is. ``where`` is the node's key path in messages (default: the class name).
    Raises :class:`ConfigError`; errors of the dataclass's own ``__post_init__`` pass through."""
    if isinstance(node, cls):
        return node
    return _build(cls, plain(node), where or cls.__name__)  # type: ignore[no-any-return]


def validate_tree(cfg: Any, where: str = "") -> dict[str, Any]:
    """Convert every node of ``cfg`` (a composed run config, or any part of it) that names its
    dataclass with :data:`CONFIG_KEY`; returns ``{key path: instance}``.

    Hydra's keys (``_target_``, ...) of a node are left out. An error of a dataclass's own checks
    is re-raised as :class:`ConfigError` with the node's path and class in front.
    """
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            if CONFIG_KEY in node:
                cls = config_class(node[CONFIG_KEY], f"{path}.{CONFIG_KEY}" if path else CONFIG_KEY)
                body = {k: v for k, v in node.items() if k not in HYDRA_KEYS}
                try:
                    found[path] = to_dataclass(cls, body, path or None)
                except ConfigError:
                    raise
                except (ValueError, TypeError) as e:
                    raise ConfigError(f"{path or '<root>'} ({cls.__name__}): {e}") from e
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(plain(cfg), where)
    return found


def without_config_keys(tree: Any) -> Any:
    """``tree`` (plain data) without any :data:`CONFIG_KEY` entry, at every depth."""
    if isinstance(tree, Mapping):
        return {k: without_config_keys(v) for k, v in tree.items() if k != CONFIG_KEY}
    if isinstance(tree, list):
        return [without_config_keys(v) for v in tree]
    return tree


def _as_data(value: Any) -> Any:
    """A default as plain YAML data: a dataclass as a mapping of its fields, an enum as its name,
    a tuple as a list, a path as a string."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _as_data(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Mapping):
        return {k: _as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def defaults_node(cls: type, omit: Sequence[str] = ()) -> dict[str, Any]:
    """The defaults of dataclass ``cls`` as plain data: :data:`CONFIG_KEY` naming ``cls``, then
    each field's default (a nested dataclass as its own defaults); a field without a default is
    ``???`` (OmegaConf's missing value: composing works, reading it asks for a value). ``omit``:
    fields left out."""
    node: dict[str, Any] = {CONFIG_KEY: _qualified(cls)}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in omit:
            continue
        if f.default is not dataclasses.MISSING:
            node[f.name] = _as_data(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            node[f.name] = _as_data(f.default_factory())
        else:
            node[f.name] = "???"
    return node


def register_defaults() -> None:
    """Store ``defaults_of/<name>`` in Hydra's ConfigStore for every entry of :data:`DEFAULTS_OF`
    (module docstring); call it before composing. Idempotent: storing again replaces the nodes."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for name, entry in DEFAULTS_OF.items():
        cls = config_class(entry.config, f"{DEFAULTS_GROUP}/{name}")
        store.store(group=DEFAULTS_GROUP, name=name, node=OmegaConf.create(defaults_node(cls, entry.omit)))


# ------------------------------------------------------------------------------ the converter


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Any, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{path}: expected a mapping of {cls.__name__} fields, got {data!r} ({type(data).__name__}); "
            f"write it as {{key: value, ...}}"
        )
    if CONFIG_KEY in data:
        named = config_class(data[CONFIG_KEY], f"{path}.{CONFIG_KEY}")
        if not issubclass(named, cls):
            raise ConfigError(
                f"{path}.{CONFIG_KEY} names {_qualified(named)}, but {path} is read as {_qualified(cls)}; "
                "name that class (or a subclass of it)"
            )
        cls = named
        data = {k: v for k, v in data.items() if k != CONFIG_KEY}
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    unknown = sorted(set(map(str, data)) - set(names))
    if unknown:
        guesses = [
            f"{close[0]!r} for {u!r}" for u in unknown if (close := difflib.get_close_matches(u, names, 1))
        ]
        raise ConfigError(
            f"{path}: unknown key(s) {unknown} for {cls.__name__}; valid keys: {names}"
            + (f"; did you mean {', '.join(guesses)}?" if guesses else "; remove them or fix their names")
        )
    hints = _hints(cls)
    kwargs = {}
    for f in fields:
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"{path}.{f.name}: missing; {cls.__name__} has no default for it, so set it "
                f"({_describe(hints[f.name])})"
            )
    return cls(**kwargs)


def _describe(hint: Any) -> str:
    """What a value of ``hint`` is, in words (for messages)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        item = args[0] if args else Any
        return f"a list of {_describe(item)} items" if item is not Any else "a list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return (
            f"a mapping to {_describe(args[1])} values"
            if len(args) == 2 and args[1] is not Any
            else "a mapping"
        )
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} fields"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.name) for m in hint)
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    return words.get(hint, "any value" if hint is Any else getattr(hint, "__name__", str(hint)))


def _mismatch(path: str, hint: Any, value: Any) -> ConfigError:
    return ConfigError(
        f"{path}: expected {_describe(hint)}, got {value!r} ({type(value).__name__}); "
        f"set {path.rsplit('.', 1)[-1]} to {_describe(hint)}"
    )


def _number(value: Any) -> int | float | None:
    """``value`` as a number if it is one or a string that reads as one (``5e8``), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _is_container(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    return dataclasses.is_dataclass(hint) or origin in (list, tuple, dict, Sequence, Mapping)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and _is_container(options[0]) and value is not None:
            return _coerce(value, options[0], path)  # the nested error names the inner key
        for option in options:
            try:
                return _coerce(value, option, path)
            except ConfigError:
                continue
        raise _mismatch(path, hint, value)
    if origin is Literal:
        if value not in args:
            raise _mismatch(path, hint, value)
        return value
    if hint is type(None):
        if value is not None:
            raise _mismatch(path, hint, value)
        return None
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise _mismatch(path, hint, value)
        return _build(hint, value, path)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        for member in hint:
            if value in (member.name, member.value):
                return member
        raise _mismatch(path, hint, value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _mismatch(path, hint, value)
        key_hint, value_hint = args if len(args) == 2 else (Any, Any)
        return {
            _coerce(k, key_hint, f"{path}.{k}"): _coerce(v, value_hint, f"{path}.{k}")
            for k, v in value.items()
        }
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _mismatch(path, hint, value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}: {value!r}")
            return tuple(
                _coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or hint is tuple else items
    if hint is bool:
        if not isinstance(value, bool):
            raise _mismatch(path, hint, value)
        return value
    if hint is int:
        number = _number(value)
        if number is None or (isinstance(number, float) and not number.is_integer()):
            raise _mismatch(path, hint, value)
        return int(number)
    if hint is float:
        number = _number(value)
        if number is None:
            raise _mismatch(path, hint, value)
        return number  # an int stays an int (module docstring)
    if hint is str:
        if not isinstance(value, str):
            raise _mismatch(path, hint, value)
        return value
    raise ConfigError(f"{path}: the converter has no rule for the field type {hint!r}")  # pragma: no cover
