"""The world checker's requirement-level confusion against the truth, on sampled world scenes.

Sampled prompts of a world level, their scenes rendered (optionally with defects) and read back by
:func:`common.world.checker.check`; the truth is the GenEval rule on the scene actually drawn.

Public API:
    checker_records(n_prompts, seed, *, defects=None, modes=MODES, tags=GENEVAL_TAGS, level=None)
        -> list[dict]
    confusion_by_tag(records) -> dict[tag | "all", dict]
    confusion_markdown(confusion) -> str
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from common.world.checker import check
from common.world.defects import as_defects, prepare_scene
from common.world.levels import get_level
from common.world.prompts import sample_prompts
from common.world.render import render_array
from common.world.sampling import sample_scene, truth_verdict
from common.world.vocab import GENEVAL_TAGS


def checker_records(
    n_prompts: int,
    seed: int,
    *,
    defects: object | Callable[[np.random.Generator], object] = None,
    modes: Sequence[str] = ("match", "partial", "miss"),
    tags: Sequence[str] = GENEVAL_TAGS,
    canvas: int = 128,
    level: str | None = None,
) -> list[dict[str, Any]]:
    """Sample ``n_prompts`` prompts x ``modes`` scenes of world ``level`` (``None``: full), render,
    check (reading only the level's shapes); one record per image.

    ``defects`` is fixed defects or a function of the rng returning them. Ground truth is the
    GenEval rule on the scene actually drawn (``defects.prepare_scene``). A record holds
    ``tag, mode, defects, truth, pred`` (requirement dicts) and the prompt text.
    """
    lv = get_level(level)
    rng = np.random.default_rng(seed)
    prompts = sample_prompts(n_prompts, rng, tags, level=lv)
    records = []
    for p in prompts:
        for mode in modes:
            s = sample_scene(p, rng, mode=mode, canvas=canvas, level=lv)
            d = as_defects(defects(rng) if callable(defects) else defects)
            drawn = prepare_scene(s.scene, d)
            truth = truth_verdict(p, drawn)
            pred = check(p, render_array(s.scene, defects=d), shapes=lv.shapes)
            records.append(
                {
                    "tag": p.tag,
                    "mode": mode,
                    "prompt": p.prompt,
                    "defects": d.to_dict(),
                    "truth": truth.requirements,
                    "pred": pred.requirements,
                    "truth_correct": truth.correct,
                    "pred_correct": pred.correct,
                }
            )
    return records


def confusion_by_tag(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Requirement-level confusion per tag and over all (``"all"``).

    Positive = the requirement holds. ``tp`` holds and judged to hold, ``fn`` holds but judged
    violated, ``fp`` violated but judged to hold, ``tn`` violated and judged violated.
    ``req_accuracy`` = (tp + tn) / requirements; ``image_accuracy`` = share of images whose
    whole GenEval verdict (correct or not) agrees with the truth.
    """
    acc: dict[str, dict[str, float]] = {}

    def bucket(tag: str) -> dict[str, float]:
        return acc.setdefault(
            tag, {"images": 0, "requirements": 0, "tp": 0, "fn": 0, "fp": 0, "tn": 0, "agree": 0}
        )

    for rec in records:
        for b in (bucket(rec["tag"]), bucket("all")):
            b["images"] += 1
            b["agree"] += int(rec["truth_correct"] == rec["pred_correct"])
            for key, t in rec["truth"].items():
                p = rec["pred"][key]
                b["requirements"] += 1
                b["tp" if t and p else "fn" if t else "fp" if p else "tn"] += 1
    order = [t for t in GENEVAL_TAGS if t in acc] + [t for t in acc if t not in GENEVAL_TAGS]
    out = {}
    for t in order:
        b = acc[t]
        out[t] = {
            **{k: int(v) for k, v in b.items() if k != "agree"},
            "req_accuracy": (b["tp"] + b["tn"]) / max(b["requirements"], 1),
            "image_accuracy": b["agree"] / max(b["images"], 1),
        }
    return out


def confusion_markdown(confusion: dict[str, dict[str, float]]) -> str:
    """The confusion as a Markdown table."""
    head = "| tag | images | requirements | TP | FN | FP | TN | req. acc. | image acc. |"
    lines = [head, "|" + "---|" * 9]
    for tag, c in confusion.items():
        lines.append(
            f"| {tag} | {c['images']} | {c['requirements']} | {c['tp']} | {c['fn']} | {c['fp']} | {c['tn']} "
            f"| {100 * c['req_accuracy']:.2f}% | {100 * c['image_accuracy']:.2f}% |"
        )
    return "\n".join(lines)
