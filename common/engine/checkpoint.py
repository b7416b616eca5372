"""Consolidated model checkpoints that load into an unsharded model, whatever the training strategy.

:func:`save_checkpoint` writes one full state dict (``.safetensors`` or a torch file) from rank 0:
under ZeRO-3 it is gathered layer by layer with DeepSpeed's consolidation (the model's own dtype:
bf16 when training in bf16), otherwise it is the module's ``state_dict``. Files are written
atomically (temporary file in the same directory, then ``os.replace``). :func:`load_checkpoint`
loads such a file into a plain module, a Fabric-wrapped one, or a ZeRO-3 partitioned one (rank 0's
copy is scattered into the shards; a training engine's fp32 master weights are refreshed).

For resuming a ZeRO-3 run exactly (optimizer state, fp32 master weights) use Fabric's own
``fabric.save`` / ``fabric.load``, which write DeepSpeed's sharded checkpoint directory.

:func:`export_pretrained` is the one way a trained bundle leaves a run as a hub-style directory
(``bundle.save_pretrained``): ZeRO-3 shards gathered first, rank 0 writes, every rank waits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.engine.distributed import barrier, global_rank, on_rank_zero
from common.engine.zero import (
    find_deepspeed_engine,
    gathered_parameters,
    is_partitioned,
    prepare_deepspeed,
    unwrap_model,
)

StateDict = dict[str, torch.Tensor]


def _is_safetensors(path: Path) -> bool:
    return path.suffix == ".safetensors"


def consolidated_state_dict(model: Any, *, trainable_only: bool = False) -> StateDict | None:
    """The full state dict on CPU on rank 0 (``None`` on other ranks when partitioned).

    Collective under ZeRO-3: every rank must call it. ``trainable_only`` keeps only parameters
    with ``requires_grad`` (e.g. LoRA adapters) and drops buffers.
    """
    module = unwrap_model(model)
    if not is_partitioned(module):
        state = module.state_dict()
        if trainable_only:
            trainable = {
                name for name, p in module.named_parameters(remove_duplicate=False) if p.requires_grad
            }
            state = {k: v for k, v in state.items() if k in trainable}
        return {k: v.detach().cpu() for k, v in state.items()}
    engine = find_deepspeed_engine(model)
    if engine is not None:
        return engine._zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=trainable_only)
    return _gather_partitioned_state_dict(module, trainable_only=trainable_only)


def _gather_partitioned_state_dict(module: nn.Module, *, trainable_only: bool) -> StateDict | None:
    """Layer-by-layer gather of a partitioned module that has no engine (e.g. built under sharded_init)."""
    deepspeed = prepare_deepspeed()
    rank0 = global_rank() == 0
    state: StateDict = {}
    first_name: dict[int, str] = {}
    for prefix, sub in module.named_modules():
        params = list(sub.named_parameters(recurse=False))
        with deepspeed.zero.GatheredParameters([p for _, p in params], modifier_rank=None):
            if not rank0:
                continue
            for name, param in params:
                if trainable_only and not param.requires_grad:
                    continue
                key = f"{prefix}.{name}" if prefix else name
                if param.ds_id in first_name:  # shared (tied) weight: same tensor under both names
                    state[key] = state[first_name[param.ds_id]]
                else:
                    state[key] = param.detach().cpu().clone()
                    first_name[param.ds_id] = key
            if not trainable_only:
                for name, buf in sub.named_buffers(recurse=False):
                    if name not in sub._non_persistent_buffers_set:
                        state[f"{prefix}.{name}" if prefix else name] = buf.detach().cpu().clone()
    return state if rank0 else None


def _write_atomic(state: Mapping[str, torch.Tensor], path: Path, metadata: dict[str, str] | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if _is_safetensors(path):
            from safetensors.torch import save_file

            # safetensors refuses tensors sharing storage (tied weights): store each name separately.
            seen: set[int] = set()
            flat: StateDict = {}
            for key, value in state.items():
                ptr = value.untyped_storage().data_ptr() if value.numel() else -1
                flat[key] = value.clone().contiguous() if ptr in seen else value.contiguous()
                if ptr != -1:
                    seen.add(ptr)
            save_file(flat, tmp, metadata={"format": "pt", **(metadata or {})})
        else:
            torch.save({"state_dict": dict(state), "metadata": dict(metadata or {})}, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    *,
    trainable_only: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write the model's consolidated weights to ``path`` (``.safetensors`` or a torch file) from rank 0.

    Every rank must call it (the ZeRO-3 gather is collective; all ranks wait at a barrier until the
    file exists). ``metadata`` (str -> str) is stored alongside. Returns the path.
    """
    target = Path(path)
    state = consolidated_state_dict(model, trainable_only=trainable_only)
    if global_rank() == 0:
        assert state is not None
        _write_atomic(state, target, metadata)
    barrier()
    return target


def export_pretrained(bundle: Any, path: str | os.PathLike[str], *, model: Any = None) -> Path:
    """``bundle.save_pretrained(path)`` once, from global rank 0, with whole weights; returns ``path``.

    Under ZeRO-3 each rank holds a shard of every weight: a bare ``save_pretrained`` would write
    empty tensors, and on every rank. Here the weights of ``model`` (default ``bundle.model``;
    pass the trainer's wrapped module when the bundle's weights sit inside it, e.g. a flow
    policy) are gathered on every rank (:func:`common.engine.gathered_parameters`), rank 0
    writes, and the others wait until the directory is complete
    (:func:`common.engine.on_rank_zero`). Without ZeRO-3 the gather is a no-op; in one process
    this is ``bundle.save_pretrained(path)``. Collective: every rank must call it.
    """
    target = Path(path)
    with gathered_parameters(model if model is not None else bundle.model):
        on_rank_zero(bundle.save_pretrained, target)
    return target


def read_checkpoint(path: str | os.PathLike[str]) -> StateDict:
    """Read a checkpoint written by :func:`save_checkpoint` (or any safetensors / torch state dict) to CPU."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no checkpoint at {source}")
    if _is_safetensors(source):
        from safetensors.torch import load_file

        return load_file(str(source), device="cpu")
    obj = torch.load(source, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return dict(obj)


def _check_keys(module: nn.Module, state: Mapping[str, torch.Tensor], strict: bool) -> None:
    """Missing / unexpected keys, where a tied parameter counts as present under any of its names."""
    aliases: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(param), []).append(name)
    expected = set(module.state_dict().keys())
    missing = []
    for key in sorted(expected - set(state)):
        names = next((v for v in aliases.values() if key in v), [key])
        if not any(n in state for n in names):
            missing.append(key)
    unexpected = sorted(set(state) - expected)
    if strict and (missing or unexpected):
        raise RuntimeError(f"checkpoint does not match the model: missing {missing}, unexpected {unexpected}")


def load_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    *,
    strict: bool = True,
) -> Any:
    """Load a consolidated checkpoint into ``model`` (plain, Fabric-wrapped or ZeRO-3 partitioned).

    Under ZeRO-3 every rank must call it; each parameter group is gathered, overwritten with the
    checkpoint's values and re-partitioned, and a training engine's fp32 master copy is refreshed.
    ``strict`` raises on missing or unexpected keys (tied weights may be stored under one name).
    Returns ``model``.
    """
    module = unwrap_model(model)
    state = read_checkpoint(path)
    _check_keys(module, state, strict)
    if not is_partitioned(module):
        with torch.no_grad():
            _copy_into(module, state)
        return model
    deepspeed = prepare_deepspeed()
    rank0 = global_rank() == 0
    with torch.no_grad():
        for prefix, sub in module.named_modules():
            params = list(sub.named_parameters(recurse=False))
            with deepspeed.zero.GatheredParameters([p for _, p in params], modifier_rank=0):
                if rank0:
                    for name, param in params:
                        key = f"{prefix}.{name}" if prefix else name
                        if key in state:
                            param.data.copy_(state[key].to(param.dtype))
            for name, buf in sub.named_buffers(recurse=False):  # buffers are replicated, not sharded
                key = f"{prefix}.{name}" if prefix else name
                if key in state:
                    buf.copy_(state[key].to(buf.dtype))
    engine = find_deepspeed_engine(model)
    optimizer = getattr(engine, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "refresh_fp32_params"):
        optimizer.refresh_fp32_params()
    barrier()
    return model


def _copy_into(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy tensors by name into parameters and persistent buffers (shapes must match)."""
    targets: dict[str, torch.Tensor] = dict(module.named_parameters(remove_duplicate=False))
    targets.update(dict(module.named_buffers(remove_duplicate=False)))
    for key, value in state.items():
        target = targets.get(key)
        if target is None:
            continue
        if target.shape != value.shape:
            raise RuntimeError(f"{key}: checkpoint shape {tuple(value.shape)} != model {tuple(target.shape)}")
        target.data.copy_(value.to(device=target.device, dtype=target.dtype))
