"""The vision-only warm-up base and a VLM that starts from its tower; the world level in the VLM data."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from common.models.builders import load_model
from common.models.pretrain import config_hash, ensure_base, load_pretrain_config, read_card
from common.models.pretrain.data import sample_qa, vlm_eval_items, world_scenes
from common.models.pretrain.objectives import get_objective
from common.models.pretrain.vlm import VLMObjective, vision_tower
from common.models.tiny import build_tiny_vlm
from common.runtime import RunSettings
from common.world.levels import get_level
from common.world.vocab import SHAPE_PLURALS, SHAPES
from tests.common.models.conftest import SMALL_VLM
from tests.common.models.pretrain.conftest import TINY_BUDGET

VISION = "tiny_qwen3_vl_vision"

LEARNS: dict[str, object] = {
    "model_overrides": SMALL_VLM,
    "steps": 40,
    "batch_size": 32,
    "lr": 3e-3,
    "warmup_steps": 5,
    "pool_size": 256,
    "eval_size": 96,
    "checkpoint_every": 40,
    "log_every": 10,
}
"""A test-size warm-up that learns the basic level's colours in a few seconds."""


def test_vision_config_is_validated() -> None:
    with pytest.raises(ValueError, match="scene_share"):
        load_pretrain_config(VISION, {"scene_share": 1.5})
    with pytest.raises(ValueError, match="vision_init must name a vision base of model 'tiny_qwen3_vl'"):
        load_pretrain_config("tiny_qwen3_vl", {"vision_init": "tiny_sd3"})
    with pytest.raises(ValueError, match="vision_init must name a vision base of model 'tiny_qwen3_vl'"):
        load_pretrain_config("tiny_qwen3_vl", {"vision_init": "tiny_qwen2_5_vl_vision"})
    with pytest.raises(ValueError, match="vision_init_overrides without vision_init"):
        load_pretrain_config("tiny_qwen3_vl", {"vision_init": None, "vision_init_overrides": {"steps": 3}})
    with pytest.raises(  # overrides of the warm-up are checked too
        ValueError, match=r"pretrain\.tiny_qwen3_vl_vision: unknown key\(s\) \['describe_share'\]"
    ):
        load_pretrain_config("tiny_qwen3_vl", {"vision_init_overrides": {"describe_share": 0.5}})


def test_the_warm_up_base_is_part_of_the_vlm_cache_key() -> None:
    """The VLM's key follows its warm-up base's key; without a warm-up the field is not hashed."""
    from common.models.pretrain.config import HASHED_UNLESS_DEFAULT

    plain = config_hash(load_pretrain_config("tiny_qwen3_vl"))
    assert (
        config_hash(load_pretrain_config("tiny_qwen3_vl", {"vision_init_overrides": {"steps": 3}})) != plain
    )
    assert config_hash(load_pretrain_config("tiny_qwen3_vl", {"vision_init": None})) != plain
    assert (
        HASHED_UNLESS_DEFAULT["vision_init"] is None and HASHED_UNLESS_DEFAULT["vision_init_overrides"] == {}
    )
    # The VLM key changes with the warm-up's own key, not only with the VLM's fields.
    warm = load_pretrain_config(VISION)
    assert config_hash(warm) != config_hash(load_pretrain_config(VISION, {"lr": 1e-3}))


def test_full_level_vlm_data_is_byte_identical_to_before_levels() -> None:
    """Training items and held-out items at the full level hash as the code before levels drew them
    (the digest was computed with that code), except that "what changed" answers list their changes
    in reading order since (a deliberate change; the digest was recomputed with it)."""
    cfg = load_pretrain_config(
        "tiny_qwen3_vl",
        {
            "pool_size": 24,
            "difference_pool_size": 8,
            "batch_size": 16,
            "world_level": "full",
            "vision_init": None,
        },
    )
    obj = VLMObjective()
    pool = obj.prepare(cfg, build_tiny_vlm("qwen3_vl", **SMALL_VLM))  # the bundle only resizes the images
    rows: list[list[object]] = [
        [it.qa.kind, it.qa.question, it.qa.answer] for s in range(6) for it in obj.items(cfg, pool, s)
    ]
    scenes = [s for _, s in world_scenes(48, 10007)]
    rows += [[i, q.kind, q.question, q.answer] for i, q in vlm_eval_items(scenes, 10007)]
    assert len(rows) == 192
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16] == "6bb72648daa2086a"


def test_basic_level_questions_name_only_the_level_shapes() -> None:
    import numpy as np

    shapes = get_level("basic").shapes
    scenes = [s for _, s in world_scenes(40, 3, level="basic")]
    rng = np.random.default_rng(0)
    questions = [sample_qa(s, rng, 0.0, shapes).question for s in scenes for _ in range(5)]
    questions += [q.question for _, q in vlm_eval_items(scenes, 3, shapes)]
    words = {w for q in questions for w in q.split()}
    named = {shape for shape in SHAPES if {shape, SHAPE_PLURALS[shape]} & words}
    assert named == set(shapes) != set(SHAPES)


def test_a_vlm_starts_from_the_warm_up_tower(run_settings: RunSettings) -> None:
    """The VLM objective's bundle holds exactly the warm-up base's tower; the rest is the fresh preset."""
    budget = {**TINY_BUDGET[VISION], "steps": 2}
    vlm_cfg = load_pretrain_config(
        "tiny_qwen3_vl",
        {**TINY_BUDGET["tiny_qwen3_vl"], "vision_init": VISION, "vision_init_overrides": budget},
    )
    objective = get_objective("vlm")
    objective.settings = run_settings
    bundle = objective.build(vlm_cfg)
    warm_path = ensure_base(VISION, run_settings, overrides=budget)
    warm = load_model(str(warm_path))
    quality = read_card(warm_path)["quality"]  # scene_share > 0: presence is scored beside chance
    assert 0.5 <= quality["presence_chance"] <= 1 and 0 <= quality["presence_accuracy"] <= 1
    fresh = get_objective("vlm").build(load_pretrain_config("tiny_qwen3_vl", TINY_BUDGET["tiny_qwen3_vl"]))
    got, want = vision_tower(bundle.model).state_dict(), vision_tower(warm.model).state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in got)
    moved = [k for k, v in vision_tower(fresh.model).state_dict().items() if not torch.equal(v, want[k])]
    assert len(moved) > 10  # the warm-up trained the tower: the copy changed it
    lm, fresh_lm = bundle.model.model.language_model, fresh.model.model.language_model
    assert all(
        torch.equal(a, b)
        for a, b in zip(lm.state_dict().values(), fresh_lm.state_dict().values(), strict=True)
    )


def test_copying_a_tower_of_another_size_is_an_error() -> None:
    from common.models.pretrain.vlm import copy_vision_tower
    from common.models.tiny import build_tiny_vlm

    small = build_tiny_vlm("qwen3_vl", **SMALL_VLM)
    wider = build_tiny_vlm(
        "qwen3_vl", **{**SMALL_VLM, "vision_hidden_size": 64, "vision_intermediate_size": 64}
    )
    with pytest.raises(ValueError, match=r"vision configs differ in .*hidden_size"):
        copy_vision_tower(small, wider)
    other_pixels = build_tiny_vlm("qwen3_vl", **SMALL_VLM, image_pixels=112 * 112)
    with pytest.raises(ValueError, match="image processors differ"):
        copy_vision_tower(small, other_pixels)


def test_warm_up_base_learns_above_chance_with_a_card(run_settings: RunSettings) -> None:
    path = ensure_base(VISION, run_settings, overrides=LEARNS)
    card = read_card(path)
    q = card["quality"]
    assert card["objective"] == "vision" and q["world_level"] == "basic" and q["n"] == 96
    assert 0.2 <= q["shape_chance"] <= 0.4 and q["color_chance"] <= 0.25
    assert q["color_accuracy"] >= q["color_chance"] + 0.4, q
    assert card["training"]["final_loss"] < card["training"]["first_loss"]
    assert (path / "vision_heads.pt").is_file()
    text = (path / "MODEL_CARD.md").read_text()
    assert "| colour of a single object |" in text and "vision_init" in text


def test_dense_heads_read_each_token_and_learn_colour_above_chance(run_settings: RunSettings) -> None:
    """With ``dense_weight`` the warm-up trains per-token heads on the cells' objects; the card scores
    them on the cells objects cover, beside the most common label there."""
    from common.models.pretrain.vision import VisionObjective

    overrides = {**LEARNS, "scene_share": 0.75, "dense_weight": 1.0}
    cfg = load_pretrain_config(VISION, overrides)
    objective = VisionObjective()
    bundle = objective.build(cfg)
    pool = objective.prepare(cfg, bundle)
    batch = objective.batch(cfg, bundle, pool, 0)
    merge = int(bundle.vlm.model.config.vision_config.spatial_merge_size)
    tokens = int((batch["image_grid_thw"].prod(-1) // merge**2).sum())
    assert batch["vision_shape_labels"].shape == batch["vision_color_labels"].shape == (tokens,)
    assert (batch["vision_shape_labels"] < len(SHAPES)).any()  # some tokens lie on an object
    path = ensure_base(VISION, run_settings, overrides=overrides)
    q = read_card(path)["quality"]
    assert 0 < q["cell_shape_chance"] < 1 and 0 < q["cell_color_chance"] < 0.4
    assert q["cell_color_accuracy"] >= q["cell_color_chance"] + 0.3, q
    assert "shape of the object under a token" in (path / "MODEL_CARD.md").read_text()
    assert "cell_shape.weight" in torch.load(path / "vision_heads.pt")
    reloaded = objective.load(path)
    assert reloaded.heads.dense


def test_a_dense_loss_needs_dense_heads() -> None:
    from common.models.pretrain.vision import VisionLoss, VisionObjective

    cfg = load_pretrain_config(VISION, {**TINY_BUDGET[VISION], "dense_weight": 0.0})
    bundle = VisionObjective().build(cfg)
    assert not bundle.heads.dense
    with pytest.raises(ValueError, match="dense_weight > 0 needs heads built with dense=True"):
        VisionLoss(bundle, presence_weight=1.0, dense_weight=1.0)
    with pytest.raises(ValueError, match="dense_weight must be >= 0"):
        load_pretrain_config(VISION, {"dense_weight": -1.0})
