"""Per-rank program of tests/common/flow_rl/test_trainer_ddp.py.

Run as ``python -m tests.common.flow_rl._ddp_worker <out_dir> <algorithm>`` once per rank, with
RANK / LOCAL_RANK / WORLD_SIZE / MASTER_* set like torchrun (``fabric.launch()`` joins them). Each
rank trains a tiny flow UNet + LoRA with :class:`FlowRLTrainer` for 2 steps on a Fabric built from
conf/engine/ddp.yaml (CPU, gloo), then reruns the same command with one more step (resume), and
two short runs where the ranks disagree: rank 0 alone crosses ``max_time_s``, and rank 1 alone
loses its critic. Each rank writes what it saw to ``<out_dir>/rank<r>.pt``; the test makes the
assertions.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

torch.set_num_threads(1)

SHARED = "a shared red circle"
"""The prompt both ranks draw every step: its group of 2 x group_size samples spans the ranks."""
OWN = (("a blue square", "a green cross"), ("a yellow triangle", "a black star"))
"""Per rank, per step: the prompt only that rank draws."""


@dataclass(frozen=True)
class Item:
    prompt: str


def items(rank: int, step: int) -> list[Item]:
    return [Item(SHARED), Item(OWN[rank][step % 2])]


def brightness_reward(items: Any, images: Any) -> Any:
    """A deterministic reward with spread inside every group: the mean pixel value."""
    from common.flow_rl import RewardBatch

    return RewardBatch(np.array([np.asarray(im, dtype=np.float64).mean() / 255.0 for im in images]))


def config(algorithm: str, steps: int, **kw: Any) -> Any:
    from common.flow_rl import FlowRLConfig

    return FlowRLConfig(
        **kw,
        algorithm=algorithm,
        steps=steps,
        prompts_per_iteration=2,
        group_size=2,
        sample_steps=2,
        sample_chunks=1,
        train_batch=4,
        lr=1e-2,
        clip_range=0.2,
        lora={"r": 4, "alpha": 8},
        timesteps_per_sample=1,
        checkpoint_every=1,
        keep_checkpoints=5,
    )


def policy() -> Any:
    """The same random tiny flow UNet + LoRA on every rank (seeded)."""
    from common.flow_rl.policy import FlowPolicy
    from common.models.lora import LoRASettings
    from common.models.tiny_generators import build_tiny_flow_unet

    torch.manual_seed(0)
    bundle = build_tiny_flow_unet(block_out_channels=(16, 32), cross_attention_levels=1, attention_heads=2)
    return FlowPolicy(bundle, LoRASettings(r=4, alpha=8))


def listing(root: Path) -> dict[str, list[str]]:
    return {d.name: sorted(f.name for f in d.iterdir()) for d in sorted(root.iterdir()) if d.is_dir()}


def run(out: Path, algorithm: str) -> None:
    from common.flow_rl import FlowRLTrainer
    from common.presets import load_preset
    from common.rewards.critic_client import CriticUnavailableError
    from common.train import make_fabric

    engine = load_preset("engine", "ddp")
    engine.accelerator, engine.devices = "cpu", 2
    fabric = make_fabric(engine)
    rank = fabric.global_rank
    root = out / "ckpt"
    res: dict[str, Any] = {"rank": rank, "world": fabric.world_size}

    # ---- first run: 2 steps, a checkpoint after each
    first = policy()
    res["start"] = first.trainable_state()
    seen: list[int] = []
    logged: list[int] = []
    calls: list[dict[str, Any]] = []

    def batch_fn(step: int) -> list[Item]:
        seen.append(step)
        return items(rank, step)

    trainer = FlowRLTrainer(
        first,
        config(algorithm, steps=2),
        batch_fn,
        brightness_reward,
        checkpoint_root=root,
        fabric=fabric,
        log_fn=lambda metrics, step: logged.append(step),
        progress=True,
    )
    res["tracker_gathers"] = trainer.tracker.gather
    compute = trainer.tracker.compute

    def recording_compute(prompts: Any, rewards: Any, *, global_std: bool) -> torch.Tensor:
        adv = compute(prompts, rewards, global_std=global_std)
        calls.append(
            {
                "prompts": list(prompts),
                "rewards": torch.as_tensor(rewards).detach().clone().cpu(),
                "global_std": global_std,
                "advantages": adv.detach().clone().cpu(),
            }
        )
        return adv

    trainer.tracker.compute = recording_compute  # type: ignore[method-assign]
    done = trainer.fit()
    res["summary"] = {k: v for k, v in done.items() if k != "history"}
    res["history"] = done["history"]
    res["after"] = first.trainable_state()
    res["old_after"] = first.old_state()
    res.update(seen=seen, logged=logged, calls=calls, checkpoints=listing(root))
    fabric.barrier()  # both ranks listed the checkpoints before the rerun adds one

    # ---- rerun of the same command with one more step: resumes at step 2
    second = policy()
    seen2: list[int] = []
    resumed: dict[str, Any] = {}

    def batch_fn2(step: int) -> list[Item]:
        if not seen2:  # before the first step of the rerun: what resume() loaded
            resumed.update(current=second.trainable_state(), old=second.old_state())
        seen2.append(step)
        return items(rank, step)

    rerun = FlowRLTrainer(
        second,
        config(algorithm, steps=3),
        batch_fn2,
        brightness_reward,
        checkpoint_root=root,
        fabric=fabric,
        progress=False,
    )
    res["summary2"] = {k: v for k, v in rerun.fit().items() if k != "history"}
    res.update(seen2=seen2, resumed=resumed, after2=second.trainable_state())

    # ---- rank 0 alone crosses the time budget after step 1 (clocks differ): both must stop
    budget = {"max_time_s": 0.0 if rank == 0 else 1e9}
    timed = FlowRLTrainer(
        policy(),
        config(algorithm, steps=3, **budget),
        lambda step: items(rank, step),
        brightness_reward,
        checkpoint_root=out / "ckpt_time",
        fabric=fabric,
        progress=False,
    )
    res["summary_time"] = {k: v for k, v in timed.fit().items() if k != "history"}

    # ---- rank 1 alone loses its critic at step 1: both must save step 1 and fail the same way
    def outage_reward(items_: Any, images: Any) -> Any:
        if rank == 1 and outage.step == 1:
            raise CriticUnavailableError("rank 1's critic is down")
        return brightness_reward(items_, images)

    outage = FlowRLTrainer(
        policy(),
        config(algorithm, steps=3),
        lambda step: items(rank, step),
        outage_reward,
        checkpoint_root=out / "ckpt_outage",
        fabric=fabric,
        progress=False,
    )
    try:
        outage.fit()
        res["outage_error"] = None
    except CriticUnavailableError as err:
        res["outage_error"] = str(err)
        res["outage_cause"] = type(err.__cause__).__name__
    torch.save(res, out / f"rank{rank}.pt")
    fabric.barrier()


def main(argv: list[str]) -> None:
    """Entry point: ``<out_dir> <algorithm>``."""
    out, algorithm = argv
    Path(out).mkdir(parents=True, exist_ok=True)
    run(Path(out), algorithm)


if __name__ == "__main__":
    main(sys.argv[1:])
