"""Training machinery every loop shares: pretraining, SFT and GRPO.

One concern per module:

- :mod:`.config`: :class:`LoopConfig`, the settings every loop reads (steps, batch size, lr,
  schedule, warm-up, optimizer, clipping, seed, checkpoint / log cadence, time budget); the
  pretraining, SFT and GRPO configs extend it.
- :mod:`.schedules`: learning-rate schedules by name (``cosine``, ``constant``), :func:`lr_at`.
- :mod:`.optim`: optimizers by name (``adamw``), :func:`build_optimizer`.
- :mod:`.ema`: :class:`EMA` of trained weights.
- :mod:`.fabric`: :func:`make_fabric` (a launched Fabric for ``conf/engine``), atomic saves.
- :mod:`.locks`: :func:`file_lock` (one process builds a cached artefact, the others wait).
- :mod:`.objective`: :class:`Objective`, what an objective gives the loop.
- :mod:`.loop`: :func:`fit`, the resumable Fabric loop (pretraining and SFT run it; GRPO has its
  own step but the same config, optimizer and schedule).
"""

from common.train.config import LoopConfig
from common.train.ema import EMA
from common.train.fabric import default_engine_cfg, make_fabric, save_atomic
from common.train.locks import file_lock
from common.train.loop import CHECKPOINT, StepHook, fit
from common.train.objective import Objective
from common.train.optim import OPTIMIZERS, build_optimizer
from common.train.schedules import LR_SCHEDULES, lr_at

__all__ = [
    "CHECKPOINT",
    "EMA",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "LoopConfig",
    "Objective",
    "StepHook",
    "build_optimizer",
    "default_engine_cfg",
    "file_lock",
    "fit",
    "lr_at",
    "make_fabric",
    "save_atomic",
]
