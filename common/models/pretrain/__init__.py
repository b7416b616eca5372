"""Base pretraining of the tiny models on the embedded world, cached checkpoints and model cards.

The papers fine-tune pretrained models; at ``scale=tiny`` the project pretrains its own bases
on the world (issue 4, item 3) and stops early on purpose, so the papers' stages have headroom:

- ``tiny_qwen2_5_vl`` / ``tiny_qwen3_vl``: describe + VQA (:mod:`.vlm`);
- ``tiny_sd3``: text-to-image flow matching on (prompt, image) pairs (:mod:`.flow`);
- ``tiny_editor``: flow matching on (source image, instruction, edited image) triples (:mod:`.flow`;
  both evaluated for their model cards by :mod:`.flow_eval`);
- ``tiny_autoencoder``: an ``AutoencoderKL`` trained to reconstruct world renders (:mod:`.autoencoder`),
  the frozen VAE of ``tiny_sd3_latent`` (the same flow matching on its latents).

Public API:

- :func:`ensure_base` ``(name, settings) -> Path``: build on first use (progress bar), reuse after;
  :func:`load_base` returns the bundle; :func:`base_for_role` maps a scale role to its base.
- :func:`load_pretrain_config` / :func:`config_hash`: ``conf/pretrain/<name>.yaml`` as a
  dataclass and its cache key; :func:`available_bases` lists them.
- :func:`read_card`: a base's ``card.json`` (quality numbers, wall time, threads ...).
- :data:`OBJECTIVES` / :func:`get_objective`: the pretraining objectives by name, registered
  here (the registry imports no implementation); they run on :func:`common.train.fit`.
"""

from common.models.pretrain.autoencoder import AutoencoderObjective
from common.models.pretrain.cache import (
    base_dir,
    base_for_role,
    cache_root,
    card_of,
    ensure_base,
    is_built,
    load_base,
)
from common.models.pretrain.cards import read_card, render_model_card
from common.models.pretrain.config import (
    FlowPretrainConfig,
    PretrainConfig,
    VLMPretrainConfig,
    available_bases,
    config_hash,
    load_pretrain_config,
)
from common.models.pretrain.flow import EditorObjective, T2IObjective
from common.models.pretrain.objectives import OBJECTIVES, PretrainObjective, get_objective
from common.models.pretrain.vision import VisionObjective
from common.models.pretrain.vlm import VLMObjective

for _objective in (VLMObjective, T2IObjective, EditorObjective, AutoencoderObjective, VisionObjective):
    OBJECTIVES.register(_objective.name)(_objective)

__all__ = [
    "OBJECTIVES",
    "FlowPretrainConfig",
    "PretrainConfig",
    "PretrainObjective",
    "VLMPretrainConfig",
    "available_bases",
    "base_dir",
    "base_for_role",
    "cache_root",
    "card_of",
    "config_hash",
    "ensure_base",
    "get_objective",
    "is_built",
    "load_base",
    "load_pretrain_config",
    "read_card",
    "render_model_card",
]
