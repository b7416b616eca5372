"""Worker of the 2-process gloo test in tests/common/rl/test_stats.py (kept apart so spawned
children import little)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

# Uneven per-rank batches on purpose; the 3 prompts' samples are spread over both ranks.
PROMPTS = [["a", "b", "a"], ["b", "c", "c", "a"]]
REWARDS = [[1.0, 10.0, 3.0], [20.0, 0.5, 0.5, 2.0]]


def run(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Gather rewards and prompt ids, compute tracker advantages, save what this rank saw."""
    torch.set_num_threads(1)
    from common.rl import PerPromptStatTracker, gather_for_group_stats, local_part, prompt_ids

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=60),
    )
    try:
        rewards = torch.tensor(REWARDS[rank], dtype=torch.float64)
        gathered = gather_for_group_stats(rewards)
        gathered_ids = gather_for_group_stats(prompt_ids(PROMPTS[rank]))
        back = local_part(gathered, rewards.shape[0])
        tracker = PerPromptStatTracker(gather=True)
        adv_group = tracker.compute(PROMPTS[rank], rewards, global_std=False)
        adv_global = tracker.compute(PROMPTS[rank], rewards, global_std=True)
        torch.save(
            {
                "gathered": gathered,
                "gathered_ids": gathered_ids,
                "back": back,
                "adv_group": adv_group,
                "adv_global": adv_global,
                "stats": tracker.get_stats(),
            },
            Path(out_dir) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()
