"""The pretraining objectives: :class:`PretrainObjective` and the registry :data:`OBJECTIVES`.

A pretraining objective is an :class:`common.train.objective.Objective` of the shared loop
(module, parameter groups, data pool, deterministic batches) that also builds the randomly
initialised bundle, evaluates it on a held-out set and saves it in the layout its loader reads.
Objectives are registered by name in :data:`OBJECTIVES` by the package
(:mod:`common.models.pretrain`, explicitly, after importing the modules that define them):
``vlm`` (:mod:`.vlm`), ``t2i`` and ``editor`` (:mod:`.flow`), ``autoencoder``
(:mod:`.autoencoder`), ``vision`` (:mod:`.vision`). This module imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from common.models.builders import load_model
from common.models.pretrain.config import PretrainConfig, model_node
from common.registry import Registry
from common.runtime import RunSettings
from common.train.objective import Objective

__all__ = ["OBJECTIVES", "PretrainObjective", "get_objective", "step_generator"]


class PretrainObjective(Objective):
    """Base class of the pretraining objectives (see the module docstring)."""

    settings: RunSettings | None = None
    """The run settings of the build (cache, scale, engine), for objectives that need another base."""

    def build(self, cfg: PretrainConfig, scale: Any = None) -> Any:
        """The randomly initialised bundle (the ``conf/model`` preset with overrides)."""
        return instantiate(model_node(cfg, scale), _convert_="all")

    def evaluate(
        self, cfg: PretrainConfig, bundle: Any, out_dir: Path, progress: bool = False
    ) -> dict[str, Any]:
        """Quality numbers on a held-out set (may write sample grids into ``out_dir``)."""
        raise NotImplementedError

    def finalize(self, cfg: PretrainConfig, bundle: Any) -> None:
        """After training, before saving: settings derived from the trained weights (default: none)."""

    def save(self, bundle: Any, path: Path) -> None:
        """Write the bundle in the layout its loader reads (``load_vlm`` / ``load_t2i``)."""
        bundle.save_pretrained(path)

    def load(self, path: Path) -> Any:
        """Read back what :meth:`save` wrote (the build evaluates the reloaded model)."""
        return load_model(str(path))

    def describe_model(self, bundle: Any) -> dict[str, Any]:
        """Classes and parameter counts of the trained components (for the model card)."""
        raise NotImplementedError


OBJECTIVES: Registry[type[PretrainObjective]] = Registry("pretraining objective")
"""Objective classes by name (filled by :mod:`common.models.pretrain`'s ``__init__``)."""


def get_objective(name: str) -> PretrainObjective:
    """An instance of the registered objective ``name``."""
    return OBJECTIVES.get(name)()


def step_generator(seed: int, step: int, salt: int, rank: int = 0) -> torch.Generator:
    """A CPU torch generator seeded from (seed, step, salt, rank): per-step randomness that resumes
    exactly; rank 0 gets the stream of a single process."""
    g = torch.Generator(device="cpu")
    g.manual_seed((seed * 1_000_003 + step * 7_919 + salt + rank * 15_485_863) % (2**63 - 1))
    return g
