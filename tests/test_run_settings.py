"""Library code takes typed run settings, never the whole run config, and never a path into conf/.

A source scan of every library module (``common/``, ``t2ieval_r1/``, ``firm/``): no
``OmegaConf.select`` (keys picked out of a run config), no ``cfg.paths.cache_dir`` /
``cfg.runtime.progress`` style reads, and no ``"conf"`` path segment (only :mod:`common.presets`
knows where the YAML lives). The task modules Hydra instantiates may read their composed config;
they are the allow-list. Also: :class:`common.runtime.RunSettings` from a composed config.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from common.presets import conf_root
from common.runtime import RunContext, RunSettings, Scale

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("common", "t2ieval_r1", "firm")

TASK_MODULES = ("t2ieval_r1/tasks/", "firm/tasks/")
"""The task entry points (``run(cfg, ctx, **params)``, named by ``conf/exp``): they may read their
composed config (``OmegaConf.select`` included)."""

MAY_NAME_CONF = ("common/presets.py",)
"""The one module that knows where the YAML tree is."""

RUN_CONFIG_READS = {("paths", "cache_dir"), ("runtime", "progress"), ("runtime", "threads")}
"""``<x>.paths.cache_dir`` and the like: run-config keys that RunSettings carries."""


def _library_files() -> list[Path]:
    return sorted(p for lib in LIBRARIES for p in (ROOT / lib).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _violations(rel: str, text: str) -> list[str]:
    """What ``text`` (the module at ``rel``, relative to the repository) does that is banned."""
    tree = ast.parse(text, filename=rel)
    docs = _docstrings(tree)
    is_task = rel.startswith(TASK_MODULES)
    out = []
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')}"
        if (
            not is_task
            and isinstance(node, ast.Attribute)
            and node.attr == "select"
            and isinstance(node.value, ast.Name)
            and node.value.id == "OmegaConf"
        ):
            out.append(f"{where}: OmegaConf.select (take RunSettings or typed arguments)")
        if (
            not is_task
            and isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and (node.value.attr, node.attr) in RUN_CONFIG_READS
        ):
            out.append(f"{where}: .{node.value.attr}.{node.attr} of a run config (use RunSettings)")
        if (
            rel not in MAY_NAME_CONF
            and isinstance(node, ast.Constant)
            and id(node) not in docs
            and isinstance(node.value, str)
            and node.value.strip("/") == "conf"
        ):
            out.append(f"{where}: a path into conf/ (use common.presets)")
    return out


def test_library_code_reads_no_run_config_and_no_conf_path():
    files = _library_files()
    assert len(files) > 100
    found = [v for p in files for v in _violations(p.relative_to(ROOT).as_posix(), p.read_text())]
    assert not found, "\n".join(found)


def test_the_scan_sees_what_it_bans():
    source = (
        "from pathlib import Path\n"
        "from omegaconf import OmegaConf\n"
        "D = Path(__file__).parents[1] / 'conf' / 'model'\n"
        "def f(cfg):\n"
        "    return OmegaConf.select(cfg, 'scale'), cfg.paths.cache_dir\n"
    )
    found = _violations("common/<probe>.py", source)
    assert len(found) == 3, found
    assert not [v for v in _violations("firm/tasks/<probe>.py", source) if "conf/" not in v]  # a task may
    assert _violations("common/presets.py", "ROOT = 'conf'\n") == []


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(conf_root()), version_base="1.3"):
        return compose("config", overrides=overrides)


def test_run_settings_of_a_composed_config(tmp_path: Path):
    cfg = _compose(["+exp=hello", f"paths.cache_dir={tmp_path}", "runtime.progress=false", "world=full"])
    settings = RunSettings.from_config(cfg)
    assert settings.cache_dir == tmp_path and settings.progress is False
    assert settings.scale == Scale.preset("tiny") and settings.scale.model("reward_model") == "tiny_qwen3_vl"
    assert settings.world_level == "full" and settings.world_seed == 0
    assert settings.engine is not None and settings.engine["name"] == "cpu"
    assert RunContext(run_dir=tmp_path / "run", cfg=cfg).settings == settings

    paper = RunSettings.from_config(_compose(["+exp=hello", "scale=paper"]))
    assert paper.scale.name == "paper" and paper.scale.dtype == "bfloat16"
    assert paper.scale.model("evaluator") == "qwen2_5_vl_7b"


def test_run_settings_defaults_and_misuse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("T2I_CACHE_DIR", str(tmp_path))
    assert RunSettings.of(None) == RunSettings.defaults()
    assert RunSettings.defaults().cache_dir == tmp_path and RunSettings.defaults().scale.name == "tiny"
    with pytest.raises(TypeError, match=r"RunSettings\.from_config\(cfg\)"):
        RunSettings.of(_compose([]))  # a whole run config is not settings
