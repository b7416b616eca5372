"""The one logging interface of a run: JSONL always, Weights & Biases with ``logger=wandb``.

Tasks and trainers log through :class:`common.runtime.RunContext` (``ctx.log``,
``ctx.log_image``, ``ctx.log_table``), which forwards to a :class:`RunLogger`; nothing else in the
project imports wandb. Backends:

* JSONL (always): each ``log`` call appends ``{"step": ..., **metrics}`` to ``<run_dir>/log.jsonl``.
  Images and tables are files the task writes itself (``samples.png``, ``*.md`` / ``*.csv``), so
  the JSONL backend keeps no copy of them.
* wandb (``logger=wandb``, ``conf/logger/wandb.yaml``): one wandb run per Hydra job, started by
  :meth:`RunLogger.start` in ``<run_dir>/wandb/`` (``mode=offline`` unless ``logger.mode`` /
  ``WANDB_MODE`` says otherwise: no account, no network), named ``<exp_name>-<job>`` (the job
  number in a sweep, else the run directory's name), grouped by the sweep directory in a multirun,
  with the resolved run config as its config. Metrics go to ``wandb.log(step=...)``, images to
  ``wandb.Image``, tables to ``wandb.Table``, the returned metrics (scalars) to the run summary;
  :meth:`RunLogger.finish` ends it (``experiments.run`` calls it in a ``finally``, with exit code 1
  after a crash). ``wandb sync <run_dir>/wandb/offline-run-*`` uploads it later.

Only rank 0 writes (JSONL and wandb). The rank is read when the logger is made (Fabric has not
started the process group yet, so from the launcher's variables, :data:`RANK_VARIABLES`) and
from ``torch.distributed`` at each write once it is up.

wandb refuses rows whose step is lower than one already logged; a record whose step goes back (a
second training phase in the same run, e.g. several pretraining bases) is logged at wandb's next
step instead, with the caller's step kept as the metric ``step``. ``None`` values (NaN, metrics a step did not
have) are left out of wandb's rows; ``log.jsonl`` keeps them as ``null``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common.config import plain
from common.jsonio import to_jsonable
from common.scoring.tables import as_table

__all__ = ["RANK_VARIABLES", "RunLogger", "is_rank0", "wandb_identity"]


RANK_VARIABLES = (
    "RANK",  # torchrun / TorchElastic
    "LOCAL_RANK",  # Lightning's process launcher (ddp), torchrun
    "NODE_RANK",  # Lightning, several nodes
    "GROUP_RANK",  # torchrun, several nodes
    "SLURM_PROCID",  # srun
    "OMPI_COMM_WORLD_RANK",  # Open MPI
    "PMI_RANK",  # MPICH / Intel MPI
    "JSM_NAMESPACE_RANK",  # LSF
)
"""Variables a launcher sets to a process's rank; a process with any of them non-zero is not rank 0."""


def is_rank0() -> bool:
    """True on the process that logs: rank 0 of ``torch.distributed`` once it is up, before that
    (Fabric starts it inside the task) every launcher rank variable unset or 0. Read from the
    environment, not through :func:`common.engine.distributed.detect_cluster`, which imports
    Lightning (seconds, for every run)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return all(os.environ.get(key, "0").strip() in ("", "0") for key in RANK_VARIABLES)


def wandb_identity(exp_name: str | None, run_dir: Path, hydra: Any = None) -> tuple[str, str | None]:
    """The wandb run ``(name, group)``: ``<exp_name>-<job number>`` grouped by the sweep directory
    (``<exp dir>/<sweep dir>``) in a Hydra multirun, else ``<exp_name>-<run dir name>`` and no group.
    ``hydra``: the job's Hydra config (its ``mode``, ``sweep.dir`` and ``job.num``)."""
    exp = str(exp_name if exp_name is not None else "run")
    mode = str(hydra.get("mode") or "") if hydra is not None else ""
    if mode.endswith("MULTIRUN"):
        sweep = Path(str(hydra.sweep.dir))
        return (
            f"{exp}-{hydra.job.num}",
            f"{sweep.parent.name}/{sweep.name}" if sweep.parent.name else sweep.name,
        )
    return f"{exp}-{run_dir.name}", None


class RunLogger:
    """JSONL (always) and wandb (when started with ``logger=wandb``) logging of one run, rank 0 only.

    ``RunLogger(run_dir)`` is the JSONL backend alone (what a :class:`~common.runtime.RunContext`
    made by hand gets); :meth:`start` adds wandb as the run config says.
    """

    def __init__(self, run_dir: Path, *, wandb_run: Any = None, rank0: bool | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.wandb_run = wandb_run
        self._rank0 = rank0

    @classmethod
    def start(
        cls,
        run_dir: Path,
        *,
        logger: Mapping[str, Any] | None,
        exp_name: str | None,
        config: Any = None,
        hydra: Any = None,
    ) -> RunLogger:
        """The run's logger: wandb is started when ``logger`` (the run's ``logger`` node, plain
        data: ``conf/logger``) is ``name: wandb``, on rank 0. ``config`` (the run config) is what
        the wandb run records as its config; ``exp_name`` and ``hydra`` name the run."""
        rank0 = is_rank0()
        out = cls(run_dir, rank0=rank0)
        node = dict(logger or {})
        if rank0 and node.get("name") == "wandb":
            out.wandb_run = _init_wandb(node, exp_name, config, Path(run_dir), hydra)
        return out

    @property
    def rank0(self) -> bool:
        """True on the process that writes (checked again once ``torch.distributed`` is up)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
        if self._rank0 is None:
            self._rank0 = is_rank0()
        return self._rank0

    def log(self, record: Mapping[str, Any], step: int | None = None) -> None:
        """Append ``record`` (JSON-ready, with its ``step``) to ``log.jsonl``; its metrics to wandb."""
        if not self.rank0:
            return
        path = self.run_dir / "log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(dict(record)) + "\n")
        if self.wandb_run is not None:
            data = {k: v for k, v in record.items() if k != "step" and v is not None}
            if step is not None and step >= self.wandb_run.step:
                self.wandb_run.log(data, step=int(step))
            else:  # no step, or a step wandb would drop (lower than one already logged)
                self.wandb_run.log({**data, **({"step": step} if step is not None else {})})

    def image(self, key: str, image: Any, *, caption: str | None = None) -> None:
        """An image (PIL image, array or path) for wandb, at the current step; JSONL keeps none."""
        if self.wandb_run is None or not self.rank0:
            return
        import wandb

        if isinstance(image, Path):
            image = str(image)
        self.wandb_run.log({key: wandb.Image(image, caption=caption)}, commit=False)

    def table(
        self, key: str, data: Any, *, columns: Sequence[str] | None = None, index_name: str = "name"
    ) -> None:
        """A table (rows as :func:`common.scoring.tables.as_table` reads them) for wandb; PIL images
        in cells become ``wandb.Image``, lists and dicts JSON text. JSONL keeps none."""
        if self.wandb_run is None or not self.rank0:
            return
        import wandb

        def cell(value: Any) -> Any:
            if hasattr(value, "getpixel"):  # a PIL image
                return wandb.Image(value)
            value = to_jsonable(value)
            return json.dumps(value) if isinstance(value, dict | list) else value

        table = as_table(data, columns=columns, index_name=index_name)
        rows = [[cell(v) for v in row] for row in table.rows]
        self.wandb_run.log(
            {key: wandb.Table(columns=table.columns, data=rows, allow_mixed_types=True)}, commit=False
        )

    def summary(self, metrics: Mapping[str, Any]) -> None:
        """The run's returned metrics, scalars only (nested keys joined with ``/``), as wandb's summary."""
        if self.wandb_run is None or not self.rank0:
            return

        flat: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}/{k}" if prefix else str(k), v)
            elif isinstance(value, bool | int | float | str):
                flat[prefix] = value

        walk("", to_jsonable(dict(metrics)))
        self.wandb_run.summary.update(flat)

    def finish(self, exit_code: int = 0) -> None:
        """End the wandb run and wait until its files are complete; a no-op without one.

        ``run.finish()`` returns once the exit record is handed to wandb's service, which closes the
        run's record file later; ``wandb.teardown()`` waits for that (the next run starts a new
        service, about a second)."""
        if self.wandb_run is not None:
            import wandb

            run, self.wandb_run = self.wandb_run, None
            try:
                run.finish(exit_code=exit_code)
            finally:
                wandb.teardown(exit_code=exit_code)


def _init_wandb(
    node: Mapping[str, Any], exp_name: str | None, run_config: Any, run_dir: Path, hydra: Any
) -> Any:
    import wandb

    mode = node.get("mode") or os.environ.get("WANDB_MODE") or "offline"
    name, group = wandb_identity(exp_name, run_dir, hydra)
    config = plain(run_config)
    tags = node.get("tags")
    run_dir.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        mode=str(mode),
        dir=str(run_dir),
        project=str(node.get("project") or "t2i-critics"),
        entity=node.get("entity"),
        name=name,
        group=group,
        tags=[str(t) for t in tags] if tags else None,
        config=config if isinstance(config, dict) else None,
    )
