"""A trivial task that proves the entry point end to end (config -> run dir -> metrics.json)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from common.runtime import RunContext


def run(cfg: DictConfig, ctx: RunContext, message: str = "hello") -> dict[str, Any]:
    ctx.log({"message_length": len(message)}, step=0)
    return {"message": message, "scale": cfg.scale.name, "seed": ctx.seed}
