"""What a pretraining objective provides to the shared loop (:mod:`common.models.pretrain.loop`).

An :class:`Objective` builds the bundle, the trainable module (whose ``forward(batch)`` returns
the loss, so DDP / DeepSpeed wrap it as they wrap any model), a data pool, deterministic
batches (a pure function of the seed, the step and the rank, which makes resumed runs see the
same batches; under DDP every rank draws its own ``batch_size`` examples, rank 0 the same ones
as a single process), the held-out evaluation and the saved layout. Objectives are registered
by name in :data:`OBJECTIVES`: ``vlm`` (:mod:`.vlm`), ``t2i`` and ``editor`` (:mod:`.flow`),
``autoencoder`` (:mod:`.autoencoder`), ``vision`` (:mod:`.vision`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from common.models.pretrain.config import PretrainConfig, model_node
from common.registry import Registry


class Objective:
    """Base class of the pretraining objectives (see the module docstring)."""

    name: str = ""
    rank: int = 0
    world_size: int = 1
    uses_ema: bool = False
    run_cfg: Any = None
    """The run config of the build (paths, scale, engine), for objectives that need another base."""

    def build(self, cfg: PretrainConfig, scale: Any = None) -> Any:
        """The randomly initialised bundle (the ``conf/model`` preset with overrides)."""
        from hydra.utils import instantiate

        return instantiate(model_node(cfg, scale), _convert_="all")

    def module(self, cfg: Any, bundle: Any) -> torch.nn.Module:
        """The trainable module; ``module(batch)`` returns the scalar loss."""
        raise NotImplementedError

    def param_groups(self, cfg: PretrainConfig, module: torch.nn.Module) -> list[dict[str, Any]]:
        """AdamW parameter groups; ``lr_mult`` scales the scheduled learning rate of a group."""
        return [{"params": [p for p in module.parameters() if p.requires_grad], "lr_mult": 1.0}]

    def prepare(self, cfg: PretrainConfig, bundle: Any) -> Any:
        """The training data pool (built once per build or resume)."""
        raise NotImplementedError

    def bind(self, rank: int, world_size: int) -> None:
        """Set the process's place in the data-parallel group (the loop calls it after launch)."""
        self.rank, self.world_size = int(rank), int(world_size)

    def batch(self, cfg: PretrainConfig, bundle: Any, data: Any, step: int) -> dict[str, Any]:
        """This rank's batch of ``step``: a pure function of ``cfg.seed``, ``step``, the rank and the pool."""
        raise NotImplementedError

    def micro_batches(
        self, cfg: PretrainConfig, bundle: Any, data: Any, step: int
    ) -> list[tuple[dict[str, Any], float]]:
        """The step's batch as ``(micro_batch, weight)`` pairs: the step's loss is
        ``sum_k weight_k * module(micro_batch_k)`` (gradient accumulation). Default: the whole
        :meth:`batch` with weight 1."""
        return [(self.batch(cfg, bundle, data, step), 1.0)]

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
        from common.models.builders import load_model

        return load_model(str(path))

    def describe_model(self, bundle: Any) -> dict[str, Any]:
        """Classes and parameter counts of the trained components (for the model card)."""
        raise NotImplementedError


OBJECTIVES: Registry[type[Objective]] = Registry("pretraining objective")
"""Objective classes by name (``@OBJECTIVES.register("name")`` on the class)."""


def get_objective(name: str) -> Objective:
    """An instance of the registered objective ``name`` (importing the modules that register them)."""
    from common.models.pretrain import autoencoder, flow, vision, vlm  # noqa: F401  (registration side effects)

    return OBJECTIVES.get(name)()


def step_generator(seed: int, step: int, salt: int, rank: int = 0) -> torch.Generator:
    """A CPU torch generator seeded from (seed, step, salt, rank): per-step randomness that resumes
    exactly; rank 0 gets the stream of a single process."""
    g = torch.Generator(device="cpu")
    g.manual_seed((seed * 1_000_003 + step * 7_919 + salt + rank * 15_485_863) % (2**63 - 1))
    return g
