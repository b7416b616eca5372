"""Experiment tasks: ``python -m experiments.run +exp=pretrain_{vlm,t2i,editor,all}``.

Each builds (or reuses from the cache) the named bases and prints their model cards; the run's
``metrics.json`` holds each base's path, whether it was built by this run, and its card's
headline numbers. The run's logger gets each base's headline numbers, the loss records of a base
built by this run (``<base>/loss`` ... at their steps) and its ``samples.png`` if it has one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from common.config import plain
from common.models.pretrain.cache import base_dir, ensure_base, is_built
from common.models.pretrain.cards import read_card, render_model_card
from common.runtime import RunContext

HEADLINES: dict[str, tuple[str, ...]] = {
    "vlm": (
        "caption_exact",
        "object_recall",
        "shape_recall",
        "color_recall",
        "vqa_accuracy",
        "vqa_chance",
        "difference_recall",
        "difference_precision",
    ),
    "t2i": ("geneval_clean", "geneval", "color_presence", "best_guidance"),
    "editor": ("edit_accuracy", "best_guidance"),
    "autoencoder": ("l1", "psnr"),
    "vision": (
        "shape_accuracy",
        "shape_chance",
        "color_accuracy",
        "color_chance",
        "cell_shape_accuracy",
        "cell_shape_chance",
    ),
}


def headline(card: dict[str, Any]) -> dict[str, Any]:
    """The card's main quality numbers and build time."""
    q = card["quality"]
    out = {k: q[k] for k in HEADLINES[card["objective"]] if k in q}
    if card["objective"] == "t2i":
        out["ceiling"] = q["ceiling"]["geneval_clean"]
        out["chance_clean"] = q.get("chance", {}).get("geneval_clean")
        out["noise"] = q.get("noise", {}).get("geneval")
    if card["objective"] == "editor":
        out["ceiling"] = q["ceiling"]["edit_accuracy"]
    if card["objective"] == "autoencoder":
        out["geneval_reconstruction"] = q["reconstruction"]["geneval"]
    t = card["training"]
    out.update(
        steps=t["steps"],
        train_s=t["train_s"],
        wall_s=t["wall_s"],
        threads=card["environment"]["torch_threads"],
    )
    return out


def run(
    cfg: DictConfig,
    ctx: RunContext,
    bases: list[str],
    overrides: dict[str, Any] | None = None,
    base_overrides: dict[str, dict[str, Any]] | None = None,
    force: bool = False,
    print_cards: bool = True,
) -> dict[str, Any]:
    """Build or reuse ``bases`` (names in ``conf/pretrain``) and report their cards.

    Args:
        bases: which bases.
        overrides: pretraining config keys replaced in every base (e.g. ``{steps: 20}``).
        base_overrides: per-base replacements, ``{name: {key: value}}`` (applied after ``overrides``).
        force: rebuild even when a finished base is cached.
        print_cards: print each ``MODEL_CARD.md``.
    """
    common = dict(plain(overrides) or {})
    per_base = dict(plain(base_overrides) or {})
    out: dict[str, Any] = {}
    for name in bases:
        ov = {**common, **per_base.get(name, {})} or None
        cached = is_built(base_dir(name, ctx.settings, ov)) and not force
        start = time.perf_counter()
        path = ensure_base(name, ctx.settings, overrides=ov, force=force)
        card = read_card(path)
        out[name] = {
            "path": str(path),
            "built_now": not cached,
            "seconds": round(time.perf_counter() - start, 1),
            **headline(card),
        }
        if not cached:  # the loop's loss records of a base built by this run, as step metrics
            log_training(ctx, name, path)
        ctx.log({"base": name, **{k: v for k, v in out[name].items() if not isinstance(v, dict)}})
        if (path / "samples.png").is_file():
            ctx.log_image(
                f"{name}/samples", path / "samples.png", caption=f"{name}: samples of the built base"
            )
        if print_cards:
            print(render_model_card(card))
            print(f"[{name}] {'built' if not cached else 'reused'}: {path}\n")
    return out


def log_training(ctx: RunContext, name: str, path: Path) -> None:
    """The loss records of base ``path`` (``training_log.jsonl``) as ``<name>/<metric>`` at their steps."""
    log = path / "training_log.jsonl"
    if not log.is_file():
        return
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        ctx.log({f"{name}/{k}": v for k, v in rec.items() if k != "step"}, step=rec.get("step"))
