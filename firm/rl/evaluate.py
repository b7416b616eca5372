"""Held-out evaluation of FIRM's online RL with the world checker (never the reward model).

The held-out set (:class:`HeldOut`) is ``n_prompts`` items drawn from :data:`HELD_OUT_SEED` (no
training batch draws it: :func:`firm.rl.items.training_items` draws sub-seeds
``s * 1_000_003 + i * 1_009 + 1``, none of which is 90_001 for a non-negative seed ``s``) crossed
with ``noise_seeds``: 240 prompts x 2 seeds = 480 (prompt, noise) pairs, the acceptance minimum.
The caller's deterministic sampler ``sample_fn(items, seed) -> images`` makes one image per item
for one noise seed; every image is read by the world checker (after x4 Lanczos upsampling,
:func:`common.world.checker.upsample_for_checker`) into one JSON-able record per pair:

* gen: ``strict`` (the headline: the clean GenEval-world verdict,
  :func:`common.world.checker.clean_correct`, which also fails images holding spurious objects),
  ``correct`` (plain GenEval), ``requirement_share`` (share of the prompt's single requirements
  met), ``color_presence`` (every named colour detected, ``None`` when the prompt names none),
  ``n_objects``; and ``chance_strict`` / ``chance_correct``: the same image scored against the
  prompt it gets when the held-out prompts are shuffled within their tag
  (:func:`common.models.pretrain.flow_eval.shuffled_within_tag`), what an image scores for a prompt of
  its kind that it was not made for.
* edit: :func:`common.models.pretrain.data.edit_verdict` (``execution``, ``consistency``,
  ``correct``, ``kept_share``) and ``lazy`` (see below), with ``edit_change`` and ``pixel_change``.

**Lazy edits.** The cheat the CME product reward closes is returning the source unchanged. A
whole-image pixel threshold cannot tell it from a correct edit at 32 pixels: the ground-truth edits
of the held-out set (240 edits, basic level) change the image by a mean absolute difference (pixels
in [0, 1]) of 0.002 to 0.10, median 0.017 (5% below 0.005), so a threshold of 0.02 calls over half
of the perfect edits lazy, while a model's near-copy of its input is off by its reconstruction noise
(Gaussian pixel noise of std 0.05 alone gives 0.04). The reading is therefore made on the pixels the
ground-truth edit changes (``M``: max-channel ``|target - source| > 0.1``, 4-12% of the image on
average by op): ``edit_change = mean_M |image - source| / mean_M |target - source|`` (0 for the
source, 1 for the target), and ``lazy`` means ``edit_change < LAZY_CHANGE`` (0.25) and
``pixel_change`` (whole-image mean absolute difference to the source) ``< LAZY_PIXEL`` (0.05).
Measured on the held-out set (240 edits x 2 seeds): the target renders give ``edit_change`` 1.0 and
lazy rate 0; the copied source 0.0 and lazy rate 1 (execution 0, consistency 0.83); the source plus
N(0, 0.05) pixel noise ``edit_change`` 0.14-0.19 by op and lazy rate 0.92; a blank grey canvas
(pixel change 0.07) lazy rate 0.04 (adds only: it adds nothing).

**Aggregates** (:func:`summarize`): gen overall = mean over tags of per-tag accuracy, GenEval's
definition (:func:`common.world.geneval.score_geneval`); edit rates are plain means over pairs
(as :func:`common.models.pretrain.flow_eval.edit_summary`), with per-op accuracy beside them.

**Gains** (:func:`paired_gain`): after - before on the same pairs, as the same aggregate, so the
gen gain is the mean over tags of the per-tag gains (= the difference of the two GenEval overall
numbers). Its 95% interval is a percentile bootstrap that resamples *prompts* (both noise seeds of
a prompt stay together: they share the prompt, so they are not independent) within each tag (the
held-out set has a fixed number of prompts per tag), 1000 resamples
(:mod:`common.scoring.bootstrap`). The same over the prompts whose text was never trained on.

Reports: :func:`report_table` (Markdown: start / end / chance / ceiling / gain rows),
:func:`before_after_sheet` (a contact sheet for a person to look at), :func:`plot_curves`
(training reward and held-out metric over steps; matplotlib, imported on use).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from common.figures import curve_grid, series_of
from common.models.pretrain.data import edit_verdict
from common.models.pretrain.flow_eval import shuffled_within_tag
from common.scoring.bootstrap import percentile_interval, resample_indices
from common.world.checker import clean_correct, detect_objects, upsample_for_checker
from common.world.geneval import color_presence, evaluate_prompt
from common.world.levels import get_level
from common.world.render import render_at
from common.world.sampling import sample_scene
from common.world.vocab import GENEVAL_TAGS
from firm.rl.items import RLItem, edit_items, gen_items

__all__ = [
    "EDIT_COLUMNS",
    "HELD_OUT_SEED",
    "LAZY_CHANGE",
    "LAZY_PIXEL",
    "EvalResult",
    "HeldOut",
    "SampleFn",
    "before_after_sheet",
    "blank_sampler",
    "copy_source_sampler",
    "ground_truth_sampler",
    "paired_gain",
    "plot_curves",
    "report_table",
    "score_images",
    "summarize",
]

#: The held-out items' seed (no training batch's sub-seed, see the module doc).
HELD_OUT_SEED = 90_001
#: ``lazy``: the edit region moved less than this share of the way from the source to the target ...
LAZY_CHANGE = 0.25
#: ... and the whole image is within this mean absolute difference (pixels in [0, 1]) of the source.
LAZY_PIXEL = 0.05
#: A pixel belongs to the edit region when the target differs from the source by more (max channel).
EDIT_MASK_THRESHOLD = 0.1
#: The columns of an edit table (record keys, rates).
EDIT_COLUMNS: tuple[str, ...] = ("execution", "consistency", "correct", "lazy")

#: ``sample_fn(items, seed) -> one image per item``: the caller's deterministic sampler.
SampleFn = Callable[[list[RLItem], int], list[Image.Image]]


# ----------------------------------------------------------------------------- held-out set


@dataclass
class EvalResult:
    """What one held-out evaluation gives: per-pair ``records`` and the images by noise seed."""

    records: list[dict[str, Any]]
    images: dict[int, list[Image.Image]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return summarize(self.records)


@dataclass(frozen=True)
class HeldOut:
    """The held-out set: ``n_prompts`` items of ``kind`` (seed ``seed``) x ``noise_seeds``."""

    kind: str
    n_prompts: int = 240
    noise_seeds: tuple[int, ...] = (0, 1)
    seed: int = HELD_OUT_SEED
    level: str | None = "basic"
    resolution: int = 32

    @cached_property
    def items(self) -> list[RLItem]:
        if self.kind == "gen":
            return gen_items(self.n_prompts, self.seed, level=self.level)
        if self.kind == "edit":
            return edit_items(self.n_prompts, self.seed, level=self.level, resolution=self.resolution)
        raise ValueError(f"held-out kind must be 'gen' or 'edit', got {self.kind!r}")

    @property
    def n_pairs(self) -> int:
        return self.n_prompts * len(self.noise_seeds)

    def evaluate(self, sample_fn: SampleFn) -> EvalResult:
        """Sample every (prompt, noise seed) pair with ``sample_fn`` and score it with the checker."""
        records: list[dict[str, Any]] = []
        images: dict[int, list[Image.Image]] = {}
        for s in self.noise_seeds:
            ims = list(sample_fn(list(self.items), int(s)))
            if len(ims) != len(self.items):
                raise ValueError(f"sample_fn returned {len(ims)} images for {len(self.items)} items")
            images[int(s)] = ims
            records += score_images(self.items, ims, int(s), level=self.level, chance_seed=self.seed + int(s))
        return EvalResult(records, images)

    def ceiling(self) -> EvalResult:
        """The ground-truth renders through the same pipeline (:func:`ground_truth_sampler`).

        Measured at the basic level, 32 px, 240 prompts x 2 seeds: gen strict 100% (chance, the
        same images against shuffled prompts, 19.2%); edit correct 100%, lazy 0%."""
        return self.evaluate(ground_truth_sampler(level=self.level, resolution=self.resolution))

    def sheet(self, start: EvalResult, end: EvalResult, *, k: int = 16, **kwargs: Any) -> Image.Image:
        """:func:`before_after_sheet` of the first ``k`` prompts at the first noise seed."""
        s = int(self.noise_seeds[0])
        sources = [it.source_image for it in self.items[:k]] if self.kind == "edit" else None
        return before_after_sheet(start.images[s][:k], end.images[s][:k], sources=sources, **kwargs)  # type: ignore[arg-type]


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def score_images(
    items: Sequence[RLItem],
    images: Sequence[Image.Image],
    seed: int,
    *,
    level: str | None,
    chance_seed: int | None = None,
) -> list[dict[str, Any]]:
    """One checker record per (item, image) of noise seed ``seed`` (fields: module doc)."""
    shapes = get_level(level).shapes
    gen = [i for i, it in enumerate(items) if it.kind == "gen"]
    shuffled = shuffled_within_tag(
        [items[i].geneval for i in gen], chance_seed if chance_seed is not None else seed
    )
    chance_prompt = dict(zip(gen, shuffled, strict=True))
    out: list[dict[str, Any]] = []
    for i, (it, im) in enumerate(zip(items, images, strict=True)):
        rec: dict[str, Any] = {
            "pair": f"{it.id}@{seed}",
            "item": it.id,
            "index": i,
            "seed": int(seed),
            "kind": it.kind,
            "prompt": it.prompt,
            "tag": it.tag,
        }
        if it.kind == "gen":
            assert it.geneval is not None
            dets = detect_objects(upsample_for_checker(im), shapes=shapes)
            found = [d.to_detection() for d in dets]
            v = evaluate_prompt(it.geneval, found)
            reqs = list(v.requirements.values())
            cp = chance_prompt[i]
            cv = evaluate_prompt(cp, found)
            rec |= {
                "strict": bool(clean_correct(it.geneval, v, len(dets))),
                "correct": bool(v.correct),
                "requirement_share": float(np.mean(reqs)) if reqs else float("nan"),
                "color_presence": color_presence(it.geneval, dets),
                "n_objects": len(dets),
                "chance_strict": bool(clean_correct(cp, cv, len(dets))),
                "chance_correct": bool(cv.correct),
            }
        else:
            assert it.edit is not None and it.source_image is not None
            src = it.source_image
            verdict = edit_verdict(it.edit, im, source_image=src, shapes=shapes)
            a, s = _arr(im), _arr(src)
            t = _arr(render_at(it.edit.target, src.size[0]))
            if a.shape != s.shape:
                raise ValueError(f"edited image {a.shape} and source {s.shape} differ in size")
            mask = np.abs(t - s).max(-1) > EDIT_MASK_THRESHOLD
            den = float(np.abs(t - s)[mask].mean()) if mask.any() else 0.0
            change = float(np.abs(a - s)[mask].mean()) / den if den > 0 else float("nan")
            pixel = float(np.abs(a - s).mean())
            lazy = (change < LAZY_CHANGE if den > 0 else pixel < LAZY_PIXEL) and pixel < LAZY_PIXEL
            rec |= {
                "execution": bool(verdict["execution"]),
                "consistency": bool(verdict["consistency"]),
                "correct": bool(verdict["correct"]),
                "kept_share": float(verdict["kept_share"]),
                "edit_change": change,
                "pixel_change": pixel,
                "lazy": bool(lazy),
            }
        out.append(rec)
    return out


# ----------------------------------------------------------------------------- baselines


def ground_truth_sampler(*, level: str | None, resolution: int) -> SampleFn:
    """The ceiling's sampler: gen, a ``match`` world scene for the prompt (seeded by the noise seed
    and the item) rendered at ``resolution``; edit, the perfectly edited scene's render."""

    def sample(items: list[RLItem], seed: int) -> list[Image.Image]:
        out = []
        for i, it in enumerate(items):
            if it.kind == "edit":
                assert it.edit is not None
                out.append(render_at(it.edit.target, resolution))
                continue
            assert it.geneval is not None
            rng = np.random.default_rng([int(seed), i, 0xCE1])
            scene = sample_scene(it.geneval, rng, mode="match", canvas=resolution, level=level).scene
            out.append(render_at(scene, resolution))
        return out

    return sample


def copy_source_sampler(items: list[RLItem], seed: int) -> list[Image.Image]:
    """The lazy editor: every edit returns its source unchanged."""
    del seed
    out = []
    for it in items:
        if it.source_image is None:
            raise ValueError(f"{it.id} has no source image (copy_source_sampler is for edits)")
        out.append(it.source_image.copy())
    return out


def blank_sampler(resolution: int, color: tuple[int, int, int] = (160, 160, 160)) -> SampleFn:
    """Blank canvases of one colour (an empty scene; the default is the world's background grey)."""

    def sample(items: list[RLItem], seed: int) -> list[Image.Image]:
        del seed
        return [Image.new("RGB", (resolution, resolution), color) for _ in items]

    return sample


# ----------------------------------------------------------------------------- aggregates


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


# ----------------------------------------------------------------------------- reports


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def _gain_cell(g: Mapping[str, Any] | None) -> str:
    if g is None or not math.isfinite(g["gain"]):
        return "-"
    lo, hi = g["ci95"]
    return f"{100 * g['gain']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def report_table(
    start: Sequence[Mapping[str, Any]],
    end: Sequence[Mapping[str, Any]],
    *,
    ceiling: Sequence[Mapping[str, Any]] | None = None,
    baselines: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    trained_texts: Iterable[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> str:
    """A Markdown table of the run's held-out evaluation, numbers in percent.

    gen: columns ``overall`` (strict, mean over tags), one per tag and ``objects / image`` (a policy
    that draws extra objects to raise its odds shows here; the ceiling row is the world's); rows
    ``start``, ``end``,
    ``chance`` (the end images against prompts shuffled within tag), ``ceiling`` (ground-truth
    renders, when given), ``gain`` (``+x [lo, hi]``, percentage points, paired 95% interval) and,
    with ``trained_texts``, ``gain (unseen prompts)``. edit: columns execution / consistency /
    correct / lazy rate, same rows without chance. ``baselines``: more reference rows by name
    (e.g. ``copy source``, the edit analogue of chance), after ``ceiling``.
    """
    gen = bool(start) and start[0]["kind"] == "gen"
    texts = list(trained_texts) if trained_texts is not None else None
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "trained_texts": texts}
    rows: list[tuple[str, list[str]]] = []
    if gen:
        tags = list(summarize(start)["per_tag"])
        header = ["", "overall", *tags, "objects / image"]

        def row(s: Mapping[str, Any]) -> list[str]:
            objects = s.get("objects_per_image")
            return [
                _pct(s["strict"]),
                *(_pct(s["per_tag"].get(t)) for t in tags),
                "-" if objects is None else f"{objects:.2f}",
            ]

        rows += [("start", row(summarize(start))), ("end", row(summarize(end)))]
        rows.append(("chance", row(summarize(end)["chance"])))
        if ceiling:
            rows.append(("ceiling", row(summarize(ceiling))))
        rows += [(name, row(summarize(recs))) for name, recs in (baselines or {}).items()]
        g = paired_gain(start, end, "strict", **kw)
        rows.append(("gain", [_gain_cell(g), *(_gain_cell(g["per_tag"].get(t)) for t in tags), "-"]))
        if texts is not None:
            u = g.get("unseen")
            cells = [_gain_cell(u), *(_gain_cell(u["per_tag"].get(t) if u else None) for t in tags), "-"]
            rows.append((f"gain (unseen prompts, n={g['n_unseen_prompts']})", cells))
    else:
        header = ["", *EDIT_COLUMNS]

        def row(s: Mapping[str, Any]) -> list[str]:
            return [_pct(s[c]) for c in EDIT_COLUMNS]

        rows += [("start", row(summarize(start))), ("end", row(summarize(end)))]
        if ceiling:
            rows.append(("ceiling", row(summarize(ceiling))))
        rows += [(name, row(summarize(recs))) for name, recs in (baselines or {}).items()]
        gains = {c: paired_gain(start, end, c, **kw) for c in EDIT_COLUMNS}
        rows.append(("gain", [_gain_cell(gains[c]) for c in EDIT_COLUMNS]))
        if texts is not None:
            n_u = gains[EDIT_COLUMNS[0]]["n_unseen_prompts"]
            rows.append(
                (
                    f"gain (unseen prompts, n={n_u})",
                    [_gain_cell(gains[c].get("unseen")) for c in EDIT_COLUMNS],
                )
            )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([name, *cells]) + " |" for name, cells in rows]
    return "\n".join(lines) + "\n"


#: Height of the label strip above each tile of :func:`before_after_sheet` (pixels).
LABEL_HEIGHT = 12
#: Gap between images of a tile and between tiles (pixels).
GAP = 2


def before_after_sheet(
    start: Sequence[Image.Image],
    end: Sequence[Image.Image],
    *,
    sources: Sequence[Image.Image] | None = None,
    scale: int = 4,
    columns: int = 4,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """A contact sheet: per pair a tile ``start | end`` (edit: ``source | start | end``), each image
    upscaled ``scale`` x with nearest neighbour, a label strip (``labels``, default the prompt
    index) above it; ``columns`` tiles per row.

    Size: a tile is ``m * w * scale + (m - 1) * GAP`` wide (``m`` images) and ``LABEL_HEIGHT + h *
    scale`` high; the sheet is ``columns * (tile_w + GAP) - GAP`` by ``rows * (tile_h + GAP) - GAP``.
    """
    if len(start) != len(end) or (sources is not None and len(sources) != len(start)):
        raise ValueError("start, end (and sources) must hold the same number of images")
    if not start:
        raise ValueError("no images")
    groups = [[*([sources[i]] if sources is not None else []), start[i], end[i]] for i in range(len(start))]
    m = len(groups[0])
    w, h = (d * scale for d in start[0].size)
    tile_w, tile_h = m * w + (m - 1) * GAP, LABEL_HEIGHT + h
    columns = max(1, min(columns, len(groups)))
    rows = (len(groups) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (tile_w + GAP) - GAP, rows * (tile_h + GAP) - GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, group in enumerate(groups):
        r, c = divmod(k, columns)
        x0, y0 = c * (tile_w + GAP), r * (tile_h + GAP)
        draw.text((x0 + 1, y0 + 1), labels[k] if labels is not None else f"#{k}", fill=(0, 0, 0))
        for j, im in enumerate(group):
            sheet.paste(
                im.convert("RGB").resize((w, h), Image.Resampling.NEAREST),
                (x0 + j * (w + GAP), y0 + LABEL_HEIGHT),
            )
    return sheet


def plot_curves(
    records: Sequence[Mapping[str, Any]],
    out: Path,
    *,
    keys: Sequence[str] | None = None,
    title: str = "",
) -> Path | None:
    """A PNG with one panel per numeric key of ``records`` (e.g. the training ``reward`` and the
    held-out ``heldout/strict``) over ``step`` (the record's position when absent); records lacking
    a key (held-out evaluated every few steps) are skipped for it. ``None`` when nothing to plot.
    Drawn by :func:`common.figures.curve_grid`."""
    series = series_of(records, keys)
    return curve_grid(series, list(keys) if keys is not None else list(series), out, title)
