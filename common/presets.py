"""Where the project's YAML presets live: the one module that knows the ``conf/`` tree.

``conf/`` is the Hydra config tree of :mod:`experiments.run` and also holds the presets library
code reads: ``conf/model`` (model presets), ``conf/pretrain`` (pretraining configs of the tiny
bases), ``conf/scale`` (the models and dtype of a scale), ``conf/engine``, ``conf/annotator``, ...
It ships inside the package (``conf`` is a package with its YAML as package data, see
``pyproject.toml``), so it is found through :mod:`importlib.resources` from a checkout and from an
installed wheel alike. No other library module builds a path into it.

    conf_root() -> Path                 the tree (Hydra's config_path)
    preset_dir(group) -> Path           conf/<group>
    preset_names(group) -> list[str]    the presets of a group, by name
    preset_path(group, name) -> Path    conf/<group>/<name>.yaml (KeyError naming the known ones)
    load_preset(group, name) -> node    that file as an OmegaConf node (interpolations unresolved)
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from typing import Any

__all__ = ["PACKAGE", "conf_root", "load_preset", "preset_dir", "preset_names", "preset_path"]

PACKAGE = "conf"
"""The package that holds the YAML tree."""


@functools.cache
def conf_root() -> Path:
    """The directory of the YAML tree (a checkout's ``conf/`` or the installed package's)."""
    root = Path(str(importlib.resources.files(PACKAGE)))
    if not root.is_dir():  # pragma: no cover - a zipped install, which the project does not make
        raise FileNotFoundError(f"the {PACKAGE!r} package at {root} is not a directory of YAML files")
    return root


def preset_dir(group: str) -> Path:
    """``conf/<group>`` (``model``, ``pretrain``, ``scale``, ``engine``, ``annotator``, ...)."""
    path = conf_root() / group
    if not path.is_dir():
        known = sorted(p.name for p in conf_root().iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise KeyError(f"no preset group {group!r}; known: {', '.join(known)}")
    return path


def preset_names(group: str) -> list[str]:
    """The preset names of ``group`` (file stems, sorted)."""
    return sorted(p.stem for p in preset_dir(group).glob("*.yaml"))


def preset_path(group: str, name: str) -> Path:
    """``conf/<group>/<name>.yaml``; a name that is not there raises ``KeyError`` naming the known ones."""
    path = preset_dir(group) / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"no {group} preset {name!r}; known: {', '.join(preset_names(group))}")
    return path


def load_preset(group: str, name: str) -> Any:
    """``conf/<group>/<name>.yaml`` as an OmegaConf node (interpolations unresolved)."""
    from omegaconf import OmegaConf

    return OmegaConf.load(preset_path(group, name))
