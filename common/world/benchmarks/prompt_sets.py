"""The world's prompt sets: ``prompts_gen`` (GenEval-schema prompts for RL and held-out
evaluation of a generator) and ``prompts_edit`` (a clean source image and an edit instruction,
with the perfectly edited scene, for RL and evaluation of an editor).
"""

from __future__ import annotations

import json

import datasets

from common.world.benchmarks.base import (
    IMG,
    STR,
    BuildArgs,
    Built,
    dataset_from_rows,
    prompt_columns,
)
from common.world.benchmarks.items import draw_prompts, png_bytes, rng_for
from common.world.edits import apply_edit, instruction_text, sample_edit_sources
from common.world.render import render

PROMPT_FEATURES = datasets.Features({"id": STR, "prompt": STR, "tag": STR, "metadata": STR})


def build_prompts_gen(args: BuildArgs) -> Built:
    """GenEval-schema prompts: ``train`` (train prompts, repeats allowed) for RL, ``eval``
    (unique held-out prompts, tags balanced as far as each tag's pool allows)."""
    out, stats = {}, {}
    for split, side, unique in (("train", "train", False), ("eval", "heldout", True)):
        rng = rng_for(args.seed, "prompts_gen", split)
        ps = draw_prompts(args.sizes[split], rng, side, unique=unique, level=args.level)
        rows = [{"id": f"prompts_gen-{split}-{i:05d}", **prompt_columns(p)} for i, p in enumerate(ps)]
        out[split] = dataset_from_rows(rows, PROMPT_FEATURES, split)
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
        out[split] = dataset_from_rows(rows, EDIT_PROMPT_FEATURES, split)
        stats[split] = {"n": len(rows), "kinds": dict(sorted(kinds.items()))}
    return Built(datasets.DatasetDict(out), stats)
