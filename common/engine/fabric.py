"""Lightning Fabric built from an engine config, and the few calls trainers make through it.

A trainer's loop is the same under every engine::

    fabric = build_fabric(cfg.engine)
    fabric.launch()
    with sharded_init(fabric):                      # no-op unless ZeRO-3
        model = Model.from_pretrained(path)         # or Model._from_config(config)
    model, optimizer = setup_model_and_optimizer(fabric, model, torch.optim.AdamW(...))
    with gathered_parameters(model) as bare:        # no-op unless ZeRO-3
        out = bare.generate(...)
    loss = ...; fabric.backward(loss)
    clip_gradients(fabric, model, optimizer, cfg.engine)   # DeepSpeed clips inside its step
    optimizer.step(); optimizer.zero_grad()
    save_checkpoint(run_dir / "model.safetensors", model)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.optim import Optimizer

from common.engine.config import EngineConfig, EngineConfigError, deepspeed_config
from common.engine.zero import find_deepspeed_engine, prepare_deepspeed

if TYPE_CHECKING:
    from lightning.fabric import Fabric


def _resolved_accelerator(cfg: EngineConfig) -> str:
    if cfg.accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if cfg.accelerator == "gpu" else cfg.accelerator


def build_strategy(engine_cfg: Any) -> Any:
    """The Lightning strategy (object or registry name) for an engine config.

    ``deepspeed`` -> ``DeepSpeedStrategy(config=<JSON from deepspeed_config>)``; ``ddp`` ->
    ``DDPStrategy`` (gloo/nccl as configured, ``find_unused_parameters``); otherwise the name.
    Building a DeepSpeed strategy object needs no GPU; running it does.
    """
    cfg = EngineConfig.from_cfg(engine_cfg)
    if cfg.strategy == "deepspeed":
        prepare_deepspeed()
        from lightning.fabric.strategies import DeepSpeedStrategy

        return DeepSpeedStrategy(
            config=deepspeed_config(cfg), process_group_backend=cfg.process_group_backend
        )
    if cfg.strategy in ("ddp", "ddp_spawn"):
        from lightning.fabric.strategies import DDPStrategy

        return DDPStrategy(
            start_method="spawn" if cfg.strategy == "ddp_spawn" else "popen",
            process_group_backend=cfg.process_group_backend,
            find_unused_parameters=cfg.find_unused_parameters,
        )
    return cfg.strategy


def build_fabric(engine_cfg: Any, **fabric_kwargs: Any) -> Fabric:
    """A ``lightning.fabric.Fabric`` for ``conf/engine/<name>.yaml`` (checked against :class:`EngineConfig`).

    Not launched: call ``fabric.launch()`` (it starts the other local processes for ``ddp`` when
    nothing else did, and joins the process group that SLURM / torchrun started otherwise).
    Extra keyword arguments go to ``Fabric`` (e.g. ``loggers``).
    """
    from lightning.fabric import Fabric

    cfg = EngineConfig.from_cfg(engine_cfg)
    accelerator = _resolved_accelerator(cfg)
    if cfg.strategy == "deepspeed" and not (accelerator == "cuda" and torch.cuda.is_available()):
        raise EngineConfigError(
            f"engine {cfg.name!r}: DeepSpeed through Lightning needs CUDA, but accelerator is "
            f"{cfg.accelerator!r} and {torch.cuda.device_count()} GPU(s) are visible. "
            "Use engine=ddp or engine=cpu on CPU."
        )
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise EngineConfigError(
            f"engine {cfg.name!r}: accelerator 'cuda' but no GPU is visible; "
            "use engine.accelerator=auto or cpu"
        )
    return Fabric(
        accelerator=accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=build_strategy(cfg),
        precision=cfg.precision,  # type: ignore[arg-type]
        **fabric_kwargs,
    )


def setup_model_and_optimizer(
    fabric: Fabric, model: torch.nn.Module, optimizer: Optimizer | None = None
) -> Any:
    """Wrap the model (and optimizer) for the fabric's strategy.

    Returns ``(model, optimizer)`` when an optimizer is given, else the wrapped model (inference).
    Under DeepSpeed the pair is set up jointly (``deepspeed.initialize``); build the optimizer on
    the parameters of the module returned by :func:`common.engine.sharded_init` construction.
    """
    if optimizer is None:
        return fabric.setup(model)
    wrapped_model, wrapped_optimizer = fabric.setup(model, optimizer)
    return wrapped_model, wrapped_optimizer


def clip_gradients(fabric: Fabric, model: Any, optimizer: Any, engine_cfg: Any) -> torch.Tensor | None:
    """Clip gradients to ``engine.gradient_clipping`` (global norm); returns the pre-clip norm.

    Under DeepSpeed, clipping happens inside ``optimizer.step()`` from the JSON config, so this
    returns ``None``; also ``None`` when ``gradient_clipping`` is null.
    """
    cfg = EngineConfig.from_cfg(engine_cfg)
    if cfg.gradient_clipping is None or find_deepspeed_engine(model) is not None:
        return None
    return fabric.clip_gradients(model, optimizer, max_norm=cfg.gradient_clipping)
