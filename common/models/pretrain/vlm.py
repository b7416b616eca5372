"""VLM base pretraining: describe world images and answer simple questions about them.

Objective: teacher-forced cross-entropy on the answer tokens only (the assistant turn's words
and its closing ``<|im_end|>``; the image, the question and the chat scaffolding are context,
label ``-100``), i.e. supervised next-token prediction of LLaVA-style visual instruction tuning.
Items are captions (share ``describe_share``) and VQA questions of four kinds (count, colour,
relation, existence) about one image and, with ``difference_share > 0``, "what changed" items
about two (a source scene and a sloppy edit of it); formats in :mod:`common.models.pretrain.data`.

Evaluation on held-out scenes (greedy decoding): exact caption accuracy (the caption equals the
canonical one), object recall / precision over (colour, shape, position) triples, VQA accuracy
per kind with the best-constant-answer ("chance") accuracy beside it, and for "what changed":
exact-answer accuracy, recall / precision over the change phrases and recall per kind of change.

``length_groups > 1`` splits each step into micro-batches of similar lengths whose losses are
sums over the step's tokens (:meth:`VLMObjective.micro_batches`): the one batch's loss on fewer
padded positions.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from common.models.builders import load_model
from common.models.pretrain.cache import ensure_base
from common.models.pretrain.config import PretrainConfig, VLMPretrainConfig
from common.models.pretrain.data import (
    DIFFERENCE_QUESTION,
    QA,
    VQA_KINDS,
    DifferencePair,
    changes_part,
    difference_changes,
    difference_pairs,
    sample_qa,
    single_object_scenes,
    vlm_eval_items,
    world_scenes,
)
from common.models.pretrain.dense import DENSE_KEYS, dense_labels, dense_token_loss
from common.models.pretrain.objectives import PretrainObjective
from common.models.tiny import count_parameters
from common.models.vlm_sampling import sample_vlm
from common.train.length_groups import length_groups
from common.world.captions import caption_triples, describe, parse_caption
from common.world.edits import change_kind
from common.world.levels import get_level
from common.world.render import render_at
from common.world.scene import Scene
from common.world.vocab import COLORS, SHAPES

IMAGE_SIZE = 128
"""World canvas the VLMs see (the processors turn it into 16 image tokens)."""


def conversation(
    image: Image.Image | Sequence[Image.Image], question: str, answer: str | None = None
) -> list[dict[str, Any]]:
    """A one-turn chat: the image(s) and the question from the user (and the answer, if given)."""
    images = [image] if isinstance(image, Image.Image) else list(image)
    content: list[dict[str, Any]] = [{"type": "image", "image": im} for im in images]
    conv: list[dict[str, Any]] = [{"role": "user", "content": [*content, {"type": "text", "text": question}]}]
    if answer is not None:
        conv.append({"role": "assistant", "content": answer})
    return conv


def answer_labels(bundle: Any, batch: Any, answers: list[str]) -> torch.Tensor:
    """Labels that are ``-100`` except on each row's answer tokens and its final ``<|im_end|>``.

    Rows are left-padded and end with ``answer <|im_end|>``, possibly followed by the template's
    trailing newline (no token for the project's tokenizer, one for Qwen's): the answer is the
    ``len(answer tokens)`` positions before the row's last ``<|im_end|>``, and those positions
    must hold exactly the answer's tokens (else ``ValueError``: the answer tokenises differently
    in context, or the template changed).
    """
    ids = batch["input_ids"]
    labels = torch.full_like(ids, -100)
    eos = bundle.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for row, answer in enumerate(answers):
        target = bundle.tokenizer(answer, add_special_tokens=False).input_ids
        ends = (ids[row] == eos).nonzero()
        if len(ends) == 0:
            raise ValueError("a training row holds no <|im_end|>: the chat template changed")
        end = int(ends[-1]) + 1
        start = end - len(target) - 1
        if start < 0 or ids[row, start : end - 1].tolist() != list(target):
            raise ValueError(
                f"row {row}: the tokens before the last <|im_end|> are not the answer's "
                f"({len(target)} tokens); the answer tokenises differently in context"
            )
        labels[row, start:end] = ids[row, start:end]
    return labels


@dataclass
class VLMPool:
    """Rendered world scenes reused across steps, and the "what changed" pairs with their renders."""

    scenes: list[Scene]
    images: list[Image.Image]
    pairs: list[DifferencePair] = field(default_factory=list)
    pair_images: list[tuple[Image.Image, Image.Image]] = field(default_factory=list)
    image_tokens: int = 0
    """Merged tokens one pool image becomes (all have one size); length groups use it."""


@dataclass(frozen=True)
class VLMItem:
    """One training item: its images (one, or source and result), their scenes, and the QA."""

    images: tuple[Image.Image, ...]
    scenes: tuple[Scene, ...]
    qa: QA


STEP_TOTALS: tuple[str, str] = ("step_label_tokens", "step_image_tokens")
"""Keys a length-grouped micro-batch carries: the step's answer-token count (the language
model's loss becomes a sum over the micro-batch divided by it, ``num_items_in_batch`` in
transformers) and its image-token count (the same for the dense vision loss)."""


def item_length(bundle: Any, item: VLMItem, image_tokens: int) -> int:
    """About the tokens ``item`` takes in a batch: its images' (``image_tokens`` each) plus its
    question's and answer's, without the chat template's few tokens (grouping needs no more)."""
    text = bundle.tokenizer(f"{item.qa.question} {item.qa.answer}", add_special_tokens=False).input_ids
    return len(item.images) * image_tokens + len(text)


class VLMLoss(torch.nn.Module):
    """``forward(batch) -> loss``: the model's cross-entropy on the labelled (answer) tokens, plus,
    with ``aux_weight > 0``, the dense vision loss ``aux_weight * (CE_shape + CE_colour) / 2``.

    The dense loss reads the vision tower's merged tokens (its ``pooler_output``) from the same
    forward pass, through a forward hook, so the images are encoded once.
    """

    def __init__(self, model: torch.nn.Module, aux_weight: float = 0.0, seed: int = 0) -> None:
        super().__init__()

        self.model = model
        self.aux_weight = float(aux_weight)
        if self.aux_weight > 0:
            width = int(model.config.vision_config.out_hidden_size)
            # The heads' initialisation is seeded, so a build (and its resume) is reproducible.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.shape_head = torch.nn.Linear(width, len(SHAPES) + 1)
                self.color_head = torch.nn.Linear(width, len(COLORS) + 1)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        inputs = {
            k: v for k, v in batch.items() if k != "labels" and k not in DENSE_KEYS and k not in STEP_TOTALS
        }
        # In a micro-batch of a length-grouped step, the means are over the whole step's tokens.
        step_labels, step_images = (batch.get(k) for k in STEP_TOTALS)
        if step_labels is not None:
            inputs["num_items_in_batch"] = torch.tensor(float(step_labels))
        if self.aux_weight <= 0:
            return self.model(**inputs, labels=batch["labels"], use_cache=False).loss
        captured: list[torch.Tensor] = []

        def keep(_module: Any, _args: Any, output: Any) -> None:
            captured.append(output.pooler_output)

        handle = self.model.model.visual.register_forward_hook(keep)
        try:
            lm = self.model(**inputs, labels=batch["labels"], use_cache=False).loss
        finally:
            handle.remove()
        if len(captured) != 1:
            raise RuntimeError(f"expected one vision forward per batch, saw {len(captured)}")
        tokens = captured[0]
        shape_labels, color_labels = (batch[k].to(tokens.device) for k in DENSE_KEYS)
        if tokens.shape[0] != shape_labels.shape[0]:
            raise ValueError(
                f"{tokens.shape[0]} merged image tokens but {shape_labels.shape[0]} dense labels"
            )
        dense = dense_token_loss(self.shape_head, self.color_head, tokens, shape_labels, color_labels)
        if step_images is not None:  # an unweighted mean over tokens (background weight 1): rescale
            dense = dense * (tokens.shape[0] / float(step_images))
        return lm + self.aux_weight * dense


class VLMObjective(PretrainObjective):
    """Describe + VQA pretraining of a tiny Qwen2.5-VL / Qwen3-VL (see the module docstring)."""

    name = "vlm"

    def build(self, cfg: PretrainConfig, scale: Any = None) -> Any:
        """The preset's bundle; with ``cfg.vision_init`` its vision tower replaced by the one
        trained by that ``vision`` base (built first if needed)."""
        assert isinstance(cfg, VLMPretrainConfig)
        bundle = super().build(cfg, scale)
        if cfg.vision_init:
            path = ensure_base(cfg.vision_init, self.settings, overrides=cfg.vision_init_overrides or None)
            copy_vision_tower(load_model(str(path)), bundle)
        return bundle

    def module(self, cfg: Any, bundle: Any) -> torch.nn.Module:
        assert isinstance(cfg, VLMPretrainConfig)
        return VLMLoss(bundle.model, cfg.vision_aux_weight, seed=cfg.seed)

    def param_groups(self, cfg: PretrainConfig, module: torch.nn.Module) -> list[dict[str, Any]]:
        assert isinstance(cfg, VLMPretrainConfig)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        vision = [p for n, p in named if ".visual." in f".{n}"]
        rest = [p for n, p in named if ".visual." not in f".{n}"]
        groups = [{"params": rest, "lr_mult": 1.0}]
        if vision:
            groups.append({"params": vision, "lr_mult": cfg.vision_lr_mult})
        return groups

    def prepare(self, cfg: PretrainConfig, bundle: Any) -> VLMPool:
        assert isinstance(cfg, VLMPretrainConfig)
        n_single = round(cfg.pool_size * cfg.single_object_share)
        level = cfg.world_level
        scenes = [s for _, s in world_scenes(cfg.pool_size - n_single, cfg.seed, level=level)]
        scenes += single_object_scenes(n_single, cfg.seed, level=level)
        pairs = (
            difference_pairs(
                cfg.difference_pool_size, cfg.seed, level=level, captions=cfg.difference_captions
            )
            if cfg.difference_share > 0
            else []
        )
        # Rendered at the world's size, then resized once as the processor would at every step.
        images = bundle.presize([render_at(s, IMAGE_SIZE) for s in scenes])
        flat = bundle.presize([render_at(s, IMAGE_SIZE) for p in pairs for s in (p.source, p.result)])
        grid = bundle.processor.image_processor(images=images[:1], return_tensors="pt")["image_grid_thw"]
        return VLMPool(
            scenes=scenes,
            images=images,
            pairs=pairs,
            pair_images=list(zip(flat[0::2], flat[1::2], strict=True)),
            image_tokens=bundle.merged_token_counts(grid)[0],
        )

    def items(self, cfg: PretrainConfig, data: VLMPool, step: int) -> list[VLMItem]:
        """The items of this rank's batch of ``step``: a "what changed" pair with probability
        ``difference_share``, else a pool scene with a caption or VQA question."""
        assert isinstance(cfg, VLMPretrainConfig)
        rng = np.random.default_rng([cfg.seed, step, 0x7A1, *([self.rank] if self.rank else [])])
        shapes = get_level(cfg.world_level).shapes
        if not data.pairs:  # the draws of bases built before "what changed" existed (same cache key)
            idx = [int(i) for i in rng.integers(0, len(data.scenes), size=cfg.batch_size)]
            return [
                VLMItem(
                    (data.images[i],),
                    (data.scenes[i],),
                    sample_qa(data.scenes[i], rng, cfg.describe_share, shapes),
                )
                for i in idx
            ]
        out: list[VLMItem] = []
        for _ in range(cfg.batch_size):
            if rng.random() < cfg.difference_share:
                k = int(rng.integers(len(data.pairs)))
                pair = data.pairs[k]
                out.append(VLMItem(data.pair_images[k], (pair.source, pair.result), pair.qa()))
            else:
                i = int(rng.integers(len(data.scenes)))
                scene = data.scenes[i]
                out.append(
                    VLMItem((data.images[i],), (scene,), sample_qa(scene, rng, cfg.describe_share, shapes))
                )
        return out

    def batch(self, cfg: PretrainConfig, bundle: Any, data: VLMPool, step: int) -> dict[str, Any]:
        """This rank's whole batch of ``step`` as one padded batch."""
        return self.encode(cfg, bundle, self.items(cfg, data, step))

    def micro_batches(
        self, cfg: Any, bundle: Any, data: Any, step: int
    ) -> list[tuple[dict[str, Any], float]]:
        """The step's items in ``cfg.length_groups`` micro-batches of similar lengths
        (:func:`common.train.length_groups.length_groups`), each weight 1: every micro-batch
        carries the step's answer-token and image-token counts (:data:`STEP_TOTALS`), so its
        losses are sums over the step's tokens and the micro-batches add up to the one-batch
        loss (``length_groups: 1``, or an engine with a fixed accumulation count such as
        DeepSpeed: the one batch itself)."""
        assert isinstance(cfg, VLMPretrainConfig)
        items = self.items(cfg, data, step)
        if cfg.length_groups <= 1 or self.fixed_accumulation:
            return [(self.encode(cfg, bundle, items), 1.0)]
        lengths = [item_length(bundle, it, data.image_tokens) for it in items]
        groups = length_groups(lengths, cfg.length_groups)
        batches = [self.encode(cfg, bundle, [items[i] for i in g]) for g in groups]
        n_labels = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)
        n_images = sum(int(b[DENSE_KEYS[0]].numel()) for b in batches) if cfg.vision_aux_weight > 0 else 0
        for b in batches:
            b[STEP_TOTALS[0]] = n_labels
            if n_images:
                b[STEP_TOTALS[1]] = n_images
        return [(b, 1.0) for b in batches]

    def encode(self, cfg: VLMPretrainConfig, bundle: Any, items: Sequence[VLMItem]) -> dict[str, Any]:
        """``items`` as one padded model batch: inputs, answer-only labels and, with the dense
        vision loss, its per-token labels."""
        convs = [conversation(it.images, it.qa.question, it.qa.answer) for it in items]
        enc = bundle.encode_chat(convs, add_generation_prompt=False)
        out = dict(enc)
        out["labels"] = answer_labels(bundle, enc, [it.qa.answer for it in items])
        if cfg.vision_aux_weight > 0:
            merge = int(bundle.model.config.vision_config.spatial_merge_size)
            scenes = [scene for it in items for scene in it.scenes]
            out.update(dense_labels(scenes, enc["image_grid_thw"], merge))
        return out

    def evaluate(
        self, cfg: PretrainConfig, bundle: Any, out_dir: Path, progress: bool = False
    ) -> dict[str, Any]:
        assert isinstance(cfg, VLMPretrainConfig)
        return evaluate_vlm(
            bundle,
            n=cfg.eval_size,
            seed=cfg.eval_seed,
            batch_size=cfg.eval_batch_size,
            max_new_tokens=cfg.max_new_tokens,
            difference=cfg.difference_share > 0,
            difference_captions=cfg.difference_captions,
            level=cfg.world_level,
            progress=progress,
        )

    def describe_model(self, bundle: Any) -> dict[str, Any]:

        model = bundle.model
        vision = getattr(getattr(model, "model", model), "visual", None)
        return {
            "class": type(model).__name__,
            "arch": bundle.arch,
            "parameters": count_parameters(model),
            "vision_parameters": count_parameters(vision) if vision is not None else None,
            "vocab_size": len(bundle.tokenizer),
        }


def vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    """The vision tower (``model.model.visual``) of a Qwen2.5-VL / Qwen3-VL for conditional generation."""
    return model.model.visual


@torch.no_grad()
def copy_vision_tower(source: Any, target: Any) -> None:
    """Copy the vision tower of VLM bundle ``source`` into ``target`` (the rest of ``target`` stays).

    The two must be the same architecture with the same vision config and image processor
    (pixel budget, patch and merge sizes): the tower's weights mean nothing for other inputs.
    """
    # A saved config records its dtype, a fresh one may not; the values are cast anyway.
    ignored = {"dtype", "torch_dtype"}
    for name, a, b in (
        (
            "vision config",
            source.model.config.vision_config.to_dict(),
            target.model.config.vision_config.to_dict(),
        ),
        (
            "image processor",
            source.processor.image_processor.to_dict(),
            target.processor.image_processor.to_dict(),
        ),
    ):
        diff = sorted(k for k in (set(a) | set(b)) - ignored if a.get(k) != b.get(k))
        if diff:
            raise ValueError(f"cannot copy the vision tower: the {name}s differ in {diff}")
    dst = vision_tower(target.model)
    want = dst.state_dict()
    got = vision_tower(source.model).state_dict()
    if set(got) != set(want):
        raise ValueError(f"cannot copy the vision tower: parameters differ in {sorted(set(got) ^ set(want))}")
    state = {k: v.to(device=want[k].device, dtype=want[k].dtype) for k, v in got.items()}
    dst.load_state_dict(state, strict=True)


@torch.no_grad()
def answer_questions(
    bundle: Any,
    images: Sequence[Image.Image | Sequence[Image.Image]],
    questions: list[str],
    *,
    max_new_tokens: int,
    batch_size: int = 64,
) -> list[str]:
    """Greedy answers of the VLM to one question per image (or per tuple of images; canonical text)."""
    was_training = bundle.model.training
    bundle.model.eval()
    out: list[str] = []
    try:
        for start in range(0, len(images), batch_size):
            convs = [
                conversation(im, q)
                for im, q in zip(
                    images[start : start + batch_size], questions[start : start + batch_size], strict=True
                )
            ]
            batch = bundle.encode_chat(convs, add_generation_prompt=True)
            rollout = sample_vlm(bundle, batch, temperature=0.0, max_new_tokens=max_new_tokens)
            out += [t.strip() for t in rollout.texts]
    finally:
        bundle.model.train(was_training)
    return out


def caption_scores(predictions: list[str], scenes: list[Scene]) -> dict[str, float]:
    """Exact caption accuracy; object recall / precision over (colour, shape, position) triples
    (multisets); recall of each attribute alone and of (colour, shape); share of captions that
    list the right number of objects."""
    exact, count_ok, hit, n_true, n_pred = 0, 0, 0, 0, 0
    part_hits = {"color": 0, "shape": 0, "position": 0, "color_shape": 0}
    parts = {"color": (0,), "shape": (1,), "position": (2,), "color_shape": (0, 1)}
    for pred, scene in zip(predictions, scenes, strict=True):
        exact += int(pred == describe(scene))
        true_list, got_list = caption_triples(scene), parse_caption(pred)
        count_ok += int(len(true_list) == len(got_list))
        truth, got = Counter(true_list), Counter(got_list)
        hit += sum((truth & got).values())
        n_true += sum(truth.values())
        n_pred += sum(got.values())
        for name, idx in parts.items():
            t = Counter(tuple(x[i] for i in idx) for x in true_list)
            g = Counter(tuple(x[i] for i in idx) for x in got_list)
            part_hits[name] += sum((t & g).values())
    n = max(len(scenes), 1)
    return {
        "caption_exact": exact / n,
        "object_recall": hit / max(n_true, 1),
        "object_precision": hit / max(n_pred, 1),
        "object_count_accuracy": count_ok / n,
        **{f"{name}_recall": v / max(n_true, 1) for name, v in part_hits.items()},
    }


def vqa_scores(predictions: list[str], items: list[QA]) -> dict[str, Any]:
    """Accuracy per VQA kind and overall (mean over kinds), with the best-constant-answer accuracy."""
    per_kind: dict[str, list[bool]] = {}
    answers: dict[str, list[str]] = {}
    for pred, item in zip(predictions, items, strict=True):
        per_kind.setdefault(item.kind, []).append(pred == item.answer)
        answers.setdefault(item.kind, []).append(item.answer)
    kinds = [k for k in VQA_KINDS if k in per_kind]
    acc = {k: float(np.mean(per_kind[k])) for k in kinds}
    chance = {k: Counter(answers[k]).most_common(1)[0][1] / len(answers[k]) for k in kinds}
    return {
        "vqa_accuracy": float(np.mean(list(acc.values()))) if acc else float("nan"),
        "vqa_per_kind": acc,
        "vqa_chance": float(np.mean(list(chance.values()))) if chance else float("nan"),
        "vqa_chance_per_kind": chance,
        "vqa_n_per_kind": {k: len(per_kind[k]) for k in kinds},
    }


def difference_scores(predictions: list[str], pairs: list[DifferencePair]) -> dict[str, Any]:
    """ "What changed" quality: exact-answer accuracy, recall / precision of the change phrases
    (multisets), recall per kind of change (:func:`common.world.edits.change_kind` of the true
    phrases), and accuracy of "no clear change" vs some change, with the best-constant-answer
    accuracy of the exact answer ("chance")."""
    exact, hit, n_true, n_pred, any_ok = 0, 0, 0, 0, 0
    kind_hit: Counter[str] = Counter()
    kind_true: Counter[str] = Counter()
    for pred, pair in zip(predictions, pairs, strict=True):
        exact += int(changes_part(pred) == changes_part(pair.answer))
        truth, got = Counter(difference_changes(pair.answer)), Counter(difference_changes(pred))
        hit += sum((truth & got).values())
        n_true += sum(truth.values())
        n_pred += sum(got.values())
        any_ok += int(bool(truth) == bool(got))
        for phrase, k in truth.items():
            kind = change_kind(phrase) or "other"
            kind_true[kind] += k
            kind_hit[kind] += min(k, got[phrase])
    n = max(len(pairs), 1)
    return {
        "difference_recall_by_kind": {
            kind: {"recalled": kind_hit[kind], "true": kind_true[kind]} for kind in sorted(kind_true)
        },
        "difference_exact": exact / n,
        "difference_chance": (
            Counter(changes_part(p.answer) for p in pairs).most_common(1)[0][1] / n if pairs else 0.0
        ),
        "difference_recall": hit / max(n_true, 1),
        "difference_precision": hit / max(n_pred, 1),
        "difference_any_accuracy": any_ok / n,
        "n_difference": len(pairs),
    }


def evaluate_vlm(
    bundle: Any,
    *,
    n: int = 192,
    seed: int = 10_007,
    batch_size: int = 64,
    max_new_tokens: int = 64,
    difference: bool = False,
    difference_captions: bool = False,
    level: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Caption and VQA quality of a VLM on ``n`` held-out world scenes of ``level`` (greedy
    decoding; ``None``: the full world); with ``difference``, "what changed" quality on ``n``
    held-out pairs too (up to 128 new tokens)."""
    start = time.perf_counter()
    lv = get_level(level)
    scenes = [s for _, s in world_scenes(n, seed, level=lv)]
    images = [render_at(s, IMAGE_SIZE) for s in scenes]
    items = vlm_eval_items(scenes, seed, lv.shapes)
    describe_items = [q for _, q in items if q.kind == "describe"]
    vqa = [q for _, q in items if q.kind != "describe"]
    vqa_images = [images[i] for i, q in items if q.kind != "describe"]
    captions = answer_questions(
        bundle,
        images,
        [q.question for q in describe_items],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    answers = answer_questions(
        bundle, vqa_images, [q.question for q in vqa], max_new_tokens=4, batch_size=batch_size
    )
    out: dict[str, Any] = {**caption_scores(captions, scenes), **vqa_scores(answers, vqa)}
    if difference:
        pairs = difference_pairs(n, seed, level=lv, captions=difference_captions)
        said = answer_questions(
            bundle,
            [(render_at(p.source, IMAGE_SIZE), render_at(p.result, IMAGE_SIZE)) for p in pairs],
            [DIFFERENCE_QUESTION] * len(pairs),
            max_new_tokens=224 if difference_captions else 128,
            batch_size=batch_size,
        )
        out.update(difference_scores(said, pairs))
        out["difference_examples"] = [
            {"truth": p.answer, "prediction": s} for p, s in list(zip(pairs, said, strict=True))[:4]
        ]
    out["world_level"] = lv.name
    out["n_captions"] = len(scenes)
    out["n_vqa"] = len(vqa)
    out["examples"] = [
        {"truth": q.answer, "prediction": p} for q, p in list(zip(describe_items, captions, strict=True))[:4]
    ]
    out["eval_s"] = round(time.perf_counter() - start, 1)
    return out
