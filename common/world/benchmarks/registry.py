"""The registry of world benchmarks: :data:`BENCHMARKS`, every benchmark by name, in build order.

Each :class:`~common.world.benchmarks.base.Benchmark` names its splits and default sizes, documents
its columns and scales, and builds from ``(seed, sizes, canvas, level)`` alone: the same arguments give
the same bytes (``level``: a :mod:`common.world.levels` name; ``full`` builds what was built before
levels existed, byte for byte). The builders live one family per module (``t2i_eval``, ``pairwise``,
``tifa``, ``firm_bench``, ``prompt_sets``, shared pieces in ``base``). Writing to disk, cards and paths
live in :mod:`common.world.benchmarks.store`.

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

from common.world.benchmarks.base import GEN_DOCS, Benchmark
from common.world.benchmarks.firm_bench import EDIT_DOCS, build_firm_bench_edit, build_firm_bench_gen
from common.world.benchmarks.pairwise import PAIR_DOCS, TIE_MARGIN, build_imagereward, build_pairwise
from common.world.benchmarks.prompt_sets import build_prompts_edit, build_prompts_gen
from common.world.benchmarks.t2i_eval import build_t2i_eval
from common.world.benchmarks.tifa import build_tifa
from common.world.benchmarks.truth import ASPECTS

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
