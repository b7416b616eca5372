"""The one resumable training loop every objective runs (pretraining, SFT), through Lightning Fabric.

``fit`` builds the optimizer (``cfg.optimizer``, :mod:`common.train.optim`) over the objective's
trainable module, sets both up with the engine's Fabric (``conf/engine``: one CPU process by
default; the same loop runs under DDP or DeepSpeed), and steps ``cfg.steps`` times: learning rate
(``cfg.lr_schedule``, :func:`common.train.schedules.lr_at`), batch (a pure function of seed and
step; parameter groups may scale the rate, e.g. a VLM's vision tower),
``loss = sum_k w_k * module(micro_batch_k)`` with backward per micro-batch (gradient
accumulation; one micro-batch of weight 1 unless the objective splits the step), global-norm
clipping, step, EMA update (flow objectives, :class:`common.train.ema.EMA`). Every
``checkpoint_every`` steps (and at the end) it writes ``checkpoint.pt`` into the work directory
(model, optimizer, EMA, step, wall time, loss history), atomically; a later call with the same
work directory resumes from it, so a killed build continues where it stopped.
``cfg.max_time_s`` stops (and checkpoints) once the summed training time of all calls reaches
it. At the end the EMA weights (when used) are copied into the model: what is saved and
evaluated is the EMA.

Several processes: each step's loss (what the history, the hooks and the progress bar report) is
the mean over the ranks of their shares, i.e. the loss of the whole global batch as one process
computes it (an SFT rank's share is already weighted by its tokens, :mod:`common.sft.objective`);
the step's time is averaged too, so every rank sees the same ``train_s`` and stops at the same
step under ``max_time_s``. The checkpoint records the run's layout (engine, world size, global
batch: :func:`common.engine.training_layout`), and a checkpoint written under another layout is
refused (:func:`common.engine.check_resume_layout`). One process: no communication, the numbers
as before.

``cfg`` is a :class:`common.train.config.LoopConfig` (a pretraining config, or the resolved
schedule of :mod:`common.sft`). Under DeepSpeed the engine owns accumulation and clipping:
``optimizer.step()`` runs after every micro-batch (DeepSpeed updates at the boundary), its
``gradient_accumulation_steps`` must equal the number of micro-batches, and each loss is
multiplied by it to undo DeepSpeed's own ``1 / gas`` scaling (the weights already average).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from common.engine import check_resume_layout, find_deepspeed_engine, reduce_over_ranks, training_layout
from common.engine.layout import LAYOUT_KEY
from common.train.config import LoopConfig
from common.train.ema import EMA
from common.train.fabric import make_fabric, save_atomic
from common.train.objective import Objective
from common.train.optim import build_optimizer
from common.train.schedules import lr_at

__all__ = ["CHECKPOINT", "StepHook", "fit"]

CHECKPOINT = "checkpoint.pt"

StepHook = Callable[[int, float], None]
"""Called after each optimizer step with (steps done, loss); raising stops the build (tests
use it to simulate a kill)."""


def fit(
    objective: Objective,
    cfg: LoopConfig,
    bundle: Any,
    work_dir: Path,
    *,
    fabric: Any = None,
    engine_cfg: Any = None,
    progress: bool = True,
    hooks: Sequence[StepHook] = (),
) -> dict[str, Any]:
    """Train ``bundle`` for ``cfg.steps`` steps (resuming from ``work_dir/checkpoint.pt``).

    ``cfg.max_time_s`` (optional) ends training early once the summed training time reaches
    it. Returns ``steps``, ``resumed_from``, ``train_s``
    (optimizer-step wall time summed over resumes), ``data_s`` (building the pool in this
    process), ``history`` (loss records), ``first_loss`` / ``final_loss`` and ``stopped_by_time``.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    fabric = fabric if fabric is not None else make_fabric(engine_cfg)
    objective.bind(fabric.global_rank, fabric.world_size)
    module = objective.module(cfg, bundle)
    module.train()
    groups = objective.param_groups(cfg, module)
    params = [p for g in groups for p in g["params"]]
    optimizer = build_optimizer(cfg, [{**g, "lr": cfg.lr * g["lr_mult"]} for g in groups])
    module, optimizer = fabric.setup(module, optimizer)
    ds_engine = find_deepspeed_engine(module)
    objective.fixed_accumulation = ds_engine is not None
    ema = EMA(params, cfg.ema_decay) if objective.uses_ema else None  # type: ignore[attr-defined]
    max_time_s = cfg.max_time_s

    layout = training_layout(fabric, getattr(cfg, "global_batch", None) or cfg.batch_size * fabric.world_size)
    meta: dict[str, Any] = {"step": 0, "train_s": 0.0, "history": [], LAYOUT_KEY: layout}
    ckpt = work_dir / CHECKPOINT
    if ckpt.exists():
        state: dict[str, Any] = {"module": module, "optimizer": optimizer, "meta": meta}
        if ema is not None:
            state["ema"] = ema.state_dict()
        fabric.load(ckpt, state)
        meta = state["meta"]
        check_resume_layout(meta.get(LAYOUT_KEY), layout, ckpt)
        meta[LAYOUT_KEY] = layout
        if ema is not None:
            ema.load_state_dict(state["ema"])
    start = int(meta["step"])

    t0 = time.perf_counter()
    data = objective.prepare(cfg, bundle) if start < cfg.steps else None
    data_s = time.perf_counter() - t0

    def save() -> None:
        state = {"module": module, "optimizer": optimizer, "meta": meta}
        if ema is not None:
            state["ema"] = ema.state_dict()
        save_atomic(fabric, ckpt, state)

    window: list[float] = []
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc=f"train {cfg.name}",
        disable=not progress or not fabric.is_global_zero,
        dynamic_ncols=True,
    )
    stopped_by_time = False
    for step in range(start, cfg.steps):
        if max_time_s is not None and float(meta["train_s"]) >= max_time_s:
            stopped_by_time = True
            break
        t_step = time.perf_counter()
        lr = lr_at(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        micro = objective.micro_batches(cfg, bundle, data, step)
        ds_scale = 1.0
        if ds_engine is not None:
            gas = int(ds_engine.gradient_accumulation_steps())
            if gas != len(micro):
                raise ValueError(
                    f"DeepSpeed accumulates {gas} micro-batches per step but the objective gives "
                    f"{len(micro)}: set engine.deepspeed.gradient_accumulation_steps={len(micro)}"
                )
            ds_scale = float(gas)
        value = 0.0
        for k, (batch, weight) in enumerate(micro):
            sync = (
                contextlib.nullcontext()
                if ds_engine is not None
                else fabric.no_backward_sync(module, enabled=k < len(micro) - 1)
            )
            with sync:
                loss = module(batch)
                fabric.backward(loss * (weight * ds_scale))  # x 1.0 (one micro-batch, no DeepSpeed) is exact
            if ds_engine is not None:
                optimizer.step()  # DeepSpeed steps (and clips) only at the accumulation boundary
            value += float(loss.detach()) * weight
        if ds_engine is None:
            if cfg.grad_clip is not None:
                fabric.clip_gradients(module, optimizer, max_norm=cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(step)
        step_s = time.perf_counter() - t_step
        if fabric.world_size > 1:
            means = reduce_over_ranks(fabric, {"loss": value, "step_s": step_s})
            value, step_s = means["loss"], means["step_s"]
        window.append(value)
        meta["train_s"] = float(meta["train_s"]) + step_s
        meta["step"] = step + 1
        out_of_time = max_time_s is not None and float(meta["train_s"]) >= max_time_s
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps or out_of_time:
            meta["history"].append(
                {
                    "step": step + 1,
                    "loss": sum(window) / len(window),
                    "lr": lr,
                    "train_s": round(meta["train_s"], 2),
                }
            )
            window = []
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps or out_of_time:
            save()
        for hook in hooks:
            hook(step + 1, value)
    bar.close()
    if ema is not None:
        ema.copy_to_params()
    history = list(meta["history"])
    return {
        "steps": int(meta["step"]),
        "resumed_from": start,
        "train_s": round(float(meta["train_s"]), 2),
        "data_s": round(data_s, 2),
        "history": history,
        "first_loss": history[0]["loss"] if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "stopped_by_time": stopped_by_time or (max_time_s is not None and int(meta["step"]) < cfg.steps),
    }
