"""Per-prompt stat tracker, cross-rank gathering and the group layout check (:mod:`common.rl.stats`)."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from common.rl import (
    PerPromptStatTracker,
    gather_for_group_stats,
    local_part,
    prompt_ids,
    stable_prompt_id,
    validate_group_layout,
)
from tests.common.rl import _dist_worker

F64 = torch.float64
EPS = 1e-4
PROMPTS = ["a", "b", "a", "b"]
REWARDS = torch.tensor([1.0, 10.0, 3.0, 20.0], dtype=F64)


def test_tracker_per_group_std_by_hand() -> None:
    # "a": [1, 3] mean 2 std 1 ; "b": [10, 20] mean 15 std 5 (population std)
    adv = PerPromptStatTracker().compute(PROMPTS, REWARDS, global_std=False)
    expected = torch.tensor([-1 / (1 + EPS), -5 / (5 + EPS), 1 / (1 + EPS), 5 / (5 + EPS)], dtype=F64)
    torch.testing.assert_close(adv, expected)


def test_tracker_global_std_by_hand() -> None:
    # batch mean 8.5; deviations [-7.5, 1.5, -5.5, 11.5]; squares 56.25 + 2.25 + 30.25 + 132.25 = 221
    # population var 221 / 4 = 55.25, std 7.433034; numerators are group-centred: [-1, -5, 1, 5]
    s = math.sqrt(55.25)
    tracker = PerPromptStatTracker()
    adv = tracker.compute(PROMPTS, REWARDS, global_std=True)
    expected = torch.tensor([-1.0, -5.0, 1.0, 5.0], dtype=F64) / (s + EPS)
    torch.testing.assert_close(adv, expected)
    stats = tracker.get_stats()
    assert stats["num_groups"] == 2 and stats["mean_group_size"] == 2 and stats["zero_std_ratio"] == 0
    assert stats["reward_mean"] == pytest.approx(8.5)
    tracker.clear()
    assert tracker.get_stats() == {}


def test_tracker_zero_std_group_and_errors() -> None:
    tracker = PerPromptStatTracker()
    adv = tracker.compute(["x", "x", "y", "y"], [1.0, 1.0, 0.0, 1.0], global_std=False)
    assert adv[:2].tolist() == [0.0, 0.0]
    assert tracker.get_stats()["zero_std_ratio"] == 0.5
    with pytest.raises(ValueError, match="one reward per prompt"):
        tracker.compute(["x"], [1.0, 2.0], global_std=True)


def test_stable_prompt_id_is_fixed_and_non_negative() -> None:
    # blake2b-64 of the UTF-8 bytes, top bit cleared: fixed across processes and Python hash seeds
    assert stable_prompt_id("a red cube") == 6453828829312547016
    assert stable_prompt_id("") == 7252660547403494068
    ids = prompt_ids(["a", "b", "a"])
    assert ids.dtype == torch.long and ids[0] == ids[2] != ids[1] and (ids >= 0).all()


def test_single_process_gather_is_noop() -> None:
    x = torch.arange(5)
    assert gather_for_group_stats(x) is x
    assert local_part(x, 5) is x
    tracker = PerPromptStatTracker(gather=True)
    torch.testing.assert_close(
        tracker.compute(PROMPTS, REWARDS, global_std=True),
        PerPromptStatTracker().compute(PROMPTS, REWARDS, global_std=True),
    )


def test_validate_group_layout() -> None:
    assert validate_group_layout(2, 8, 16) == 1
    assert validate_group_layout(16, 3, 16) == 3  # FIRM gen: 48 images per step, groups of 16
    with pytest.raises(ValueError, match=r"2 rank\(s\) x 3 samples per rank = 6 .* multiple of group_size 4"):
        validate_group_layout(2, 3, 4)
    with pytest.raises(ValueError, match=r"e\.g\. 4"):
        validate_group_layout(1, 3, 4)
    with pytest.raises(ValueError, match="group_size must be >= 1"):
        validate_group_layout(1, 4, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.distributed
@pytest.mark.timeout(120)
def test_two_process_gloo_gather_and_tracker(tmp_path: Path) -> None:
    mp.spawn(_dist_worker.run, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    all_rewards = torch.tensor(_dist_worker.REWARDS[0] + _dist_worker.REWARDS[1], dtype=F64)
    all_prompts = _dist_worker.PROMPTS[0] + _dist_worker.PROMPTS[1]
    ref_group = PerPromptStatTracker().compute(all_prompts, all_rewards, global_std=False)
    ref_global = PerPromptStatTracker().compute(all_prompts, all_rewards, global_std=True)
    sizes = [len(p) for p in _dist_worker.PROMPTS]
    offsets = [0, sizes[0]]
    for rank, res in enumerate(results):
        # both ranks see the whole batch in rank order, and get their own slice back
        torch.testing.assert_close(res["gathered"], all_rewards)
        torch.testing.assert_close(res["gathered_ids"], prompt_ids(all_prompts))
        torch.testing.assert_close(res["back"], torch.tensor(_dist_worker.REWARDS[rank], dtype=F64))
        sl = slice(offsets[rank], offsets[rank] + sizes[rank])
        torch.testing.assert_close(res["adv_group"], ref_group[sl])
        torch.testing.assert_close(res["adv_global"], ref_global[sl])
        assert res["stats"]["num_groups"] == 3
