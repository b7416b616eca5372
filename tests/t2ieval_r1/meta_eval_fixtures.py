"""Shared set-up of the meta-evaluation tests: small world benchmarks, run contexts, a SMALL model spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.runtime import RunContext
from tests.t2ieval_r1.conftest import SMALL_VLM

SIZES = {"t2i_eval": {"train": 1, "test": 6}, "tifa": {"test": 6}, "imagereward": {"test": 9}}
"""World benchmark sizes of the tests: 6 images x 4 aspects, 6 TIFA images, 9 pairs (3 prompts)."""

ASPECTS = ["appearance", "intrinsic", "relationship", "overall"]

SMALL_PRESET: dict[str, Any] = {"kind": "preset", "name": "tiny_qwen2_5_vl", "overrides": dict(SMALL_VLM)}
"""``task.evaluator`` of a random-init SMALL tiny Qwen2.5-VL (the tests' real, untrained model)."""


def small_benchmarks(root: Path) -> dict[str, Any]:
    """``task.benchmarks`` over the small world build under ``root``."""
    return {
        "t2i_eval": {
            "kind": "correlation",
            "corpus": {
                "source": "world",
                "name": "t2i_eval",
                "split": "test",
                "aspects": ASPECTS,
                "sizes": SIZES["t2i_eval"],
                "root": str(root),
            },
        },
        "tifa": {
            "kind": "correlation",
            "corpus": {
                "source": "world",
                "name": "tifa",
                "split": "test",
                "sizes": SIZES["tifa"],
                "root": str(root),
            },
        },
        "imagereward": {
            "kind": "pairwise",
            "corpus": {
                "source": "world",
                "name": "imagereward",
                "split": "test",
                "sizes": SIZES["imagereward"],
                "root": str(root),
            },
        },
    }


def run_cfg(tmp: Path) -> DictConfig:
    """The parts of a run config the meta-evaluation reads."""
    return OmegaConf.create(
        {
            "paths": {"cache_dir": str(tmp / "cache"), "output_dir": str(tmp / "out")},
            "runtime": {"progress": False},
            "scale": {"device": "cpu", "dtype": "float32"},
        }
    )


def run_ctx(run_dir: Path, seed: int = 0) -> RunContext:
    """A run context writing to ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return RunContext(run_dir=run_dir, cfg=run_cfg(run_dir.parent), seed=seed)
