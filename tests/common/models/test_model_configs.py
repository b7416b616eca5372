"""conf/model and conf/scale: every tiny preset instantiates; paper presets name the right models."""

from __future__ import annotations

import pytest
from diffusers import AutoencoderKL
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate

from common.models.builders import build_model, build_role, load_t2i, load_vlm
from common.models.hub import ModelNotAvailableError
from common.models.t2i import T2IBundle
from common.models.tiny import build_tiny_vlm
from common.models.tiny_generators import build_tiny_sd3
from common.models.vlm_bundle import VLMBundle
from common.presets import conf_root, preset_names
from tests.common.models.conftest import SMALL_IMAGE_MODEL, SMALL_VLM

CONF_DIR = conf_root()
TINY = [
    "tiny_qwen2_5_vl",
    "tiny_qwen3_vl",
    "tiny_sd3",
    "tiny_sd3_latent",
    "tiny_editor",
    "tiny_autoencoder",
    "tiny_flow_unet",
    "tiny_flow_unet_edit",
]
PAPER = {
    "qwen2_5_vl_7b": ("load_vlm", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2_5_VLForConditionalGeneration"),
    "qwen3_vl_8b": ("load_vlm", "Qwen/Qwen3-VL-8B-Instruct", "Qwen3VLForConditionalGeneration"),
    "sd3_5_medium": ("load_t2i", "stabilityai/stable-diffusion-3.5-medium", "StableDiffusion3Pipeline"),
    "qwen_image_edit": ("load_t2i", "Qwen/Qwen-Image-Edit-2509", "QwenImageEditPlusPipeline"),
}


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def test_every_model_file_is_covered() -> None:
    assert set(preset_names("model")) == set(TINY) | set(PAPER)


@pytest.mark.parametrize("name", TINY)
def test_tiny_presets_instantiate_through_hydra(name: str) -> None:
    cfg = _compose([f"+model={name}"])
    assert cfg.model.dtype == "float32" and cfg.model.device == "cpu"
    bundle = instantiate(cfg.model, _convert_="all")
    family = AutoencoderKL if name == "tiny_autoencoder" else VLMBundle if "vl" in name else T2IBundle
    assert isinstance(bundle, family)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_presets_name_the_right_hub_ids_and_classes(name: str) -> None:
    loader, hub_id, cls = PAPER[name]
    cfg = _compose(["scale=paper", f"+model={name}"])
    assert get_object(cfg.model._target_) is {"load_vlm": load_vlm, "load_t2i": load_t2i}[loader]
    assert cfg.model.name_or_path == hub_id
    assert cfg.model.get("expected_class", cfg.model.get("expected_pipeline")) == cls
    assert cfg.model.dtype == "bfloat16"
    with pytest.raises(InstantiationException, match="HF_HUB_OFFLINE") as info:  # offline: reaches the hub
        instantiate(cfg.model, _convert_="all")
    assert isinstance(info.value.__cause__, ModelNotAvailableError) and hub_id in str(info.value.__cause__)


def test_scales_assign_a_preset_to_every_role() -> None:
    tiny, paper = _compose([]).scale, _compose(["scale=paper"]).scale
    assert (tiny.dtype, paper.dtype) == ("float32", "bfloat16")
    assert set(tiny.models) == set(paper.models) == {"evaluator", "reward_model", "generator", "editor"}
    assert set(tiny.models.values()) <= set(TINY) and set(paper.models.values()) == set(PAPER)
    assert isinstance(build_role("reward_model", "tiny", **SMALL_VLM), VLMBundle)


def test_paper_vlm_preset_loads_a_local_checkpoint_of_the_same_class(tmp_path) -> None:
    build_tiny_vlm("qwen3_vl", **SMALL_VLM).save_pretrained(tmp_path)
    bundle = build_model("qwen3_vl_8b", name_or_path=str(tmp_path), dtype="float32")
    assert type(bundle.model).__name__ == "Qwen3VLForConditionalGeneration"
    with pytest.raises(InstantiationException, match="not the expected"):
        build_model("qwen2_5_vl_7b", name_or_path=str(tmp_path), dtype="float32")


def test_paper_t2i_preset_loads_a_local_checkpoint_of_the_same_class(tmp_path) -> None:
    build_tiny_sd3(**SMALL_IMAGE_MODEL).save_pretrained(tmp_path)
    bundle = build_model("sd3_5_medium", name_or_path=str(tmp_path), dtype="bfloat16", spec_overrides=None)
    assert type(bundle.transformer).__name__ == "SD3Transformer2DModel" and bundle.dtype.is_floating_point
    with pytest.raises(InstantiationException, match="not the expected"):
        build_model("qwen_image_edit", name_or_path=str(tmp_path), spec_overrides=None)
