"""Seeded builders of the world benchmarks as HF ``datasets.DatasetDict`` objects.

Each :class:`Benchmark` in :data:`BENCHMARKS` names its splits and default sizes, documents its
columns and scales, and builds from ``(seed, sizes, canvas, level)`` alone: the same arguments give
the same bytes (``level``: a :mod:`common.world.levels` name; ``full`` builds what was built before
levels existed, byte for byte). Writing to disk, cards and paths live in :mod:`common.world.benchmarks.store`.

    name              splits (default size)                 shaped like
    t2i_eval          train 800, test 301                   T2I-Eval-Bench: 3 raters 0-10, 4 aspects
    pairwise          train 400                             T2I-Eval-R1's pairwise corpus (no ties)
    imagereward       test 300                              ImageReward test pairs, ties kept
    tifa              test 400                              TIFA v1.0 human judgments: 2 raters 1-5
    firm_bench_edit   execution 301, consistency 256        FIRM-Bench-Edit, human-like 1-5
    firm_bench_gen    test 250 (125 easy + 125 hard)        FIRM-Bench-Gen, human-like 1-5
    prompts_gen       train 300, eval 120                   GenEval-schema prompts (RL / held-out)
    prompts_edit      train 200, eval 60                    (source image, instruction) for editing
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import datasets
import numpy as np

from common.world.benchmarks.items import (
    EASY_TAGS,
    GEN_MODE_WEIGHTS,
    HARD_TAGS,
    GenItem,
    draw_prompts,
    png_bytes,
    rng_for,
    sample_edit_item,
    sample_gen_item,
)
from common.world.benchmarks.truth import (
    ASPECTS,
    faithfulness_truth,
    generation_level,
    t2i_eval_truth,
)
from common.world.defects import QUALITY_AXES, quality_scores
from common.world.edits import (
    CONSISTENCY_VARIANTS,
    EXECUTION_VARIANTS,
    apply_edit,
    instruction_text,
    sample_edit_sources,
)
from common.world.raters import (
    FIRM_PANEL,
    T2I_ASPECT_NOISE,
    T2I_EVAL_PANEL,
    TIFA_PANEL,
    RaterPanel,
    agreement,
    consensus,
    pairwise_agreement,
)
from common.world.render import render
from common.world.vocab import GENEVAL_TAGS

T = TypeVar("T")
Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]
"""``progress(iterable, desc, total) -> iterable`` (e.g. :meth:`RunContext.progress`)."""


def no_progress(iterable: Iterable[T], desc: str, total: int) -> Iterable[T]:
    """The default progress: none."""
    del desc, total
    return iterable


TIE_MARGIN = 0.5
"""Two images whose mean rater overall scores (0-10) differ by less than this are a tie."""

F32 = datasets.Value("float32")
I32 = datasets.Value("int32")
STR = datasets.Value("string")
IMG = datasets.Image()
LIST_F32 = datasets.List(F32)
LIST_I32 = datasets.List(I32)
LIST_STR = datasets.List(STR)


@dataclass(frozen=True)
class BuildArgs:
    """What a builder gets: the seed, the split sizes, the canvas, the world level and a progress
    wrapper."""

    seed: int
    sizes: dict[str, int]
    canvas: int = 128
    progress: Progress = no_progress
    level: str = "full"


@dataclass
class Built:
    """A built benchmark: the data and the statistics its card reports (JSON-able)."""

    data: datasets.DatasetDict
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    """A world benchmark: splits with default sizes, documentation, and its builder."""

    name: str
    title: str
    description: str
    sizes: dict[str, int]
    columns: dict[str, str]
    scores: tuple[str, ...]
    build: Callable[[BuildArgs], Built]

    def resolve_sizes(self, sizes: Mapping[str, int] | None = None, scale: float = 1.0) -> dict[str, int]:
        """Default sizes times ``scale`` (at least 1 each), overridden by ``sizes``."""
        out = {k: max(1, round(v * scale)) for k, v in self.sizes.items()}
        for k, v in (sizes or {}).items():
            if k not in out:
                raise KeyError(f"{self.name} has no split {k!r}; splits: {', '.join(out)}")
            out[k] = int(v)
        return out


def _prompt_columns(item_prompt: Any) -> dict[str, Any]:
    return {"prompt": item_prompt.prompt, "tag": item_prompt.tag, "metadata": item_prompt.to_json()}


def _gen_columns(it: GenItem) -> dict[str, Any]:
    return {
        "mode": it.mode,
        "defects": json.dumps(it.defects.to_dict(), sort_keys=True),
        "violated": sorted(it.violated),
        "scene": json.dumps(it.drawn.to_dict(), sort_keys=True),
    }


def _columns(rows: list[dict[str, Any]], features: datasets.Features) -> dict[str, list[Any]]:
    return {k: [r[k] for r in rows] for k in features}


def _dataset(rows: list[dict[str, Any]], features: datasets.Features, split: str) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        _columns(rows, features), features=features, split=datasets.Split(split)
    )


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd))


GEN_FEATURES = {
    "prompt": STR,
    "tag": STR,
    "metadata": STR,
    "image": IMG,
    "mode": STR,
    "defects": STR,
    "violated": LIST_STR,
    "scene": STR,
}
GEN_DOCS = {
    "id": "item id",
    "prompt": "the text prompt (world vocabulary, GenEval wording)",
    "tag": "GenEval task tag of the prompt",
    "metadata": "the prompt as a GenEval metadata record (JSON: tag, include, exclude, prompt)",
    "image": "the image (PNG, canvas x canvas RGB)",
    "mode": "how the scene was sampled: match / partial / miss",
    "defects": "appearance defects and severities 0-3 (JSON)",
    "violated": "GenEval requirements the drawn scene violates (ground truth)",
    "scene": "the drawn scene (JSON: objects with shape, colour, centre, radius, rotation)",
}


# ----------------------------------------------------------------------------- T2I-Eval-like


T2I_FEATURES = datasets.Features(
    {
        "id": STR,
        **GEN_FEATURES,
        **{a: F32 for a in ASPECTS},
        **{f"{a}_ratings": LIST_F32 for a in ASPECTS},
        **{f"{a}_truth": F32 for a in ASPECTS},
    }
)


def _t2i_split(
    name: str, split: str, side: str, args: BuildArgs, panel: RaterPanel
) -> tuple[datasets.Dataset, dict]:
    n = args.sizes[split]
    rng = rng_for(args.seed, name, split)
    prompts = draw_prompts(n, rng, side, level=args.level)
    items = [
        sample_gen_item(p, rng, canvas=args.canvas, level=args.level)
        for p in args.progress(prompts, f"{name}/{split}", n)
    ]
    truth = np.array([[t2i_eval_truth(it.prompt, it.drawn, it.defects)[a] for a in ASPECTS] for it in items])
    ratings = np.stack(
        [panel.with_noise(T2I_ASPECT_NOISE[a]).rate(truth[:, j], rng) for j, a in enumerate(ASPECTS)], axis=1
    )  # (n, aspects, raters)
    means = consensus(ratings)
    rows = []
    for i, it in enumerate(items):
        row: dict[str, Any] = {
            "id": f"{name}-{split}-{i:05d}",
            **_prompt_columns(it.prompt),
            "image": it.image,
        }
        row.update(_gen_columns(it))
        for j, a in enumerate(ASPECTS):
            row[a] = _r(means[i, j])
            row[f"{a}_ratings"] = [float(v) for v in ratings[i, j]]
            row[f"{a}_truth"] = _r(truth[i, j])
        rows.append(row)
    stats = {
        "agreement": {a: round(agreement(ratings[:, j, :]), 4) for j, a in enumerate(ASPECTS)},
        "n": len(rows),
    }
    return _dataset(rows, T2I_FEATURES, split), stats


def build_t2i_eval(args: BuildArgs) -> Built:
    """T2I-Eval-like single-wise scores: train (train prompts) and test (held-out prompts)."""
    out, stats = {}, {}
    for split, side in (("train", "train"), ("test", "heldout")):
        out[split], stats[split] = _t2i_split("t2i_eval", split, side, args, T2I_EVAL_PANEL)
    return Built(datasets.DatasetDict(out), stats)


# ----------------------------------------------------------------------------- pairwise


PAIR_FEATURES = datasets.Features(
    {
        "id": STR,
        "group": STR,
        "prompt": STR,
        "tag": STR,
        "metadata": STR,
        "image_a": IMG,
        "image_b": IMG,
        "score_a": F32,
        "score_b": F32,
        "ratings_a": LIST_F32,
        "ratings_b": LIST_F32,
        "truth_a": F32,
        "truth_b": F32,
        "preference": STR,
        "label": I32,
    }
)
PAIR_DOCS = {
    "id": "pair id",
    "group": "prompt group id: pairs of one group share the prompt (and images)",
    "prompt": "the text prompt",
    "tag": "GenEval task tag",
    "metadata": "the prompt as a GenEval metadata record (JSON)",
    "image_a": "first image",
    "image_b": "second image",
    "score_a": "mean of the three raters' overall scores (0-10) of image a",
    "score_b": "the same for image b",
    "ratings_a": "the three raters' overall scores of image a",
    "ratings_b": "the same for image b",
    "truth_a": "ground-truth overall (0-10) of image a",
    "truth_b": "ground-truth overall (0-10) of image b",
    "preference": "'a', 'b' or 'tie' (mean scores within TIE_MARGIN = 0.5)",
    "label": "0 = a preferred, 1 = b preferred, 2 = tie",
}


def _pairs(
    name: str, split: str, side: str, args: BuildArgs, per_prompt: int, keep_ties: bool
) -> tuple[datasets.Dataset, dict]:
    n = args.sizes[split]
    rng = rng_for(args.seed, name, split)
    rows: list[dict[str, Any]] = []
    all_a, all_b = [], []
    group = 0
    bar = iter(args.progress(range(n), f"{name}/{split}", n))
    while len(rows) < n:
        prompt = draw_prompts(1, rng, side, tags=[_tag_cycle(group)], level=args.level)[0]
        items = [
            sample_gen_item(prompt, rng, canvas=args.canvas, level=args.level) for _ in range(per_prompt)
        ]
        truth = np.array([t2i_eval_truth(it.prompt, it.drawn, it.defects)["overall"] for it in items])
        ratings = T2I_EVAL_PANEL.with_noise(T2I_ASPECT_NOISE["overall"]).rate(truth, rng)
        means = ratings.mean(axis=1)
        for a in range(per_prompt):
            for b in range(a + 1, per_prompt):
                if len(rows) >= n:
                    break
                i, j = (a, b) if rng.random() < 0.5 else (b, a)
                d = means[i] - means[j]
                pref = "tie" if abs(d) < TIE_MARGIN else ("a" if d > 0 else "b")
                if pref == "tie" and not keep_ties:
                    continue
                rows.append(
                    {
                        "id": f"{name}-{split}-{len(rows):05d}",
                        "group": f"{name}-{split}-g{group:04d}",
                        **_prompt_columns(prompt),
                        "image_a": items[i].image,
                        "image_b": items[j].image,
                        "score_a": _r(means[i]),
                        "score_b": _r(means[j]),
                        "ratings_a": [float(v) for v in ratings[i]],
                        "ratings_b": [float(v) for v in ratings[j]],
                        "truth_a": _r(truth[i]),
                        "truth_b": _r(truth[j]),
                        "preference": pref,
                        "label": {"a": 0, "b": 1, "tie": 2}[pref],
                    }
                )
                all_a.append(ratings[i])
                all_b.append(ratings[j])
                next(bar, None)
        group += 1
    prefs = [r["preference"] for r in rows]
    decided = [r for r in rows if r["preference"] != "tie" and r["truth_a"] != r["truth_b"]]
    right = sum((r["truth_a"] > r["truth_b"]) == (r["preference"] == "a") for r in decided)
    stats = {
        "n": len(rows),
        "groups": group,
        "preferences": {k: prefs.count(k) for k in ("a", "b", "tie")},
        "rater_pair_agreement": round(pairwise_agreement(np.array(all_a), np.array(all_b), TIE_MARGIN), 4),
        "label_matches_truth": round(right / max(len(decided), 1), 4),
    }
    return _dataset(rows, PAIR_FEATURES, split), stats


def _tag_cycle(i: int) -> str:
    return GENEVAL_TAGS[i % len(GENEVAL_TAGS)]


def build_pairwise(args: BuildArgs) -> Built:
    """Pairwise training corpus: 4 images per train prompt, all non-tied pairs."""
    data, stats = _pairs("pairwise", "train", "train", args, per_prompt=4, keep_ties=False)
    return Built(datasets.DatasetDict({"train": data}), {"train": stats})


def build_imagereward(args: BuildArgs) -> Built:
    """ImageReward-like test pairs: 3 images per held-out prompt, every pair, ties kept."""
    data, stats = _pairs("imagereward", "test", "heldout", args, per_prompt=3, keep_ties=True)
    return Built(datasets.DatasetDict({"test": data}), {"test": stats})


# ----------------------------------------------------------------------------- TIFA-like

TIFA_FEATURES = datasets.Features(
    {
        "id": STR,
        "text_id": STR,
        "text": STR,
        **{k: v for k, v in GEN_FEATURES.items() if k != "prompt"},
        "human_scores": LIST_F32,
        "human_avg": F32,
        "truth": F32,
    }
)


def build_tifa(args: BuildArgs) -> Built:
    """TIFA-like: held-out prompts, 2 raters, faithfulness 1-5 (the real file's field names)."""
    n = args.sizes["test"]
    rng = rng_for(args.seed, "tifa", "test")
    prompts = draw_prompts(n, rng, "heldout", level=args.level)
    items = [
        sample_gen_item(p, rng, canvas=args.canvas, level=args.level)
        for p in args.progress(prompts, "tifa/test", n)
    ]
    truth = np.array([faithfulness_truth(it.prompt, it.drawn, it.defects) for it in items])
    ratings = TIFA_PANEL.rate(truth, rng)
    text_ids: dict[str, str] = {}
    rows = []
    for i, it in enumerate(items):
        tid = text_ids.setdefault(it.prompt.prompt, f"world_{len(text_ids):04d}")
        row = {"id": f"tifa-test-{i:05d}", "text_id": tid, "text": it.prompt.prompt, "image": it.image}
        row.update({"tag": it.prompt.tag, "metadata": it.prompt.to_json(), **_gen_columns(it)})
        row.update({"human_scores": [float(v) for v in ratings[i]], "human_avg": _r(ratings[i].mean())})
        row["truth"] = _r(truth[i])
        rows.append(row)
    stats = {
        "test": {
            "n": n,
            "agreement": round(agreement(ratings), 4),
            "identical_scores": round(float(np.mean(ratings[:, 0] == ratings[:, 1])), 4),
        }
    }
    return Built(datasets.DatasetDict({"test": _dataset(rows, TIFA_FEATURES, "test")}), stats)


# ----------------------------------------------------------------------------- FIRM-Bench-like

EDIT_FEATURES = datasets.Features(
    {
        "id": STR,
        "task": STR,
        "instruction": STR,
        "kind": STR,
        "edit": STR,
        "source_image": IMG,
        "edited_image": IMG,
        "score": I32,
        "human_scores": LIST_I32,
        "truth": I32,
        "execution_truth": I32,
        "consistency_truth": I32,
        "execution_variant": STR,
        "consistency_variant": STR,
        "report": STR,
        "source_scene": STR,
        "edited_scene": STR,
        "source_prompt": STR,
    }
)
EDIT_DOCS = {
    "id": "item id",
    "task": "execution or consistency: which rubric `score` follows",
    "instruction": "the edit instruction",
    "kind": "edit operation: recolour, add, remove, move, replace, resize",
    "edit": "the edit as JSON (common.world.edits.Edit.to_json)",
    "source_image": "image before the edit",
    "edited_image": "image after a (possibly sloppy) edit",
    "score": "human-like 1-5 score on the split's rubric: the three raters' mean, rounded half up",
    "human_scores": "the three simulated raters' 1-5 scores",
    "truth": "ground truth 1-5 on the split's rubric (from the scene difference)",
    "execution_truth": "ground-truth execution 1-5",
    "consistency_truth": "ground-truth consistency 1-5",
    "execution_variant": "how the simulated editor executed the instruction (perfect, subtle, ...)",
    "consistency_variant": "which unintended changes it made (clean, minor, significant, ...)",
    "report": "FIRM difference report (obvious + details) written from the scene difference",
    "source_scene": "source scene (JSON)",
    "edited_scene": "edited scene (JSON)",
    "source_prompt": "GenEval prompt the source scene was sampled for",
}

CONSISTENCY_SPLIT_EXECUTION: dict[str, float] = {
    "perfect": 0.55,
    "subtle": 0.15,
    "partial": 0.15,
    "barely": 0.05,
    "none": 0.10,
}
"""Executions in the consistency split: mostly done, some "no change" (the lazy-editor case)."""

CONSISTENCY_SPLIT_CONSISTENCY: dict[str, float] = {
    "clean": 0.18,
    "minor": 0.28,
    "significant": 0.26,
    "mixed": 0.18,
    "different": 0.10,
}


def _edit_split(
    task: str,
    n: int,
    args: BuildArgs,
    ew: Mapping[str, float] | None = None,
    cw: Mapping[str, float] | None = None,
) -> tuple[datasets.Dataset, dict]:
    rng = rng_for(args.seed, "firm_bench_edit", task)
    prompts = draw_prompts(n, rng, "heldout", level=args.level)
    kw: dict[str, Any] = {"level": args.level}
    if ew is not None:
        kw["execution_weights"] = ew
    if cw is not None:
        kw["consistency_weights"] = cw
    items = [
        sample_edit_item(p, rng, canvas=args.canvas, **kw)
        for p in args.progress(prompts, f"firm_bench_edit/{task}", n)
    ]
    truth = np.array([getattr(it.example, task) for it in items], dtype=np.float64)
    ratings = FIRM_PANEL.rate(truth, rng)
    human = consensus(ratings, "rounded")
    rows = []
    for i, it in enumerate(items):
        ex = it.example
        rows.append(
            {
                "id": f"firm_bench_edit-{task}-{i:05d}",
                "task": task,
                "instruction": ex.instruction,
                "kind": ex.edit.kind,
                "edit": ex.edit.to_json(),
                "source_image": it.source_image,
                "edited_image": it.edited_image,
                "score": int(human[i]),
                "human_scores": [int(v) for v in ratings[i]],
                "truth": int(truth[i]),
                "execution_truth": ex.execution,
                "consistency_truth": ex.consistency,
                "execution_variant": ex.execution_variant,
                "consistency_variant": ex.consistency_variant,
                "report": ex.report()["report"],
                "source_scene": json.dumps(ex.source.to_dict(), sort_keys=True),
                "edited_scene": json.dumps(ex.result.to_dict(), sort_keys=True),
                "source_prompt": it.prompt.prompt,
            }
        )
    stats = _human_stats(ratings, human, truth)
    return _dataset(rows, EDIT_FEATURES, task), stats


def _human_stats(ratings: np.ndarray, human: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    return {
        "n": len(truth),
        "agreement": round(agreement(ratings), 4),
        "human_equals_truth": round(float(np.mean(human == truth)), 4),
        "human_truth_mae": round(float(np.mean(np.abs(human - truth))), 4),
        "truth_levels": {str(k): int(np.sum(truth == k)) for k in range(1, 6)},
    }


def build_firm_bench_edit(args: BuildArgs) -> Built:
    """FIRM-Bench-Edit-like: execution and consistency splits of sloppy world edits."""
    ex, ex_stats = _edit_split("execution", args.sizes["execution"], args)
    co, co_stats = _edit_split(
        "consistency",
        args.sizes["consistency"],
        args,
        CONSISTENCY_SPLIT_EXECUTION,
        CONSISTENCY_SPLIT_CONSISTENCY,
    )
    return Built(
        datasets.DatasetDict({"execution": ex, "consistency": co}),
        {"execution": ex_stats, "consistency": co_stats},
    )


GENB_FEATURES = datasets.Features(
    {
        "id": STR,
        **{k: v for k, v in GEN_FEATURES.items()},
        "difficulty": STR,
        "score": I32,
        "human_scores": LIST_I32,
        "truth": I32,
        **{ax: I32 for ax in QUALITY_AXES},
    }
)

GEN_BENCH_MODES: dict[str, float] = {"match": 0.35, "partial": 0.5, "miss": 0.15}


def build_firm_bench_gen(args: BuildArgs) -> Built:
    """FIRM-Bench-Gen-like: half easy, half hard held-out prompts, human-like 1-5 scores."""
    n = args.sizes["test"]
    rng = rng_for(args.seed, "firm_bench_gen", "test")
    n_easy = n // 2
    prompts = draw_prompts(n_easy, rng, "heldout", EASY_TAGS, level=args.level) + draw_prompts(
        n - n_easy, rng, "heldout", HARD_TAGS, level=args.level
    )
    items = [
        sample_gen_item(p, rng, canvas=args.canvas, mode_weights=GEN_BENCH_MODES, level=args.level)
        for p in args.progress(prompts, "firm_bench_gen/test", n)
    ]
    truth = np.array([generation_level(it.prompt, it.drawn) for it in items], dtype=np.float64)
    ratings = FIRM_PANEL.rate(truth, rng)
    human = consensus(ratings, "rounded")
    rows = []
    for i, it in enumerate(items):
        row = {"id": f"firm_bench_gen-test-{i:05d}", **_prompt_columns(it.prompt), "image": it.image}
        row.update(_gen_columns(it))
        row["difficulty"] = "easy" if i < n_easy else "hard"
        row.update(
            {"score": int(human[i]), "human_scores": [int(v) for v in ratings[i]], "truth": int(truth[i])}
        )
        row.update(quality_scores(it.defects))
        rows.append(row)
    stats = {"test": _human_stats(ratings, human, truth)}
    for diff in ("easy", "hard"):
        sel = np.array([r["difficulty"] == diff for r in rows])
        stats["test"][f"{diff}_agreement"] = round(agreement(ratings[sel]), 4)
    return Built(datasets.DatasetDict({"test": _dataset(rows, GENB_FEATURES, "test")}), stats)


# ----------------------------------------------------------------------------- prompt sets

PROMPT_FEATURES = datasets.Features({"id": STR, "prompt": STR, "tag": STR, "metadata": STR})


def build_prompts_gen(args: BuildArgs) -> Built:
    """GenEval-schema prompts: ``train`` (train prompts, repeats allowed) for RL, ``eval``
    (unique held-out prompts, tags balanced as far as each tag's pool allows)."""
    out, stats = {}, {}
    for split, side, unique in (("train", "train", False), ("eval", "heldout", True)):
        rng = rng_for(args.seed, "prompts_gen", split)
        ps = draw_prompts(args.sizes[split], rng, side, unique=unique, level=args.level)
        rows = [{"id": f"prompts_gen-{split}-{i:05d}", **_prompt_columns(p)} for i, p in enumerate(ps)]
        out[split] = _dataset(rows, PROMPT_FEATURES, split)
        stats[split] = {"n": len(rows), "unique_prompts": len({p.prompt for p in ps})}
    return Built(datasets.DatasetDict(out), stats)


EDIT_PROMPT_FEATURES = datasets.Features(
    {
        "id": STR,
        "instruction": STR,
        "kind": STR,
        "edit": STR,
        "source_image": IMG,
        "source_scene": STR,
        "target_scene": STR,
        "source_prompt": STR,
        "tag": STR,
    }
)


def build_prompts_edit(args: BuildArgs) -> Built:
    """Editing prompts: a clean source image and an instruction; ``target_scene`` is the perfect
    result (:func:`common.world.edits.apply_edit`), for scoring an editor's output."""
    out, stats = {}, {}
    for split, side in (("train", "train"), ("eval", "heldout")):
        n = args.sizes[split]
        rng = rng_for(args.seed, "prompts_edit", split)
        rows = []
        kinds: dict[str, int] = {}
        prompts = draw_prompts(n, rng, side, level=args.level)
        for i, p in enumerate(args.progress(prompts, f"prompts_edit/{split}", n)):
            src, edit = next(sample_edit_sources(rng, level=args.level, canvas=args.canvas, prompt=p))
            kinds[edit.kind] = kinds.get(edit.kind, 0) + 1
            rows.append(
                {
                    "id": f"prompts_edit-{split}-{i:05d}",
                    "instruction": instruction_text(edit, int(rng.integers(3))),
                    "kind": edit.kind,
                    "edit": edit.to_json(),
                    "source_image": png_bytes(render(src)),
                    "source_scene": json.dumps(src.to_dict(), sort_keys=True),
                    "target_scene": json.dumps(apply_edit(src, edit).to_dict(), sort_keys=True),
                    "source_prompt": p.prompt,
                    "tag": p.tag,
                }
            )
        out[split] = _dataset(rows, EDIT_PROMPT_FEATURES, split)
        stats[split] = {"n": len(rows), "kinds": dict(sorted(kinds.items()))}
    return Built(datasets.DatasetDict(out), stats)


# ----------------------------------------------------------------------------- registry

_ASPECT_DOCS = {
    "appearance": "appearance quality",
    "intrinsic": "intrinsic-attribute consistency",
    "relationship": "relationship-attribute consistency",
    "overall": "overall",
}

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            name="t2i_eval",
            title="T2I-Eval-like single-wise scores (world)",
            description=(
                "(prompt, image) pairs scored by three simulated annotators on 0-10 for T2I-Eval-Bench's "
                "four aspects. Images are world scenes sampled to match (45%), partially match (40%) or miss "
                "(15%) the prompt, 40% clean and the rest with one or two appearance defects. Ground truth "
                "per aspect: `common.world.benchmarks.truth.t2i_eval_truth`; each rater adds a rater bias "
                "and noise (`common.world.raters.T2I_EVAL_PANEL`) and rounds to an integer. `train` uses "
                "train prompts, `test` (301 items, like T2I-Eval-Bench) held-out prompts: disjoint prompts."
            ),
            sizes={"train": 800, "test": 301},
            columns={
                **GEN_DOCS,
                **{a: f"{_ASPECT_DOCS[a]}: mean of the three raters (0-10)" for a in ASPECTS},
                **{f"{a}_ratings": f"{_ASPECT_DOCS[a]}: the three raters' integer scores" for a in ASPECTS},
                **{f"{a}_truth": f"{_ASPECT_DOCS[a]}: ground truth (0-10, continuous)" for a in ASPECTS},
            },
            scores=("overall", "appearance", "intrinsic", "relationship"),
            build=build_t2i_eval,
        ),
        Benchmark(
            name="pairwise",
            title="Pairwise preference corpus (world)",
            description=(
                "Pairs of images for the same train prompt (four images per prompt, every pair), each "
                "image scored overall (0-10) by three simulated raters; the preference is the higher mean "
                f"score. Pairs whose means differ by less than {TIE_MARGIN} (ties) are left out: this is a "
                "training corpus of clear preferences. a/b order is random."
            ),
            sizes={"train": 400},
            columns=PAIR_DOCS,
            scores=("preference", "score_a"),
            build=build_pairwise,
        ),
        Benchmark(
            name="imagereward",
            title="ImageReward-like pairwise test set (world)",
            description=(
                "Pairs of images for held-out prompts (three images per prompt, all three pairs), three "
                "simulated raters' overall scores per image; preference by the mean, a tie when the means "
                f"differ by less than {TIE_MARGIN}. Ties are kept, as in ImageReward's test set; score it "
                "with pairwise accuracy with ties (common.scoring.pairwise)."
            ),
            sizes={"test": 300},
            columns=PAIR_DOCS,
            scores=("preference", "score_a"),
            build=build_imagereward,
        ),
        Benchmark(
            name="tifa",
            title="TIFA-like faithfulness judgments (world)",
            description=(
                "Held-out prompts with one image each, two simulated annotators scoring faithfulness 1-5 "
                "(`TIFA_PANEL`, noise set so that their agreement is near the real TIFA v1.0 file's 0.72). "
                "Field names follow the real `human_annotations_with_scores.json` (text_id, text, "
                "human_scores, human_avg)."
            ),
            sizes={"test": 400},
            columns={
                **{k: v for k, v in GEN_DOCS.items() if k != "prompt"},
                "text_id": "prompt id (items of one prompt share it)",
                "text": "the text prompt",
                "human_scores": "the two simulated annotators' faithfulness scores (1-5)",
                "human_avg": "their mean",
                "truth": "ground-truth faithfulness (1-5, continuous)",
            },
            scores=("human_avg", "truth"),
            build=build_tifa,
        ),
        Benchmark(
            name="firm_bench_edit",
            title="FIRM-Bench-Edit-like (world)",
            description=(
                "(source image, instruction, edited image) triplets from held-out-prompt scenes: a random "
                "edit (recolour, add, remove, move, replace, resize) executed by a simulated sloppy editor "
                "(`common.world.edits.sloppy_result`). Ground truth follows FIRM's execution and consistency "
                "rubrics computed from the scene difference; three simulated raters (`FIRM_PANEL`) give 1-5 "
                "and `score` is their mean rounded half up. Sizes as FIRM-Bench: 301 execution, 256 "
                "consistency. Score a reward model by the mean absolute error against `score`."
            ),
            sizes={"execution": 301, "consistency": 256},
            columns=EDIT_DOCS,
            scores=("score", "truth", "kind"),
            build=build_firm_bench_edit,
        ),
        Benchmark(
            name="firm_bench_gen",
            title="FIRM-Bench-Gen-like (world)",
            description=(
                "Held-out prompts and generated images, half easy (single_object, colors, two_object) and "
                "half hard (counting, position, color_attr) prompts, scored 1-5 on FIRM's "
                "instruction-following rubric (`truth.generation_level`) by three simulated raters; `score` "
                "is their mean rounded half up. The ground-truth quality sub-scores (aesthetics, quality, "
                "structure 1-5) are included for QMA."
            ),
            sizes={"test": 250},
            columns={
                **GEN_DOCS,
                "difficulty": "easy or hard",
                "score": "human-like 1-5 instruction-following score (raters' mean, rounded half up)",
                "human_scores": "the three simulated raters' scores",
                "truth": "ground-truth FIRM generation level 1-5",
                "aesthetics": "ground-truth aesthetics 1-5 (from the defects)",
                "quality": "ground-truth quality 1-5",
                "structure": "ground-truth structure & texture 1-5",
            },
            scores=("score", "truth", "difficulty"),
            build=build_firm_bench_gen,
        ),
        Benchmark(
            name="prompts_gen",
            title="Generation prompt sets (world)",
            description=(
                "GenEval-schema prompts. `train` draws train prompts (tags in turn, repeats allowed) for "
                "RL of the generator; `eval` holds unique held-out prompts for GenEval-style evaluation "
                "(up to the size, tags balanced as far as each tag's held-out pool allows)."
            ),
            sizes={"train": 300, "eval": 120},
            columns={
                "id": "prompt id",
                "prompt": "the text prompt",
                "tag": "GenEval task tag",
                "metadata": "GenEval metadata record (JSON)",
            },
            scores=("tag",),
            build=build_prompts_gen,
        ),
        Benchmark(
            name="prompts_edit",
            title="Editing prompt sets (world)",
            description=(
                "Clean source images (scenes sampled for a GenEval prompt plus distractors: one to three at "
                "the full level, one or two at basic) "
                "with a random feasible edit instruction. `train` (train prompts) is for RL of the editor, "
                "`eval` (held-out prompts) for evaluation; `target_scene` is the perfectly edited scene."
            ),
            sizes={"train": 200, "eval": 60},
            columns={
                "id": "item id",
                "instruction": "the edit instruction",
                "kind": "edit operation",
                "edit": "the edit (JSON)",
                "source_image": "the image to edit",
                "source_scene": "its scene (JSON)",
                "target_scene": "the perfectly edited scene (JSON)",
                "source_prompt": "GenEval prompt the source was sampled for",
                "tag": "its tag",
            },
            scores=("kind",),
            build=build_prompts_edit,
        ),
    )
}
"""Every world benchmark by name, in build order."""

__all__ = [
    "BENCHMARKS",
    "CONSISTENCY_VARIANTS",
    "EXECUTION_VARIANTS",
    "GEN_MODE_WEIGHTS",
    "TIE_MARGIN",
    "Benchmark",
    "BuildArgs",
    "Built",
    "Progress",
    "no_progress",
]
