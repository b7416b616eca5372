"""Cached trained reward models: ``ensure_rm(kind, settings) -> dir`` trains on first use, reuses after.

The RM source ``rm:<kind>`` (:func:`resolve_source`, which resolves every RM source: this one here,
the others by :func:`firm.rm.sources.resolve_model_source`; e.g. the RL critic
``options: {source: rm:gen}``) means "the trained FIRM-Gen / FIRM-Edit RM of this run's scale and
world level". It is the project's own RM experiment, ``+exp=firm_<kind>_rm``, composed with
Hydra's compose API as ``python -m experiments.run`` composes it (``scale=<the run's>``,
``world=<the run's level>``, ``engine=<the run's engine preset>``, plus ``overrides``), run once
in-process and kept in the cache the bases use. Layout under ``<settings.cache_dir>/rms``::

    firm_<kind>_rm-<key>/            a finished RM (never modified once renamed into place)
        rm/                          the exported model (what common.models.builders.load_vlm reads)
        rm_card.json                 kind, key, overrides, model source, held-out metrics, wall time,
                                     build date (written last: its presence marks completion)
        config.yaml metrics.json log.jsonl train_log.json   the RM run's own files
    .firm_<kind>_rm-<key>.partial/   a build in progress (or killed): its checkpoints/ let the next
                                     call resume the SFT run
    .firm_<kind>_rm-<key>.lock       held while a process builds (others wait, then reuse)

``key`` is :func:`common.run_checkpoints.resume_key` of the composed, resolved config without the
keys that do not change the weights (:data:`firm.rm.checkpoint.NOT_IN_RESUME_KEY`: paths, runtime,
logging, checkpoint cadence, ...; and the engine, :data:`NOT_IN_RM_KEY`), plus the identity of
the starting model (a base's directory name, which carries its pretraining hash; computed without
building the base). Any change to the RM recipe (``conf/exp/firm_<kind>_rm.yaml``,
``conf/recipe/<scale>/firm_<kind>_rm.yaml``, the world level, an override) therefore builds a new
RM beside the old one. The training seed is the experiment's default (``seed: 0``), not the
caller's: one RM per recipe.

Composition works inside a running Hydra app too (an ``experiments.run`` task that names
``rm:gen``): the app's global Hydra instance is set aside for the compose and restored after, and
the caller's RNG states are restored after a build.

Builds run in one process, through the run's engine preset. With a multi-process engine (DDP,
ZeRO-3 over several devices) a missing RM is an error that says how to make it first, in one
process: ``python -m firm.rm.cache <kind> [scale=...] [world=...] [paths.cache_dir=...]
[<RM overrides>]`` (:func:`main`); a finished RM is read by every rank.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.config import plain, register_defaults, validate_tree
from common.engine import EngineConfig
from common.jsonio import write_json_atomic
from common.models.pretrain.cache import base_dir
from common.models.pretrain.config import available_bases
from common.models.source import ModelSource, ModelSourceError, role_model
from common.presets import conf_root, preset_names
from common.run_checkpoints import get_rng_state, resume_key, set_rng_state
from common.runtime import LAUNCHER_KEYS, RunContext, RunSettings, save_resolved_config, seed_everything
from common.train import file_lock
from firm.rm.checkpoint import NOT_IN_RESUME_KEY
from firm.rm.sources import RM_EXPORT_DIR, RM_PREFIX, resolve_model_source

__all__ = [
    "NOT_IN_RM_KEY",
    "RMS_DIR",
    "RM_CARD",
    "RM_KINDS",
    "cache_root",
    "compose_rm",
    "ensure_rm",
    "is_built",
    "main",
    "read_card",
    "resolve_source",
    "rm_dir",
    "rm_key",
]

RMS_DIR = "rms"
"""The cache subdirectory of trained RMs."""
RM_CARD = "rm_card.json"
"""The card of a finished RM (written last)."""
NOT_IN_RM_KEY: tuple[str, ...] = ("engine", *(f"scale.{k}" for k in LAUNCHER_KEYS))
"""Left out of the cache key besides :data:`firm.rm.checkpoint.NOT_IN_RESUME_KEY`: the engine and the
scale's job resources say how an RM is trained, not which one (a multi-process run reads the RM
one process built)."""
RM_KINDS: tuple[str, ...] = ("edit", "gen")
"""The RM kinds: ``+exp=firm_edit_rm`` and ``+exp=firm_gen_rm``."""


def _check_kind(kind: str) -> str:
    if kind not in RM_KINDS:
        raise ValueError(
            f"unknown RM kind {kind!r}; valid kinds: {', '.join(RM_KINDS)} (rm:edit = FIRM-Edit, "
            "rm:gen = FIRM-Gen)"
        )
    return kind


@contextmanager
def _own_hydra() -> Iterator[None]:
    """Set aside an initialised global Hydra (the caller's app) for the block, then restore it."""
    from hydra.core.global_hydra import GlobalHydra

    saved = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        gh = GlobalHydra.instance()  # initialize_config_dir may have swapped the instance back
        gh.clear()
        if saved is not None:
            gh.initialize(saved)


def compose_overrides(kind: str, settings: RunSettings, overrides: Sequence[str] = ()) -> list[str]:
    """The Hydra overrides of the RM run of ``settings`` (scale, world level, engine preset)."""
    out = [f"+exp=firm_{_check_kind(kind)}_rm", f"scale={settings.scale.name or 'tiny'}"]
    level = settings.world_level
    out.append(f"world={level}" if level in preset_names("world") else f"world.level={level}")
    engine = (settings.engine or {}).get("name") if isinstance(settings.engine, Mapping) else None
    if engine is not None and str(engine) in preset_names("engine"):
        out.append(f"engine={engine}")
    return [*out, *overrides]


def compose_rm(kind: str, settings: RunSettings | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """The config of ``+exp=firm_<kind>_rm`` at the run's scale / world level / engine, with
    ``overrides`` (Hydra override strings), its ``paths.cache_dir`` the run's cache."""
    from hydra import compose, initialize_config_dir

    settings = RunSettings.of(settings)
    run = [f"paths.cache_dir={settings.cache_dir}"]
    if settings.threads is not None:
        run.append(f"runtime.threads={settings.threads}")
    if settings.world_seed != RunSettings.defaults().world_seed:
        run.append(f"world.seed={settings.world_seed}")
    register_defaults()
    with _own_hydra(), initialize_config_dir(config_dir=str(conf_root()), version_base="1.3"):
        return compose("config", overrides=[*compose_overrides(kind, settings, overrides), *run])


def _model_identity(model: Any, settings: RunSettings) -> str:
    """What ``task.model`` starts from, without building anything: a base's cache directory name
    (it carries the base's config hash), else the resolved directory or hub id."""
    model = plain(model)
    if isinstance(model, str) and model.strip().startswith(RM_PREFIX):
        raise ValueError(
            f"task.model {model!r}: an RM cannot start from a cached RM source ({RM_PREFIX}<kind>)"
        )
    spec = ModelSource.from_config(model, "task.model")
    if spec.kind == "base":
        name = spec.name or role_model("reward_model", settings)
        if name in available_bases():
            return f"base:{base_dir(name, settings).name}"
    return resolve_model_source(model, settings)  # type: ignore[arg-type]


def rm_key(cfg: DictConfig, settings: RunSettings) -> tuple[str, str]:
    """``(key, model identity)`` of a composed RM config (module docstring)."""
    model = _model_identity(cfg.task.get("model", "base"), settings)
    tree = {**OmegaConf.to_container(cfg, resolve=True), "_model_source": model}  # type: ignore[dict-item]
    return resume_key(tree, (*NOT_IN_RESUME_KEY, *NOT_IN_RM_KEY)), model


def cache_root(settings: RunSettings | None = None) -> Path:
    """``<settings.cache_dir>/rms``."""
    return RunSettings.of(settings).cache_dir / RMS_DIR


def rm_dir(kind: str, settings: RunSettings | None = None, overrides: Sequence[str] = ()) -> Path:
    """Where the RM of ``kind`` (with ``overrides``) lives or will live; nothing is built."""
    settings = RunSettings.of(settings)
    cfg = compose_rm(kind, settings, overrides)
    key, _ = rm_key(cfg, RunSettings.from_config(cfg))
    return cache_root(settings) / f"firm_{kind}_rm-{key}"


def is_built(path: Path) -> bool:
    """Whether ``path`` holds a finished RM."""
    return (path / RM_CARD).is_file()


def ensure_rm(
    kind: str,
    settings: RunSettings | None = None,
    *,
    overrides: Sequence[str] = (),
    progress: bool | None = True,
) -> Path:
    """The directory of the trained RM of ``kind`` (``edit`` / ``gen``), built if not cached;
    the model is in ``<dir>/rm`` (module docstring).

    Args:
        kind: ``edit`` (``+exp=firm_edit_rm``) or ``gen`` (``+exp=firm_gen_rm``).
        settings: the run's settings (cache directory, scale, world level, engine preset, threads);
            ``None``: :meth:`common.runtime.RunSettings.defaults`.
        overrides: Hydra overrides of the RM experiment (``task.sft.steps=10``); they enter the key.
        progress: show progress bars while building (``None``: ``settings.progress``).
    """
    settings = RunSettings.of(settings)
    cfg = compose_rm(kind, settings, overrides)
    rm_settings = RunSettings.from_config(cfg)
    key, model = rm_key(cfg, rm_settings)
    name = f"firm_{kind}_rm-{key}"
    root = cache_root(settings)
    final = root / name
    if is_built(final):
        return final
    EngineConfig.from_cfg(cfg.engine).require_one_process(
        f"the {kind} RM ({final})",
        f"python -m firm.rm.cache {kind} scale={cfg.scale.name} world={cfg.world.level} "
        f"paths.cache_dir={settings.cache_dir}" + "".join(f" {o}" for o in overrides),
    )
    with file_lock(root / f".{name}.lock"):
        if is_built(final):  # another process finished it while we waited
            return final
        _build(
            kind,
            cfg,
            root / f".{name}.partial",
            final,
            key=key,
            model=model,
            overrides=overrides,
            progress=settings.progress if progress is None else progress,
        )
    return final


def _build(
    kind: str,
    cfg: DictConfig,
    work: Path,
    final: Path,
    *,
    key: str,
    model: str,
    overrides: Sequence[str],
    progress: bool,
) -> None:
    """Run the RM task in ``work`` (its run directory; checkpoints in ``work/checkpoints``), write
    the card, drop the checkpoints and rename ``work`` to ``final``."""
    from hydra.utils import instantiate

    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    # the build's own run: its directory, checkpoints and export (a merge, the config stays typed)
    cfg = OmegaConf.merge(
        cfg,
        {
            "paths": {"output_dir": str(work)},
            "runtime": {"progress": bool(progress)},
            "task": {"checkpoint_dir": str(work / "checkpoints"), "resume": "auto", "export": True},
        },
    )
    if cfg.task._target_ != "firm.tasks.rm.run":
        raise ValueError(f"+exp=firm_{kind}_rm names task {cfg.task._target_!r}, not firm.tasks.rm.run")
    validate_tree(cfg)
    save_resolved_config(cfg, work)
    rng = get_rng_state()  # the caller's (an RL run's) random streams are not disturbed
    try:
        seed_everything(int(cfg.seed))
        ctx = RunContext(run_dir=work, cfg=cfg, seed=int(cfg.seed), settings=RunSettings.from_config(cfg))
        task = instantiate(cfg.task, _partial_=True)
        metrics = task(cfg=cfg, ctx=ctx) or {}
    finally:
        set_rng_state(rng)
    write_json_atomic(work / "metrics.json", metrics)
    if not (work / RM_EXPORT_DIR / "config.json").is_file():
        raise RuntimeError(f"the {kind} RM run in {work} exported no model to rm/")
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    card = {
        "kind": kind,
        "exp": f"firm_{kind}_rm",
        "key": key,
        "overrides": list(overrides),
        "scale": str(cfg.scale.name),
        "world_level": str(cfg.world.level),
        "model_source": model,
        "seed": int(cfg.seed),
        "train_rows": metrics.get("train_rows"),
        "steps": (metrics.get("train") or {}).get("steps"),
        "first_loss": metrics.get("first_loss"),
        "final_loss": metrics.get("final_loss"),
        "held_out": metrics.get("held_out"),
        "wall_s": round(time.perf_counter() - start, 1),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(work / RM_CARD, card)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # a stale directory without a card (a crash after an old rename)
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(work, final)


def resolve_source(source: str, settings: RunSettings | None = None) -> str:
    """A local directory or hub id for any RM source: ``rm:<kind>`` trains the RM of that kind on
    first use (minutes at ``scale=tiny``) and returns the cached model's directory
    (:func:`ensure_rm`); every other source is :func:`firm.rm.sources.resolve_model_source`'s."""
    if isinstance(source, str) and source.strip().startswith(RM_PREFIX):
        kind = source.strip()[len(RM_PREFIX) :].strip()
        if kind not in RM_KINDS:
            raise ModelSourceError(
                f"task.model {source!r}: unknown RM kind {kind!r}; valid: "
                + ", ".join(f"{RM_PREFIX}{k}" for k in RM_KINDS)
            )
        return str(ensure_rm(kind, settings) / RM_EXPORT_DIR)
    return resolve_model_source(source, settings)


def read_card(path: Path) -> dict[str, Any] | None:
    """The card of a finished RM directory, else ``None``."""
    return json.loads((path / RM_CARD).read_text()) if is_built(path) else None


SETTINGS_KEYS: tuple[str, ...] = ("scale", "world", "engine", "paths.", "runtime.", "world.")
"""Overrides of :func:`main` that pick the run settings (the rest go to the RM experiment)."""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m firm.rm.cache <kind> [overrides...]``: build (or find) the RM of ``kind`` in one
    process and print its directory. ``scale=``, ``world=``, ``engine=``, ``paths.*`` and
    ``runtime.*`` give the run settings (composed as ``python -m experiments.run`` composes them);
    every other override goes to the RM experiment (and its key)."""
    import sys

    from hydra import compose, initialize_config_dir

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in RM_KINDS:
        print(
            f"usage: python -m firm.rm.cache {'|'.join(RM_KINDS)} [scale=...] [world=...] "
            "[paths.cache_dir=...] [runtime.threads=N] [RM overrides...]",
            file=sys.stderr,
        )
        return 2
    kind, rest = args[0], args[1:]
    picks = [a for a in rest if a.partition("=")[0] in SETTINGS_KEYS or a.startswith(SETTINGS_KEYS[3:])]
    overrides = [a for a in rest if a not in picks]
    register_defaults()
    with _own_hydra(), initialize_config_dir(config_dir=str(conf_root()), version_base="1.3"):
        settings = RunSettings.from_config(compose("config", overrides=picks))
    print(ensure_rm(kind, settings, overrides=overrides, progress=settings.progress))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
