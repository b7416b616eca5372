"""What a training checkpoint records of how it was trained, and the one check made on resume.

A run's trajectory depends on more than its config: the number of processes splits each step's
batch differently (the global batch is ``per-device batch x accumulation x processes``), and the
engine changes the numerics and the checkpoint format (DeepSpeed writes a sharded directory).
The resume keys (:func:`common.run_checkpoints.resume_key`, the SFT task's settings hash) hash the
config only, and keep doing so, so that the checkpoints of existing runs keep their keys. Instead
every resumable trainer records :func:`training_layout` (engine, world size, global batch) in the
checkpoints it writes and calls :func:`check_resume_layout` before continuing one.

The behaviour is to **refuse**: a checkpoint written under another layout raises
:class:`ResumeMismatchError`, which names what differs and what to do (rerun with the engine and
process count it was written with, or start afresh with ``task.resume=never`` / a new
``task.checkpoint_dir``). Continuing silently would mix two trajectories in one run; starting
afresh silently would drop hours of training without a word. A checkpoint from before layouts
were recorded carries none and is resumed as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["LAYOUT_KEY", "ResumeMismatchError", "check_resume_layout", "engine_kind", "training_layout"]

LAYOUT_KEY = "layout"
"""Where a checkpoint's trainer state holds its :func:`training_layout`."""

_FIELDS = {"engine": "engine", "world_size": "processes", "global_batch": "global batch"}


class ResumeMismatchError(ValueError):
    """A checkpoint was written under another engine, world size or global batch than this run's."""


def engine_kind(fabric: Any) -> str:
    """The engine family of a launched Fabric, as far as it changes a trajectory: ``deepspeed-zero<k>``
    (DeepSpeed's ZeRO stage), ``ddp`` (data parallel, also one process) or ``single`` (one device)."""
    strategy = getattr(fabric, "strategy", None)
    name = type(strategy).__name__
    if "DeepSpeed" in name:
        stage = (getattr(strategy, "config", None) or {}).get("zero_optimization", {}).get("stage", "?")
        return f"deepspeed-zero{stage}"
    if "DDP" in name:
        return "ddp"
    return "single"


def training_layout(fabric: Any, global_batch: int | None) -> dict[str, Any]:
    """``{"engine", "world_size", "global_batch"}`` of a run on ``fabric``: what a checkpoint records.

    ``global_batch``: what one optimizer step sees over all processes (examples for SFT,
    completions for GRPO, images for flow RL); ``None`` when the trainer has no such number.
    """
    return {
        "engine": engine_kind(fabric),
        "world_size": int(getattr(fabric, "world_size", 1)),
        "global_batch": None if global_batch is None else int(global_batch),
    }


def _describe(layout: Mapping[str, Any]) -> str:
    batch = layout.get("global_batch")
    return f"engine {layout.get('engine')} on {layout.get('world_size')} process(es)" + (
        f", global batch {batch}" if batch is not None else ""
    )


def check_resume_layout(
    saved: Mapping[str, Any] | None, current: Mapping[str, Any], checkpoint: str | Path
) -> None:
    """Refuse to continue ``checkpoint`` (written with layout ``saved``) under layout ``current``.

    Raises :class:`ResumeMismatchError` when the engine, the world size or the global batch differ
    (a field missing on either side is not compared), naming each difference and the two ways
    on. ``saved`` ``None`` (a checkpoint from before layouts were recorded): accepted.
    """
    if not saved:
        return
    differ = [
        f"{label} {saved[key]} -> {current[key]}"
        for key, label in _FIELDS.items()
        if saved.get(key) is not None and current.get(key) is not None and saved[key] != current[key]
    ]
    if not differ:
        return
    raise ResumeMismatchError(
        f"checkpoint {checkpoint} was written by a run with {_describe(saved)}, but this run has "
        f"{_describe(current)} ({'; '.join(differ)}): continuing it would change the run's trajectory "
        "(the batch each step sees, the numerics). Either rerun with the engine and number of "
        "processes it was written with (e.g. engine=ddp engine.devices=N, or engine=cpu for one "
        "process), or start afresh: task.resume=never, or another task.checkpoint_dir."
    )
