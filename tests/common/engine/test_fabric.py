"""Single-process engine: Fabric from config, ZeRO-3 helpers as no-ops, atomic consolidated checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.engine import (
    EngineConfigError,
    build_fabric,
    build_strategy,
    clip_gradients,
    deepspeed_config,
    gathered_parameters,
    is_partitioned,
    is_zero3,
    load_checkpoint,
    partition_numel,
    read_checkpoint,
    save_checkpoint,
    setup_model_and_optimizer,
    sharded_init,
    unwrap_model,
)
from tests.common.engine._workers import batch, engine_cfg, greedy, tiny_lm


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_cpu_engine_trains_generates_and_checkpoints(tmp_path: Path) -> None:
    cfg = engine_cfg("cpu")
    fabric = build_fabric(cfg)
    fabric.launch()
    assert type(fabric.strategy).__name__ == "SingleDeviceStrategy"
    assert fabric.device.type == "cpu" and fabric.world_size == 1
    with sharded_init(cfg):  # no-op without ZeRO-3
        model = tiny_lm(seed=0)
    assert not is_partitioned(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model, optimizer = setup_model_and_optimizer(fabric, model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert not is_zero3(model) and not is_zero3(fabric)
    assert unwrap_model(model) is model.module

    model.train()
    x = batch(0)
    fabric.backward(model(input_ids=x, labels=x).loss)
    norm = clip_gradients(fabric, model, optimizer, cfg)
    assert norm is not None and float(norm) > 0
    grads = [p.grad for p in unwrap_model(model).parameters() if p.grad is not None]
    assert float(norm) > 1.0  # so clipping had work to do
    assert torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])) <= 1.0 + 1e-4
    optimizer.step()
    after = {k: v.clone() for k, v in unwrap_model(model).state_dict().items()}
    assert _max_diff(before, after) > 1e-4  # the step changed the weights

    with gathered_parameters(model) as bare:  # no-op: the bare module itself
        assert bare is unwrap_model(model)
        tokens = greedy(bare, 0)
    assert len(tokens) == 11
    local, total = partition_numel(bare)
    assert local == total == sum(p.numel() for p in bare.parameters())

    for name in ("model.safetensors", "model.pt"):
        path = save_checkpoint(tmp_path / name, model)
        fresh = tiny_lm(seed=1)
        load_checkpoint(path, fresh)
        assert _max_diff(fresh.state_dict(), after) == 0.0
        assert fresh.lm_head.weight.data_ptr() == fresh.model.embed_tokens.weight.data_ptr()  # still tied
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.safetensors"]  # no temp files


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_lm(seed=0)
    path = save_checkpoint(tmp_path / "model.safetensors", model)
    good = path.read_bytes()

    import safetensors.torch

    def broken(*args: object, **kwargs: object) -> None:
        Path(str(args[1])).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, tiny_lm(seed=1))
    assert path.read_bytes() == good  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_trainable_only_and_strict_loading(tmp_path: Path) -> None:
    model = tiny_lm(seed=0)
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("model.layers.1."))
    path = save_checkpoint(
        tmp_path / "adapters.safetensors", model, trainable_only=True, metadata={"step": "3"}
    )
    state = read_checkpoint(path)
    assert state and all(k.startswith("model.layers.1.") for k in state)
    with pytest.raises(RuntimeError, match="missing"):
        load_checkpoint(path, tiny_lm(seed=1))
    other = tiny_lm(seed=1)
    load_checkpoint(path, other, strict=False)
    assert torch.equal(other.model.layers[1].mlp.up_proj.weight, model.model.layers[1].mlp.up_proj.weight)
    assert not torch.equal(other.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.safetensors", other)


def test_ddp_fabric_is_built_without_launching() -> None:
    fabric = build_fabric(engine_cfg("ddp", accelerator="cpu"))
    assert type(fabric.strategy).__name__ == "DDPStrategy"
    assert fabric.world_size == 2
    assert not is_zero3(fabric)


def test_zero3_strategy_carries_the_generated_json_but_refuses_cpu() -> None:
    cfg = engine_cfg("zero3")
    strategy = build_strategy(cfg)  # building it needs no GPU
    assert type(strategy).__name__ == "DeepSpeedStrategy"
    assert strategy.zero_stage_3
    assert strategy.config == deepspeed_config(cfg)
    if not torch.cuda.is_available():
        with pytest.raises(EngineConfigError, match="needs CUDA"):
            build_fabric(cfg)
        with pytest.raises(EngineConfigError, match="needs CUDA"):
            build_fabric(engine_cfg("zero3", accelerator="auto"))


def test_is_zero3_on_configs_and_plain_modules() -> None:
    assert is_zero3(engine_cfg("zero3")) and is_zero3(engine_cfg("zero3_offload"))
    assert is_zero3(engine_cfg("zero3").to_dict())
    assert not is_zero3(engine_cfg("cpu")) and not is_zero3(engine_cfg("ddp"))
    assert not is_zero3(torch.nn.Linear(2, 2))
    assert not is_zero3(object())
