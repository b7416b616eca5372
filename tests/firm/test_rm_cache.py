"""The cached trained RM (``rm:gen`` / ``rm:edit``): built once by ``+exp=firm_<kind>_rm``, then reused."""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from common.models.builders import load_vlm
from common.models.source import ModelSourceError
from common.presets import conf_root
from common.runtime import RunSettings, Scale
from firm.rm import cache as rm_cache
from firm.rm import run_seed
from firm.rm.cache import RM_CARD, ensure_rm, resolve_source, rm_dir


def tiny_recipe(model: Path, steps: int = 2) -> list[str]:
    """A gen RM recipe that trains in seconds: a small random base, 10 curated prompts, 2 steps."""
    return [
        f"task.model={model}",
        "task.data.curate={n_prompts: 10}",
        f"task.sft.steps={steps}",
        "task.sft.batch_size=2",
        "task.sft.checkpoint_every=1",
        "task.eval_items=2",
        "task.eval_max_tokens=8",
    ]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> RunSettings:
    cache = tmp_path_factory.mktemp("rm_cache")
    return RunSettings(
        cache_dir=cache, scale=Scale.preset("tiny"), threads=1, progress=False, world_level="basic"
    )


@pytest.fixture(scope="module")
def built(random_rm_dir: Path, settings: RunSettings) -> tuple[Path, float]:
    """The first call: trains the tiny gen RM into the cache (and how long it took)."""
    t0 = time.perf_counter()
    path = ensure_rm("gen", settings, overrides=tiny_recipe(random_rm_dir), progress=False)
    return path, time.perf_counter() - t0


def test_first_call_builds_and_writes_the_card(
    built: tuple[Path, float], random_rm_dir: Path, settings: RunSettings
) -> None:
    path, _ = built
    card = json.loads((path / RM_CARD).read_text())
    assert path.parent == settings.cache_dir / "rms" and path.name == f"firm_gen_rm-{card['key']}"
    assert card["kind"] == "gen" and card["scale"] == "tiny" and card["world_level"] == "basic"
    assert set(card["held_out"]) == {"instruction", "quality"} and card["steps"] == 2
    assert card["wall_s"] > 0 and card["built_at"]
    assert (path / "rm" / "config.json").is_file() and (path / "config.yaml").is_file()
    assert not (path / "checkpoints").exists()  # dropped once the RM is exported
    assert not list(path.parent.glob(".*.partial"))  # renamed into place
    assert card["model_source"] == str(random_rm_dir)


def test_second_call_reuses_even_inside_a_hydra_app(
    built: tuple[Path, float], random_rm_dir: Path, settings: RunSettings, tmp_path: Path, monkeypatch: Any
) -> None:
    """As the RL task calls it: from inside ``hydra.main``, whose global Hydra is left intact."""
    import hydra
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    path, build_s = built
    stamp = (path / RM_CARD).stat().st_mtime_ns
    seen: dict[str, Any] = {}

    def app(cfg: Any) -> None:
        before = GlobalHydra.instance().hydra
        t0 = time.perf_counter()
        seen["path"] = ensure_rm("gen", settings, overrides=tiny_recipe(random_rm_dir))
        seen["s"] = time.perf_counter() - t0
        seen["same_hydra"] = GlobalHydra.instance().hydra is before and before is not None
        seen["job"] = HydraConfig.get().job.name

    argv = ["app", "+exp=hello", f"hydra.run.dir={tmp_path / 'app'}"]
    argv += ["hydra/job_logging=none", "hydra/hydra_logging=none"]
    monkeypatch.setattr(sys, "argv", argv)
    hydra.main(config_path=str(conf_root()), config_name="config", version_base="1.3")(app)()
    assert seen["path"] == path and seen["same_hydra"] and seen["job"]
    assert (path / RM_CARD).stat().st_mtime_ns == stamp  # not rebuilt
    assert seen["s"] < max(5.0, build_s / 2)


def test_another_recipe_is_another_rm(
    built: tuple[Path, float], random_rm_dir: Path, settings: RunSettings
) -> None:
    path, _ = built
    other = rm_dir("gen", settings, tiny_recipe(random_rm_dir, steps=3))
    assert other != path and other.parent == path.parent and not other.exists()
    assert rm_dir("edit", settings) != rm_dir("gen", settings)
    full = RunSettings(cache_dir=settings.cache_dir, scale=settings.scale, world_level="full")
    assert rm_dir("gen", full, tiny_recipe(random_rm_dir)) != path  # the world level is in the key
    # logging, threads and the engine are not
    assert rm_dir("gen", settings, [*tiny_recipe(random_rm_dir), "task.sft.log_every=7"]) == path
    ddp = RunSettings(
        cache_dir=settings.cache_dir,
        scale=settings.scale,
        world_level="basic",
        threads=2,
        engine={"name": "ddp"},
    )
    assert rm_dir("gen", ddp, tiny_recipe(random_rm_dir)) == path


def test_rm_source_resolves_to_a_loadable_model(
    built: tuple[Path, float], random_rm_dir: Path, settings: RunSettings, monkeypatch: Any
) -> None:
    path, _ = built
    recipe = tiny_recipe(random_rm_dir)
    monkeypatch.setattr(rm_cache, "ensure_rm", functools.partial(ensure_rm, overrides=recipe))
    resolved = resolve_source("rm:gen", settings)
    assert resolved == str(path / "rm")
    bundle = load_vlm(resolved)
    assert bundle.model is not None
    assert run_seed(resolved) == 0 and run_seed("rm:gen") is None


def test_unknown_kinds_and_multi_process_builds_are_refused(
    random_rm_dir: Path, settings: RunSettings
) -> None:
    with pytest.raises(ModelSourceError, match="valid: rm:edit, rm:gen"):
        resolve_source("rm:foo", settings)
    with pytest.raises(ValueError, match="valid kinds: edit, gen"):
        ensure_rm("foo", settings)
    ddp = RunSettings(cache_dir=settings.cache_dir, scale=settings.scale, engine={"name": "ddp"})
    with pytest.raises(RuntimeError, match=r"engine 'ddp' runs 2 processes.*python -m firm\.rm\.cache gen"):
        ensure_rm("gen", ddp, overrides=tiny_recipe(random_rm_dir, steps=5))


def test_cli_finds_the_built_rm(
    built: tuple[Path, float], random_rm_dir: Path, settings: RunSettings, capsys: Any
) -> None:
    path, _ = built
    args = ["gen", "world=basic", f"paths.cache_dir={settings.cache_dir}", *tiny_recipe(random_rm_dir)]
    assert rm_cache.main(args) == 0 and capsys.readouterr().out.strip() == str(path)
    assert rm_cache.main(["nope"]) == 2
