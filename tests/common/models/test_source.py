"""The one model-source spec and resolver (common.models.source)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from common.models.pretrain.cache import base_dir
from common.models.pretrain.cards import CARD_JSON
from common.models.source import (
    KINDS,
    MissingModelSourceError,
    ModelSource,
    ModelSourceError,
    load_source,
    resolve_path,
    role_model,
)
from common.models.tiny import build_tiny_vlm
from common.models.vlm_bundle import VLMBundle
from common.runtime import RunSettings, Scale
from tests.common.models.conftest import SMALL_VLM


@pytest.fixture(scope="module")
def saved_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "evaluator"
    build_tiny_vlm("qwen2_5_vl", seed=0, **SMALL_VLM).save_pretrained(path)
    return path


def run_cfg(tmp_path: Path, scale: str = "tiny") -> RunSettings:
    """The settings of a run with a private cache at ``scale``."""
    return RunSettings(cache_dir=tmp_path / "cache", scale=Scale.preset(scale))


@pytest.mark.parametrize(
    "source",
    [
        ModelSource("hub", "Qwen/Qwen2.5-VL-7B-Instruct"),
        ModelSource("path", "/runs/x/evaluator"),
        ModelSource("preset", "tiny_qwen3_vl"),
        ModelSource("preset"),
        ModelSource("base", "tiny_qwen2_5_vl"),
        ModelSource("base"),
    ],
)
def test_the_string_form_round_trips(source: ModelSource) -> None:
    assert ModelSource.parse(source.to_string()) == source
    assert ModelSource.from_config(source.to_dict()) == source
    assert ModelSource.from_config(OmegaConf.create(source.to_dict())) == source


def test_bare_strings_are_read_by_what_they_name(saved_vlm: Path) -> None:
    assert ModelSource.parse("tiny_qwen2_5_vl") == ModelSource("base", "tiny_qwen2_5_vl")
    assert ModelSource.parse(str(saved_vlm)) == ModelSource("path", str(saved_vlm))
    assert ModelSource.parse("./missing/dir").kind == "path"
    assert ModelSource.parse("Qwen/Qwen3-VL-8B-Instruct") == ModelSource("hub", "Qwen/Qwen3-VL-8B-Instruct")
    assert ModelSource.parse(" base:tiny_qwen3_vl ") == ModelSource("base", "tiny_qwen3_vl")
    assert ModelSource.parse("base") == ModelSource("base")


def test_a_preset_builds_in_code() -> None:
    bundle = load_source(ModelSource("preset", "tiny_qwen2_5_vl", overrides=SMALL_VLM, dtype="bfloat16"))
    assert isinstance(bundle, VLMBundle) and bundle.model.config.text_config.num_hidden_layers == 2
    assert next(bundle.model.parameters()).dtype == torch.bfloat16
    assert resolve_path(ModelSource("preset", "tiny_qwen2_5_vl")) is None
    # without a name: the scale's preset of the role
    role = load_source({"kind": "preset", "overrides": SMALL_VLM}, role="reward_model")
    assert type(role.model).__name__ == "Qwen3VLForConditionalGeneration"


def test_a_local_directory_loads(saved_vlm: Path, tmp_path: Path) -> None:
    assert resolve_path(f"path:{saved_vlm}") == str(saved_vlm)
    bundle = load_source(ModelSource("path", str(saved_vlm), dtype="float32"))
    assert isinstance(bundle, VLMBundle) and bundle.model.config.text_config.hidden_size == 64
    # a run directory that exports its model to a subdirectory
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "rm").symlink_to(saved_vlm)
    assert resolve_path(str(tmp_path / "run"), export_dir="rm") == str(tmp_path / "run" / "rm")
    with pytest.raises(MissingModelSourceError, match="holds neither a model"):
        resolve_path(str(tmp_path / "run"))
    with pytest.raises(MissingModelSourceError, match="does not exist"):
        resolve_path(ModelSource("path", str(tmp_path / "missing")))
    with pytest.raises(FileNotFoundError):  # the error is a FileNotFoundError too
        load_source(f"path:{tmp_path / 'missing'}")


def test_a_cached_base_resolves_to_its_directory(saved_vlm: Path, tmp_path: Path) -> None:
    cfg = run_cfg(tmp_path)
    where = base_dir("tiny_qwen2_5_vl", cfg)  # pre-populate the cache: nothing is built
    shutil.copytree(saved_vlm, where)
    (where / CARD_JSON).write_text(json.dumps({"name": "tiny_qwen2_5_vl"}))
    assert resolve_path("base:tiny_qwen2_5_vl", cfg) == str(where)
    assert resolve_path("tiny_qwen2_5_vl", cfg) == str(where)
    assert resolve_path(ModelSource("base"), cfg, role="evaluator") == str(where)
    assert isinstance(load_source("base:tiny_qwen2_5_vl", cfg), VLMBundle)
    # a conf/model preset of a hub checkpoint (scale=paper's bases) resolves to its hub id
    paper = run_cfg(tmp_path, "paper")
    assert resolve_path("base", paper, role="reward_model") == "Qwen/Qwen3-VL-8B-Instruct"
    assert role_model("evaluator", paper) == "qwen2_5_vl_7b"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"kind": "weights", "name": "x"}, r"kind 'weights' is unknown; set `kind` to one of hub\|path"),
        ("weights:x", r"unknown kind 'weights'; use hub\|path\|preset\|base:<name>"),
        ({"name": "tiny_qwen2_5_vl"}, "`kind` is missing"),
        ({"kind": "hub"}, r"kind 'hub' needs `name`"),
        ({"kind": "path", "name": ""}, "`name` must be a non-empty string"),
        ({"kind": "base", "name": "x", "overrides": {"a": 1}}, "apply to kind 'preset' only"),
        ({"kind": "preset", "name": "x", "colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"kind": "preset", "dtype": 16}, r"task\.model\.dtype: expected a string or null, got 16"),
        ("", "empty model source"),
        ("base:", "give a name after 'base:'"),
        (3, "a model source is a string"),
    ],
)
def test_bad_sources_say_which_field(value: object, match: str) -> None:
    with pytest.raises(ModelSourceError, match=match) as info:
        ModelSource.from_config(value, "task.model")
    assert str(info.value).startswith(("task.model: ", "task.model."))  # the node, or its key


def test_bad_names_fail_at_resolution(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="neither a pretrained base"):
        resolve_path("base:no_such_model", run_cfg(tmp_path))
    with pytest.raises(ModelSourceError, match="no role was given"):
        resolve_path("base")
    with pytest.raises(ModelSourceError, match="assigns no model to role 'critic'"):
        load_source("preset", role="critic")
    assert set(KINDS) == {"hub", "path", "preset", "base"}
