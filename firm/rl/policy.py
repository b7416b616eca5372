"""The image policy of FIRM's RL: where it comes from, and its deterministic sampler for evaluation.

Source (:mod:`common.models.source` keys): ``base`` without a name is the scale's ``generator`` /
``editor`` (at ``scale=tiny`` the cached tiny base, built on first use; at ``scale=paper`` the
preset of the hub checkpoint, SD3.5-Medium / Qwen-Image-Edit-2509, loaded with its settings);
``path`` is a saved bundle (a run's ``<run_dir>/policy``); ``hub`` a diffusers repo.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from common.flow_rl.policy import FlowPolicy
from common.flow_rl.rollout import rollout
from common.models.builders import build_model, load_model
from common.models.pretrain import available_bases
from common.models.source import ModelSource, ModelSourceError, resolve_path, role_model
from common.runtime import RunSettings
from firm.rl.items import RLItem

__all__ = ["ROLE_OF_KIND", "load_policy_bundle", "policy_sampler"]

ROLE_OF_KIND: dict[str, str] = {"gen": "generator", "edit": "editor"}
"""The scale's model role of each RL kind (``scale.models.<role>``)."""


def load_policy_bundle(source: Any, kind: str, settings: RunSettings) -> tuple[Any, str]:
    """``(bundle, where)``: the :class:`~common.models.t2i.T2IBundle` of ``source`` for an RL run of
    ``kind``, and what it was loaded from (a directory, hub id or preset name: a cached base's
    directory name carries its config hash, so resume keys that include it never mix bases)."""
    role = ROLE_OF_KIND[kind]
    src = ModelSource.from_config(source)
    dtype = src.dtype or settings.scale.dtype
    name = (
        src.name
        if src.name is not None
        else (role_model(role, settings) if src.kind in ("base", "preset") else None)
    )
    if src.kind == "preset" or (src.kind == "base" and name not in available_bases()):
        # a conf/model preset (the paper's hub checkpoints carry their spec overrides there)
        bundle = build_model(str(name), **({"dtype": dtype} if dtype else {}), **dict(src.overrides))
        return bundle, f"preset:{name}"
    try:
        path = resolve_path(src, settings, role=role)
    except ModelSourceError as e:
        raise ModelSourceError(
            f"task.policy: {e.problem}; give a saved image model (a run's <run_dir>/policy, a cached "
            "base's directory) as path:<dir>, a diffusers repo as hub:<id>, or base for the scale's "
            f"{role}",
            problem=e.problem,
        ) from None
    bundle = load_model(str(path), dtype=dtype)
    if not hasattr(bundle, "latent_shape"):
        raise ValueError(f"RL policy source {path!r} is not an image model (no model_index.json)")
    return bundle, str(path)


def policy_sampler(
    policy: FlowPolicy,
    *,
    num_steps: int,
    sampler: str = "dpm2",
    guidance_scale: float = 1.0,
    batch_size: int = 80,
) -> Any:
    """``sample_fn(items, seed) -> images``: the current policy's deterministic samples (one per
    item, noise from ``seed``), in batches; what :meth:`firm.rl.evaluate.HeldOut.evaluate` calls."""

    def sample(items: list[RLItem], seed: int) -> list[Image.Image]:
        gen = torch.Generator().manual_seed(int(seed))
        out: list[Image.Image] = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            sources = [it.source_image for it in chunk] if chunk[0].source_image is not None else None
            ro = rollout(
                policy,
                [it.prompt for it in chunk],
                group_size=1,
                num_steps=num_steps,
                sampler=sampler if sampler != "sde" else "euler",
                generator=gen,
                source_images=sources,
                guidance_scale=guidance_scale,
            )
            out += ro.images
        return out

    return sample
