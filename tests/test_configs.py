"""Every config file composes, resolves, and every ``_target_`` in it resolves to an object.

(lightning-hydra-template's practice.) Groups outside the base defaults (``exp``, ``model``) are
added with ``+group=name``; a recipe, ``conf/recipe/<scale>/<exp>.yaml``, is composed as its
experiment at its scale (tests/test_paper_scale.py checks what the recipes hold). Instantiation
of real objects is tested where they are built (tests/common/models, tests/common/engine); here
each target is imported and the node's keys are bound to its signature, so that a misspelled or
removed key fails here rather than at run time.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from common.config import CONFIG_KEY
from common.runtime import RunSettings

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
BASE_GROUPS = {"scale", "world", "engine", "logger", "paths", "runtime"}
HYDRA_KEYS = {"_target_", "_args_", "_partial_", "_recursive_", "_convert_"}
FORWARDED = {
    # run(cfg, ctx, **server) builds a ServeConfig from **server (config_from_mapping)
    "firm.tasks.serve.run": "firm.serve.config.ServeConfig",
}
"""Targets whose ``**kwargs`` take config keys, and the callable those keys must bind to."""


def config_files() -> list[tuple[str, str]]:
    out = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        rel = path.relative_to(CONF_DIR)
        if len(rel.parts) < 2 or rel.parts[0] == "hydra":
            continue
        out.append(("/".join(rel.parts[:-1]), path.stem))
    return out


def compose_with(group: str, name: str) -> DictConfig:
    if group.startswith("recipe/"):  # conf/recipe/<scale>/<exp>.yaml: picked by the scale for <exp>
        scale = group.split("/", 1)[1]
        exp = name if (CONF_DIR / "exp" / f"{name}.yaml").exists() else None
        overrides = [f"scale={scale}"] + ([f"+exp={exp}"] if exp else [f"+{group}={name}"])
    else:
        prefix = "" if group in BASE_GROUPS else "+"
        overrides = [f"{prefix}{group}={name}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def targets(node: Any, path: str = "") -> list[tuple[str, DictConfig]]:
    found = []
    if isinstance(node, DictConfig):
        if "_target_" in node:
            found.append((path, node))
        for key in node:
            if not OmegaConf.is_missing(node, key):  # a `???` value (a path the user gives) has no target
                found += targets(node[key], f"{path}.{key}" if path else str(key))
    elif OmegaConf.is_list(node):
        for i, item in enumerate(node):
            found += targets(item, f"{path}[{i}]")
    return found


def bind_keys(target: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Bind a node's arguments to ``target``'s named parameters (a ``**kwargs`` catch-all accepts
    nothing, unless :data:`FORWARDED` names where it sends them); raises ``TypeError`` if they do not bind."""
    sig = inspect.signature(get_object(target))
    named = sig.replace(parameters=[p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD])
    if target in FORWARDED:
        rest = {k: v for k, v in kwargs.items() if k not in named.parameters}
        inspect.signature(get_object(FORWARDED[target])).bind_partial(**rest)
        kwargs = {k: v for k, v in kwargs.items() if k in named.parameters}
    named.bind_partial(*args, **kwargs)


def test_base_config_composes() -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config")
    OmegaConf.to_container(cfg, resolve=True)
    assert cfg.task is None


@pytest.mark.parametrize(("group", "name"), config_files(), ids=lambda v: str(v))
def test_config_file_composes_and_targets_resolve(group: str, name: str) -> None:
    cfg = compose_with(group, name)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    for path, node in targets(cfg):
        obj = get_object(node._target_)
        assert callable(obj), f"{group}/{name}.yaml: {path}._target_ is not callable"
        args = list(node.get("_args_", []))
        # the `_config_` key is the converter's (common.config: tests/test_config_validation.py)
        kwargs = {str(k): node[k] for k in node if k not in HYDRA_KEYS and k != CONFIG_KEY}
        try:
            bind_keys(node._target_, args, kwargs)
        except TypeError as e:
            pytest.fail(f"{group}/{name}.yaml: {path} does not fit {node._target_}: {e}")


@pytest.mark.parametrize(
    ("target", "kwargs"),
    [
        ("common.annotators.WorldOracleAnnotator", {"noise": 0.1, "seeed": 0}),  # misspelled
        ("common.models.builders.load_vlm", {"name_or_path": "x", "dtyp": "bf16"}),  # into **kwargs
        ("firm.tasks.serve.run", {"max_batch_sise": 8}),  # not a ServeConfig field
        ("firm.tasks.serve.run", {"duration": 1.0}),  # not a parameter of run
    ],
)
def test_a_key_the_target_does_not_take_fails(target: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        bind_keys(target, [], kwargs)


def test_the_forwarded_keys_bind() -> None:
    bind_keys("firm.tasks.serve.run", [], {"duration_s": 1.0, "max_batch_size": 8, "port": 0})
    bind_keys("common.models.builders.load_vlm", [], {"name_or_path": "x", "dtype": "bfloat16"})


def test_every_experiment_names_a_task() -> None:
    for group, name in config_files():
        if group != "exp":
            continue
        cfg = compose_with(group, name)
        assert cfg.exp_name == name, f"conf/exp/{name}.yaml must set exp_name: {name}"
        assert cfg.task is not None and "_target_" in cfg.task, f"conf/exp/{name}.yaml sets no task._target_"


@pytest.mark.parametrize(
    ("overrides", "level"),
    [([], "basic"), (["scale=paper"], "basic"), (["world=full"], "full"), (["world=basic"], "basic")],
)
def test_world_level_composes_and_reaches_the_tasks(overrides: list[str], level: str, tmp_path: Path) -> None:
    from common.runtime import RunContext
    from common.world.benchmarks import world_dataset_path
    from common.world.levels import run_level

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "+exp=world_build",
                f"paths.cache_dir={tmp_path}",
                "runtime.progress=false",
                *overrides,
            ],
        )
    assert cfg.world.level == level and run_level(RunSettings.from_config(cfg)) == level
    task = instantiate(cfg.task, _partial_=True)
    ctx = RunContext(run_dir=tmp_path / "run", cfg=cfg, seed=0)
    metrics = task(cfg=cfg, ctx=ctx, names=["prompts_gen"], scale=0.02, preview=False)
    assert metrics["level"] == level
    path = world_dataset_path(tmp_path / "world", "prompts_gen", 0, scale=0.02, level=level)
    assert metrics["datasets"]["prompts_gen"]["path"] == str(path)
    assert ("-basic-" in path.name) == (level == "basic")
