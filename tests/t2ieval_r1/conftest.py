"""Shared fixtures of the T2I-Eval-R1 tests: a SMALL tiny Qwen2.5-VL and tiny world corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

from common.models.tiny import build_tiny_vlm
from common.models.vlm_bundle import VLMBundle
from t2ieval_r1.data import quick_pairwise, quick_singlewise

SMALL_VLM: dict[str, Any] = {
    "text_hidden_size": 64,
    "text_intermediate_size": 128,
    "text_layers": 2,
    "text_heads": 2,
    "text_kv_heads": 1,
    "vision_hidden_size": 32,
    "vision_intermediate_size": 64,
    "vision_depth": 1,
    "vision_heads": 2,
}
"""A 0.2M-parameter Qwen2.5-VL of the real class (the tiny preset's sizes divided down)."""


def small_vlm(seed: int = 0) -> VLMBundle:
    """A fresh random-init SMALL tiny Qwen2.5-VL."""
    return build_tiny_vlm("qwen2_5_vl", seed=seed, **SMALL_VLM)


@pytest.fixture(scope="session")
def single_corpus() -> datasets.Dataset:
    """8 world images, overall scores (single-wise)."""
    return quick_singlewise(8, seed=0)


@pytest.fixture(scope="session")
def pair_corpus() -> datasets.Dataset:
    """6 world image pairs (pairwise)."""
    return quick_pairwise(6, seed=0)


@pytest.fixture(scope="module")
def world_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world benchmarks of the meta-evaluation tests, built once per module."""
    from t2ieval_r1.evaluate import BenchmarkSpec, load_benchmark
    from tests.t2ieval_r1.meta_eval_fixtures import small_benchmarks

    root = tmp_path_factory.mktemp("world")
    for name, node in small_benchmarks(root).items():
        load_benchmark(BenchmarkSpec.from_config(name, node))
    return root
