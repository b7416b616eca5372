"""Vision-only warm-up of a VLM's vision tower (``vision``): a base a VLM config starts from.

Why: trained only through captions and answers, the tiny VLMs' randomly initialised towers learn
colour within a hundred steps but shape slowly (caption shape recall 47% after 2000 steps of the
tiny Qwen3-VL on the full world). The real models' towers were pretrained on their own before the
language side saw them; this stage is that step at ``scale=tiny``. A VLM config that names this
base (``vision_init``) copies the trained tower into its fresh model
(:func:`common.models.pretrain.vlm.copy_vision_tower`) before describe / VQA training.

Method: the same VLM preset is built; only its vision tower trains. Each image's merged tokens
(the tower's ``pooler_output``, what the language model reads) are max-pooled into one vector that
two linear heads read. Max rather than mean pooling: an object covers a few of the 49-64 tokens,
and a mean dilutes it with background tokens (measured on single objects of the basic level: max
pooling 94% shape after 200 steps, mean 52%). Single-object scenes of the world level train the
heads as classifiers (cross-entropy over the level's shapes and over the colours); with
``scene_share > 0`` world scenes of the level train them as presence detectors (binary
cross-entropy: which shapes and colours are in the image), so the tower also sees several objects.
With ``dense_weight > 0`` two more linear heads read every merged token on its own and are
trained on dense labels: the shape and colour of the object covering the token's cell, or the
background (:func:`common.models.pretrain.data.dense_cell_labels`, the labels of the VLM stage's
auxiliary loss). Why: the language model reads an object through the tokens where it lies, and
max pooling only asks that *some* token of an image know the shape. Measured on the basic level
(linear probe on frozen merged tokens of held-out world scenes, cells covered by an object): after
the max-pooled warm-up 56% shape (majority 32%, colour 99.7%); 350 further steps with the dense loss
took the same probe's held-out accuracy to 89% (docs/experiments/vlm_bases.md). Background tokens, most
of an image, weigh ``dense_background_weight`` in that loss: at full weight the held-out cell shape
accuracy of a 600-step warm-up was 65%.
The heads are saved beside the model (``vision_heads.pt``) for the evaluation; a VLM copies only
the tower.

Evaluation on held-out single-object scenes of the level: shape and colour accuracy beside the
best-constant-answer ("chance") accuracy; on held-out world scenes: per-label presence accuracy
beside the best constant per label, and with dense heads their accuracy on the cells an object
covers beside the most common label there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from common.models.builders import load_model
from common.models.pretrain.config import PretrainConfig, VisionPretrainConfig
from common.models.pretrain.data import single_object_scenes, world_scenes
from common.models.pretrain.dense import DENSE_KEYS, dense_labels, dense_token_loss
from common.models.pretrain.objectives import PretrainObjective, step_generator
from common.models.pretrain.vlm import IMAGE_SIZE, vision_tower
from common.models.tiny import count_parameters
from common.world.levels import get_level
from common.world.render import render_at
from common.world.scene import Scene
from common.world.vocab import COLORS, SHAPES

HEADS_FILE = "vision_heads.pt"
"""The heads' state dict, saved beside the VLM in a ``vision`` base."""


class VisionHeads(torch.nn.Module):
    """Linear shape (over the level's shapes) and colour heads on a max-pooled image vector; with
    ``dense``, per-token heads over all shapes / colours plus a background class."""

    def __init__(self, width: int, n_shapes: int, n_colors: int = len(COLORS), dense: bool = False) -> None:
        super().__init__()
        self.shape = torch.nn.Linear(width, n_shapes)
        self.color = torch.nn.Linear(width, n_colors)
        self.dense = dense
        if dense:
            self.cell_shape = torch.nn.Linear(width, len(SHAPES) + 1)
            self.cell_color = torch.nn.Linear(width, len(COLORS) + 1)


@dataclass
class VisionBundle:
    """A VLM bundle whose vision tower is trained, and the heads that read it."""

    vlm: Any
    heads: VisionHeads


def make_heads(vlm: Any, level: str, seed: int, dense: bool = False) -> VisionHeads:
    """Freshly initialised heads for ``vlm``'s merged-token width and ``level``'s shapes (seeded)."""
    width = int(vlm.model.config.vision_config.out_hidden_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        heads = VisionHeads(width, len(get_level(level).shapes), dense=dense)
    return heads.to(device=vlm.device, dtype=vlm.model.dtype)


def encode_images(vlm: Any, images: list[Image.Image]) -> dict[str, torch.Tensor]:
    """The image processor's ``pixel_values`` and ``image_grid_thw`` of ``images``."""
    enc = vlm.processor.image_processor(images=images, return_tensors="pt")
    return {"pixel_values": enc["pixel_values"], "image_grid_thw": enc["image_grid_thw"]}


def merged_tokens(vlm: Any, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """``[tokens, width]``: the merged vision tokens of all images, concatenated in image order."""
    tower = vision_tower(vlm.model)
    out = tower(pixel_values.to(device=vlm.device, dtype=vlm.model.dtype), grid_thw=grid_thw.to(vlm.device))
    return out.pooler_output


def max_pool(vlm: Any, tokens: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """``[images, width]``: each image's merged tokens max-pooled (see the module docstring)."""
    return torch.stack([t.max(dim=0).values for t in tokens.split(vlm.merged_token_counts(grid_thw))])


def pooled_features(vlm: Any, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """``[images, width]``: each image's merged vision tokens, max-pooled."""
    return max_pool(vlm, merged_tokens(vlm, pixel_values, grid_thw), grid_thw)


class VisionLoss(torch.nn.Module):
    """``forward(batch) -> loss``: class cross-entropy on single-object images plus
    ``presence_weight`` x presence binary cross-entropy on multi-object images (each the mean of
    its shape and colour terms) plus ``dense_weight`` x the per-token loss
    (:func:`common.models.pretrain.dense.dense_token_loss`) on every image. Holds only the tower
    and the heads: nothing else trains."""

    def __init__(
        self,
        bundle: VisionBundle,
        presence_weight: float,
        dense_weight: float = 0.0,
        dense_background_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.vlm = bundle.vlm
        self.tower = vision_tower(bundle.vlm.model)
        self.heads = bundle.heads
        self.presence_weight = float(presence_weight)
        self.dense_weight = float(dense_weight)
        self.dense_background_weight = float(dense_background_weight)
        if self.dense_weight > 0 and not self.heads.dense:
            raise ValueError("dense_weight > 0 needs heads built with dense=True")

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        tokens = merged_tokens(self.vlm, batch["pixel_values"], batch["image_grid_thw"])
        feats = max_pool(self.vlm, tokens, batch["image_grid_thw"])
        shape_logits, color_logits = self.heads.shape(feats).float(), self.heads.color(feats).float()
        single = batch["single"].to(feats.device)
        loss = feats.new_zeros((), dtype=torch.float32)
        if single.any():
            ce = torch.nn.functional.cross_entropy
            loss = loss + 0.5 * (
                ce(shape_logits[single], batch["shape"].to(feats.device)[single])
                + ce(color_logits[single], batch["color"].to(feats.device)[single])
            )
        if (~single).any() and self.presence_weight > 0:
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            multi = ~single
            loss = loss + self.presence_weight * 0.5 * (
                bce(shape_logits[multi], batch["shape_presence"].to(feats.device)[multi])
                + bce(color_logits[multi], batch["color_presence"].to(feats.device)[multi])
            )
        if self.dense_weight > 0:
            shape_labels, color_labels = (batch[k].to(tokens.device) for k in DENSE_KEYS)
            dense = dense_token_loss(
                self.heads.cell_shape,
                self.heads.cell_color,
                tokens,
                shape_labels,
                color_labels,
                self.dense_background_weight,
            )
            loss = loss + self.dense_weight * dense
        return loss


@dataclass
class VisionPool:
    """Rendered scenes and their labels (``single``: one object, class labels; else presence);
    ``cells``: per image, its dense labels (``[images, tokens]`` under :data:`DENSE_KEYS`) or empty."""

    images: list[Image.Image]
    labels: dict[str, torch.Tensor]
    cells: dict[str, torch.Tensor]


def cell_labels(vlm: Any, scenes: list[Scene]) -> dict[str, torch.Tensor]:
    """``[scenes, tokens]`` dense labels of ``scenes`` at ``vlm``'s merged-token grid (one image size)."""
    grid = encode_images(vlm, [render_at(scenes[0], IMAGE_SIZE)])["image_grid_thw"]
    merge = int(vlm.model.config.vision_config.spatial_merge_size)
    flat = dense_labels(scenes, grid.repeat(len(scenes), 1), merge)
    return {k: v.reshape(len(scenes), -1) for k, v in flat.items()}


def scene_labels(scenes: list[Scene], level: str) -> dict[str, torch.Tensor]:
    """Labels of ``scenes``: ``single`` (exactly one object), its ``shape`` / ``color`` index
    (into the level's shapes / :data:`COLORS`; -1 otherwise), and the presence vectors."""
    shapes, colors = list(get_level(level).shapes), list(COLORS)
    single = torch.tensor([len(s.objects) == 1 for s in scenes])
    shape = torch.tensor([shapes.index(s.objects[0].shape) if len(s.objects) == 1 else -1 for s in scenes])
    color = torch.tensor([colors.index(s.objects[0].color) if len(s.objects) == 1 else -1 for s in scenes])
    shape_presence = torch.tensor([[float(s.count(x) > 0) for x in shapes] for s in scenes])
    color_presence = torch.tensor(
        [[float(any(o.color == c for o in s.objects)) for c in colors] for s in scenes]
    )
    return {
        "single": single,
        "shape": shape,
        "color": color,
        "shape_presence": shape_presence,
        "color_presence": color_presence,
    }


class VisionObjective(PretrainObjective):
    """Vision-only warm-up of a VLM preset's tower (see the module docstring)."""

    name = "vision"

    def build(self, cfg: PretrainConfig, scale: Any = None) -> VisionBundle:
        vlm = super().build(cfg, scale)
        assert isinstance(cfg, VisionPretrainConfig)
        return VisionBundle(vlm, make_heads(vlm, cfg.world_level, cfg.seed, dense=cfg.dense_weight > 0))

    def module(self, cfg: Any, bundle: VisionBundle) -> torch.nn.Module:
        assert isinstance(cfg, VisionPretrainConfig)
        return VisionLoss(bundle, cfg.presence_weight, cfg.dense_weight, cfg.dense_background_weight)

    def prepare(self, cfg: PretrainConfig, bundle: VisionBundle) -> VisionPool:
        assert isinstance(cfg, VisionPretrainConfig)
        n_scenes = round(cfg.pool_size * cfg.scene_share)
        scenes = single_object_scenes(cfg.pool_size - n_scenes, cfg.seed, level=cfg.world_level)
        scenes += [s for _, s in world_scenes(n_scenes, cfg.seed, level=cfg.world_level)]
        cells = cell_labels(bundle.vlm, scenes) if cfg.dense_weight > 0 else {}
        images = bundle.vlm.presize([render_at(s, IMAGE_SIZE) for s in scenes])  # resized once, not per step
        return VisionPool(images, scene_labels(scenes, cfg.world_level), cells)

    def batch(self, cfg: PretrainConfig, bundle: VisionBundle, data: VisionPool, step: int) -> dict[str, Any]:
        g = step_generator(cfg.seed, step, 0x715, self.rank)
        idx = torch.randint(0, len(data.images), (cfg.batch_size,), generator=g)
        out: dict[str, Any] = encode_images(bundle.vlm, [data.images[int(i)] for i in idx])
        out.update({k: v[idx] for k, v in data.labels.items()})
        out.update({k: v[idx].reshape(-1) for k, v in data.cells.items()})
        return out

    def save(self, bundle: VisionBundle, path: Path) -> None:
        bundle.vlm.save_pretrained(path)
        torch.save(bundle.heads.state_dict(), path / HEADS_FILE)

    def load(self, path: Path) -> VisionBundle:

        vlm = load_model(str(path))
        state = torch.load(path / HEADS_FILE, map_location=vlm.device)
        width = int(vlm.model.config.vision_config.out_hidden_size)
        dense = "cell_shape.weight" in state
        heads = VisionHeads(
            width, state["shape.weight"].shape[0], state["color.weight"].shape[0], dense=dense
        )
        heads.load_state_dict(state)
        return VisionBundle(vlm, heads.to(device=vlm.device, dtype=vlm.model.dtype))

    def evaluate(
        self, cfg: PretrainConfig, bundle: VisionBundle, out_dir: Path, progress: bool = False
    ) -> dict[str, Any]:
        assert isinstance(cfg, VisionPretrainConfig)
        return evaluate_vision(
            bundle, n=cfg.eval_size, seed=cfg.eval_seed, level=cfg.world_level, presence=cfg.scene_share > 0
        )

    def describe_model(self, bundle: VisionBundle) -> dict[str, Any]:

        return {
            "class": type(bundle.vlm.model).__name__,
            "arch": bundle.vlm.arch,
            "parameters": count_parameters(bundle.vlm.model),
            "vision_parameters": count_parameters(vision_tower(bundle.vlm.model)),
            "head_parameters": count_parameters(bundle.heads),
        }


@torch.no_grad()
def head_logits(bundle: VisionBundle, images: list[Image.Image], batch_size: int = 64) -> tuple[Any, Any]:
    """Shape and colour logits (numpy ``[images, classes]``) of the heads on ``images``."""
    was_training = bundle.vlm.model.training
    bundle.vlm.model.eval()
    shape, color = [], []
    try:
        for start in range(0, len(images), batch_size):
            enc = encode_images(bundle.vlm, images[start : start + batch_size])
            feats = pooled_features(bundle.vlm, enc["pixel_values"], enc["image_grid_thw"])
            shape.append(bundle.heads.shape(feats).float().cpu())
            color.append(bundle.heads.color(feats).float().cpu())
    finally:
        bundle.vlm.model.train(was_training)
    return torch.cat(shape).numpy(), torch.cat(color).numpy()


@torch.no_grad()
def cell_accuracy(bundle: VisionBundle, scenes: list[Scene], batch_size: int = 64) -> dict[str, float]:
    """The dense heads on the cells an object covers: shape / colour accuracy beside the most
    common label of those cells (chance)."""
    truth = cell_labels(bundle.vlm, scenes)
    was_training = bundle.vlm.model.training
    bundle.vlm.model.eval()
    said: dict[str, list[torch.Tensor]] = {k: [] for k in DENSE_KEYS}
    try:
        for start in range(0, len(scenes), batch_size):
            enc = encode_images(
                bundle.vlm, [render_at(s, IMAGE_SIZE) for s in scenes[start : start + batch_size]]
            )
            tokens = merged_tokens(bundle.vlm, enc["pixel_values"], enc["image_grid_thw"])
            said[DENSE_KEYS[0]].append(bundle.heads.cell_shape(tokens).argmax(-1).cpu())
            said[DENSE_KEYS[1]].append(bundle.heads.cell_color(tokens).argmax(-1).cpu())
    finally:
        bundle.vlm.model.train(was_training)
    on_object = truth[DENSE_KEYS[0]].reshape(-1) < len(SHAPES)
    out: dict[str, float] = {}
    for key, name in zip(DENSE_KEYS, ("shape", "color"), strict=True):
        true = truth[key].reshape(-1)[on_object].numpy()
        pred = torch.cat(said[key]).numpy()[on_object.numpy()]
        out[f"cell_{name}_accuracy"] = float((pred == true).mean())
        out[f"cell_{name}_chance"] = _best_constant(true)
    return out


def _best_constant(labels: np.ndarray) -> float:
    """Accuracy of always answering the most common label."""
    return float(np.bincount(labels).max() / len(labels))


def evaluate_vision(
    bundle: VisionBundle, *, n: int = 192, seed: int = 10_007, level: str = "full", presence: bool = False
) -> dict[str, Any]:
    """Held-out accuracy of the tower + heads against chance (see the module docstring); with
    ``presence`` (heads trained on world scenes too), presence accuracy on ``n`` world scenes."""
    start = time.perf_counter()
    singles = single_object_scenes(n, seed, level=level)
    truth = scene_labels(singles, level)
    shape_logits, color_logits = head_logits(bundle, [render_at(s, IMAGE_SIZE) for s in singles])
    shape_true, color_true = truth["shape"].numpy(), truth["color"].numpy()
    out: dict[str, Any] = {
        "world_level": get_level(level).name,
        "n": n,
        "shape_accuracy": float((shape_logits.argmax(1) == shape_true).mean()),
        "shape_chance": _best_constant(shape_true),
        "color_accuracy": float((color_logits.argmax(1) == color_true).mean()),
        "color_chance": _best_constant(color_true),
    }
    scenes = [s for _, s in world_scenes(n, seed, level=level)] if presence or bundle.heads.dense else []
    if presence:
        labels = scene_labels(scenes, level)
        p_shape, p_color = head_logits(bundle, [render_at(s, IMAGE_SIZE) for s in scenes])
        said = np.concatenate([p_shape > 0, p_color > 0], axis=1)
        there = torch.cat([labels["shape_presence"], labels["color_presence"]], dim=1).numpy() > 0.5
        out["presence_accuracy"] = float((said == there).mean())
        out["presence_chance"] = float(np.maximum(there.mean(0), 1 - there.mean(0)).mean())
    if bundle.heads.dense:
        out.update(cell_accuracy(bundle, scenes))
    out["eval_s"] = round(time.perf_counter() - start, 1)
    return out
