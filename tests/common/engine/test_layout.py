"""A checkpoint records the engine, world size and global batch it was trained with, and every
trainer refuses to continue one recorded under another (:mod:`common.engine.layout`), through the
two shared paths: the Fabric loop (SFT, RM, pretraining) and :mod:`common.run_checkpoints` (GRPO,
flow RL). The 2-process cases: tests/common/sft/test_sft_ddp.py,
tests/common/flow_rl/test_trainer_ddp.py and tests/t2ieval_r1/test_sft_task_ddp.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.engine import (
    ResumeMismatchError,
    check_resume_layout,
    engine_kind,
    on_rank_zero,
    training_layout,
)
from common.run_checkpoints import load_checkpoint_dir, save_checkpoint_dir
from common.sft import SFTTrainer
from common.train import make_fabric
from tests.common.sft.test_sft import examples, small_bundle, tiny_cfg

DDP_8 = {"engine": "ddp", "world_size": 2, "global_batch": 8}


def test_a_different_layout_is_refused_with_what_differs_and_what_to_do() -> None:
    check_resume_layout(DDP_8, dict(DDP_8), "ckpt")  # the same: resumed
    check_resume_layout(None, {"engine": "single", "world_size": 1, "global_batch": 4}, "ckpt")  # unrecorded
    with pytest.raises(ResumeMismatchError) as err:
        check_resume_layout(DDP_8, {"engine": "single", "world_size": 1, "global_batch": 4}, "out/ckpt")
    message = str(err.value)
    for part in ("out/ckpt", "engine ddp -> single", "processes 2 -> 1", "global batch 8 -> 4"):
        assert part in message
    assert "task.resume=never" in message and "task.checkpoint_dir" in message and "engine=" in message
    with pytest.raises(ResumeMismatchError, match=r"global batch 8 -> 16\)"):
        check_resume_layout(DDP_8, {**DDP_8, "global_batch": 16}, "ckpt")


def test_the_layout_of_one_cpu_process() -> None:
    fabric = make_fabric()
    assert engine_kind(fabric) == "single"
    assert training_layout(fabric, 4) == {"engine": "single", "world_size": 1, "global_batch": 4}
    assert on_rank_zero(lambda a, b: a + b, 2, b=3) == 5  # one process: a plain call


def test_the_engine_kind_of_each_strategy() -> None:
    from types import SimpleNamespace

    from common.engine import build_strategy
    from tests.common.engine._workers import engine_cfg

    for name, kind in (("zero3", "deepspeed-zero3"), ("zero3_offload", "deepspeed-zero3"), ("ddp", "ddp")):
        strategy = build_strategy(
            engine_cfg(name, accelerator="cuda") if "zero" in name else engine_cfg(name)
        )
        assert engine_kind(SimpleNamespace(strategy=strategy)) == kind  # building one needs no GPU


def test_sft_refuses_a_checkpoint_of_another_global_batch(tmp_path: Path) -> None:
    work = tmp_path / "work"
    SFTTrainer(small_bundle(), examples(8), tiny_cfg(steps=1), work, progress=False).fit()
    with pytest.raises(ValueError, match=r"global batch 4 -> 8"):  # batch_size 2 -> 4, grad_accum 2
        SFTTrainer(small_bundle(), examples(8), tiny_cfg(steps=2, batch_size=4), work, progress=False).fit()
    more = SFTTrainer(small_bundle(), examples(8), tiny_cfg(steps=2), work, progress=False).fit()
    assert more["resumed_from"] == 1 and more["steps"] == 2  # the same layout, more steps: resumed


def test_run_checkpoints_record_the_layout_and_refuse_another_before_loading(tmp_path: Path) -> None:
    fabric = make_fabric()
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer = fabric.setup(model, optimizer)
    path = save_checkpoint_dir(
        fabric, tmp_path, 1, model, optimizer, {"step": 1}, layout=training_layout(fabric, 8)
    )
    with torch.no_grad():
        model.weight.zero_()
    with pytest.raises(ResumeMismatchError, match=r"global batch 8 -> 4"):
        load_checkpoint_dir(fabric, path, model, optimizer, layout=training_layout(fabric, 4))
    assert float(model.weight.detach().abs().sum()) == 0.0  # refused before anything was loaded
    state = load_checkpoint_dir(fabric, path, model, optimizer, layout=training_layout(fabric, 8))
    assert state["layout"] == {"engine": "single", "world_size": 1, "global_batch": 8}
    assert float(model.weight.detach().abs().sum()) > 0.0
