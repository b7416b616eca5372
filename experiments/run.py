"""The one entry point: ``python -m experiments.run +exp=<name> [overrides...]``.

Each ``conf/exp/<name>.yaml`` names a task function (``task._target_``) and its parameters. The
task runs with the composed config and a :class:`common.runtime.RunContext`; its return value is
written to ``<run_dir>/metrics.json`` and the resolved config to ``<run_dir>/config.yaml``. What it
logs goes to ``<run_dir>/log.jsonl`` and, with ``logger=wandb``, to an offline wandb run in
``<run_dir>/wandb/`` (:mod:`common.tracking`).
Without ``+exp`` (or with an unknown one) the list of experiments is printed and the exit code is 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from common.presets import conf_root

CONF_DIR = conf_root()
"""The Hydra config tree (``conf/``, found by :mod:`common.presets`)."""


def available_experiments() -> dict[str, str]:
    """Experiment name -> first comment line of its YAML (a one-line description)."""
    out: dict[str, str] = {}
    for path in sorted((CONF_DIR / "exp").glob("*.yaml")):
        first = path.read_text().splitlines()[:3]
        desc = next(
            (ln.lstrip("# ").strip() for ln in first if ln.startswith("#") and "@package" not in ln), ""
        )
        out[path.stem] = desc
    return out


def requested_experiments(argv: list[str]) -> list[str] | None:
    """The experiment names in ``+exp=a`` / ``exp=a,b`` arguments, or None if absent."""
    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if sep and key == "exp":
            return [v.strip() for v in value.split(",") if v.strip()]
    return None


def usage(problem: str) -> str:
    lines = [problem, "", "Usage: python -m experiments.run +exp=<name> [key=value ...]", "", "Experiments:"]
    exps = available_experiments()
    width = max((len(n) for n in exps), default=0)
    lines += [f"  {name.ljust(width)}  {desc}" for name, desc in exps.items()]
    return "\n".join(lines)


def run_task(cfg: Any) -> dict[str, Any]:
    """Run the task named by ``cfg.task`` inside the current Hydra run directory."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    return execute(cfg, Path(hydra_cfg.runtime.output_dir), hydra=hydra_cfg)


def execute(cfg: Any, run_dir: Path, *, hydra: Any = None) -> dict[str, Any]:
    """Run ``cfg.task`` in ``run_dir``: config.yaml, the task with its logger (``conf/logger``; a
    wandb run is finished even when the task raises), metrics.json. ``hydra``: the job's Hydra
    config (names the wandb run and its sweep group), if any. Every node of ``cfg`` that names its
    dataclass is checked first (:func:`common.config.validate_tree`), so a wrong value fails with
    its key path before anything runs."""
    from hydra.utils import instantiate

    from common.config import plain, validate_tree
    from common.jsonio import write_json_atomic
    from common.runtime import (
        RunContext,
        RunSettings,
        save_resolved_config,
        seed_everything,
        set_threads,
    )
    from common.tracking import RunLogger

    validate_tree(cfg)
    save_resolved_config(cfg, run_dir)
    settings = RunSettings.from_config(cfg)  # what library code may know of the run, built once
    set_threads(settings.threads)
    seed_everything(int(cfg.seed))
    logger = RunLogger.start(
        run_dir, logger=plain(cfg.get("logger")), exp_name=cfg.get("exp_name"), config=cfg, hydra=hydra
    )
    exit_code = 1
    try:
        ctx = RunContext(run_dir=run_dir, cfg=cfg, seed=int(cfg.seed), logger=logger, settings=settings)
        task = instantiate(cfg.task, _partial_=True)
        metrics = task(cfg=cfg, ctx=ctx) or {}
        write_json_atomic(run_dir / "metrics.json", metrics)
        logger.summary(metrics)
        exit_code = 0
    finally:
        logger.finish(exit_code)
    print(f"[{cfg.exp_name}] run directory: {run_dir}")
    return metrics


def main() -> None:
    names = requested_experiments(sys.argv[1:])
    known = available_experiments()
    if names is None:
        print(usage("No experiment chosen."), file=sys.stderr)
        sys.exit(2)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(usage(f"Unknown experiment(s): {', '.join(unknown)}."), file=sys.stderr)
        sys.exit(2)

    import hydra

    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(run_task)()


if __name__ == "__main__":
    main()
