"""Cached base checkpoints: ``ensure_base(name, settings) -> path`` builds on first use, reuses after.

``settings`` is the run's :class:`common.runtime.RunSettings` (``ctx.settings`` in a task; ``None``:
:meth:`~common.runtime.RunSettings.defaults`): its cache directory, scale, engine and progress.
Layout under ``<settings.cache_dir>/bases``::

    <name>-<hash>/                 a finished base (never modified once renamed into place)
        config.json ... / model_index.json ...   the weights, in the layout load_model reads
        MODEL_CARD.md  card.json   pretrain_config.yaml  training_log.jsonl  [samples.png]
    .<name>-<hash>.partial/        a build in progress (or killed): state/checkpoint.pt ...
    .<name>-<hash>.lock            held while a process builds (others wait, then reuse)

``hash`` is :func:`common.models.pretrain.config.config_hash` (pretraining config + model
preset + vocabulary fingerprint + format version), so changing any of them builds a new base
beside the old one. A build trains in the ``.partial`` directory, saves the weights, reloads them
with :func:`common.models.builders.load_model`, evaluates the reloaded model, writes the cards
and only then renames the finished directory into place: a reader never sees half a base, and
a killed build resumes from its last checkpoint on the next call.

Builds run in one process through the run's engine (``engine=cpu`` by default; the training loop
is Fabric's, so a single GPU works too). With a multi-process engine (DDP, ZeRO-3 over several
devices) a missing base is an error that says to build the bases first in one process; finished
bases are read by every rank.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from common.engine import EngineConfig
from common.models.builders import load_model
from common.models.pretrain.cards import CARD_JSON, environment, read_card, write_card
from common.models.pretrain.config import PretrainConfig, config_hash, load_pretrain_config, model_node
from common.models.pretrain.objectives import get_objective
from common.models.vocabulary import vocabulary_fingerprint
from common.runtime import RunSettings, Scale
from common.train import StepHook, file_lock, fit

BASES_DIR = "bases"

SUMMARIES = {
    "vlm": "Describes world images (objects with colour, shape and grid position) and answers "
    "simple questions about them (counts, colours, relations, existence).",
    "t2i": "Generates 32x32 world images from GenEval-style world prompts by flow matching "
    "(classifier-free guidance supported).",
    "editor": "Edits 32x32 world images by instruction (recolour, remove, add, move, replace) by "
    "flow matching conditioned on the source image.",
    "autoencoder": "Encodes world images into a small latent grid and decodes them back (the VAE "
    "of a latent-space tiny generator).",
    "vision": "A VLM whose vision tower alone was trained to tell the shape and colour of world "
    "objects (max-pooled linear heads); a VLM base starts from its tower (vision_init).",
}


def cache_root(settings: RunSettings | None = None) -> Path:
    """``<settings.cache_dir>/bases`` (``T2I_CACHE_DIR`` or ``.cache/t2i_critics`` without settings)."""
    return RunSettings.of(settings).cache_dir / BASES_DIR


def base_dir(name: str, settings: RunSettings | None = None, overrides: dict[str, Any] | None = None) -> Path:
    """Where base ``name`` (with ``overrides``) lives or will live; nothing is built."""
    settings = RunSettings.of(settings)
    pcfg = load_pretrain_config(name, overrides)
    return cache_root(settings) / f"{name}-{config_hash(pcfg, settings.scale)}"


def is_built(path: Path) -> bool:
    """Whether ``path`` holds a finished base."""
    return (path / CARD_JSON).is_file()


def ensure_base(
    name: str,
    settings: RunSettings | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    progress: bool | None = None,
    hooks: Sequence[StepHook] = (),
) -> Path:
    """The directory of base ``name``, built first if it is not in the cache.

    Args:
        name: a config in ``conf/pretrain`` (``tiny_qwen2_5_vl``, ``tiny_qwen3_vl``,
            ``tiny_sd3``, ``tiny_editor``).
        settings: the run's settings (its cache directory, scale, engine and progress flag);
            ``None``: :meth:`common.runtime.RunSettings.defaults`.
        overrides: replacements of pretraining config keys (they change the cache key).
        force: rebuild even if a finished base exists (the old one is replaced at the end).
        progress: show a tqdm bar (default: ``settings.progress``).
        hooks: called after every optimizer step (see :data:`~common.train.loop.StepHook`).
    """
    settings = RunSettings.of(settings)
    pcfg = load_pretrain_config(name, overrides)
    scale = settings.scale
    key = config_hash(pcfg, scale)
    root = cache_root(settings)
    final = root / f"{name}-{key}"
    if is_built(final) and not force:
        return final
    engine_cfg = EngineConfig.from_cfg(settings.engine) if settings.engine is not None else None
    if engine_cfg is not None:
        engine_cfg.require_one_process(
            f"base {name!r}", "python -m experiments.run +exp=pretrain_all engine=cpu"
        )
    with file_lock(root / f".{name}-{key}.lock"):
        if is_built(final) and not force:  # another process finished it while we waited
            return final
        if progress is None:
            progress = settings.progress
        build(
            pcfg,
            root / f".{name}-{key}.partial",
            final,
            key=key,
            scale=scale,
            engine_cfg=engine_cfg,
            progress=progress,
            hooks=hooks,
            settings=settings,
        )
    return final


def build(
    pcfg: PretrainConfig,
    work: Path,
    final: Path,
    *,
    key: str,
    scale: Scale | None = None,
    engine_cfg: Any = None,
    progress: bool = True,
    hooks: Sequence[StepHook] = (),
    settings: RunSettings | None = None,
) -> Path:
    """Train, save, reload, evaluate, write the cards, and move ``work/out`` to ``final``.

    ``settings`` (the caller's run settings) is where an objective that builds on another base
    (a latent generator on its autoencoder) finds the cache.
    """
    start = time.perf_counter()
    objective = get_objective(pcfg.objective)
    objective.settings = settings
    work.mkdir(parents=True, exist_ok=True)
    bundle = objective.build(pcfg, scale)
    train = fit(
        objective, pcfg, bundle, work / "state", engine_cfg=engine_cfg, progress=progress, hooks=hooks
    )

    out = work / "out"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    objective.finalize(pcfg, bundle)
    objective.save(bundle, out)
    reloaded = objective.load(out)
    t_eval = time.perf_counter()
    quality = objective.evaluate(pcfg, reloaded, out, progress=progress)
    eval_s = time.perf_counter() - t_eval

    history = train.pop("history")
    with (out / "training_log.jsonl").open("w") as fh:
        for rec in history:
            fh.write(json.dumps(rec) + "\n")
    (out / "pretrain_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(pcfg.to_dict())))
    card = {
        "name": pcfg.name,
        "hash": key,
        "objective": pcfg.objective,
        "summary": SUMMARIES[pcfg.objective],
        "model_preset": pcfg.model,
        "model": objective.describe_model(reloaded),
        "model_config": model_node(pcfg, scale),
        "config": pcfg.to_dict(),
        "vocabulary_fingerprint": vocabulary_fingerprint(),
        "training": {
            **train,
            "examples_seen": train["steps"] * pcfg.batch_size,
            "eval_s": round(eval_s, 1),
            "wall_s": round(time.perf_counter() - start, 1),
        },
        "environment": environment(),
        "quality": quality,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_card(out, card)

    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # force: replace the old base (rename first, so the swap is quick)
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(out, final)
    shutil.rmtree(work, ignore_errors=True)
    return final


def load_base(name: str, settings: RunSettings | None = None, **kwargs: Any) -> Any:
    """The bundle of base ``name`` (built first if needed); ``kwargs`` go to :func:`ensure_base`."""
    return load_model(str(ensure_base(name, settings, **kwargs)))


def base_for_role(role: str, settings: RunSettings | None = None, **kwargs: Any) -> Path:
    """The base of the model the scale assigns to ``role`` (``evaluator``, ``reward_model``,
    ``generator``, ``editor``): ``ensure_base(settings.scale.models[role], settings)``."""
    settings = RunSettings.of(settings)
    preset = settings.scale.model(role)
    if preset is None:
        raise KeyError(f"scale {settings.scale.name!r} assigns no model to role {role!r}")
    return ensure_base(preset, settings, **kwargs)


def card_of(
    name: str, settings: RunSettings | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The card of base ``name`` if it is built, else ``None`` (never builds)."""
    path = base_dir(name, settings, overrides)
    return read_card(path) if is_built(path) else None
