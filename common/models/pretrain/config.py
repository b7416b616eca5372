"""Pretraining configs: dataclasses behind ``conf/pretrain/<name>.yaml`` and the cache key.

A base is named after its file in ``conf/pretrain`` (``tiny_qwen2_5_vl``, ``tiny_qwen3_vl``,
``tiny_sd3``, ``tiny_editor``, ``tiny_autoencoder``, ...: the same names as the ``conf/model``
presets they train). The YAML names the objective's dataclass (``_config_``) and is checked
against it by :func:`common.config.to_dataclass` (unknown keys and wrong types are errors). The
cache key (:func:`config_hash`) covers everything that changes the weights: the pretraining
config, the model preset it builds (with its overrides and the scale's dtype), the tokenizer's
vocabulary fingerprint, :data:`PRETRAIN_FORMAT` and the keys of the bases a config builds on
(:data:`BASE_REFERENCES`: a latent generator's autoencoder, a VLM's vision warm-up); it leaves
out what does not (checkpoint and log intervals, device, attention kernel).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf

from common.config import to_dataclass
from common.models.builders import model_preset
from common.models.vocabulary import vocabulary_fingerprint
from common.presets import load_preset, preset_names
from common.runtime import Scale
from common.train.config import LoopConfig
from common.world.levels import DEFAULT_LEVEL, LEVELS, get_level
from common.world.sampling import size_names

PRETRAIN_FORMAT = 1
"""Bumped when the training code changes what a config produces (invalidates cached bases)."""

NOT_HASHED: frozenset[str] = frozenset({"checkpoint_every", "log_every", "name", "length_groups"})
"""Config fields that do not change the weights, or change them only by float rounding (the
length-grouped micro-batches compute the one batch's loss, summed in another order)."""

HASHED_UNLESS_DEFAULT: dict[str, Any] = {
    "lr_schedule": "cosine",
    "optimizer": "adamw",
    "betas": [0.9, 0.999],
    "eps": 1e-8,
    "max_time_s": None,
    "vision_aux_weight": 0.0,
    "dense_weight": 0.0,
    "dense_background_weight": 1.0,
    "difference_share": 0.0,
    "difference_pool_size": 8192,
    "difference_captions": False,
    "autoencoder": None,
    "autoencoder_overrides": {},
    "object_sizes": None,
    "caption_share": 0.0,
    "world_level": "full",
    "vision_init": None,
    "vision_init_overrides": {},
}
"""Fields added after bases were cached: hashed only when they differ from the value that
reproduces the older code, so adding a field does not invalidate every cached base."""

MODEL_KEYS_NOT_HASHED: frozenset[str] = frozenset({"device", "attn_implementation", "linear_patch_embed"})
"""Model-preset keys that choose how the same function is computed (like the attention kernel),
not which weights a config trains: cached bases stay valid when they change."""

MOVED_BUILDERS: dict[str, str] = {
    f"common.models.tiny_generators.{name}": f"common.models.tiny.{name}"
    for name in (
        "build_tiny_autoencoder",
        "build_tiny_editor",
        "build_tiny_flow_unet",
        "build_tiny_sd3",
    )
}
"""Model builders moved to another module after bases were cached: the preset's ``_target_`` is
hashed as the builder's former path, so moving code does not invalidate cached bases."""

BASE_REFERENCES: dict[str, str] = {
    "autoencoder": "autoencoder_overrides",
    "vision_init": "vision_init_overrides",
}
"""Config fields that name another base this one builds on, with the field of that base's
overrides: the other base's cache key is part of this one's (its weights are part of these)."""


@dataclass(kw_only=True)
class PretrainConfig(LoopConfig):
    """Fields shared by every objective: the loop's (:class:`common.train.config.LoopConfig`, with
    pretraining's defaults) and these.

    Attributes:
        name: the base's name (the YAML file's stem).
        objective: ``vlm``, ``t2i``, ``editor``, ``autoencoder`` or ``vision``
            (:data:`common.models.pretrain.objectives.OBJECTIVES`).
        model: the ``conf/model`` preset that is built and trained.
        model_overrides: keys of the preset to replace (e.g. smaller sizes in tests).
        steps: optimizer steps (the budget; sized for ~5 min on one thread of an idle core).
        batch_size: examples per step.
        lr: peak learning rate (linear warm-up, cosine decay to ``min_lr_ratio * lr``).
        warmup_steps / min_lr_ratio / weight_decay / grad_clip: the optimizer schedule (also
            ``lr_schedule``, ``optimizer``, ``betas``, ``eps``, ``max_time_s``: see ``LoopConfig``).
        seed: seeds the model init offset, data pool, batches and noise.
        pool_size: scenes rendered once up front and reused across steps (rendering costs more
            than a training step otherwise); questions / noise / dropout are fresh every step.
        eval_size: held-out items for the model card's quality numbers.
        eval_seed: seed of the held-out set (disjoint from training seeds).
        world_level: the world level (:mod:`common.world.levels`: ``basic`` or ``full``) of the
            training pool and the held-out set.
        checkpoint_every: steps between resumable checkpoints (inside the build directory).
        log_every: steps between loss records in the build log.
    """

    name: str
    objective: str
    model: str
    model_overrides: dict[str, Any] = field(default_factory=dict)
    steps: int = 600
    batch_size: int = 32
    warmup_steps: int = 30
    min_lr_ratio: float = 0.1
    pool_size: int = 4096
    eval_size: int = 192
    eval_seed: int = 10_007
    world_level: str = "full"
    log_every: int = 20

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` on values that cannot train (run on construction)."""
        if self.world_level not in LEVELS:
            raise ValueError(
                f"pretrain {self.name}: world_level must be one of {list(LEVELS)}, got {self.world_level!r}"
            )
        for key in ("steps", "batch_size", "pool_size", "eval_size", "checkpoint_every", "log_every"):
            if getattr(self, key) < (0 if key == "steps" else 1):
                raise ValueError(f"pretrain {self.name}: {key} must be positive, got {getattr(self, key)}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"pretrain {self.name}: bad lr {self.lr} / min_lr_ratio {self.min_lr_ratio}")
        for problem in self.loop_problems():
            raise ValueError(f"pretrain {self.name}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class VLMPretrainConfig(PretrainConfig):
    """Describe + VQA pretraining of a VLM.

    Attributes:
        describe_share: share of training items that are captions (the rest: VQA kinds uniform).
        single_object_share: share of the scene pool that holds exactly one object (an easy
            curriculum component: colour, shape and place of one object at a time).
        vision_lr_mult: learning-rate multiplier of the vision tower (randomly initialised
            features have further to go than the language side).
        vision_aux_weight: weight of the dense auxiliary loss on the vision tower (0: off). Two
            linear heads read each merged image token and predict the shape and the colour of the
            object on top in that cell (or background, :func:`common.models.pretrain.data.
            dense_cell_labels`); the loss is ``LM + w * (CE_shape + CE_colour) / 2``. It stands in
            for the separate pretraining the real models' vision encoders had; the heads are not
            part of the saved base. 0 here; the tiny VLM configs (``conf/pretrain``) set 1.0 (at
            2000 steps of the tiny Qwen2.5-VL, caption shape recall 40.8% with it, 35.3% without).
        difference_share: share of training items that are "what changed" questions about two
            images (a source scene and a sloppy edit of it, :func:`common.models.pretrain.data.
            difference_pairs`): the stand-in for the multi-image comparison the real VLMs were
            pretrained on, which FIRM's edit critic builds on. 0 here; ``tiny_qwen3_vl`` (FIRM's
            RM base) sets it.
        difference_pool_size: number of such pairs in the pool (drawn once per build).
        difference_captions: "what changed" answers describe both images before the changes
            (``common.models.pretrain.data.difference_pairs``), so the comparison is made on words.
        vision_init: a ``vision`` base (:class:`VisionPretrainConfig`) whose trained vision tower
            replaces the preset's random one before this training starts (built first if needed;
            it trains on with the rest). ``None``: the preset's random tower.
        vision_init_overrides: pretraining config keys of that base to replace (part of both
            bases' cache keys).
        length_groups: micro-batches each step's items are split into, by length, with their
            gradients accumulated (:func:`common.train.length_groups.length_groups`): the same
            loss on fewer padded positions. 1: one padded batch.
        max_new_tokens: generation limit when evaluating captions.
        eval_batch_size: items per generation batch in evaluation.
    """

    describe_share: float = 0.6
    difference_share: float = 0.0
    difference_pool_size: int = 8192
    difference_captions: bool = False
    single_object_share: float = 0.0
    vision_lr_mult: float = 1.0
    vision_aux_weight: float = 0.0
    vision_init: str | None = None
    vision_init_overrides: dict[str, Any] = field(default_factory=dict)
    length_groups: int = 1
    max_new_tokens: int = 64
    eval_batch_size: int = 64

    def validate(self) -> None:
        super().validate()
        shares = (self.describe_share, self.single_object_share, self.difference_share)
        if not all(0 <= x <= 1 for x in shares):
            raise ValueError(
                f"pretrain {self.name}: describe_share, single_object_share and difference_share "
                "must be in [0, 1]"
            )
        if self.vision_aux_weight < 0:
            raise ValueError(f"pretrain {self.name}: vision_aux_weight must be >= 0")
        if self.length_groups < 1:
            raise ValueError(f"pretrain {self.name}: length_groups must be >= 1 (1: one padded batch)")
        if self.vision_lr_mult <= 0:
            raise ValueError(f"pretrain {self.name}: vision_lr_mult must be positive")
        if self.vision_init_overrides and not self.vision_init:
            raise ValueError(f"pretrain {self.name}: vision_init_overrides without vision_init")
        if self.vision_init:
            other = load_pretrain_config(self.vision_init, self.vision_init_overrides or None)
            if other.objective != "vision" or other.model != self.model:
                raise ValueError(
                    f"pretrain {self.name}: vision_init must name a vision base of model {self.model!r}; "
                    f"{self.vision_init!r} is a {other.objective} base of {other.model!r}"
                )


@dataclass
class VisionPretrainConfig(PretrainConfig):
    """Vision-only warm-up of a VLM preset's vision tower (:mod:`common.models.pretrain.vision`).

    The tower's merged image tokens are max-pooled per image and read by two linear heads: the
    shape (of the world level's shapes) and the colour of a single-object scene (cross-entropy),
    or, for a multi-object scene, which shapes and colours are present (binary cross-entropy).

    Attributes:
        scene_share: share of the pool that holds world scenes of the level (presence labels);
            the rest are single-object scenes (class labels).
        presence_weight: weight of the presence loss against the single-object loss.
        dense_weight: weight of the per-token loss (each merged token classifies the object
            covering its cell, or background) on every image; 0 leaves it out.
        dense_background_weight: weight of the background tokens in that loss (object tokens weigh 1).
    """

    scene_share: float = 0.0
    presence_weight: float = 1.0
    dense_weight: float = 0.0
    dense_background_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.scene_share <= 1:
            raise ValueError(f"pretrain {self.name}: scene_share must be in [0, 1]")
        if self.presence_weight < 0:
            raise ValueError(f"pretrain {self.name}: presence_weight must be >= 0")
        if self.dense_weight < 0:
            raise ValueError(f"pretrain {self.name}: dense_weight must be >= 0")
        if self.dense_background_weight < 0:
            raise ValueError(f"pretrain {self.name}: dense_background_weight must be >= 0")


@dataclass
class FlowPretrainConfig(PretrainConfig):
    """Flow-matching pretraining of a text-to-image generator or an editor.

    Attributes:
        ema_decay: EMA of the weights (the saved base is the EMA); the decay used at step ``t``
            is ``min(ema_decay, (1 + t) / (10 + t))`` so early steps do not anchor it to the init.
        prompt_dropout: share of prompts replaced by the empty prompt (classifier-free guidance).
        logit_mean / logit_std: ``sigma = sigmoid(N(mean, std))`` (SD3's logit-normal sampling).
        sample_steps: Euler steps when evaluating.
        guidance_scales: CFG scales evaluated (1.0 = no guidance).
        eval_batch_size: images per sampling batch in evaluation.
        distractors: (min, max) objects beyond the prompt's in the generator's training scenes
            (``None``: the world level's; (0, 0) shows exactly what the prompt says).
        caption_share: share of the generator's training prompts replaced by the scene's full
            caption (``common.world.captions.describe``: every object's colour, shape and grid
            cell), so that the text names the whole image (0: GenEval-style prompts only).
        object_sizes: the size names (``common.world.vocab.SIZES``) of the objects in the
            generator's training scenes; ``None``: the world level's. GenEval prompts name no
            sizes, so a generator may draw its objects large.
        edit_kinds: the editor's edit kinds (``None``: all of ``common.world.edits.EDIT_KINDS``).
        autoencoder: for a latent-space model preset, the ``conf/pretrain`` base whose trained
            ``AutoencoderKL`` replaces the preset's random one (built first if needed; frozen
            while the transformer trains). ``None``: pixel space, or the preset's VAE as is.
        autoencoder_overrides: pretraining config keys of that base to replace (e.g. fewer
            steps in tests); they are part of both bases' cache keys.
    """

    ema_decay: float = 0.999
    prompt_dropout: float = 0.1
    logit_mean: float = 0.0
    logit_std: float = 1.0
    sample_steps: int = 20
    guidance_scales: list[float] = field(default_factory=lambda: [1.0, 3.0])
    eval_batch_size: int = 64
    distractors: list[int] | None = None
    caption_share: float = 0.0
    object_sizes: list[str] | None = None
    edit_kinds: list[str] | None = None
    autoencoder: str | None = None
    autoencoder_overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.ema_decay < 1 or not 0 <= self.prompt_dropout < 1:
            raise ValueError(f"pretrain {self.name}: ema_decay and prompt_dropout must be in [0, 1)")
        if not 0 <= self.caption_share <= 1:
            raise ValueError(f"pretrain {self.name}: caption_share {self.caption_share} is not in [0, 1]")
        if self.object_sizes is not None:
            try:
                size_names(self.object_sizes)
            except ValueError as err:
                raise ValueError(f"pretrain {self.name}: object_sizes: {err}") from None


@dataclass
class AutoencoderPretrainConfig(PretrainConfig):
    """Reconstruction pretraining of a tiny ``AutoencoderKL`` on world renders.

    Loss ``mean |D(z) - x| + kl_weight * KL(q(z|x) || N(0, I)) / dim(z)`` with ``z`` sampled from
    the posterior (a VAE's ELBO with an L1 likelihood, KL per latent element). After training the
    latents' mean and standard deviation over ``stats_size`` renders become the config's
    ``shift_factor`` / ``scaling_factor`` (SD3's normalisation ``(z - shift) * scale``), so the
    generator's flow matching sees roughly unit-variance latents.

    Attributes:
        kl_weight: weight of the KL term.
        stats_size: renders used for the latent statistics.
        eval_batch_size: images per batch in evaluation.
    """

    kl_weight: float = 1e-3
    stats_size: int = 1024
    eval_batch_size: int = 128

    def validate(self) -> None:
        super().validate()
        if self.kl_weight < 0 or self.stats_size < 2:
            raise ValueError(f"pretrain {self.name}: kl_weight must be >= 0 and stats_size >= 2")


CONFIG_CLASSES: dict[str, type[PretrainConfig]] = {
    "vlm": VLMPretrainConfig,
    "t2i": FlowPretrainConfig,
    "editor": FlowPretrainConfig,
    "autoencoder": AutoencoderPretrainConfig,
    "vision": VisionPretrainConfig,
}


def available_bases() -> list[str]:
    """Names of the pretraining configs in ``conf/pretrain``."""
    return preset_names("pretrain")


def load_pretrain_config(name: str, overrides: dict[str, Any] | None = None) -> PretrainConfig:
    """``conf/pretrain/<name>.yaml`` (+ ``overrides``) as its objective's dataclass, validated."""
    if name not in available_bases():
        raise KeyError(f"no pretraining config {name!r}; known: {', '.join(available_bases())}")
    data = OmegaConf.to_container(load_preset("pretrain", name), resolve=True)
    assert isinstance(data, dict)
    data = {**data, **(dict(overrides) if overrides else {})}
    data["name"] = name
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> PretrainConfig:
    """Build and validate a config from a plain dict (``objective`` picks the dataclass, which the
    file's ``_config_`` names too) with the one converter, :func:`common.config.to_dataclass`."""
    objective = data.get("objective")
    if objective not in CONFIG_CLASSES:
        raise ValueError(
            f"pretrain config: objective must be one of {sorted(CONFIG_CLASSES)}, got {objective!r}"
        )
    return to_dataclass(CONFIG_CLASSES[str(objective)], data, f"pretrain.{data.get('name')}")


def model_node(cfg: PretrainConfig, scale: Scale | None = None) -> dict[str, Any]:
    """The model preset this config trains, with its overrides and the scale's dtype/device, resolved."""
    node = model_preset(cfg.model)
    settings: dict[str, Any] = {}
    if scale is not None:
        for key in ("dtype", "device", "attn_implementation"):
            if key in node and getattr(scale, key) is not None:
                settings[key] = getattr(scale, key)
    merged = OmegaConf.merge(node, settings, cfg.model_overrides or {})
    out = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(out, dict)
    return out


def config_hash(cfg: PretrainConfig, scale: Scale | None = None) -> str:
    """12 hex digits identifying the weights ``cfg`` produces (see the module docstring)."""
    payload = {
        "format": PRETRAIN_FORMAT,
        "config": {
            k: v
            for k, v in cfg.to_dict().items()
            if k not in NOT_HASHED and not (k in HASHED_UNLESS_DEFAULT and v == HASHED_UNLESS_DEFAULT[k])
        },
        "model": {
            k: MOVED_BUILDERS.get(v, v) if k == "_target_" else v
            for k, v in model_node(cfg, scale).items()
            if k not in MODEL_KEYS_NOT_HASHED
        },
        "vocabulary": vocabulary_fingerprint(),
    }

    level = get_level(cfg.world_level)
    if level.name != DEFAULT_LEVEL:  # the level's definition, not only its name, shapes the data
        payload["world_level"] = {k: v for k, v in dataclasses.asdict(level).items() if k != "role"}
    for ref, ref_overrides in BASE_REFERENCES.items():
        other = getattr(cfg, ref, None)
        if other:  # the other base's trained weights are part of the weights this config produces
            payload[ref] = config_hash(load_pretrain_config(other, getattr(cfg, ref_overrides, None)), scale)
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
