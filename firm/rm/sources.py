"""Model sources as strings, shared by RM training and FIRM-Bench.

A source names a VLM checkpoint; :func:`resolve_source` turns it into what
:func:`common.models.builders.load_vlm` reads:

* ``base``: the scale's reward-model base (``scale.models.reward_model``): at ``scale=tiny`` the
  pretrained ``tiny_qwen3_vl`` base (built on first use, :func:`common.models.pretrain.ensure_base`),
  at ``scale=paper`` the preset's hub id (``Qwen/Qwen3-VL-8B-Instruct``);
* ``base:<name>``: the pretrained base ``<name>`` of ``conf/pretrain``;
* a run directory of ``+exp=firm_edit_rm`` / ``+exp=firm_gen_rm`` (it holds ``rm/``): its exported RM;
* a model directory (it holds ``config.json``) or a hub id: as it is.

:func:`run_seed` reads the training seed of an RM run directory (its ``config.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

__all__ = ["RM_EXPORT_DIR", "resolve_source", "resolve_template", "run_seed"]

RM_EXPORT_DIR = "rm"
"""Where an RM run exports its trained model, inside the run directory."""


def _base_path(name: str, cfg: Any) -> str:
    from common.models.pretrain import available_bases, ensure_base

    if name in available_bases():
        return str(ensure_base(name, cfg))
    from common.models.builders import model_preset

    preset = model_preset(name)
    if "name_or_path" not in preset:
        raise ValueError(f"model preset {name!r} is neither a pretrained base nor a hub checkpoint")
    return str(preset.name_or_path)


def resolve_source(source: str, cfg: Any = None) -> str:
    """A local directory or hub id for ``source`` (module docstring)."""
    source = str(source).strip()
    if not source:
        raise ValueError("empty model source")
    if source == "base":
        preset = OmegaConf.select(cfg, "scale.models.reward_model") if cfg is not None else None
        return _base_path(str(preset or "tiny_qwen3_vl"), cfg)
    if source.startswith("base:"):
        return _base_path(source.split(":", 1)[1], cfg)
    path = Path(source).expanduser()
    if (path / RM_EXPORT_DIR / "config.json").is_file():
        return str(path / RM_EXPORT_DIR)
    if (path / "config.json").is_file():
        return str(path)
    if path.exists():
        raise FileNotFoundError(
            f"{path} holds neither a model (config.json) nor an RM export ({RM_EXPORT_DIR}/)"
        )
    if source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model source {source!r} does not exist")
    return source  # a hub id


def run_seed(source: str) -> int | None:
    """The ``seed`` of the RM run that ``source`` points into (``None`` when it is not a run)."""
    path = Path(str(source)).expanduser()
    for run_dir in (path, path.parent):
        config = run_dir / "config.yaml"
        if config.is_file() and (run_dir / RM_EXPORT_DIR).is_dir():
            seed = OmegaConf.select(OmegaConf.load(config), "seed")
            return None if seed is None else int(seed)
    return None


def resolve_template(template: str | None, cfg: Any = None) -> str:
    """The RM prompt template: ``template`` if given, else ``tiny`` at ``scale=tiny`` (the project
    tokenizer's vocabulary) and ``full`` (the curation rubrics without report / plan) otherwise."""
    if template:
        return str(template)
    scale = OmegaConf.select(cfg, "scale.name") if cfg is not None else None
    return "tiny" if scale in (None, "tiny") else "full"
