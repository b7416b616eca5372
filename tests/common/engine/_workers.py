"""Per-rank programs of the multi-process engine tests.

Run as ``python -m tests.common.engine._workers <scenario> <out_dir>``.

``zero3``: run once per rank by the test (RANK / WORLD_SIZE / MASTER_* set like torchrun); drives
DeepSpeed directly with gloo, since Lightning's DeepSpeed strategy refuses CPUs.
``ddp``: run once; ``fabric.launch()`` starts the second process itself, as on a laptop.
Each rank writes its findings to ``<out_dir>/<scenario>_rank<r>.json`` and tensors to ``.pt`` files;
the tests in this folder make the assertions.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

torch.set_num_threads(1)

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
PROMPTS = ([1, 2, 3, 4, 5], [9, 8, 7, 6, 5])
NEW_TOKENS = (6, 11)  # different per rank: generation must not need collectives
LR = 0.1


def tiny_config() -> Any:
    """A 2-layer Qwen2 causal LM config (about 21k parameters, tied embeddings)."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=63,
        bos_token_id=1,
        initializer_range=0.5,  # large weights: greedy continuations vary instead of repeating
    )


def tiny_lm(seed: int) -> torch.nn.Module:
    """The tiny causal LM with weights drawn from ``seed``."""
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(seed)
    return Qwen2ForCausalLM(tiny_config()).eval()


def batch(rank: int) -> torch.Tensor:
    """A distinct training batch per rank."""
    gen = torch.Generator().manual_seed(100 + rank)
    return torch.randint(2, 63, (2, 10), generator=gen)


def greedy(model: torch.nn.Module, rank: int) -> list[int]:
    """Greedy continuation of this rank's prompt (forced length, no early stop)."""
    n = NEW_TOKENS[rank % 2]
    ids = torch.tensor([PROMPTS[rank % 2]])
    out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)  # type: ignore[operator]
    return out[0].tolist()


def reference_step(model: torch.nn.Module, world: int, max_norm: float | None) -> dict[str, torch.Tensor]:
    """One SGD step of an unsharded copy on the mean loss over all ranks' batches (= averaged gradients)."""
    ref = copy.deepcopy(model).train()
    loss = sum(ref(input_ids=batch(r), labels=batch(r)).loss for r in range(world)) / world
    loss.backward()
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
    with torch.no_grad():
        for p in ref.parameters():
            p -= LR * p.grad
    return {k: v.detach().clone() for k, v in ref.state_dict().items()}


def engine_cfg(name: str, **overrides: Any) -> Any:
    """Compose ``conf/engine/<name>.yaml`` with Hydra and apply dotted overrides."""
    from hydra import compose, initialize_config_dir

    from common.config import register_defaults
    from common.engine import EngineConfig

    register_defaults()
    args = [f"engine={name}"]
    for key, value in overrides.items():  # a leading "+" adds a key that the file does not have
        plus, key = ("+", key[1:]) if key.startswith("+") else ("", key)
        args.append(f"{plus}engine.{key}={value}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=args)
    return EngineConfig.from_cfg(cfg.engine)


def write(out: Path, name: str, obj: dict[str, Any]) -> None:
    """Write JSON atomically."""
    tmp = out / f".{name}.tmp"
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, out / name)


# --------------------------------------------------------------------------- ZeRO-3 with gloo


def run_zero3(out: Path, engine_name: str = "zero3") -> None:
    """ZeRO-3 on CPU: sharded load, gathered generation, a train step, consolidated checkpoints,
    a hub-style export (:func:`common.engine.export_pretrained`)."""
    t0 = time.perf_counter()
    from transformers import Qwen2ForCausalLM
    from transformers.integrations import is_deepspeed_zero3_enabled

    from common.engine import (
        barrier,
        consolidated_state_dict,
        deepspeed_config,
        export_pretrained,
        gathered_parameters,
        global_rank,
        init_deepspeed_distributed,
        is_zero3,
        load_checkpoint,
        partition_numel,
        prepare_deepspeed,
        save_checkpoint,
        sharded_init,
        unwrap_model,
        world_size,
    )

    deepspeed = prepare_deepspeed()  # CPU accelerator, no JIT-built shared-memory op
    init_deepspeed_distributed("gloo")
    rank, world = global_rank(), world_size()
    res: dict[str, Any] = {"rank": rank, "world": world}
    # fp32 so the sharded run can be compared with an unsharded one to float tolerance; tiny
    # parameters are partitioned too (no persistence threshold).
    cfg = engine_cfg(engine_name, precision="32-true", **{"deepspeed.stage3_param_persistence_threshold": 0})
    res["is_zero3_cfg"] = is_zero3(cfg)

    ref = tiny_lm(seed=0)
    res["ref_generation"] = greedy(ref, rank)
    if rank == 0:
        ref.save_pretrained(out / "ref_hf")
    save_checkpoint(out / "ref.safetensors", ref)  # unsharded model: rank 0 writes, all wait

    with sharded_init(cfg):
        res["hf_zero3_inside"] = is_deepspeed_zero3_enabled()
        model = Qwen2ForCausalLM.from_pretrained(out / "ref_hf")
        fresh = Qwen2ForCausalLM._from_config(tiny_config())
    res["hf_zero3_after"] = is_deepspeed_zero3_enabled()
    local, total = partition_numel(model)
    res.update(
        local_numel=local,
        total_numel=total,
        ref_numel=sum(p.numel() for p in ref.parameters()),
        max_visible_numel=max(p.numel() for p in model.parameters()),
        module_is_zero3=is_zero3(model),
    )
    loaded = consolidated_state_dict(model)  # gathered layer by layer, no engine
    fresh_state = consolidated_state_dict(fresh)
    load_checkpoint(out / "ref.safetensors", fresh)  # scatter rank 0's file into the shards
    fresh_loaded = consolidated_state_dict(fresh)
    if rank == 0:
        assert loaded is not None and fresh_state is not None and fresh_loaded is not None
        ref_state = ref.state_dict()
        res["from_pretrained_max_diff"] = max(
            (loaded[k] - v).abs().max().item() for k, v in ref_state.items()
        )
        res["from_config_embed_std"] = fresh_state["model.embed_tokens.weight"].std().item()
        res["load_into_sharded_max_diff"] = max(
            (fresh_loaded[k] - v).abs().max().item() for k, v in ref_state.items()
        )

    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    ds_config = deepspeed_config(cfg)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    res["engine_is_zero3"] = is_zero3(engine)
    res["engine"] = engine_name
    res["offload"] = [  # DeepSpeed's parsed config: device name, or None when not offloading
        None
        if section is None or section.device is None
        else str(getattr(section.device, "value", section.device))
        for section in (engine.zero_offload_param(), engine.zero_offload_optimizer())
    ]

    t_gen = time.perf_counter()
    with gathered_parameters(engine) as bare:
        res["gathered_visible_numel"] = sum(p.numel() for p in bare.parameters())
        res["zero3_generation"] = greedy(bare, rank)
        ids = torch.tensor([PROMPTS[rank % 2]])
        with torch.no_grad():
            res["logits_max_diff"] = (
                (bare(input_ids=ids).logits - ref(input_ids=ids).logits).abs().max().item()
            )
    res["generate_s"] = time.perf_counter() - t_gen
    res["visible_numel_after_gather"] = max(p.numel() for p in engine.module.parameters())

    def train_step() -> float:
        engine.train()
        x = batch(rank)
        loss = engine(input_ids=x, labels=x).loss
        engine.backward(loss)
        engine.step()
        return loss.item()

    t_step = time.perf_counter()
    res["loss"] = train_step()
    res["step_s"] = time.perf_counter() - t_step
    res["grad_norm"] = float(engine.get_global_grad_norm())

    save_checkpoint(out / "trained.safetensors", engine)
    # the one export of the tasks: a bundle's save_pretrained with the shards gathered, rank 0 writing
    exported = SimpleNamespace(model=engine, save_pretrained=unwrap_model(engine).save_pretrained)
    export_pretrained(exported, out / "exported")
    with gathered_parameters(engine) as bare:
        after = {k: v.detach().clone() for k, v in bare.state_dict().items()}
    if rank == 0:
        torch.save(after, out / "zero3_after.pt")
        torch.save(reference_step(ref, world, cfg.gradient_clipping), out / "reference_after.pt")
        torch.save(ref.state_dict(), out / "ref_state.pt")

    # Loading into a training engine refreshes its fp32 master copy: the same step from the
    # reloaded initial weights must land on the same parameters again.
    load_checkpoint(out / "ref.safetensors", engine)
    res["loss_after_reload"] = train_step()
    with gathered_parameters(engine) as bare:
        again = {k: v.detach().clone() for k, v in bare.state_dict().items()}
    if rank == 0:
        torch.save(again, out / "zero3_after_reload.pt")

    # The second generation after training must still work with hooks restored.
    with gathered_parameters(engine) as bare:
        res["generation_after_training"] = greedy(bare, rank)
    barrier()
    res["total_s"] = time.perf_counter() - t0
    write(out, f"zero3_rank{rank}.json", res)


# --------------------------------------------------------------------------- DDP through Fabric


def run_ddp(out: Path) -> None:
    """DDP on CPU through Fabric's own launcher: averaged gradients, identical parameters."""
    t0 = time.perf_counter()
    from common.engine import (
        build_fabric,
        clip_gradients,
        detect_cluster,
        gathered_parameters,
        is_zero3,
        save_checkpoint,
        setup_model_and_optimizer,
    )

    cfg = engine_cfg("ddp", accelerator="cpu", devices=2)
    fabric = build_fabric(cfg)
    fabric.launch()
    rank, world = fabric.global_rank, fabric.world_size
    res: dict[str, Any] = {
        "rank": rank,
        "world": world,
        "strategy": type(fabric.strategy).__name__,
        "backend": fabric.strategy._get_process_group_backend(),  # type: ignore[attr-defined]
        "cluster": detect_cluster().to_dict(),
    }
    model = tiny_lm(seed=10 + rank)  # different per rank: setup must broadcast rank 0's weights
    if rank == 0:
        initial = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    model, optimizer = setup_model_and_optimizer(fabric, model, optimizer)
    res["is_zero3"] = is_zero3(model)
    model.train()
    x = batch(rank)
    loss = model(input_ids=x, labels=x).loss
    fabric.backward(loss)
    norm = clip_gradients(fabric, model, optimizer, cfg)
    res["grad_norm"] = None if norm is None else float(norm)
    optimizer.step()
    optimizer.zero_grad()
    torch.save(
        {k: v.detach().clone() for k, v in model.state_dict().items()}, out / f"ddp_params_rank{rank}.pt"
    )
    if rank == 0:
        torch.save(reference_step(initial, world, cfg.gradient_clipping), out / "ddp_reference_after.pt")
    with gathered_parameters(model) as bare:
        res["generation"] = greedy(bare, rank)  # different lengths per rank, no collectives
    save_checkpoint(out / "ddp.safetensors", model)
    fabric.barrier()
    res["total_s"] = time.perf_counter() - t0
    write(out, f"ddp_rank{rank}.json", res)


def main(argv: list[str]) -> None:
    """Entry point: ``<scenario> <out_dir>``."""
    scenario, out, *rest = argv
    Path(out).mkdir(parents=True, exist_ok=True)
    {"zero3": run_zero3, "ddp": run_ddp}[scenario](Path(out), *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
