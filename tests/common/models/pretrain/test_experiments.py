"""``+exp=pretrain_*``: the experiments compose, build every base once and reuse it on a rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from common.models.pretrain import available_bases
from common.runtime import RunContext
from tests.common.models.pretrain.conftest import TINY_BUDGET

CONF_DIR = Path(__file__).resolve().parents[4] / "conf"


def compose_exp(name: str, tmp_path: Path) -> OmegaConf:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"+exp={name}", f"paths.cache_dir={tmp_path / 'cache'}", "runtime.progress=false"],
        )
    cfg.task.base_overrides = TINY_BUDGET
    return cfg


OPTIONAL_BASES = {
    "tiny_autoencoder",
    "tiny_sd3_latent",
    "tiny_sd3",
    "tiny_editor",
    "tiny_qwen2_5_vl_vision",
    "tiny_qwen3_vl_vision",
}
"""Bases no tiny role uses by default (the latent generator and its VAE, the SD3 and Qwen-Image-Edit
transformers beside the default UNets) or that other bases build on (the VLMs' vision warm-ups):
built on demand."""


def test_every_base_has_a_pretraining_config() -> None:
    assert available_bases() == sorted(
        ["tiny_flow_unet", "tiny_flow_unet_edit", "tiny_qwen2_5_vl", "tiny_qwen3_vl", *OPTIONAL_BASES]
    )
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["+exp=pretrain_all"])
    assert sorted(cfg.task.bases) == sorted(set(available_bases()) - OPTIONAL_BASES)
    assert set(cfg.scale.models.values()) <= set(cfg.task.bases)


@pytest.mark.parametrize("exp", ["pretrain_vlm", "pretrain_t2i", "pretrain_editor"])
def test_pretrain_experiment_builds_then_reuses(
    exp: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = compose_exp(exp, tmp_path)
    task = instantiate(cfg.task, _partial_=True)
    first = task(cfg=cfg, ctx=RunContext(run_dir=tmp_path / "run1", cfg=cfg))
    assert set(first) == set(cfg.task.bases)
    assert all(r["built_now"] and Path(r["path"]).is_dir() and r["steps"] == 4 for r in first.values())
    assert "## Quality (held out)" in capsys.readouterr().out  # the card is printed
    second = task(cfg=cfg, ctx=RunContext(run_dir=tmp_path / "run2", cfg=cfg))
    assert all(not r["built_now"] for r in second.values())
    assert {k: r["path"] for k, r in first.items()} == {k: r["path"] for k, r in second.items()}
