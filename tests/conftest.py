"""Shared test set-up: one torch thread (the machine has 2 cores), quiet hypothesis deadlines, and
the dataclass defaults nodes in Hydra's ConfigStore (common.config.register_defaults) before any
test composes a config."""

from __future__ import annotations

import os

os.environ.setdefault("T2I_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch
from hypothesis import HealthCheck, settings

from common.config import register_defaults

torch.set_num_threads(1)
register_defaults()

settings.register_profile(
    "project",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("project")
