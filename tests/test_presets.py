"""The YAML presets are found through common.presets, from a checkout and from an installed wheel."""

from __future__ import annotations

import fnmatch
import importlib.resources
import tomllib
from pathlib import Path

import pytest

from common.presets import PACKAGE, conf_root, load_preset, preset_dir, preset_names, preset_path

ROOT = Path(__file__).resolve().parents[1]


def test_presets_are_found_as_package_resources():
    resource = importlib.resources.files(PACKAGE) / "model" / "tiny_qwen3_vl.yaml"
    assert resource.is_file()
    assert Path(str(resource)) == preset_path("model", "tiny_qwen3_vl")
    assert conf_root() == ROOT / "conf"  # in a checkout: the repository's tree
    node = load_preset("model", "tiny_qwen3_vl")
    assert "_target_" in node
    assert preset_dir("scale") == conf_root() / "scale"
    assert {"tiny", "paper"} <= set(preset_names("scale"))
    assert "tiny_qwen3_vl" in preset_names("pretrain")


def test_unknown_presets_name_the_known_ones():
    with pytest.raises(KeyError, match=r"no model preset 'nope'; known: .*tiny_qwen3_vl"):
        preset_path("model", "nope")
    with pytest.raises(KeyError, match=r"no preset group 'nope'; known: .*model"):
        preset_dir("nope")


def test_the_wheel_ships_every_yaml_of_conf():
    """pyproject.toml makes ``conf`` a package of the wheel and its package data covers every YAML
    file of the tree (setuptools' globs, checked with fnmatch the way they apply per directory)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert any(fnmatch.fnmatch(PACKAGE, pat) for pat in setuptools["packages"]["find"]["include"])
    assert (ROOT / PACKAGE / "__init__.py").is_file()
    globs = setuptools["package-data"][PACKAGE]
    files = sorted(p.relative_to(ROOT / PACKAGE).as_posix() for p in (ROOT / PACKAGE).rglob("*.yaml"))
    assert files
    uncovered = [
        f
        for f in files
        if not any(
            fnmatch.fnmatch(f, g) and ("/" not in f or "**" in g or g.count("/") == f.count("/"))
            for g in globs
        )
    ]
    assert not uncovered, uncovered
