"""Model sources of RM training and FIRM-Bench, as strings.

A source is the string form of :class:`common.models.source.ModelSource` (parsed there, and only
there); :func:`resolve_model_source` turns it into what :func:`common.models.builders.load_vlm`
reads:

* ``base``: the scale's reward-model base (``scale.models.reward_model``): at ``scale=tiny`` the
  pretrained ``tiny_qwen3_vl`` base (built on first use, :func:`common.models.pretrain.ensure_base`),
  at ``scale=paper`` the preset's hub id (``Qwen/Qwen3-VL-8B-Instruct``);
* ``base:<name>``: the pretrained base ``<name>`` of ``conf/pretrain``;
* a run directory of ``+exp=firm_edit_rm`` / ``+exp=firm_gen_rm`` (it holds ``rm/``): its exported RM;
* a model directory (it holds ``config.json``) or a hub id: as it is (``path:<dir>`` /
  ``hub:<id>`` say which explicitly).

One more source is not resolved here: ``rm:edit`` / ``rm:gen`` (prefix :data:`RM_PREFIX`), the
trained FIRM-Edit / FIRM-Gen RM of the run's scale and world level, trained on first use and
cached; :func:`firm.rm.cache.resolve_source` resolves every source, that one included (the cache
imports this module).

:func:`run_seed` reads the training seed of an RM run directory (its ``config.yaml``).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from common.models.source import ModelSource, ModelSourceError, resolve_path
from common.runtime import RunSettings

__all__ = ["RM_EXPORT_DIR", "RM_PREFIX", "resolve_model_source", "resolve_template", "run_seed"]

RM_EXPORT_DIR = "rm"
"""Where an RM run exports its trained model, inside the run directory."""
RM_PREFIX = "rm:"
"""The prefix of a cached trained RM source (``rm:edit`` / ``rm:gen``; module docstring)."""


def resolve_model_source(source: str, settings: RunSettings | None = None) -> str:
    """A local directory or hub id for ``source`` (module docstring; a ``preset`` is refused: an RM
    starts from weights). ``rm:<kind>`` is refused too: :func:`firm.rm.cache.resolve_source`
    resolves it."""
    if isinstance(source, str) and source.strip().startswith(RM_PREFIX):
        raise ModelSourceError(
            f"task.model {source!r}: a cached RM source (rm:<kind>) is resolved by "
            "firm.rm.cache.resolve_source"
        )
    spec = ModelSource.from_config(source, "task.model")
    if spec.kind == "preset":
        raise ModelSourceError(
            f"task.model {spec.to_string()!r}: an RM starts from weights; give base, base:<name>, a "
            "run or model directory or a hub id"
        )
    return str(resolve_path(spec, settings, role="reward_model", export_dir=RM_EXPORT_DIR))


def run_seed(source: str) -> int | None:
    """The ``seed`` of the RM run that ``source`` points into (``None`` when it is not a run, and
    for an unresolved ``rm:<kind>``: pass its resolved directory, a cached RM keeps its run's
    ``config.yaml`` beside ``rm/``)."""
    if isinstance(source, str) and source.strip().startswith(RM_PREFIX):
        return None
    spec = ModelSource.from_config(source, "task.model")
    if spec.kind != "path":
        return None
    path = Path(str(spec.name)).expanduser()
    for run_dir in (path, path.parent):
        config = run_dir / "config.yaml"
        if config.is_file() and (run_dir / RM_EXPORT_DIR).is_dir():
            seed = OmegaConf.load(config).get("seed")  # the saved config of that run
            return None if seed is None else int(seed)
    return None


def resolve_template(template: str | None, settings: RunSettings | None = None) -> str:
    """The RM prompt template: ``template`` if given, else ``tiny`` at ``scale=tiny`` (the project
    tokenizer's vocabulary; also without settings) and ``full`` (the curation rubrics without
    report / plan) otherwise."""
    if template:
        return str(template)
    return "tiny" if settings is None or settings.scale.name in (None, "tiny") else "full"
