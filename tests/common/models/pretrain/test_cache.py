"""The base cache: build once with cards, reuse, rebuild on a config change, resume after a kill."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from common.models.builders import load_model
from common.models.pretrain import base_dir, config_hash, ensure_base, load_pretrain_config, read_card
from common.models.pretrain.cache import cache_root
from common.runtime import RunSettings
from tests.common.models.pretrain.conftest import TINY_BUDGET


class SimulatedKillError(RuntimeError):
    pass


def counting_hook(seen: list[int]):
    def hook(step: int, loss: float) -> None:
        seen.append(step)

    return hook


def interrupt_at(n: int):
    def hook(step: int, loss: float) -> None:
        if step == n:
            raise SimulatedKillError(f"simulated kill after step {n}")

    return hook


def state_of(path: Path) -> dict[str, torch.Tensor]:
    bundle = load_model(str(path))
    modules = {"model": bundle.model} if hasattr(bundle, "model") else bundle.modules()
    return {f"{k}.{n}": t for k, m in modules.items() for n, t in m.state_dict().items()}


def test_vlm_base_builds_with_cards_then_is_reused(run_settings: RunSettings) -> None:
    budget = TINY_BUDGET["tiny_qwen2_5_vl"]
    steps: list[int] = []
    path = ensure_base("tiny_qwen2_5_vl", run_settings, overrides=budget, hooks=[counting_hook(steps)])
    assert steps == [1, 2, 3, 4]
    key = config_hash(load_pretrain_config("tiny_qwen2_5_vl", budget))
    assert (
        path
        == cache_root(run_settings) / f"tiny_qwen2_5_vl-{key}"
        == base_dir("tiny_qwen2_5_vl", run_settings, budget)
    )
    card = read_card(path)
    assert card["hash"] == key and card["training"]["steps"] == 4
    assert card["model"]["class"] == "Qwen2_5_VLForConditionalGeneration"
    assert {"caption_exact", "object_recall", "vqa_accuracy", "vqa_chance"} <= set(card["quality"])
    assert {"color_recall", "shape_recall", "position_recall", "object_count_accuracy"} <= set(
        card["quality"]
    )
    assert card["environment"]["torch_threads"] >= 1 and card["training"]["wall_s"] > 0
    text = (path / "MODEL_CARD.md").read_text()
    assert "exact caption accuracy" in text and key in text
    assert (path / "config.json").is_file() and (path / "training_log.jsonl").is_file()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []

    again: list[int] = []
    assert (
        ensure_base("tiny_qwen2_5_vl", run_settings, overrides=budget, hooks=[counting_hook(again)]) == path
    )
    assert again == []  # reused: no training step ran
    assert read_card(path)["built_at"] == card["built_at"]


def test_a_changed_config_builds_a_new_base(run_settings: RunSettings) -> None:
    budget = TINY_BUDGET["tiny_sd3"]
    first = ensure_base("tiny_sd3", run_settings, overrides=budget)
    steps: list[int] = []
    second = ensure_base(
        "tiny_sd3", run_settings, overrides={**budget, "lr": 2.5e-3}, hooks=[counting_hook(steps)]
    )
    assert second != first and first.is_dir() and steps == [1, 2, 3, 4]
    assert (
        ensure_base("tiny_sd3", run_settings, overrides={**budget, "checkpoint_every": 3}) == first
    )  # not hashed
    q = read_card(first)["quality"]
    assert {"geneval", "geneval_clean", "by_guidance", "ceiling", "noise", "chance", "conditioning"} <= set(q)
    assert q["noise"]["geneval_clean"] == 0.0 and q["ceiling"]["geneval_clean"] > 0.5
    assert q["world_level"] == "basic" and 0 <= q["chance"]["geneval_clean"] <= 1
    assert q["conditioning"]["noise_effect"] > 0 and q["conditioning"]["prompt_effect"] >= 0
    assert "shuffled prompts (chance)" in (first / "MODEL_CARD.md").read_text()
    assert (first / "samples.png").is_file() and (first / "model_index.json").is_file()


@pytest.mark.parametrize("name", ["tiny_flow_unet", "tiny_flow_unet_edit"])
def test_the_unet_bases_build_load_and_report(name: str, run_settings: RunSettings) -> None:
    path = ensure_base(name, run_settings, overrides=TINY_BUDGET[name])
    bundle = load_model(str(path))
    assert type(bundle.transformer).__name__ == "UNet2DConditionModel"
    assert bundle.is_editor == name.endswith("_edit")
    q = read_card(path)["quality"]
    if bundle.is_editor:
        assert {"execution_vs_copy", "accuracy_vs_copy"} <= set(q)
        assert q["copy_source"]["execution"] == 0.0
    else:
        assert q["ceiling"]["geneval_clean"] > 0.5 and "conditioning" in q


@pytest.mark.parametrize("name", ["tiny_sd3", "tiny_qwen3_vl"])
def test_a_killed_build_resumes_from_its_checkpoint_and_matches_an_uninterrupted_one(
    name: str, run_settings: RunSettings, tmp_path: Path
) -> None:
    budget = TINY_BUDGET[name]
    with pytest.raises(SimulatedKillError):
        ensure_base(name, run_settings, overrides=budget, hooks=[interrupt_at(3)])
    partial = cache_root(run_settings) / f".{base_dir(name, run_settings, budget).name}.partial"
    assert (partial / "state" / "checkpoint.pt").is_file()  # checkpoint at step 2 survived the kill

    steps: list[int] = []
    resumed = ensure_base(name, run_settings, overrides=budget, hooks=[counting_hook(steps)])
    assert steps == [3, 4]  # continued after the last checkpoint
    card = read_card(resumed)
    assert card["training"]["resumed_from"] == 2 and card["training"]["steps"] == 4
    assert not partial.exists()

    fresh_settings = dataclasses.replace(run_settings, cache_dir=tmp_path / "fresh")
    fresh = ensure_base(name, fresh_settings, overrides=budget)
    a, b = state_of(resumed), state_of(fresh)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_editor_base_card_reports_edit_accuracy_with_baselines(run_settings: RunSettings) -> None:
    path = ensure_base("tiny_editor", run_settings, overrides=TINY_BUDGET["tiny_editor"])
    card = json.loads((path / "card.json").read_text())
    q = card["quality"]
    assert {"edit_accuracy", "ceiling", "copy_source", "by_guidance"} <= set(q)
    assert q["copy_source"]["edit_accuracy"] == 0.0
    assert card["model"]["class"] == "QwenImageTransformer2DModel"
    assert load_model(str(path)).is_editor


def test_a_multi_process_engine_reads_built_bases_but_does_not_build(run_settings: RunSettings) -> None:
    ddp = dataclasses.replace(
        run_settings,
        engine={"name": "ddp", "accelerator": "cpu", "devices": 2, "num_nodes": 1, "strategy": "ddp"},
    )
    budget = TINY_BUDGET["tiny_sd3"]
    refused = r"base .tiny_sd3. is not built.*runs 2 processes; build it once in one process"
    with pytest.raises(RuntimeError, match=refused):
        ensure_base("tiny_sd3", ddp, overrides=budget)
    path = ensure_base("tiny_sd3", run_settings, overrides=budget)
    assert ensure_base("tiny_sd3", ddp, overrides=budget) == path


def test_roles_map_to_their_bases_and_load(run_settings: RunSettings) -> None:
    from common.models.pretrain import base_for_role, load_base

    budget = TINY_BUDGET["tiny_flow_unet"]
    path = base_for_role("generator", run_settings, overrides=budget)
    assert path == base_dir("tiny_flow_unet", run_settings, budget)
    bundle = load_base("tiny_flow_unet", run_settings, overrides=budget)
    assert type(bundle.transformer).__name__ == "UNet2DConditionModel"
    with pytest.raises(KeyError, match="no model to role"):
        base_for_role("critic", run_settings)


def test_fields_added_later_change_the_key_only_when_set() -> None:
    """A field of ``HASHED_UNLESS_DEFAULT`` at its default keeps the bases cached before it existed."""
    from common.models.pretrain.config import HASHED_UNLESS_DEFAULT

    plain = config_hash(load_pretrain_config("tiny_sd3"))
    assert "object_sizes" in HASHED_UNLESS_DEFAULT
    assert config_hash(load_pretrain_config("tiny_sd3", {"object_sizes": None})) == plain
    assert config_hash(load_pretrain_config("tiny_sd3", {"object_sizes": ["medium", "large"]})) != plain
    with pytest.raises(ValueError, match="object_sizes"):
        load_pretrain_config("tiny_sd3", {"object_sizes": ["huge"]})


@pytest.mark.parametrize("name", ["tiny_flow_unet", "tiny_editor", "tiny_sd3", "tiny_autoencoder"])
def test_a_moved_builder_keeps_its_bases_cache_key(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset's ``_target_`` moved to ``common.models.tiny_generators``; its bases are hashed
    as at the former path, so code moves do not orphan cached bases. Another builder changes it."""
    import common.models.pretrain.config as pretrain_config

    cfg = load_pretrain_config(name)
    real = pretrain_config.model_node
    now = config_hash(cfg)
    assert real(cfg)["_target_"].startswith("common.models.tiny_generators.")

    def at(module: str) -> None:
        monkeypatch.setattr(
            pretrain_config,
            "model_node",
            lambda c, s=None: {
                **real(c, s),
                "_target_": f"{module}.{real(c, s)['_target_'].rsplit('.', 1)[1]}",
            },
        )

    at("common.models.tiny")
    assert config_hash(cfg) == now
    at("somewhere.else")
    assert config_hash(cfg) != now
