"""Each pretraining objective learns: on a fixed batch, a few AdamW steps lower the loss and move
every trained component's parameters; batches are a pure function of (seed, step, rank)."""

from __future__ import annotations

import pytest
import torch

from common.models.pretrain.config import config_hash, load_pretrain_config
from common.models.pretrain.objectives import get_objective
from common.runtime import RunSettings
from common.train import EMA, lr_at
from common.world.levels import get_level
from tests.common.models.pretrain.conftest import TINY_BUDGET

DENSE_HEADS = ("shape_head.", "color_head.")
CASES = [
    "tiny_qwen2_5_vl",
    "tiny_qwen3_vl",
    "tiny_qwen3_vl_vision",
    "tiny_sd3",
    "tiny_sd3_latent",
    "tiny_editor",
    "tiny_autoencoder",
]


def _equal(a: object, b: object) -> bool:
    if torch.is_tensor(a):
        return torch.equal(a, b)  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)  # type: ignore[union-attr]
    return a == b


@pytest.mark.parametrize("name", CASES)
def test_objective_lowers_its_loss_on_a_fixed_batch_and_moves_the_parameters(
    name: str, run_settings: RunSettings
) -> None:
    cfg = load_pretrain_config(name, TINY_BUDGET[name])
    objective = get_objective(cfg.objective)
    objective.settings = run_settings  # the latent generator builds its autoencoder base in this cache
    bundle = objective.build(cfg)
    module = objective.module(cfg, bundle)
    data = objective.prepare(cfg, bundle)
    batch = objective.batch(cfg, bundle, data, step=0)
    assert _equal(batch, objective.batch(cfg, bundle, data, step=0))  # resumable: same step, same batch
    assert not _equal(batch, objective.batch(cfg, bundle, data, step=1))
    other = get_objective(cfg.objective)
    other.bind(rank=1, world_size=2)  # under DDP each rank draws its own examples ...
    assert not _equal(batch, other.batch(cfg, bundle, data, step=0))
    other.bind(rank=0, world_size=2)  # ... and rank 0 those of a single process
    assert _equal(batch, other.batch(cfg, bundle, data, step=0))

    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = module(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.9 * losses[0], losses
    changed = {n for n, p in module.named_parameters() if not torch.equal(p, before[n])}
    components = {n.split(".")[0] for n in before}
    assert components == {n.split(".")[0] for n in changed}  # every component trains (text encoders too)
    assert len(changed) > 0.8 * len(before)


@pytest.mark.parametrize(("name", "difference_share"), [("tiny_qwen2_5_vl", 0.0), ("tiny_qwen3_vl", 0.5)])
def test_vlm_loss_is_on_the_answer_tokens_only(name: str, difference_share: float) -> None:
    cfg = load_pretrain_config(
        name, {**TINY_BUDGET[name], "difference_share": difference_share, "batch_size": 8}
    )
    objective = get_objective("vlm")
    bundle = objective.build(cfg)
    data = objective.prepare(cfg, bundle)
    items = objective.items(cfg, data, step=0)
    batch = objective.batch(cfg, bundle, data, step=0)
    for row, item in zip(batch["labels"], items, strict=True):
        target = bundle.tokenizer.decode(row[row != -100], skip_special_tokens=False)
        assert target == f"{item.qa.answer} <|im_end|>"
    n_images = [len(it.images) for it in items]
    assert len(batch["image_grid_thw"]) == sum(n_images)
    if difference_share:  # "what changed" items show the source and the result
        assert set(n_images) == {1, 2}
        assert all(it.qa.kind == "difference" for it in items if len(it.images) == 2)
        merge = int(bundle.model.config.vision_config.spatial_merge_size)
        n_tokens = int((batch["image_grid_thw"].prod(-1) // merge**2).sum())
        assert len(batch["vision_shape_labels"]) == n_tokens  # dense labels for both images
    else:
        assert set(n_images) == {1}


def test_vlm_items_without_difference_pairs_keep_the_earlier_draws() -> None:
    """``difference_share: 0`` is hashed as before the field existed, so its batches must be the
    same draws: ``batch_size`` scene indices at once, then one question per scene."""
    import numpy as np

    from common.models.pretrain.data import sample_qa

    cfg = load_pretrain_config("tiny_qwen2_5_vl", TINY_BUDGET["tiny_qwen2_5_vl"])
    objective = get_objective("vlm")
    data = objective.prepare(cfg, objective.build(cfg))
    assert data.pairs == []
    rng = np.random.default_rng([cfg.seed, 3, 0x7A1])
    idx = [int(i) for i in rng.integers(0, len(data.scenes), size=cfg.batch_size)]
    shapes = get_level(cfg.world_level).shapes
    expected = [sample_qa(data.scenes[i], rng, cfg.describe_share, shapes) for i in idx]
    items = objective.items(cfg, data, step=3)
    assert [it.qa for it in items] == expected
    assert [it.scenes[0] for it in items] == [data.scenes[i] for i in idx]


def test_generator_caption_share_names_the_whole_scene_and_share_0_keeps_the_draws() -> None:
    """``caption_share`` replaces that share of the (non-dropped) prompts by the scene's full
    caption; at 0 the batches are the draws of the code before the field existed."""
    base = load_pretrain_config("tiny_sd3", TINY_BUDGET["tiny_sd3"])
    objective = get_objective("t2i")
    bundle = objective.build(base)
    data = objective.prepare(base, bundle)
    assert data.captions is not None and len(data.captions) == len(data.prompts)
    assert data.captions[0] != data.prompts[0] and data.captions[0].endswith(" .")
    plain = objective.batch(base, bundle, data, step=2)
    none = load_pretrain_config("tiny_sd3", {**TINY_BUDGET["tiny_sd3"], "caption_share": 0.0})
    assert config_hash(none) == config_hash(base)  # share 0 is the old config
    every = load_pretrain_config("tiny_sd3", {**TINY_BUDGET["tiny_sd3"], "caption_share": 1.0})
    assert config_hash(every) != config_hash(base)
    full = objective.batch(every, bundle, data, step=2)
    assert torch.equal(full["noise"], plain["noise"]) and torch.equal(full["sigma"], plain["sigma"])
    captions = set(data.captions)
    for p_plain, p_full in zip(plain["prompts"], full["prompts"], strict=True):
        assert p_full == "" if p_plain == "" else p_full in captions
    assert any(p in captions for p in full["prompts"])
    assert not any(p in captions for p in plain["prompts"])
    with pytest.raises(ValueError, match="caption_share"):
        load_pretrain_config("tiny_sd3", {"caption_share": 1.5})


def test_learning_rate_schedule_and_ema_warmup() -> None:
    cfg = load_pretrain_config(
        "tiny_sd3", {"steps": 100, "warmup_steps": 10, "lr": 1e-3, "min_lr_ratio": 0.1}
    )
    assert lr_at(cfg, 0) == pytest.approx(1e-4)
    assert lr_at(cfg, 9) == pytest.approx(1e-3)
    assert lr_at(cfg, 99) == pytest.approx(1e-4, rel=1e-2)
    assert all(lr_at(cfg, s) >= lr_at(cfg, s + 1) for s in range(10, 99))
    p = torch.nn.Parameter(torch.zeros(3))
    ema = EMA([p], decay=0.999)
    assert ema.decay_at(0) == pytest.approx(0.1) and ema.decay_at(10_000) == 0.999
    with torch.no_grad():
        p.fill_(1.0)
    ema.update(0)
    assert torch.allclose(ema.shadow[0], torch.full((3,), 0.9))


@pytest.mark.parametrize("name", ["tiny_qwen2_5_vl", "tiny_qwen3_vl"])
def test_dense_vision_loss_trains_its_heads_and_the_vision_tower(name: str) -> None:
    cfg = load_pretrain_config(name, {**TINY_BUDGET[name], "vision_aux_weight": 1.0})
    objective = get_objective("vlm")
    bundle = objective.build(cfg)
    module = objective.module(cfg, bundle)
    batch = objective.batch(cfg, bundle, objective.prepare(cfg, bundle), step=0)
    merge = bundle.model.config.vision_config.spatial_merge_size
    tokens = int(batch["image_grid_thw"].prod(-1).sum()) // merge**2
    assert batch["vision_shape_labels"].shape == batch["vision_color_labels"].shape == (tokens,)

    lm_only = objective.module(
        load_pretrain_config(name, {**TINY_BUDGET[name], "vision_aux_weight": 0.0}), bundle
    )
    with torch.no_grad():
        plain = {k: v for k, v in batch.items() if not k.startswith("vision_")}
        assert float(module(batch)) > float(lm_only(plain))  # the dense term is added
    heads = {n: p.detach().clone() for n, p in module.named_parameters() if n.startswith(DENSE_HEADS)}
    again = dict(objective.module(cfg, bundle).named_parameters())
    assert all(torch.equal(again[n], p) for n, p in heads.items())  # seeded: builds are reproducible
    vision = {n: p.detach().clone() for n, p in module.named_parameters() if ".visual." in f".{n}"}
    module(batch).backward()
    torch.optim.SGD(module.parameters(), lr=1e-2).step()
    params = dict(module.named_parameters())
    assert heads and all(not torch.equal(params[n], p) for n, p in heads.items())
    assert sum(not torch.equal(params[n], p) for n, p in vision.items()) > 0.8 * len(vision)
    assert not any(n.startswith(DENSE_HEADS) for n in bundle.model.state_dict())  # not in the saved base


def test_length_grouped_micro_batches_add_up_to_the_one_batch_loss_and_gradient() -> None:
    """``length_groups: 2`` splits a step of captions and two-image "what changed" items into two
    micro-batches with less padding; the loop adds them with weight 1, so their losses and
    gradients must sum to the one padded batch's (language model and dense vision loss alike)."""
    name = "tiny_qwen3_vl"
    budget = {**TINY_BUDGET[name], "difference_share": 0.5, "batch_size": 8, "vision_aux_weight": 1.0}
    cfg = load_pretrain_config(name, {**budget, "length_groups": 2})
    one_batch = load_pretrain_config(name, {**budget, "length_groups": 1})
    assert config_hash(cfg) == config_hash(one_batch)  # the same weights up to rounding: the same key
    objective = get_objective("vlm")
    bundle = objective.build(cfg)
    module = objective.module(cfg, bundle)
    data = objective.prepare(cfg, bundle)
    step = next(s for s in range(20) if len({len(it.images) for it in objective.items(cfg, data, s)}) == 2)

    def loss_and_grads(micro: list[tuple[dict, float]]) -> tuple[float, dict[str, torch.Tensor]]:
        module.zero_grad()
        total = 0.0
        for batch, weight in micro:
            loss = module(batch) * weight
            loss.backward()
            total += float(loss.detach())
        return total, {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}

    micro = objective.micro_batches(cfg, bundle, data, step)
    one = objective.batch(cfg, bundle, data, step)
    assert len(micro) == 2 and all(w == 1.0 for _, w in micro)
    padded = sum(b["input_ids"].numel() for b, _ in micro)
    assert padded < one["input_ids"].numel()  # fewer positions computed
    assert sum(len(b["input_ids"]) for b, _ in micro) == len(one["input_ids"])
    got, got_grads = loss_and_grads(micro)
    want, want_grads = loss_and_grads([(one, 1.0)])
    assert got == pytest.approx(want, rel=1e-5)
    assert got_grads.keys() == want_grads.keys()
    assert any(n.startswith(DENSE_HEADS) for n in got_grads)
    for n, g in want_grads.items():
        torch.testing.assert_close(got_grads[n], g, rtol=1e-4, atol=1e-6 * float(g.abs().max()) + 1e-9)
    single = objective.micro_batches(one_batch, bundle, data, step)
    assert len(single) == 1 and _equal(single[0][0], one)  # length_groups 1: the one batch
    objective.fixed_accumulation = True  # DeepSpeed accumulates a fixed count: one batch a step
    fixed = objective.micro_batches(cfg, bundle, data, step)
    assert len(fixed) == 1 and _equal(fixed[0][0], one)
