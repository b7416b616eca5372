"""Tiny pretraining budgets shared by the pretraining tests (small models, a handful of steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.runtime import RunSettings
from tests.common.models.conftest import SMALL_VLM

TINY_BUDGET: dict[str, dict[str, Any]] = {
    "tiny_qwen2_5_vl": {
        "model_overrides": SMALL_VLM,
        "vision_init": None,  # no warm-up base (tests/common/models/pretrain/test_vision.py builds one)
        "steps": 4,
        "batch_size": 4,
        "pool_size": 12,
        "eval_size": 4,
        "max_new_tokens": 8,
        "warmup_steps": 1,
        "checkpoint_every": 2,
        "log_every": 1,
    },
    "tiny_sd3": {
        "model_overrides": {"num_layers": 1},
        "steps": 4,
        "batch_size": 4,
        "pool_size": 12,
        "eval_size": 6,
        "sample_steps": 2,
        "warmup_steps": 1,
        "checkpoint_every": 2,
        "log_every": 1,
    },
    "tiny_editor": {
        "model_overrides": {"num_layers": 1},
        "steps": 4,
        "batch_size": 4,
        "pool_size": 12,
        "eval_size": 5,
        "sample_steps": 2,
        "warmup_steps": 1,
        "checkpoint_every": 2,
        "log_every": 1,
    },
}
for _arch in ("qwen2_5_vl", "qwen3_vl"):
    TINY_BUDGET[f"tiny_{_arch}_vision"] = {
        "model_overrides": SMALL_VLM,
        "scene_share": 0.5,  # both losses: single objects (classes) and world scenes (presence)
        "steps": 4,
        "batch_size": 4,
        "pool_size": 12,
        "eval_size": 4,
        "warmup_steps": 1,
        "checkpoint_every": 2,
        "log_every": 1,
    }
TINY_BUDGET["tiny_qwen3_vl"] = {**TINY_BUDGET["tiny_qwen2_5_vl"], "difference_pool_size": 12}
_SMALL_UNET = {"block_out_channels": [8, 16], "cross_attention_levels": 1, "attention_heads": 2}
TINY_BUDGET["tiny_flow_unet"] = {**TINY_BUDGET["tiny_sd3"], "model_overrides": _SMALL_UNET}
TINY_BUDGET["tiny_flow_unet_edit"] = {**TINY_BUDGET["tiny_editor"], "model_overrides": _SMALL_UNET}
TINY_BUDGET["tiny_autoencoder"] = {
    "steps": 4,
    "batch_size": 4,
    "pool_size": 12,
    "stats_size": 8,
    "eval_size": 6,
    "warmup_steps": 1,
    "checkpoint_every": 2,
    "log_every": 1,
}
TINY_BUDGET["tiny_sd3_latent"] = {
    **TINY_BUDGET["tiny_sd3"],
    "autoencoder_overrides": TINY_BUDGET["tiny_autoencoder"],
}


@pytest.fixture()
def run_settings(tmp_path: Path) -> RunSettings:
    """The settings of a minimal run: a private cache directory, no progress bars, the CPU engine."""
    return RunSettings.from_config(
        {"paths": {"cache_dir": str(tmp_path / "cache")}, "runtime": {"progress": False}}
    )
