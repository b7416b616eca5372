"""Run a curation experiment in-process (composed like the CLI, without a Hydra run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from common.models.tiny import build_tiny_vlm
from common.runtime import RunContext
from tests.common.models.conftest import SMALL_VLM

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def run_experiment(exp: str, tmp_path: Path, *overrides: str) -> tuple[dict[str, Any], RunContext]:
    """Compose ``+exp=<exp>`` with ``overrides`` and run its task with a run dir under ``tmp_path``."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"+exp={exp}", f"paths.output_dir={tmp_path}", "runtime.progress=false", *overrides],
        )
    ctx = RunContext(run_dir=tmp_path / "run", cfg=cfg, seed=int(cfg.seed))
    task = instantiate(cfg.task, _partial_=True)
    return task(cfg=cfg, ctx=ctx), ctx


@pytest.fixture(scope="session")
def random_rm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random Qwen3-VL saved as a checkpoint directory (the tests' stand-in RM base, so the
    tiny base is never pretrained in tests)."""
    path = tmp_path_factory.mktemp("random_qwen3_vl")
    build_tiny_vlm("qwen3_vl", seed=0, **SMALL_VLM).save_pretrained(path)
    return path
