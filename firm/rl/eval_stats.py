"""Aggregates and paired gains of FIRM's held-out checker records (:mod:`firm.rl.evaluate`).

**Aggregates** (:func:`summarize`): gen overall = mean over tags of per-tag accuracy, GenEval's
definition (:func:`common.world.geneval.score_geneval`); edit rates are plain means over pairs
(as :func:`common.models.pretrain.flow_eval.edit_summary`), with per-op accuracy beside them.

**Gains** (:func:`paired_gain`): after - before on the same pairs, as the same aggregate, so the
gen gain is the mean over tags of the per-tag gains (= the difference of the two GenEval overall
numbers). Its 95% interval is a percentile bootstrap that resamples *prompts* (both noise seeds of
a prompt stay together: they share the prompt, so they are not independent) within each tag (the
held-out set has a fixed number of prompts per tag), 1000 resamples
(:mod:`common.scoring.bootstrap`). The same over the prompts whose text was never trained on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from common.scoring.bootstrap import percentile_interval, resample_indices
from common.world.vocab import GENEVAL_TAGS

__all__ = ["EDIT_COLUMNS", "paired_gain", "summarize"]

#: The columns of an edit table (record keys, rates).
EDIT_COLUMNS: tuple[str, ...] = ("execution", "consistency", "correct", "lazy")


def _value(rec: Mapping[str, Any], key: str) -> float:
    v = rec.get(key)
    return float("nan") if v is None else float(v)


def _aggregate(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    """Overall (gen: mean over tags; edit: mean over pairs) and per-tag mean of ``key``."""
    by_tag: dict[str, list[float]] = {}
    for r in records:
        v = _value(r, key)
        if math.isfinite(v):
            by_tag.setdefault(str(r["tag"]), []).append(v)
    order = [t for t in GENEVAL_TAGS if t in by_tag] + sorted(t for t in by_tag if t not in GENEVAL_TAGS)
    per_tag = {t: float(np.mean(by_tag[t])) for t in order}
    gen = bool(records) and records[0].get("kind") == "gen"
    if not per_tag:
        overall = float("nan")
    elif gen:
        overall = float(np.mean(list(per_tag.values())))
    else:
        overall = float(np.mean([v for t in order for v in by_tag[t]]))
    return {"overall": overall, "per_tag": per_tag}


def summarize(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The aggregate numbers of one evaluation (module doc): gen ``strict`` (headline, with
    ``per_tag``), ``correct``, ``requirement_share``, ``color_presence``, ``objects_per_image`` and
    ``chance`` (``strict``, ``correct``, ``per_tag``); edit ``execution``, ``consistency``,
    ``correct`` (with ``per_tag``), ``lazy``, ``kept_share``, ``edit_change``."""
    if not records:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(records), "n_prompts": len({r["item"] for r in records})}
    if records[0]["kind"] == "gen":
        strict = _aggregate(records, "strict")
        out |= {"strict": strict["overall"], "per_tag": strict["per_tag"]}
        out["correct"] = _aggregate(records, "correct")["overall"]
        out["per_tag_correct"] = _aggregate(records, "correct")["per_tag"]
        for key in ("requirement_share", "color_presence", "n_objects"):
            vals = [_value(r, key) for r in records]
            vals = [v for v in vals if math.isfinite(v)]
            out["objects_per_image" if key == "n_objects" else key] = (
                float(np.mean(vals)) if vals else float("nan")
            )
        chance = _aggregate(records, "chance_strict")
        out["chance"] = {
            "strict": chance["overall"],
            "per_tag": chance["per_tag"],
            "correct": _aggregate(records, "chance_correct")["overall"],
        }
    else:
        for key in (*EDIT_COLUMNS, "kept_share", "edit_change"):
            out[key] = _aggregate(records, key)["overall"]
        out["per_tag"] = _aggregate(records, "correct")["per_tag"]
    return out


def paired_gain(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    key: str,
    *,
    trained_texts: Iterable[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """``after - before`` of ``key`` on the same (prompt, noise) pairs, with a bootstrap interval.

    Returns ``gain`` (the difference of the two aggregates, gen: mean over tags), ``ci95``,
    ``before``, ``after``, ``n_pairs``, ``n_prompts``, ``per_tag`` (``{tag: {gain, ci95, n}}``) and,
    with ``trained_texts``, ``unseen``: the same over the pairs whose prompt text is not among them
    (``None`` when every prompt was trained on). Pairs where either side has no value (e.g.
    ``color_presence`` of a colourless prompt) are left out. Raises when the pairs differ.
    """
    b = {r["pair"]: r for r in before}
    a = {r["pair"]: r for r in after}
    if set(b) != set(a):
        raise ValueError(f"before and after hold different pairs ({len(set(b) ^ set(a))} not shared)")
    if not b:
        raise ValueError("no pairs to compare")
    out = _gain(b, a, list(b), key, n_resamples, confidence, seed)
    if trained_texts is not None:
        seen = set(trained_texts)
        unseen = [p for p in b if b[p]["prompt"] not in seen]
        out["unseen"] = _gain(b, a, unseen, key, n_resamples, confidence, seed) if unseen else None
        out["n_unseen_prompts"] = len({b[p]["item"] for p in unseen})
    return out


def _gain(
    b: Mapping[str, Mapping[str, Any]],
    a: Mapping[str, Mapping[str, Any]],
    pairs: Sequence[str],
    key: str,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    gen = next(iter(b.values())).get("kind") == "gen"
    # Per tag, per prompt: the sum of the differences over its noise seeds and their count.
    sums: dict[str, dict[str, list[float]]] = {}
    for p in pairs:
        d = _value(a[p], key) - _value(b[p], key)
        if not math.isfinite(d):
            continue
        cell = sums.setdefault(str(b[p]["tag"]), {}).setdefault(str(b[p]["item"]), [0.0, 0.0])
        cell[0] += d
        cell[1] += 1.0
    order = [t for t in GENEVAL_TAGS if t in sums] + sorted(t for t in sums if t not in GENEVAL_TAGS)
    used = [p for p in pairs if math.isfinite(_value(a[p], key) - _value(b[p], key))]
    agg_b = _aggregate([b[p] for p in used], key)["overall"] if used else float("nan")
    agg_a = _aggregate([a[p] for p in used], key)["overall"] if used else float("nan")
    per_tag: dict[str, Any] = {}
    boot_s, boot_c = [], []  # per tag: resampled sums and counts, (B,)
    for ti, tag in enumerate(order):
        cells = np.asarray(list(sums[tag].values()), dtype=np.float64)  # [n_prompts, 2]
        idx = resample_indices(len(cells), n_resamples, seed=seed * 7919 + ti)
        s, c = cells[idx, 0].sum(1), cells[idx, 1].sum(1)
        boot_s.append(s)
        boot_c.append(c)
        ci = percentile_interval(s / c, confidence)
        per_tag[tag] = {
            "gain": float(cells[:, 0].sum() / cells[:, 1].sum()),
            "ci95": ci.as_list(),
            "n": int(cells[:, 1].sum()),
        }
    if not order:
        return {"key": key, "gain": float("nan"), "ci95": [float("nan")] * 2, "n_pairs": 0, "per_tag": {}}
    if gen:
        gain = float(np.mean([v["gain"] for v in per_tag.values()]))
        stat = np.mean([s / c for s, c in zip(boot_s, boot_c, strict=True)], axis=0)
    else:
        total = sum(cells[0] for tag in order for cells in sums[tag].values())
        gain = float(total / len(used))
        stat = np.sum(boot_s, axis=0) / np.sum(boot_c, axis=0)
    ci = percentile_interval(stat, confidence)
    return {
        "key": key,
        "gain": gain,
        "ci95": ci.as_list(),
        "before": agg_b,
        "after": agg_a,
        "n_pairs": len(used),
        "n_prompts": sum(len(sums[t]) for t in order),
        "aggregate": "mean over tags" if gen else "mean over pairs",
        "per_tag": per_tag,
    }
