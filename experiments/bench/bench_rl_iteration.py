"""One online-RL iteration of the image policy; its sampler against diffusers' (``rl_iteration``).

``python -m experiments.bench rl_iteration``.

Random-weight tiny models built in code (speed does not depend on the weights), ``T2I_THREADS``
torch threads (default 1). Three measurements:

1. ``iteration``: one :class:`~common.flow_rl.trainer.FlowRLTrainer` iteration of the tiny
   generator (``tiny_flow_unet``, LoRA) at the tiny recipe's sizes
   (``conf/recipe/tiny/firm_gen_rl.yaml``: 16 prompts x group 8, 10 steps, 2 sample chunks,
   LoRA r 32, train batch 32), for ``diffusion_nft`` and ``flow_grpo``, split by the trainer's own
   logged metrics: ``sample_s`` (``time_sample_s``: rollouts, rewards submitted as chunks finish),
   ``reward_wait_s`` (``time_reward_wait_s``: what the trainer still waited for rewards after the
   last chunk), ``update_s`` (``time_update_s``: advantages, the algorithm's update, the EMA) and
   ``step_s`` (``time_step_s``). The reward function stands in for a remote critic: it sleeps
   ``T2I_BENCH_REWARD_LATENCY_S`` (default 0.5 s) per call, then scores with the world oracle
   (:class:`firm.rl.critics.OracleCritic`, gen) and FIRM's QMA reward (:mod:`firm.rl.rewards`);
   it runs on the trainer's reward thread. One warm-up iteration (the first trainer's step 0)
   first, then ``T2I_BENCH_RL_STEPS`` (default 1) iterations per setting (medians if more).
2. ``overlap``: the trainer submits each chunk's rewards to a worker thread while the next chunk
   samples. ``reward_total_s`` is the sum of the reward function's own call durations (measured
   inside it; ``reward_sleep_s`` of it is the fixed latency, ``reward_oracle_s`` the oracle's CPU
   work), ``hidden_share = 1 - reward_wait_s / reward_total_s`` the share the trainer did not wait
   for. The same trainer is also run with ``sample_chunks=1`` (no overlap possible: the reference,
   hidden share ~0). With 2 chunks the second chunk's rewards can never be hidden, so ~50% is
   the ceiling at equal chunks. The oracle is CPU work in Python: while it overlaps sampling the
   two share the CPU (and the GIL), so ``reward_total_s`` and ``sample_s`` grow under overlap on a
   busy machine; only the sleep (a remote critic's latency) is free to hide. Hence also, per
   algorithm, ``wait_saved_share = 1 - reward_wait_s(2 chunks) / reward_wait_s(1 chunk)`` and
   ``step_saved_s = step_s(1 chunk) - step_s(2 chunks)``: what the overlap bought in wall time
   (different iterations' items and a shared machine: a rough number).
3. ``sampler``: :func:`common.flow_rl.rollout.rollout` (``sampler="euler"``, ``group_size=1``,
   no CFG) against ``diffusers.StableDiffusion3Pipeline`` called on the same transformer,
   scheduler and weights, same 64-sample batch (one sample chunk of the recipe), 10 steps,
   ``guidance_scale=1``, the same initial noise (``latents=``), text encoding excluded from both
   (the bundle's conditioning precomputed: ``prompt_embeds`` / ``pooled_prompt_embeds`` for the
   pipeline, ``policy.encode`` returning it for ours). The pipeline is built with
   ``text_encoder_2`` / ``text_encoder_3`` ``None`` (only used to encode prompts, skipped when
   embeddings are given). Two models:

   * ``tiny_sd3`` (pixel space, what ``scale=tiny`` uses): no VAE, so the pipeline's default
     ``vae_scale_factor`` 8 applies: it is asked for ``8 x 32`` px so its latents are the
     32x32 pixels, returns ``output_type="latent"``, and its own ``image_processor.postprocess``
     makes the PIL images (what the pipeline does after its VAE decode);
   * ``tiny_sd3_latent`` (a tiny VAE): the plain pipeline call to PIL images.

   ``ours_s`` / ``diffusers_s``: medians of ``T2I_BENCH_REPEATS`` (default 5) calls, alternating
   the two (and the floor) after a warm-up call of each. ``forward_floor_s``: the 10 transformer
   forwards alone on the same inputs (the cost both share), so ``overhead_*_s = *_s - floor``
   is what each sampler adds. ``ratio = ours_s / diffusers_s``; ``meets_1_1x``: ratio <= 1.1.
   ``max_abs_diff``: the largest difference between the two outputs (0: the same samples; in
   model space for the pixel model, PIL pixel values for the latent one).

About 4 minutes on one core (3.6-5 min measured on a busy 2-core machine; most of it the five RL
iterations, 20-55 s each). Load from other processes moves every number by 10-20%: compare
within one run.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from common.presets import load_preset
from common.runtime import set_threads

ALGORITHMS = ("diffusion_nft", "flow_grpo")
SAMPLE_BATCH = 64
SAMPLE_STEPS = 10


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _recipe_rl() -> dict[str, Any]:
    from omegaconf import OmegaConf

    node = load_preset("recipe", "tiny/firm_gen_rl")
    rl = OmegaConf.to_container(node.task.rl, resolve=True)
    assert isinstance(rl, dict)
    return {str(k): v for k, v in rl.items()}


class _TimedReward:
    """A stand-in remote critic: ``latency_s`` sleep, then the world oracle and QMA; records durations."""

    def __init__(self, latency_s: float) -> None:
        from firm.rl.critics import OracleCritic
        from firm.rl.rewards import reward_config

        self.latency_s = latency_s
        self.critic = OracleCritic("gen")
        self.config = reward_config("qma", "gen")
        self.calls: list[tuple[float, float]] = []  # (sleep, oracle) seconds per call
        self.lock = threading.Lock()

    def __call__(self, items: Any, images: Any) -> Any:
        from common.flow_rl.trainer import RewardBatch
        from firm.rl.rewards import rewards_from_scores

        t0 = time.perf_counter()
        time.sleep(self.latency_s)
        t1 = time.perf_counter()
        scores = self.critic.score(items, images)
        out = RewardBatch(rewards_from_scores(scores, self.config), scores)
        with self.lock:
            self.calls.append((t1 - t0, time.perf_counter() - t1))
        return out

    def take(self) -> tuple[float, float]:
        with self.lock:
            calls, self.calls = self.calls, []
        return sum(c[0] for c in calls), sum(c[1] for c in calls)


def _iterations(latency_s: float, steps: int) -> dict[str, Any]:
    from common.flow_rl.config import FlowRLConfig
    from common.flow_rl.policy import FlowPolicy
    from common.flow_rl.trainer import FlowRLTrainer
    from common.models.builders import build_model
    from firm.rl.items import training_items

    rl = _recipe_rl()
    out: dict[str, Any] = {
        "model": "tiny_flow_unet",
        "recipe": {
            k: rl[k]
            for k in ("prompts_per_iteration", "group_size", "sample_steps", "sample_chunks", "train_batch")
        }
        | {"lora_r": (rl.get("lora") or {}).get("r")},
        "reward_latency_s": latency_s,
    }
    warm = True
    for algorithm in ALGORITHMS:
        cfg = FlowRLConfig(**{**rl, "algorithm": algorithm, "seed": 0})
        bundle = build_model("tiny_flow_unet")
        policy = FlowPolicy(bundle, cfg.lora_settings(), cfg.ema_schedule)
        resolution = int(bundle.spec.resolution)

        def batch_fn(step: int, n: int = cfg.prompts_per_iteration, res: int = resolution) -> list[Any]:
            return next(training_items("gen", n, 0, level=None, resolution=res, start=step))[1]

        reward = _TimedReward(latency_s)
        trainer = FlowRLTrainer(policy, cfg, batch_fn, reward, progress=False)
        step = 0
        if warm:  # first-call overheads (allocator, kernels of these shapes) once per process
            trainer.train_step(step)
            reward.take()
            step, warm = step + 1, False
        per_algo: dict[str, Any] = {}
        overlap_chunks = cfg.sample_chunks  # cfg is the trainer's: changed below
        for chunks in (overlap_chunks, 1):
            trainer.cfg.sample_chunks = chunks  # read by every sample() call
            rows = []
            for _ in range(steps):
                m = trainer.train_step(step)
                step += 1
                sleep_s, oracle_s = reward.take()
                total = sleep_s + oracle_s
                rows.append(
                    {
                        "sample_s": m["time_sample_s"],
                        "reward_wait_s": m["time_reward_wait_s"],
                        "update_s": m["time_update_s"],
                        "step_s": m["time_step_s"],
                        "reward_total_s": total,
                        "reward_sleep_s": sleep_s,
                        "reward_oracle_s": oracle_s,
                        "hidden_share": 1.0 - m["time_reward_wait_s"] / total,
                    }
                )
            per_algo[f"chunks_{chunks}"] = {k: _median([r[k] for r in rows]) + 0.0 for k in rows[0]}
        overlapped, serial = per_algo[f"chunks_{overlap_chunks}"], per_algo["chunks_1"]
        per_algo["wait_saved_share"] = round(1.0 - overlapped["reward_wait_s"] / serial["reward_wait_s"], 3)
        per_algo["step_saved_s"] = round(serial["step_s"] - overlapped["step_s"], 3)
        trainer.close()
        out[algorithm] = per_algo
    return out


def _sampler_vs_pipeline(name: str, repeats: int) -> dict[str, Any]:
    import torch
    from diffusers import StableDiffusion3Pipeline

    from common.flow_rl.policy import FlowPolicy
    from common.flow_rl.rollout import rollout
    from common.models.builders import build_model

    bundle = build_model(name)
    prompts = [f"a photo of {i} red cubes" for i in range(SAMPLE_BATCH)]
    with torch.no_grad():
        cond = bundle.encode_prompt(prompts).detach()
    latent = bundle.vae is not None
    pipe = StableDiffusion3Pipeline(
        transformer=bundle.transformer,
        scheduler=bundle.scheduler,
        vae=bundle.vae,
        text_encoder=bundle.text_encoder,
        tokenizer=bundle.tokenizer,
        text_encoder_2=None,
        tokenizer_2=None,
        text_encoder_3=None,
        tokenizer_3=None,
    )
    pipe.set_progress_bar_config(disable=True)
    policy = FlowPolicy(bundle, None)  # no LoRA: the exact weights the pipeline runs
    policy.encode = lambda prompts, source_images=None: cond  # type: ignore[method-assign]
    side = bundle.spec.resolution * (1 if latent else pipe.vae_scale_factor)
    shape = bundle.latent_shape(SAMPLE_BATCH)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))

    def ours() -> Any:
        return rollout(
            policy,
            prompts,
            group_size=1,
            num_steps=SAMPLE_STEPS,
            sampler="euler",
            generator=torch.Generator().manual_seed(0),
        )

    def theirs() -> Any:
        out = pipe(
            prompt_embeds=cond.embeds,
            pooled_prompt_embeds=cond.pooled,
            guidance_scale=1.0,
            num_inference_steps=SAMPLE_STEPS,
            height=side,
            width=side,
            latents=noise.clone(),
            output_type="pil" if latent else "latent",
        )
        if latent:
            return out.images
        return out.images, pipe.image_processor.postprocess(out.images, output_type="pil")

    transformer = bundle.transformer
    sigmas = torch.linspace(1.0, 0.1, SAMPLE_STEPS)

    def floor() -> None:
        for s in sigmas:
            transformer(
                hidden_states=noise,
                encoder_hidden_states=cond.embeds,
                pooled_projections=cond.pooled,
                timestep=torch.full((SAMPLE_BATCH,), float(s) * 1000.0),
                return_dict=False,
            )

    with torch.no_grad():
        ro, res = ours(), theirs()  # warm-up, and the check that both give the same samples
        floor()
        if latent:
            a = np.stack([np.asarray(im, dtype=np.int16) for im in ro.images])
            b = np.stack([np.asarray(im, dtype=np.int16) for im in res])
            diff = float(np.abs(a - b).max())
        else:
            diff = float((ro.x0 - res[0]).abs().max())
        times: dict[str, list[float]] = {"ours": [], "diffusers": [], "floor": []}
        fns: dict[str, Callable[[], Any]] = {"ours": ours, "diffusers": theirs, "floor": floor}
        for k in range(repeats):
            order = ["ours", "diffusers", "floor"] if k % 2 == 0 else ["diffusers", "ours", "floor"]
            for key in order:
                start = time.perf_counter()
                fns[key]()
                times[key].append(time.perf_counter() - start)
    ours_s, theirs_s, floor_s = (_median(times[k]) for k in ("ours", "diffusers", "floor"))
    ratio = statistics.median(times["ours"]) / statistics.median(times["diffusers"])
    return {
        "space": "latent (tiny VAE)" if latent else "pixel",
        "batch": SAMPLE_BATCH,
        "steps": SAMPLE_STEPS,
        "ours_s": ours_s,
        "diffusers_s": theirs_s,
        "forward_floor_s": floor_s,
        "overhead_ours_s": round(ours_s - floor_s, 3),
        "overhead_diffusers_s": round(theirs_s - floor_s, 3),
        "ratio": round(ratio, 3),
        "meets_1_1x": bool(ratio <= 1.1),
        "max_abs_diff": diff,
    }


def _table(out: dict[str, Any]) -> str:
    it = out["iteration"]
    lines = [
        "algorithm      chunks  sample_s  reward_wait_s  update_s  step_s  reward_total_s  hidden",
    ]
    for algorithm in ALGORITHMS:
        for key, row in it[algorithm].items():
            if not key.startswith("chunks_"):
                continue
            lines.append(
                f"{algorithm:<14} {key.removeprefix('chunks_'):>6} {row['sample_s']:>9.2f} "
                f"{row['reward_wait_s']:>14.2f} {row['update_s']:>9.2f} {row['step_s']:>7.2f} "
                f"{row['reward_total_s']:>15.2f} {row['hidden_share']:>7.0%}"
            )
        lines.append(
            f"{algorithm:<14} overlap saved {it[algorithm]['wait_saved_share']:.0%} of the wait, "
            f"{it[algorithm]['step_saved_s']:+.2f} s of the step"
        )
    lines.append("model            ours_s  diffusers_s  floor_s  ratio  <=1.1x  max_abs_diff")
    for name, row in out["sampler"].items():
        lines.append(
            f"{name:<16} {row['ours_s']:>6.3f} {row['diffusers_s']:>12.3f} {row['forward_floor_s']:>8.3f} "
            f"{row['ratio']:>6.3f} {row['meets_1_1x']!s:>7} {row['max_abs_diff']:>13.3g}"
        )
    return "\n".join(lines)


def main() -> dict[str, Any]:
    threads = set_threads(int(os.environ.get("T2I_THREADS", "1")))
    repeats = int(os.environ.get("T2I_BENCH_REPEATS", "5"))
    latency = float(os.environ.get("T2I_BENCH_REWARD_LATENCY_S", "0.5"))
    steps = int(os.environ.get("T2I_BENCH_RL_STEPS", "1"))
    out: dict[str, Any] = {"threads": threads, "repeats": repeats}
    out["sampler"] = {name: _sampler_vs_pipeline(name, repeats) for name in ("tiny_sd3", "tiny_sd3_latent")}
    out["iteration"] = _iterations(latency, steps)
    print(_table(out))
    return out
