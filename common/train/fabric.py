"""A launched Lightning Fabric for a run's engine config (``conf/engine``), and the atomic save."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from common.engine import build_fabric
from common.presets import load_preset

__all__ = ["DEFAULT_ENGINE", "default_engine_cfg", "make_fabric", "save_atomic"]

DEFAULT_ENGINE = "cpu"
"""The ``conf/engine`` preset used when the caller gives none: one CPU process."""


def default_engine_cfg() -> Any:
    """``conf/engine/cpu.yaml``: the engine used when the caller's config has none."""
    return load_preset("engine", DEFAULT_ENGINE)


def make_fabric(engine_cfg: Any = None) -> Any:
    """A launched Fabric for ``engine_cfg`` (default: one CPU process)."""
    fabric = build_fabric(engine_cfg if engine_cfg is not None else default_engine_cfg())
    fabric.launch()
    return fabric


def save_atomic(fabric: Any, path: Path, state: dict[str, Any]) -> None:
    """``fabric.save`` to a temporary name, then a rename (a kill never leaves half a checkpoint)."""
    tmp = path.with_name(path.name + ".tmp")
    fabric.save(tmp, state)
    fabric.barrier()
    if fabric.is_global_zero:
        if tmp.is_dir() and path.is_dir():  # DeepSpeed writes a directory: swap it in by renames
            old = path.with_name(path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    fabric.barrier()
