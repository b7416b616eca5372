"""Run-time plumbing shared by every experiment: threads, seeds, run directory, metrics.

Every task function has the signature ``run(cfg, ctx, **params) -> dict`` and is called by
``experiments.run`` with a :class:`RunContext`. What it returns is written to
``<run_dir>/metrics.json``; the resolved config is written to ``<run_dir>/config.yaml`` before
the task starts, so a crashed run still says what it was.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from omegaconf import DictConfig, OmegaConf

from common.jsonio import to_jsonable, write_json_atomic

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


@dataclass
class RunContext:
    """What a task gets besides its config: where to write, and how to report progress."""

    run_dir: Path
    cfg: DictConfig
    seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    logger: RunLogger | None = None
    """Where ``log`` / ``log_image`` / ``log_table`` go (:mod:`common.tracking`); ``None``: JSONL only."""

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if self.logger is None:
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

        enabled = bool(OmegaConf.select(self.cfg, "runtime.progress", default=True))
        return iter(tqdm(iterable, desc=desc, total=total, disable=not enabled, dynamic_ncols=True))


def save_resolved_config(cfg: DictConfig, run_dir: Path) -> Path:
    """Write the fully resolved config to ``<run_dir>/config.yaml``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path
