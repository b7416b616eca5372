"""DeepSpeed ZeRO-3 helpers that trainers use whatever the strategy: no-ops when nothing is sharded.

- :func:`prepare_deepspeed` imports DeepSpeed the way this project needs it (CPU accelerator when
  there is no GPU, no JIT-compiled communication op, quiet logger).
- :func:`sharded_init` builds big models directly partitioned (``deepspeed.zero.Init``), with
  transformers told about ZeRO-3 so that ``from_pretrained`` / ``_from_config`` load and initialise
  partitioned weights correctly.
- :func:`gathered_parameters` gathers the full weights for generation, with ZeRO-3's per-module
  fetch/release hooks detached so that ranks may generate different numbers of tokens.
- :func:`is_zero3`, :func:`unwrap_model`, :func:`find_deepspeed_engine` look through Fabric and
  DeepSpeed wrappers.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from common.engine.config import EngineConfig, deepspeed_config

_PREPARED = False


def prepare_deepspeed() -> Any:
    """Import and configure DeepSpeed once; returns the ``deepspeed`` module.

    On a machine without CUDA it selects DeepSpeed's CPU accelerator (``DS_ACCELERATOR=cpu``, whose
    communication backend falls back to gloo when oneCCL is absent) and marks the shared-memory
    communication op incompatible, so ``deepspeed.init_distributed`` does not JIT-compile it (a
    20-40 s C++ build that gloo does not need). Must run before DeepSpeed creates its backend.
    """
    global _PREPARED
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed

    if not _PREPARED:
        from deepspeed.accelerator import get_accelerator

        deepspeed.utils.logging.logger.setLevel(logging.WARNING)
        if get_accelerator().device_name() == "cpu":
            compatible = deepspeed.ops.__compatible_ops__  # probed once, then cached by deepspeed
            for op_name in ("deepspeed_shm_comm", "deepspeed_ccl_comm"):
                compatible[op_name] = False
        _PREPARED = True
    return deepspeed


def init_deepspeed_distributed(backend: str | None = None) -> None:
    """Initialise ``torch.distributed`` through DeepSpeed from the usual env vars (RANK, WORLD_SIZE, ...).

    ``backend`` defaults to DeepSpeed's accelerator choice (gloo on CPU, nccl on CUDA). Lightning
    does this itself for ``strategy: deepspeed``; call it when driving DeepSpeed directly.
    """
    deepspeed = prepare_deepspeed()
    if backend is None:
        from deepspeed.accelerator import get_accelerator

        backend = get_accelerator().communication_backend_name()
    deepspeed.init_distributed(dist_backend=backend)


# --------------------------------------------------------------------------- unwrapping


def find_deepspeed_engine(obj: Any) -> Any | None:
    """The ``DeepSpeedEngine`` inside ``obj`` (itself, or wrapped by Fabric), else ``None``."""
    seen = 0
    while obj is not None and seen < 8:
        if type(obj).__name__ == "DeepSpeedEngine" or (
            hasattr(obj, "zero_optimization_partition_weights") and hasattr(obj, "module")
        ):
            return obj
        obj = getattr(obj, "_forward_module", None)  # lightning's _FabricModule
        seen += 1
    return None


def unwrap_model(obj: Any) -> nn.Module:
    """The user's ``nn.Module`` inside Fabric / DeepSpeed / DDP wrappers (or ``obj`` itself)."""
    original = getattr(obj, "_original_module", None)  # lightning's _FabricModule
    if isinstance(original, nn.Module):
        return original
    for _ in range(8):
        inner = getattr(obj, "module", None)
        if not isinstance(inner, nn.Module):
            break
        obj = inner
    if not isinstance(obj, nn.Module):
        raise TypeError(f"expected an nn.Module or a wrapped one, got {type(obj).__name__}")
    return obj


def is_partitioned(module: nn.Module) -> bool:
    """True when ``module`` holds ZeRO-3 parameters (made under ``deepspeed.zero.Init`` or by an engine)."""
    return any(hasattr(p, "ds_id") for p in module.parameters())


def is_zero3(obj: Any) -> bool:
    """Whether ``obj`` is sharded with ZeRO stage 3.

    Accepts an :class:`EngineConfig` (or its mapping), a ``lightning.fabric.Fabric``, a
    ``DeepSpeedEngine`` or a Fabric-wrapped one, or a plain module (true when its parameters are
    ZeRO-3 partitioned).
    """
    if isinstance(obj, EngineConfig):
        return obj.is_zero3
    if isinstance(obj, Mapping) and "strategy" in obj:
        return EngineConfig.from_cfg(obj).is_zero3
    strategy = getattr(obj, "strategy", None)
    if strategy is not None and hasattr(obj, "launch"):  # a Fabric
        return bool(getattr(strategy, "zero_stage_3", False))
    engine = find_deepspeed_engine(obj)
    if engine is not None:
        return bool(engine.zero_optimization_partition_weights())
    if isinstance(obj, nn.Module):
        return is_partitioned(obj)
    return False


# --------------------------------------------------------------------------- sharded construction


def _ds_config_of(source: Any) -> dict[str, Any] | None:
    """The DeepSpeed config dict when ``source`` describes ZeRO-3, else ``None``."""
    strategy = getattr(source, "strategy", None)
    if strategy is not None and hasattr(source, "launch"):  # a Fabric
        if getattr(strategy, "zero_stage_3", False):
            return strategy.config
        return None
    if source is None:
        return None
    cfg = EngineConfig.from_cfg(source)
    return deepspeed_config(cfg) if cfg.is_zero3 else None


@contextlib.contextmanager
def sharded_init(source: Any, *, enabled: bool = True) -> Iterator[None]:
    """Context for building a model directly partitioned under ZeRO-3; a no-op otherwise.

    ``source`` is an engine config (dataclass, mapping or OmegaConf node) or a launched Fabric.
    Under ZeRO-3 this enters ``deepspeed.zero.Init`` with the run's DeepSpeed config and registers
    that config with transformers (``HfDeepSpeedConfig``) for the duration, so that
    ``Model.from_pretrained(...)`` loads and ``Model._from_config(cfg)`` initialises partitioned
    weights correctly. Build transformers models with those two class methods: a bare
    ``Model(config)`` under ZeRO-3 runs the weight init on empty shards and keeps torch's defaults.
    ``torch.distributed`` must already be initialised (Fabric's ``launch`` does it).
    """
    config = _ds_config_of(source) if enabled else None
    if config is None:
        yield
        return
    deepspeed = prepare_deepspeed()
    from transformers.integrations import deepspeed as hf_ds

    previous_ref = getattr(hf_ds, "_hf_deepspeed_config_weak_ref", None)  # transformers' weak reference
    previous = previous_ref() if previous_ref is not None else None
    hf_config = hf_ds.HfDeepSpeedConfig(config)  # registers itself (weakly) with transformers
    try:
        with deepspeed.zero.Init(config_dict_or_path=config):
            yield
    finally:
        if previous is not None:
            hf_ds.set_hf_deepspeed_config(previous)
        else:
            hf_ds.unset_hf_deepspeed_config()
        del hf_config


# --------------------------------------------------------------------------- gathering


def _parameter_offload(engine: Any) -> Any | None:
    """DeepSpeed's ZeRO-3 parameter coordinator object (owner of the fetch/release hooks)."""
    optimizer = getattr(engine, "optimizer", None)
    offload = getattr(optimizer, "parameter_offload", None)
    if offload is None and hasattr(optimizer, "setup_zero_stage3_hooks"):
        offload = optimizer  # inference-only engines hold a DeepSpeedZeRoOffload directly
    return offload


@contextlib.contextmanager
def _zero3_hooks_detached(offload: Any, module: nn.Module) -> Iterator[None]:
    """Remove ZeRO-3's module hooks for the duration (they do collectives on every forward)."""
    from deepspeed.runtime.zero import parameter_offload as po

    stack_depth = len(po.FWD_MODULE_STACK)
    offload._remove_module_hooks()
    offload.forward_hooks.clear()
    offload.backward_hooks.clear()
    for param in module.parameters():
        active = getattr(param, "ds_active_sub_modules", None)
        if active is not None:
            active.clear()
    try:
        yield
    finally:
        offload.setup_zero_stage3_hooks()
        while len(po.FWD_MODULE_STACK) > stack_depth:  # re-registration pushes the root again
            po.FWD_MODULE_STACK.pop()


@contextlib.contextmanager
def gathered_parameters(model: Any, *, modifier_rank: int | None = None) -> Iterator[nn.Module]:
    """Yield the bare module with all its weights materialised on every rank; a no-op unless ZeRO-3.

    Under ZeRO-3 every parameter is all-gathered (``deepspeed.zero.GatheredParameters``) and the
    engine's per-module fetch/release hooks are detached until exit, so the module can run
    ``generate`` like an ordinary one: no collective happens inside, and ranks may generate
    different lengths. On exit the weights are partitioned again. With ``modifier_rank=None``
    (the default) changes made inside are discarded; with a rank, that rank's values are kept
    (do not use that on a training engine: its optimizer's fp32 copy would not follow).
    Every rank must enter the context (it gathers collectively). Memory: the full model per rank.
    """
    module = unwrap_model(model)
    if not is_partitioned(module):
        yield module
        return
    deepspeed = prepare_deepspeed()
    engine = find_deepspeed_engine(model)
    offload = _parameter_offload(engine) if engine is not None else None
    params = list(module.parameters())
    with deepspeed.zero.GatheredParameters(params, modifier_rank=modifier_rank):
        if offload is None:
            yield module
        else:
            with _zero3_hooks_detached(offload, module):
                yield module


def partition_numel(module: nn.Module) -> tuple[int, int]:
    """(numel held by this rank, total numel) of a module's parameters; equal when not partitioned."""
    local = total = 0
    for param in module.parameters():
        if hasattr(param, "ds_tensor"):
            local += param.ds_tensor.numel()
            total += param.ds_numel
        else:
            local += param.numel()
            total += param.numel()
    return local, total
