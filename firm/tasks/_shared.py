"""Helpers shared by the curation tasks: the annotator from config, agreement with the truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.annotators.types import Annotator
from common.runtime import RunContext, RunSettings

__all__ = ["annotator_config", "build_annotator", "output_dir", "truth_agreement"]


def build_annotator(cfg: DictConfig, settings: RunSettings | None = None) -> Annotator:
    """Instantiate ``cfg.annotator`` (``conf/annotator/<name>.yaml``, chosen with ``annotator=...``);
    a VLM annotator's model source reads ``settings`` (the run's scale and cache; ``None``: those
    of ``cfg``)."""
    from hydra.utils import instantiate

    node = OmegaConf.select(cfg, "annotator")
    if node is None or "_target_" not in node:
        raise ValueError("no annotator configured: add annotator=oracle (or openai, vlm) to the command")
    if str(node._target_).endswith(
        "TransformersVLMAnnotator"
    ):  # its model source reads the run's scale / cache
        run = settings if settings is not None else RunSettings.from_config(cfg)
        annotator = instantiate(node, _convert_="all", _partial_=True)(settings=run)
    else:
        annotator = instantiate(node, _convert_="all")
    if not callable(getattr(annotator, "complete", None)):
        raise TypeError(f"{node._target_} does not implement complete(requests)")
    return annotator


def annotator_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved annotator config for dataset cards (it holds the key's variable name, no key)."""
    node = OmegaConf.select(cfg, "annotator")
    return dict(OmegaConf.to_container(node, resolve=True)) if node is not None else {}  # type: ignore[arg-type]


def output_dir(ctx: RunContext, out_dir: str | None, name: str) -> Path:
    """``out_dir`` if given, else ``<run_dir>/datasets/<name>``."""
    return Path(out_dir) if out_dir else ctx.run_dir / "datasets" / name


def truth_agreement(
    records: Sequence[Mapping[str, Any]], score: str = "score", truth: str = "gt_score"
) -> dict:
    """MAE and exact-match rate of the annotations against the world's truth (rows with truth)."""
    pairs = [(int(r[score]), int(r[truth])) for r in records if r.get(truth) is not None]
    if not pairs:
        return {"n": 0, "mae": None, "exact": None}
    return {
        "n": len(pairs),
        "mae": sum(abs(a - b) for a, b in pairs) / len(pairs),
        "exact": sum(a == b for a, b in pairs) / len(pairs),
    }
