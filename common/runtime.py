"""Run-time plumbing shared by every experiment: threads, seeds, run directory, metrics.

Every task function has the signature ``run(cfg, ctx, **params) -> dict`` and is called by
``experiments.run`` with a :class:`RunContext`. What it returns is written to
``<run_dir>/metrics.json``; the resolved config is written to ``<run_dir>/config.yaml`` before
the task starts, so a crashed run still says what it was.

Library code never reads the whole run config: what it needs of the run is a
:class:`RunSettings` (cache directory, :class:`Scale`, threads, progress bars, engine node, world
level and seed), built once from the composed config at the task boundary
(:meth:`RunSettings.from_config`, also ``ctx.settings``). ``RunSettings.defaults()`` (what a
library function given none uses) is the run of a default config: the ``tiny`` scale, the cache
of ``T2I_CACHE_DIR`` (else ``.cache/t2i_critics``), the ``full`` world level and world seed 0.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from omegaconf import DictConfig, OmegaConf

from common.config import plain, to_dataclass
from common.jsonio import to_jsonable, write_json_atomic
from common.presets import load_preset

if TYPE_CHECKING:
    from common.tracking import RunLogger

T = TypeVar("T")


def set_threads(n: int | None) -> int:
    """Set torch's intra-op thread count (``None`` keeps torch's default); returns the count."""
    import torch

    if n is not None:
        if n < 1:
            raise ValueError(f"runtime.threads must be >= 1, got {n}")
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) from one integer."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


DEFAULT_CACHE_DIR = ".cache/t2i_critics"
"""The cache directory without a config and without ``T2I_CACHE_DIR`` (``conf/paths``)."""

DEFAULT_SCALE = "tiny"
"""The ``conf/scale`` preset without a config."""

DEFAULT_WORLD_LEVEL = "full"
"""The world level without a config (``common.world.levels.DEFAULT_LEVEL``; ``conf/world`` sets
``basic`` in a composed run)."""

DEFAULT_WORLD_SEED = 0
"""The world data seed without ``world.seed`` (never the run's training seed)."""


LAUNCHER_KEYS = ("slurm",)
"""Keys of a ``conf/scale`` node that only the Hydra launcher reads (job resources; they
interpolate the run's engine), left out of :class:`Scale`."""

NOT_WHAT_A_RUN_COMPUTES: tuple[str, ...] = ("paths", "runtime", "logger", "hydra")
"""Top-level config keys that say where a run writes, how it logs and how it is launched, never
what it computes: every trainer's resume key leaves them out (and adds its own such keys)."""


@dataclass(frozen=True)
class Scale:
    """A ``conf/scale`` node: the model preset of each role and the dtype / device they run in.

    Every field has a default so that a hand-built run config may give part of a scale (tests give
    ``{device, dtype}``); a scale without ``name`` reads as ``tiny`` where the name picks a default
    (the RM template), one without ``models`` assigns no model to any role."""

    name: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    dtype: str = "float32"
    device: str = "cpu"
    attn_implementation: str | None = None
    precision: str | None = None
    """Lightning precision of engines that take it from the scale (``conf/engine``)."""

    @classmethod
    def preset(cls, name: str = DEFAULT_SCALE) -> Scale:
        """``conf/scale/<name>.yaml``."""
        node = OmegaConf.to_container(load_preset("scale", name), resolve=False)
        return cls.of(node)

    @classmethod
    def of(cls, value: Scale | str | Mapping[str, Any] | None) -> Scale:
        """A :class:`Scale` from itself, a preset name, a ``scale`` node, or ``None`` (the default)."""
        if isinstance(value, Scale):
            return value
        if value is None or isinstance(value, str):
            return cls.preset(value or DEFAULT_SCALE)
        if OmegaConf.is_config(value):  # resolve all but the launcher's keys
            data = {k: plain(value[k]) for k in value if k not in LAUNCHER_KEYS}
        else:
            data = {k: v for k, v in value.items() if k not in LAUNCHER_KEYS}
        return to_dataclass(cls, data, "scale")

    def model(self, role: str) -> str | None:
        """The ``conf/model`` preset this scale assigns to ``role`` (``None``: none)."""
        preset = self.models.get(role)
        return None if preset is None else str(preset)


@dataclass(frozen=True)
class RunSettings:
    """What library code may know of the run (module docstring); built once per run."""

    cache_dir: Path
    """``paths.cache_dir``: datasets, bases and other artefacts shared across runs."""
    scale: Scale
    threads: int | None = None
    """``runtime.threads`` (``None``: torch's default)."""
    progress: bool = True
    """``runtime.progress``: show progress bars."""
    engine: Mapping[str, Any] | None = None
    """The run's ``engine`` node as plain data (``common.engine.EngineConfig.from_cfg`` reads it);
    ``None``: one CPU process."""
    world_level: str = DEFAULT_WORLD_LEVEL
    """``world.level`` (a ``common.world.levels`` name)."""
    world_seed: int = DEFAULT_WORLD_SEED
    """``world.seed``: the seed of the world data a run is measured on."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cache_dir", Path(str(self.cache_dir)).expanduser())

    @classmethod
    def defaults(cls) -> RunSettings:
        """The settings of a run without a config (module docstring)."""
        return cls(cache_dir=Path(os.environ.get("T2I_CACHE_DIR", DEFAULT_CACHE_DIR)), scale=Scale.preset())

    @classmethod
    def from_config(cls, cfg: Any) -> RunSettings:
        """The settings of a composed run config (``paths.cache_dir``, ``scale``, ``runtime``,
        ``engine``, ``world``); a group the config lacks (one built by hand) takes its default."""
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise TypeError(f"a run config is a mapping, got {type(cfg).__name__}")

        def group(key: str) -> Any:  # one group resolved, not the whole tree (the task's own nodes)
            return plain(cfg.get(key))

        base = cls.defaults()
        paths = group("paths") or {}
        runtime = group("runtime") or {}
        world = group("world") or {}
        threads = runtime.get("threads")
        cache_dir = paths.get("cache_dir")
        level = world.get("level")
        seed = world.get("seed")
        return cls(
            cache_dir=base.cache_dir if cache_dir is None else Path(str(cache_dir)),
            scale=Scale.of(group("scale")),
            threads=None if threads is None else int(threads),
            progress=bool(runtime.get("progress", True)),
            engine=group("engine"),
            world_level=base.world_level if level is None else str(level),
            world_seed=base.world_seed if seed is None else int(seed),
        )

    @classmethod
    def of(cls, settings: RunSettings | None) -> RunSettings:
        """``settings``, or :meth:`defaults` for ``None``; anything else (a whole run config) is an
        error that says how to make settings of it."""
        if settings is None:
            return cls.defaults()
        if not isinstance(settings, RunSettings):
            raise TypeError(
                f"expected RunSettings (or None), got {type(settings).__name__}; library functions take "
                "the run's settings, not its config: pass ctx.settings or RunSettings.from_config(cfg)"
            )
        return settings


@dataclass
class RunContext:
    """What a task gets besides its config: where to write, and how to report progress."""

    run_dir: Path
    cfg: DictConfig
    seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    logger: RunLogger | None = None
    """Where ``log`` / ``log_image`` / ``log_table`` go (:mod:`common.tracking`); ``None``: JSONL only."""
    settings: RunSettings | None = None
    """What library code may know of the run; ``None``: :meth:`RunSettings.from_config` of ``cfg``."""

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if self.settings is None:
            self.settings = RunSettings.from_config(self.cfg)
        if self.logger is None:
            # lazy: common.tracking pulls in scipy (~2 s); runtime serves light config/CLI code
            from common.tracking import RunLogger

            self.logger = RunLogger(self.run_dir)

    def path(self, *parts: str) -> Path:
        """A path inside the run directory (parents created)."""
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def save_json(self, name: str, obj: Any) -> Path:
        return write_json_atomic(self.path(name), obj)

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log one record of scalar metrics: ``<run_dir>/log.jsonl``, and wandb with ``logger=wandb``
        (rank 0 only; every rank keeps it in ``history``)."""
        record = {"step": step, **to_jsonable(metrics)}
        self.history.append(record)
        assert self.logger is not None
        self.logger.log(record, step)

    def log_image(self, key: str, image: Any, *, caption: str | None = None) -> None:
        """Log an image (PIL image, array or path; write the file yourself) to the tracker."""
        assert self.logger is not None
        self.logger.image(key, image, caption=caption)

    def log_table(
        self, key: str, data: Any, *, columns: list[str] | None = None, index_name: str = "name"
    ) -> None:
        """Log a table (rows as :func:`common.scoring.tables.write_tables` takes them) to the tracker."""
        assert self.logger is not None
        self.logger.table(key, data, columns=columns, index_name=index_name)

    def progress(self, iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        """A tqdm progress bar (quiet when ``runtime.progress`` is false)."""
        from tqdm.auto import tqdm

        assert self.settings is not None
        enabled = self.settings.progress
        return iter(tqdm(iterable, desc=desc, total=total, disable=not enabled, dynamic_ncols=True))


def save_resolved_config(cfg: DictConfig, run_dir: Path) -> Path:
    """Write the fully resolved config to ``<run_dir>/config.yaml``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path
