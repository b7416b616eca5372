"""Run a curation experiment in-process (composed like the CLI, without a Hydra run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from common.runtime import RunContext

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
