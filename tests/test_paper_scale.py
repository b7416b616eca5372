"""``scale=paper`` alone selects the papers' models and recipes, with every engine (composition only).

Every experiment of ``conf/exp`` is composed at ``scale=paper`` with each engine, and at
``scale=tiny`` with ``engine=cpu``; nothing runs. The recipe of an experiment at a scale is
``conf/recipe/<scale>/<exp>.yaml`` (picked by ``conf/config.yaml``); the numbers asserted here are
the ones docs/papers/firm.md and docs/papers/t2i_eval_r1.md fix (or, where T2I-Eval-R1 publishes
none, §1, the project's stated choices).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.engine import EngineConfig
from t2ieval_r1.grpo import GRPOConfig

CONF = Path(__file__).resolve().parent.parent / "conf"
EXPS = sorted(p.stem for p in (CONF / "exp").glob("*.yaml"))
ENGINES = ["cpu", "ddp", "zero3", "zero3_offload"]
PAPER_HUB_IDS = {
    "evaluator": "Qwen/Qwen2.5-VL-7B-Instruct",
    "reward_model": "Qwen/Qwen3-VL-8B-Instruct",
    "generator": "stabilityai/stable-diffusion-3.5-medium",
    "editor": "Qwen/Qwen-Image-Edit-2509",
}
GRPO = [e for e in EXPS if e.startswith("t2ieval_r1_grpo")]
T2I_SFT = ["t2ieval_r1_sft_scores", "t2ieval_r1_sft_rationale"]
FIRM_RM = {"firm_edit_rm": 160, "firm_gen_rm": 80}  # global batch, docs/papers/firm.md §3
PRETRAIN = [e for e in EXPS if e.startswith("pretrain_")]
PAPER_GPUS = 8  # FIRM trained on 8 GPUs (docs/papers/firm.md §3)


def _compose(exp: str, scale: str, engine: str) -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"+exp={exp}", f"scale={scale}", f"engine={engine}"])
    out = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert isinstance(out, dict)
    return out


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list) and node:
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, node)]


def _model_ids(task: dict[str, Any]) -> list[str]:
    """The model names an experiment's task gives (model / evaluator / bases), as written."""
    ids = []
    model = task.get("model")
    if isinstance(model, str):
        ids.append(model)
    elif isinstance(model, dict) and model.get("kind") in ("hub", "base", "path"):
        ids.append(model["name"])
    if isinstance(task.get("evaluator"), str):
        ids.append(task["evaluator"])
    ids += list(task.get("bases") or [])
    return ids


def _preset_hub_id(preset: str) -> str:
    return str(OmegaConf.load(CONF / "model" / f"{preset}.yaml").name_or_path)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("exp", EXPS)
def test_paper_scale_composes_with_the_papers_models_and_no_tiny_keys(exp: str, engine: str) -> None:
    cfg = _compose(exp, "paper", engine)
    where = f"{exp} at scale=paper engine={engine}"
    # the roles of the scale: the papers' hub checkpoints, bf16
    assert cfg["scale"]["name"] == "paper" and cfg["scale"]["dtype"] == "bfloat16", where
    for role, hub_id in PAPER_HUB_IDS.items():
        assert _preset_hub_id(cfg["scale"]["models"][role]) == hub_id, f"{where}: role {role}"
    # nothing of the tiny scale is left: no tiny model, no time cap, no float32
    for path, value in _leaves(cfg["task"], "task"):
        assert not (isinstance(value, str) and "tiny" in value), f"{where}: {path}={value!r}"
        if path.endswith("max_time_s"):
            assert value is None, f"{where}: {path}={value} caps a paper-scale run"
        if path.endswith("dtype"):
            assert value in (None, "bfloat16"), f"{where}: {path}={value!r}"
    for name in _model_ids(cfg["task"]):
        assert name in PAPER_HUB_IDS.values(), f"{where}: model {name!r} is not a paper hub id"
    # the engine validates as composed (no ~engine.deepspeed needed); bf16; ZeRO stage 3 under zero3 only
    eng = EngineConfig.from_cfg(cfg["engine"])
    assert eng.precision == "bf16-mixed", where
    if engine.startswith("zero3"):
        assert eng.deepspeed is not None and eng.deepspeed.stage == 3 and eng.is_zero3, where
        assert (eng.deepspeed.offload_param == "cpu") == (engine == "zero3_offload"), where
    else:
        assert eng.deepspeed is None and "deepspeed" not in cfg["engine"], where


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("exp", GRPO)
def test_t2ieval_r1_grpo_paper_recipe(exp: str, engine: str) -> None:
    cfg = _compose(exp, "paper", engine)
    task = cfg["task"]
    assert task["model"]["kind"] == "hub" and task["model"]["name"] == PAPER_HUB_IDS["evaluator"], exp
    assert task["model"]["dtype"] == "bfloat16" and task["model"]["warmup"] is None, exp
    grpo = GRPOConfig.from_dict(task["grpo"])
    # the project's stated choices (docs/papers/t2i_eval_r1.md §1: the paper publishes none)
    assert (grpo.rollout.group_size, grpo.lr, grpo.kl_coef, grpo.kl_estimator) == (8, 1e-6, 0.04, "k3"), exp
    assert (grpo.steps, grpo.max_time_s, grpo.rollout.max_new_tokens) == (500, None, 512), exp
    assert (grpo.batch_size, grpo.micro_batch_size, grpo.accumulation_steps) == (16, 4, 4), exp
    assert grpo.reference == "copy" and grpo.recompute_old_logprobs, exp
    if engine.startswith("zero3"):  # DeepSpeed accumulates exactly the trainer's micro-batches
        ds = cfg["engine"]["deepspeed"]
        assert ds["gradient_accumulation_steps"] == grpo.accumulation_steps, (exp, engine)
        assert ds["train_micro_batch_size_per_gpu"] == grpo.micro_batch_size, (exp, engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("exp", sorted(FIRM_RM))
def test_firm_rm_paper_recipe(exp: str, engine: str) -> None:
    cfg = _compose(exp, "paper", engine)
    task, sft = cfg["task"], cfg["task"]["sft"]
    assert task["model"] == PAPER_HUB_IDS["reward_model"] and task["template"] == "full", exp
    # docs/papers/firm.md §3: lr 1e-5, AdamW (0.9, 0.999, 1e-8), cosine, warm-up 0.1, one epoch
    assert (sft["lr"], sft["betas"], sft["eps"]) == (1e-5, [0.9, 0.999], 1e-8), exp
    schedule = (sft["warmup_ratio"], sft["min_lr_ratio"], sft["epochs"], sft["steps"])
    assert schedule == (0.1, 0.0, 1.0, None), exp
    assert sft["train_vision"] and sft["max_time_s"] is None, exp
    assert sft["batch_size"] * sft["grad_accum"] * PAPER_GPUS == FIRM_RM[exp], exp
    if engine.startswith("zero3"):
        ds = cfg["engine"]["deepspeed"]
        assert ds["train_micro_batch_size_per_gpu"] == sft["batch_size"], (exp, engine)
        assert ds["gradient_accumulation_steps"] == sft["grad_accum"], (exp, engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("exp", T2I_SFT)
def test_t2ieval_r1_sft_paper_recipe(exp: str, engine: str) -> None:
    cfg = _compose(exp, "paper", engine)
    task, sft = cfg["task"], cfg["task"]["sft"]
    assert (task["model"]["kind"], task["model"]["name"]) == ("hub", PAPER_HUB_IDS["evaluator"]), exp
    # no SFT recipe in T2I-Eval-R1 (§1): FIRM's full fine-tuning recipe (docs/papers/firm.md §3)
    assert (sft["lr"], sft["epochs"], sft["warmup_ratio"], sft["max_time_s"]) == (1e-5, 1, 0.1, None), exp
    if engine.startswith("zero3"):
        ds = cfg["engine"]["deepspeed"]
        assert (ds["train_micro_batch_size_per_gpu"], ds["gradient_accumulation_steps"]) == (
            sft["batch_size"],
            sft["grad_accum"],
        ), (exp, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_other_paper_recipes(engine: str) -> None:
    meta = _compose("t2ieval_r1_meta_eval", "paper", engine)["task"]
    assert (meta["evaluator"], meta["max_tokens"]) == (PAPER_HUB_IDS["evaluator"], 512)
    serve = _compose("firm_serve", "paper", engine)["task"]["model"]
    assert serve["kind"] == "preset" and _preset_hub_id(serve["name"]) == PAPER_HUB_IDS["reward_model"]
    for exp in PRETRAIN:  # the papers start from released checkpoints: nothing to pretrain
        assert _compose(exp, "paper", engine)["task"]["bases"] == [], exp


@pytest.mark.parametrize("exp", EXPS)
def test_tiny_scale_uses_the_tiny_presets(exp: str) -> None:
    cfg = _compose(exp, "tiny", "cpu")
    scale = (cfg["scale"]["name"], cfg["scale"]["dtype"], cfg["engine"]["precision"])
    assert scale == ("tiny", "float32", "32-true"), exp
    assert all(m.startswith("tiny_") for m in cfg["scale"]["models"].values()), exp
    assert "trainer_batch" not in cfg, exp
    for name in _model_ids(cfg["task"]):
        assert name.startswith("tiny_") or name == "base", f"{exp} at scale=tiny: model {name!r}"
    if exp in GRPO:
        grpo = cfg["task"]["grpo"]
        assert cfg["task"]["model"]["name"] == "tiny_qwen2_5_vl" and grpo["max_time_s"] is None, exp
        assert (grpo["lr"], grpo["rollout"]["group_size"], grpo["kl_coef"], grpo["steps"]) == (
            2e-4,
            8,
            0.2,
            200,
        ), exp
    if exp in FIRM_RM:
        assert cfg["task"]["model"] == "base" and cfg["task"]["sft"]["lr"] == 5e-4, exp
    if exp in T2I_SFT:
        assert cfg["task"]["model"]["name"] == "tiny_qwen2_5_vl", exp
    if exp == "t2ieval_r1_meta_eval":
        assert (cfg["task"]["evaluator"], cfg["task"]["max_tokens"]) == ("tiny_qwen2_5_vl", 128)
    if exp in PRETRAIN:
        assert cfg["task"]["bases"] and all(b.startswith("tiny_") for b in cfg["task"]["bases"]), exp


def _keys(path: Path) -> set[str]:
    """The leaf keys a YAML file sets (lists as one leaf), without its defaults list."""
    data = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(data, dict)
    return {p.split("[")[0] for p, _ in _leaves({k: v for k, v in data.items() if k != "defaults"})}


def _recipe_files() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem) for p in (CONF / "recipe").glob("*/*.yaml"))


@pytest.mark.parametrize(("scale", "name"), _recipe_files(), ids=lambda v: str(v))
def test_recipes_and_experiments_set_disjoint_keys(scale: str, name: str) -> None:
    """A recipe is merged before its experiment: a key in both would silently keep the experiment's."""
    assert scale in {p.stem for p in (CONF / "scale").glob("*.yaml")}, f"conf/recipe/{scale}: not a scale"
    exp_file = CONF / "exp" / f"{name}.yaml"
    if not exp_file.exists():  # a shared part (e.g. conf/recipe/paper/firm_rm.yaml), included by recipes
        return
    recipe, exp = (_keys(CONF / "recipe" / scale / f"{name}.yaml"), _keys(exp_file))
    both = sorted(a for a in exp for b in recipe if a == b or a.startswith(b + ".") or b.startswith(a + "."))
    assert not both, f"conf/exp/{name}.yaml sets recipe keys of conf/recipe/{scale}/{name}.yaml: {both}"


def test_every_recipe_has_both_scales() -> None:
    tiny = {n for s, n in _recipe_files() if s == "tiny"}
    paper = {n for s, n in _recipe_files() if s == "paper"}
    assert tiny <= paper, f"tiny recipes without a paper recipe: {sorted(tiny - paper)}"
    shared = {"firm_rm"}  # included by firm_edit_rm / firm_gen_rm
    assert paper - tiny <= shared, f"paper recipes without a tiny one: {sorted(paper - tiny - shared)}"


FIRM_RL = {  # docs/papers/firm.md §5: prompts per step, steps, sampling steps (train, eval), policy preset
    "firm_gen_rl": (48, 600, 10, 40, "sd3_5_medium"),
    "firm_edit_rl": (16, 150, 6, 15, "qwen_image_edit"),
}
FIRM_RL_GPUS = 16  # FIRM's RL ran on 16 GPUs per phase (docs/papers/firm.md §5)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("exp", [e for e in EXPS if e.startswith(("firm_gen_rl", "firm_edit_rl"))])
def test_firm_rl_paper_recipe(exp: str, engine: str) -> None:
    cfg = _compose(exp, "paper", engine)
    task, rl, ev = cfg["task"], cfg["task"]["rl"], cfg["task"]["eval"]
    prompts, steps, sample_steps, eval_steps, preset = FIRM_RL[
        "firm_gen_rl" if "_gen_" in exp else "firm_edit_rl"
    ]
    assert (
        task["policy"] == "base"
        and cfg["scale"]["models"]["generator" if "_gen_" in exp else "editor"] == preset
    ), exp
    assert _preset_hub_id(preset) in PAPER_HUB_IDS.values()
    assert OmegaConf.load(CONF / "model" / f"{preset}.yaml").spec_overrides.resolution == 512
    assert cfg["scale"]["dtype"] == "bfloat16"
    # lr 3e-4 is published for SD3.5; the editor uses it too (its own is not published: our choice)
    assert (rl["lr"], rl["group_size"], rl["steps"]) == (3e-4, 16, steps), exp
    assert rl["prompts_per_iteration"] * FIRM_RL_GPUS == prompts, exp
    assert (rl["sample_steps"], ev["sample_steps"]) == (sample_steps, eval_steps), exp
    assert rl["lora"] == {"r": 32, "alpha": 64} and rl["ema_schedule"] == "firm", exp
    assert (rl["adv_clip_max"], rl["nft_beta"], rl["kl_weight"]) == (5.0, 1.0, 1e-4), exp
    assert (rl["guidance_scale"], rl["sampler"], rl["max_time_s"]) == (1.0, "dpm2", None), exp
    assert rl["algorithm"] == ("flow_grpo" if exp.endswith("flowgrpo") else "diffusion_nft"), exp
