"""Supervised stages of the evaluator: the label-free format warm-up and the SFT baselines.

:func:`evaluator_examples` turns a single-wise corpus into :class:`common.sft.SFTExample` s
(the evaluation prompt of :mod:`t2ieval_r1.prompts` and a target of
:mod:`t2ieval_r1.sft_targets`); :func:`train_evaluator_sft` trains on them with the project's one
SFT trainer (:class:`common.sft.SFTTrainer`).

The format warm-up is cached like the pretrained bases (:func:`ensure_warmup`): under
``${paths.cache_dir}/t2ieval_r1_warmup/<base>-<hash>``, the hash covering the starting model, the
corpus (at the run's world level), the warm-up settings and the tokenizer's vocabulary, built on
first use under a file lock
in a ``.partial`` directory that is renamed into place when done (a killed build resumes from the
SFT trainer's checkpoint). A GRPO run names it with ``task.model.warmup``
(:class:`t2ieval_r1.grpo.model.PolicySpec`), so "the starting checkpoint" of GRPO is the base
after the warm-up, and its score is reported beside the trained evaluator's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.config import to_dataclass
from common.engine import EngineConfig, export_pretrained
from common.models.builders import load_vlm
from common.models.vocabulary import vocabulary_fingerprint
from common.runtime import RunSettings
from common.sft import SFTConfig, SFTExample, SFTTrainer
from common.train import file_lock
from t2ieval_r1.data import corpus_at_level, load_corpus
from t2ieval_r1.grpo.items import load_items
from t2ieval_r1.sft_targets import SFT_KINDS, check_think, own_captions, sft_targets

__all__ = [
    "WARMUP_DIR",
    "WarmupSpec",
    "ensure_warmup",
    "evaluator_examples",
    "train_evaluator_sft",
    "warmup_dir",
]

WARMUP_DIR = "t2ieval_r1_warmup"
WARMUP_CARD = "warmup.json"
KEY_UNLESS_DEFAULT: dict[str, Any] = {"lr_schedule": "cosine", "optimizer": "adamw", "warmup_steps": 0}
"""SFT config fields in a warm-up's cache key only when they differ from these defaults."""


def evaluator_examples(
    ds: Any,
    kind: str,
    *,
    bundle: Any = None,
    template: str = "default",
    seed: int = 0,
    caption_batch_size: int = 64,
    think: str = "caption",
) -> tuple[list[SFTExample], dict[str, Any]]:
    """SFT examples of ``kind`` (``format`` / ``scores`` / ``rationale``) for a corpus.

    Single-wise corpora support every kind; pairwise ones the ``format`` warm-up (both images'
    captions, two random scores ``s_a , s_b``).

    ``bundle`` writes the captions of ``format`` and ``scores`` (its own greedy descriptions of
    the images, before any training); ``think``: what their ``<think>`` holds
    (:func:`t2ieval_r1.sft_targets.think_text`). Returns the examples and a summary (counts, caption time,
    a few targets).
    """
    if kind not in SFT_KINDS:
        raise ValueError(f"unknown SFT kind {kind!r}; choose one of {', '.join(SFT_KINDS)}")
    pairwise = "score" not in ds.column_names
    if pairwise and kind != "format":
        raise ValueError(
            f"SFT kind {kind!r} needs a single-wise corpus (a 'score' column); pairwise corpora "
            "support only the 'format' warm-up"
        )
    items = load_items(ds, range(len(ds)))
    start = time.perf_counter()
    captions = None
    if kind != "rationale":
        if bundle is None:
            raise ValueError(f"SFT kind {kind!r} needs the model (its own captions are the rationale)")
        images = [im for it in items for im in it.images]
        flat = own_captions(bundle, images, batch_size=caption_batch_size)
        if pairwise:  # "image 1 : <caption> image 2 : <caption>", in the order the prompt shows them
            captions = [f"image 1 : {flat[2 * i]} image 2 : {flat[2 * i + 1]}" for i in range(len(items))]
        else:
            captions = flat
    caption_s = time.perf_counter() - start
    metas = ds["meta"] if kind == "rationale" else None
    targets = sft_targets(
        kind,
        labels=[0.0 if pairwise else float(it.label) for it in items],
        scales=[it.scale for it in items],
        captions=captions,
        metas=metas,
        seed=seed,
        n_scores=2 if pairwise else 1,
        think=think,
        prompts=[it.prompt for it in items],
    )
    examples = [SFTExample(it.messages(template), t) for it, t in zip(items, targets, strict=True)]
    summary = {
        "kind": kind,
        "pairwise": pairwise,
        "n_examples": len(examples),
        "caption_s": round(caption_s, 1),
        "examples": targets[:3],
    }
    return examples, summary


def train_evaluator_sft(
    bundle: Any,
    ds: Any,
    kind: str,
    sft: SFTConfig,
    work_dir: Path,
    *,
    template: str = "default",
    think: str = "caption",
    engine_cfg: Any = None,
    progress: bool = True,
    log_fn: Callable[[dict[str, Any], int], None] | None = None,
) -> dict[str, Any]:
    """Build the examples of ``kind`` and fine-tune ``bundle`` on them in place (resumable);
    ``log_fn(metrics, step)`` gets each loss record of the loop (e.g. ``RunContext.log``)."""
    examples, summary = evaluator_examples(
        ds, kind, bundle=bundle, template=template, seed=sft.seed, think=think
    )
    trainer = SFTTrainer(bundle, examples, sft, work_dir, engine_cfg=engine_cfg, progress=progress)
    result = trainer.fit()
    for rec in result.pop("history", None) or []:
        if log_fn is not None:
            log_fn({k: v for k, v in rec.items() if k != "step"}, rec["step"])
    return {"data": summary, "train": result}


@dataclass
class WarmupSpec:
    """``task.model.warmup`` of the GRPO experiments: the format warm-up before GRPO.

    Attributes:
        kind: the SFT targets (``format``: own caption + random score, no labels; the
            baselines' kinds are accepted too, for ablations).
        corpus: the corpus whose prompts and images are used (labels are ignored by ``format``).
        limit: at most this many rows of it.
        template: the prompt wording (the GRPO run's ``rollout.template``).
        think: what the targets' ``<think>`` holds: ``caption`` (the model's own caption) or
            ``compare`` (the prompt, then the caption; :func:`t2ieval_r1.sft_targets.think_text`).
        sft: :class:`common.sft.SFTConfig` fields.
    """

    kind: str = "format"
    corpus: dict[str, Any] = field(
        default_factory=lambda: {
            "source": "world",
            "name": "t2i_eval",
            "split": "train",
            "aspects": ["overall"],
        }
    )
    limit: int | None = None
    template: str = "default"
    think: str = "caption"
    sft: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        SFTConfig.from_dict(self.sft, "model.warmup.sft")  # its keys and values are checked here
        check_think(self.think, "model.warmup.think")

    @classmethod
    def from_dict(cls, data: Any) -> WarmupSpec:
        """From ``task.model.warmup`` (a mapping or an OmegaConf node; :func:`common.config.to_dataclass`)."""
        return to_dataclass(cls, data, "model.warmup")

    def key(self, start: str) -> str:
        """A short hash of the warm-up and the starting model's identity ``start``."""
        sft = SFTConfig.from_dict(self.sft).to_dict()
        for k in ("checkpoint_every", "log_every", "name"):
            sft.pop(k, None)
        # The key as before the shared LoopConfig, so warm-ups cached then stay valid: its new
        # fields are left out at their defaults, and betas / eps keep the names they had then.
        for k, default in KEY_UNLESS_DEFAULT.items():
            if sft.get(k) == default:
                sft.pop(k)
        sft["adam_betas"], sft["adam_eps"] = sft.pop("betas"), sft.pop("eps")
        payload = {**asdict(self), "sft": sft, "start": start, "vocab": vocabulary_fingerprint()}
        if payload["think"] == "caption":  # the default, left out: warm-ups cached before it stay valid
            del payload["think"]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def warmup_dir(settings: RunSettings | None, name: str, key: str) -> Path:
    """``<settings.cache_dir>/t2ieval_r1_warmup/<name>-<key>`` (the cache the bases use)."""
    return RunSettings.of(settings).cache_dir / WARMUP_DIR / f"{name}-{key}"


def ensure_warmup(
    start_path: str | Path,
    spec: WarmupSpec,
    settings: RunSettings | None = None,
    *,
    progress: bool = True,
    level: str | None = None,
) -> Path:
    """The warmed-up evaluator of ``start_path`` (a saved VLM directory), built if not cached;
    a world corpus is drawn at world ``level`` (part of the cache key unless ``full``)."""
    from dataclasses import replace

    spec = replace(spec, corpus=corpus_at_level(spec.corpus, level))
    start_path = Path(start_path)
    final = warmup_dir(settings, start_path.name, spec.key(start_path.name))
    if (final / WARMUP_CARD).is_file():
        return final
    if settings is not None and settings.engine is not None:
        EngineConfig.from_cfg(settings.engine).require_one_process(
            f"the {spec.kind} warm-up of {start_path.name} ({final})",
            "run the same experiment once with engine=cpu",
        )
    with file_lock(final.with_name(f".{final.name}.lock")):
        if (final / WARMUP_CARD).is_file():
            return final
        t0 = time.perf_counter()
        work = final.with_name(f".{final.name}.partial")
        corpus = dict(spec.corpus)
        if spec.limit is not None:
            corpus["limit"] = spec.limit
        ds = load_corpus(corpus, settings)
        bundle = load_vlm(str(start_path))
        sft = SFTConfig.from_dict({"name": f"warm-up {spec.kind}", **spec.sft})
        engine_cfg = settings.engine if settings is not None else None
        result = train_evaluator_sft(
            bundle,
            ds,
            spec.kind,
            sft,
            work / "state",
            template=spec.template,
            think=spec.think,
            engine_cfg=engine_cfg,
            progress=progress,
        )
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        export_pretrained(bundle, out)
        card = {
            "start": str(start_path),
            "spec": asdict(spec),
            **result,
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        (out / WARMUP_CARD).write_text(json.dumps(card, indent=2, default=str))
        os.rename(out, final)
        shutil.rmtree(work, ignore_errors=True)
    return final
