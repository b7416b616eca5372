"""The one resumable training loop every pretraining objective runs, through Lightning Fabric.

``fit`` builds AdamW over the objective's trainable module, sets both up with the engine's Fabric
(``conf/engine``: one CPU process by default; the same loop runs under DDP or DeepSpeed), and
steps ``cfg.steps`` times: learning rate (linear warm-up, cosine decay to ``min_lr_ratio``),
batch (a pure function of seed and step; parameter groups may scale the rate, e.g. a VLM's vision
tower), ``loss = module(batch)``, backward, global-norm
clipping, step, EMA update (flow objectives). Every ``checkpoint_every`` steps (and at the end)
it writes ``checkpoint.pt`` into the work directory (model, optimizer, EMA, step, wall time,
loss history), atomically; a later call with the same work directory resumes from it, so a
killed build continues where it stopped. At the end the EMA weights (when used) are copied into
the model: what is saved and evaluated is the EMA.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from common.models.pretrain.config import PretrainConfig
from common.models.pretrain.objectives import Objective

CHECKPOINT = "checkpoint.pt"

StepHook = Callable[[int, float], None]
"""Called after each optimizer step with (steps done, loss); raising stops the build (tests
use it to simulate a kill)."""


def lr_at(cfg: PretrainConfig, step: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then cosine decay."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min(max(step - cfg.warmup_steps, 0) / span, 1.0)
    floor = cfg.min_lr_ratio * cfg.lr
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average of parameters, with the warm-up ``min(decay, (1+t)/(10+t))``.

    The warm-up (as in diffusers' ``EMAModel``) keeps a short run's average from being anchored
    to the random initialisation: with a constant 0.999, after 1,000 steps the init still weighs
    0.37.
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], decay: float) -> None:
        self.params = list(params)
        self.decay = decay
        self.shadow = [p.detach().float().clone() for p in self.params]

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = self.decay_at(step)
        for s, p in zip(self.shadow, self.params, strict=True):
            s.mul_(d).add_(p.detach().float(), alpha=1.0 - d)

    @torch.no_grad()
    def copy_to_params(self) -> None:
        for s, p in zip(self.shadow, self.params, strict=True):
            p.copy_(s.to(p.dtype))

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError("EMA checkpoint does not match the model's parameters")
        self.shadow = [t.float().clone() for t in state["shadow"]]


def default_engine_cfg() -> Any:
    """``conf/engine/cpu.yaml``: the engine used when the caller's config has none."""
    from omegaconf import OmegaConf

    from common.models.pretrain.config import CONF_PRETRAIN_DIR

    return OmegaConf.load(CONF_PRETRAIN_DIR.parent / "engine" / "cpu.yaml")


def make_fabric(engine_cfg: Any = None) -> Any:
    """A launched Fabric for ``engine_cfg`` (default: one CPU process)."""
    from common.engine import build_fabric

    fabric = build_fabric(engine_cfg if engine_cfg is not None else default_engine_cfg())
    fabric.launch()
    return fabric


def _save_atomic(fabric: Any, path: Path, state: dict[str, Any]) -> None:
    """``fabric.save`` to a temporary name, then a rename (a kill never leaves half a checkpoint)."""
    tmp = path.with_name(path.name + ".tmp")
    fabric.save(tmp, state)
    fabric.barrier()
    if fabric.is_global_zero:
        os.replace(tmp, path)
    fabric.barrier()


def fit(
    objective: Objective,
    cfg: PretrainConfig,
    bundle: Any,
    work_dir: Path,
    *,
    fabric: Any = None,
    engine_cfg: Any = None,
    progress: bool = True,
    hooks: Sequence[StepHook] = (),
) -> dict[str, Any]:
    """Train ``bundle`` for ``cfg.steps`` steps (resuming from ``work_dir/checkpoint.pt``).

    Returns ``steps``, ``resumed_from``, ``train_s`` (optimizer-step wall time summed over
    resumes), ``data_s`` (building the pool in this process), ``history`` (loss records) and
    ``final_loss``.
    """
    from tqdm.auto import tqdm

    work_dir.mkdir(parents=True, exist_ok=True)
    fabric = fabric if fabric is not None else make_fabric(engine_cfg)
    module = objective.module(bundle)
    module.train()
    groups = objective.param_groups(cfg, module)
    params = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(
        [{**g, "lr": cfg.lr * g["lr_mult"]} for g in groups], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    module, optimizer = fabric.setup(module, optimizer)
    ema = EMA(params, cfg.ema_decay) if objective.uses_ema else None  # type: ignore[attr-defined]

    meta: dict[str, Any] = {"step": 0, "train_s": 0.0, "history": []}
    ckpt = work_dir / CHECKPOINT
    if ckpt.exists():
        state: dict[str, Any] = {"module": module, "optimizer": optimizer, "meta": meta}
        if ema is not None:
            state["ema"] = ema.state_dict()
        fabric.load(ckpt, state)
        meta = state["meta"]
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
        _save_atomic(fabric, ckpt, state)

    window: list[float] = []
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc=f"pretrain {cfg.name}",
        disable=not progress or not fabric.is_global_zero,
        dynamic_ncols=True,
    )
    for step in range(start, cfg.steps):
        t_step = time.perf_counter()
        lr = lr_at(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        batch = objective.batch(cfg, bundle, data, step)
        loss = module(batch)
        fabric.backward(loss)
        if cfg.grad_clip is not None:
            fabric.clip_gradients(module, optimizer, max_norm=cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(step)
        value = float(loss.detach())
        window.append(value)
        meta["train_s"] = float(meta["train_s"]) + time.perf_counter() - t_step
        meta["step"] = step + 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
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
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
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
    }
