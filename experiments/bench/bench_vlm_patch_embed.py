"""Time the tiny VLMs with the linear vs the Conv3d patch embedding.

Run: ``python -m experiments.bench vlm_patch_embed`` (``make bench`` runs it with the others).

For the ``tiny_qwen3_vl`` and ``tiny_qwen2_5_vl`` presets (random weights: speed does not depend
on them; 224x224 inputs, as the presets set), with ``T2I_THREADS`` torch threads (default 1):

* ``train_step``: the base pretraining's forward + backward (the objective's loss module, dense
  vision loss included where the base's pretraining config has it) on a describe batch of the
  config's ``batch_size`` world images (128 px, upsampled by the processor);
* ``vision_tower``: the vision tower alone (patch embedding, blocks, merger), forward + backward of
  its merged tokens' mean square, on ``T2I_BENCH_TOWER_BATCH`` (default 64) world images;
* ``patch_embed``: the patch embedding alone, forward + backward, on the same pixels;

each with the library's ``Conv3d`` and with the equal ``F.linear`` (:mod:`common.models.patch_embed`)
on the same model and weights, switched back and forth: the two forms alternate within each of
``T2I_BENCH_REPEATS`` (default 3) repeats after one warm-up of each, so other processes slow both
alike; medians are reported with the speed-up and the largest difference between the two forms'
vision-tower outputs. Prints a table. Takes 1-2 minutes on one core.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from common.models.builders import build_model
from common.models.patch_embed import set_linear_patch_embed
from common.models.pretrain.config import load_pretrain_config
from common.models.pretrain.data import world_scenes
from common.models.pretrain.objectives import get_objective
from common.models.pretrain.vlm import IMAGE_SIZE, VLMPool
from common.runtime import set_threads
from common.world.render import render_at

PRESETS: tuple[str, ...] = ("tiny_qwen3_vl", "tiny_qwen2_5_vl")
FORMS: tuple[str, ...] = ("conv3d", "linear")


def _alternating_medians(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turn within every repeat after one warm-up each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def _measure(preset: str, repeats: int, tower_batch: int) -> dict[str, Any]:
    import torch

    bundle = build_model(preset)
    model = bundle.model
    cfg = load_pretrain_config(preset, {"describe_share": 1.0, "difference_share": 0.0})
    objective = get_objective(cfg.objective)
    scenes = [scene for _, scene in world_scenes(max(cfg.batch_size, tower_batch), seed=0)]
    images = [render_at(scene, IMAGE_SIZE) for scene in scenes]
    pool = VLMPool(scenes=scenes[: cfg.batch_size], images=images[: cfg.batch_size])
    batch = objective.batch(cfg, bundle, pool, step=0)
    loss_module = objective.module(cfg, bundle)
    pixels = bundle.processor.image_processor(images=images[:tower_batch], return_tensors="pt")
    pixel_values, grid_thw = pixels["pixel_values"], pixels["image_grid_thw"]
    tower, patch_embed = model.model.visual, model.model.visual.patch_embed

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        loss_module(batch).backward()

    def tower_step() -> None:
        model.zero_grad(set_to_none=True)
        tower(pixel_values, grid_thw=grid_thw).pooler_output.square().mean().backward()

    def patch_step() -> None:
        model.zero_grad(set_to_none=True)
        patch_embed(pixel_values).square().mean().backward()

    def in_form(form: str, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            set_linear_patch_embed(model, form == "linear")
            fn()

        return run

    out: dict[str, Any] = {
        "train_batch": cfg.batch_size,
        "vision_aux_weight": cfg.vision_aux_weight,
        "tower_batch": tower_batch,
        "image_tokens_per_image": int(grid_thw[0].prod()) // 4,
        "patch_rows_tower_batch": int(pixel_values.shape[0]),
    }
    for what, fn in (("train_step", train_step), ("vision_tower", tower_step), ("patch_embed", patch_step)):
        medians = _alternating_medians({form: in_form(form, fn) for form in FORMS}, repeats)
        out[what] = {
            **{f"{form}_s": medians[form] for form in FORMS},
            "speedup": round(medians["conv3d"] / medians["linear"], 2),
        }
    outputs = {}
    with torch.no_grad():
        for form in FORMS:
            set_linear_patch_embed(model, form == "linear")
            outputs[form] = tower(pixel_values, grid_thw=grid_thw).pooler_output
    diff = (outputs["conv3d"] - outputs["linear"]).abs().max().item()
    out["tower_output_max_abs_diff"] = float(f"{diff:.2e}")
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    """The measurements as a fixed-width text table (one row per model and measurement)."""
    lines = [f"{'model':<16} {'measurement':<30} {'conv3d s':>9} {'linear s':>9} {'speed-up':>9}"]
    for preset, r in results.items():
        labels = {
            "train_step": f"train step (batch {r['train_batch']})",
            "vision_tower": f"vision tower (batch {r['tower_batch']})",
            "patch_embed": f"patch embed (batch {r['tower_batch']})",
        }
        for what, label in labels.items():
            m = r[what]
            lines.append(
                f"{preset:<16} {label:<30} {m['conv3d_s']:>9.3f} {m['linear_s']:>9.3f} {m['speedup']:>8.2f}x"
            )
    return "\n".join(lines)


def main() -> dict[str, Any]:
    import torch

    threads = set_threads(int(os.environ.get("T2I_THREADS", "1")))
    repeats = int(os.environ.get("T2I_BENCH_REPEATS", "3"))
    tower_batch = int(os.environ.get("T2I_BENCH_TOWER_BATCH", "64"))
    load_before = os.getloadavg()[0]
    results = {preset: _measure(preset, repeats, tower_batch) for preset in PRESETS}
    print(table(results))
    return {
        "threads": threads,
        "torch": torch.__version__,
        "repeats": repeats,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "models": results,
    }
