"""Time one GRPO group batch of the tiny evaluator (``python -m experiments.bench grpo_group``).

Builds the ``tiny_qwen2_5_vl`` preset (random weights: speed does not depend on them) and a
batch of 8 world images x G=8 copies, as a T2I-Eval-R1 GRPO step sees it, then times with
``T2I_THREADS`` torch threads (default 1):

* sampling 8 completions per prompt (``sample_vlm``, 32 new tokens);
* the teacher-forced log-probs' forward + backward (``sequence_logprobs``), the update's cost;

each with the vision tower run once per distinct image (``share_images``, the default) and once
per copy. Reports the median of ``T2I_BENCH_REPEATS`` (default 3) repeats after one warm-up call,
and the speed-up.
Takes about 2 minutes on one core.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from common.models.pretrain.data import single_object_scenes
from common.models.vlm_sampling import banned_token_ids, expand_batch, sample_vlm, sequence_logprobs
from common.presets import load_preset
from common.runtime import set_threads
from common.world.render import render_at


def _median_s(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (allocator, first-call overheads)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def main() -> dict[str, Any]:
    import torch
    from hydra.utils import instantiate

    threads = set_threads(int(os.environ.get("T2I_THREADS", "1")))
    repeats = int(os.environ.get("T2I_BENCH_REPEATS", "3"))
    bundle = instantiate(load_preset("model", "tiny_qwen2_5_vl"), _convert_="all")
    images = [render_at(scene, 128) for scene in single_object_scenes(8, 0)]
    chats = [
        [{"role": "user", "content": [{"type": "image", "image": im}, {"type": "text", "text": "describe"}]}]
        for im in images
    ]
    prompts = bundle.encode_chat(chats)
    group, banned = 8, banned_token_ids(bundle)  # structural tokens (image pads...) never sampled
    rollout = sample_vlm(
        bundle, prompts, max_new_tokens=32, num_return_sequences=group, seed=0, banned=banned
    )
    batch = expand_batch(prompts, group)
    out: dict[str, Any] = {
        "threads": threads,
        "prompts": len(images),
        "group_size": group,
        "image_tokens_per_prompt": int(prompts["image_grid_thw"][0].prod()) // 4,
        "completion_tokens": int(rollout.completion_ids.shape[1]),
    }
    for shared in (True, False):

        def update(shared: bool = shared) -> None:
            bundle.model.zero_grad(set_to_none=True)
            lp = sequence_logprobs(
                bundle.model,
                batch,
                rollout.completion_ids,
                rollout.completion_mask,
                banned=banned,
                share_images=shared,
            )
            lp.sum().backward()

        key = "shared" if shared else "per_copy"
        out[f"update_fwd_bwd_s_{key}"] = _median_s(update, repeats)
    with torch.no_grad():
        out["sample_s_shared"] = _median_s(
            lambda: sample_vlm(
                bundle, prompts, max_new_tokens=32, num_return_sequences=group, seed=1, banned=banned
            ),
            repeats,
        )
    out["update_speedup"] = round(out["update_fwd_bwd_s_per_copy"] / out["update_fwd_bwd_s_shared"], 2)
    return out
