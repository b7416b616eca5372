"""Model cards of the pretrained bases: ``card.json`` (machine-readable) and ``MODEL_CARD.md``.

A card records what was built (model class, parameter counts, pretraining config, cache key),
how (steps, batch size, wall times, torch threads, machine load while it ran, library
versions) and how good it is (the objective's held-out quality numbers, with the chance /
ceiling / copy baselines that give them meaning).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from common.jsonio import to_jsonable, write_json_atomic

CARD_JSON = "card.json"
CARD_MD = "MODEL_CARD.md"


def environment() -> dict[str, Any]:
    """Threads, CPU count, load average and library versions of this process."""
    # lazy: diffusers and transformers are heavy imports, read here only for their versions
    import diffusers
    import transformers

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on every platform
        load = None
    return {
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "diffusers": diffusers.__version__,
        "machine": platform.machine(),
    }


def read_card(base_dir: str | Path) -> dict[str, Any]:
    """The ``card.json`` of a built base."""
    return json.loads((Path(base_dir) / CARD_JSON).read_text())


def write_card(base_dir: Path, card: dict[str, Any]) -> None:
    """Write ``card.json`` and ``MODEL_CARD.md`` into ``base_dir``."""
    write_json_atomic(base_dir / CARD_JSON, card)
    os.chmod(base_dir / CARD_JSON, 0o644)  # a shared cache: readable like the weights beside it
    (base_dir / CARD_MD).write_text(render_model_card(card))


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def _quality_vlm(q: dict[str, Any]) -> list[str]:
    lines = [
        "| metric | value | chance |",
        "|---|---|---|",
        f"| exact caption accuracy | {_pct(q['caption_exact'])} | 0% |",
        f"| object recall (colour, shape, position) | {_pct(q['object_recall'])} | |",
        f"| object precision | {_pct(q['object_precision'])} | |",
        f"| recall of colour / shape / position alone | {_pct(q.get('color_recall'))} / "
        f"{_pct(q.get('shape_recall'))} / {_pct(q.get('position_recall'))} | |",
        f"| recall of (colour, shape) | {_pct(q.get('color_shape_recall'))} | |",
        f"| right number of objects | {_pct(q.get('object_count_accuracy'))} | |",
        f"| VQA accuracy (mean over kinds) | {_pct(q['vqa_accuracy'])} | {_pct(q['vqa_chance'])} |",
    ]
    for kind, acc in q["vqa_per_kind"].items():
        n, chance = q["vqa_n_per_kind"][kind], q["vqa_chance_per_kind"][kind]
        lines.append(f"| VQA {kind} (n={n}) | {_pct(acc)} | {_pct(chance)} |")
    if "difference_exact" in q:
        lines += [
            f"| what changed: exact answer (n={q['n_difference']}) | {_pct(q['difference_exact'])} "
            f"| {_pct(q['difference_chance'])} |",
            f"| what changed: change recall / precision | {_pct(q['difference_recall'])} / "
            f"{_pct(q['difference_precision'])} | |",
            f"| what changed: some change vs none | {_pct(q['difference_any_accuracy'])} | |",
        ]
        for kind, c in q.get("difference_recall_by_kind", {}).items():
            lines.append(
                f"| what changed: {kind} recalled | {c['recalled']} / {c['true']} "
                f"({_pct(c['recalled'] / max(c['true'], 1))}) | |"
            )
    lines += ["", f"{q['n_captions']} held-out scenes; greedy decoding. Chance = best constant answer."]
    if q.get("difference_examples"):
        lines += ["", "Example answers to what changed (truth / model):", ""]
        for ex in q["difference_examples"]:
            lines += [f"- `{ex['truth']}`", f"  `{ex['prediction']}`"]
    if q.get("examples"):
        lines += ["", "Example captions (truth / model):", ""]
        for ex in q["examples"]:
            lines += [f"- `{ex['truth']}`", f"  `{ex['prediction']}`"]
    return lines


def _geneval_cells(s: dict[str, Any]) -> str:
    """Clean GenEval-world (the headline), plain, requirements, colour presence and objects / image
    of a ``geneval_summary``, as Markdown cells."""
    return (
        f"{_pct(s.get('geneval_clean'))} | {_pct(s['geneval'])} | {_pct(s['requirement_accuracy'])} "
        f"| {_pct(s.get('color_presence'))} | {s.get('objects_per_image', float('nan')):.2f}"
    )


def _quality_t2i(q: dict[str, Any]) -> list[str]:
    tags = list(q["ceiling"]["per_tag"])
    head = (
        "| | clean GenEval-world | GenEval-world | requirements | colour presence | objects / image | "
        + " | ".join(f"{t} (clean)" for t in tags)
        + " |"
    )
    lines = [head, "|" + "---|" * (6 + len(tags))]
    rows: list[tuple[str, dict[str, Any]]] = []
    for k, v in q["by_guidance"].items():
        rows.append((k, v))
        if "chance" in v:
            rows.append((f"{k}, shuffled prompts (chance)", v["chance"]))
    rows.append(("ground truth (ceiling)", q["ceiling"]))
    if "noise" in q:
        rows.append(("pure noise", q["noise"]))
    for name, s in rows:
        per_tag = s.get("per_tag_clean", s["per_tag"])
        per = " | ".join(_pct(per_tag.get(t)) for t in tags)
        lines.append(f"| {name} | {_geneval_cells(s)} | {per} |")
    lines += [
        "",
        f"{q['n']} held-out world prompts (world level `{q.get('world_level', 'full')}`), "
        f"{q['sample_steps']} Euler steps. Each 32-pixel sample is upsampled x4 (Lanczos) and read "
        "by the world checker. 'clean' (the headline) fails an image with more than 2 detected "
        "objects beyond those the prompt asks for (no world scene has more; the checker reads "
        "spurious objects in noise). Chance: the same samples scored against prompts shuffled "
        "within each tag. Ceiling: ground-truth renders at 32 pixels through the same pipeline. "
        "Colour presence: every colour the prompt names is detected, on any shape.",
    ]
    probe = q.get("conditioning")
    if probe:
        lines += [
            "",
            f"Conditioning probe ({probe['n']} prompts, CFG {probe['guidance_scale']:g}): changing the "
            f"prompt with the noise fixed changes a sample by {probe['prompt_effect']:.3f} (mean absolute "
            f"pixel change, pixels in [0, 1]); changing the noise with the prompt fixed by "
            f"{probe['noise_effect']:.3f}. Where the prompt leaves layout and colours free the noise "
            "decides them, so a faithful generator's pixel noise effect can exceed its prompt effect.",
        ]
        if "prompt_effect_colors" in probe:
            lines.append(
                f"Colour reading (L1 between colour histograms, blind to layout): prompt "
                f"{probe['prompt_effect_colors']:.3f} vs noise {probe['noise_effect_colors']:.3f}"
                + (
                    f"; on the {probe['n_named']} prompts that name colours: prompt "
                    f"{probe['prompt_effect_colors_named']:.3f} vs noise "
                    f"{probe['noise_effect_colors_named']:.3f}."
                    if "n_named" in probe
                    else "."
                )
            )
    if q.get("grid"):
        lines += ["", f"Samples ({q['best_guidance']}, first 64 prompts): `{q['grid']}`."]
    return lines


def _quality_editor(q: dict[str, Any]) -> list[str]:
    ops = list(q["ceiling"]["per_op"])
    head = "| | edit accuracy | execution | consistency | kept objects | " + " | ".join(ops) + " |"
    lines = [head, "|" + "---|" * (5 + len(ops))]
    rows = [(k, v) for k, v in q["by_guidance"].items()]
    rows += [("ground truth (ceiling)", q["ceiling"]), ("copy the source (baseline)", q["copy_source"])]
    for name, s in rows:
        per = " | ".join(_pct(s["per_op"].get(o)) for o in ops)
        lines.append(
            f"| {name} | {_pct(s['edit_accuracy'])} | {_pct(s['execution'])} | {_pct(s['consistency'])} "
            f"| {_pct(s['kept_share'])} | {per} |"
        )
    lines += [
        "",
        f"{q['n']} held-out edits, {q['sample_steps']} Euler steps; CFG over the instruction. Judged "
        "from pixels by the world checker (x4 Lanczos upsampling): execution = the requested "
        "object is there (colour, shape, place) and the replaced one is gone; consistency = every "
        "other object is still there and nothing was added.",
    ]
    for key, what in (("execution_vs_copy", "Execution"), ("accuracy_vs_copy", "Edit accuracy")):
        vs = q.get(key)
        if vs:
            lo, hi = vs["ci95"]
            lines += [
                "",
                f"{what} minus the copy-the-source baseline's ({q['best_guidance']}, paired over the "
                f"edits): {100 * vs['difference']:+.1f} points, 95% bootstrap interval "
                f"[{100 * lo:+.1f}, {100 * hi:+.1f}]; world level `{q.get('world_level', 'full')}`.",
            ]
    best = q["by_guidance"].get(q.get("best_guidance", ""), {})
    if best.get("per_op_execution"):
        per = ", ".join(f"{op} {_pct(v)}" for op, v in best["per_op_execution"].items())
        lines += ["", f"Execution per edit kind ({q['best_guidance']}): {per}."]
    if q.get("grid"):
        lines += ["", f"Source / edited pairs ({q['best_guidance']}, first 32 edits): `{q['grid']}`."]
    return lines


def _quality_autoencoder(q: dict[str, Any]) -> list[str]:
    rec, orig = q["reconstruction"], q["original"]
    lines = [
        "| | clean GenEval-world | GenEval-world | requirements | colour presence | objects / image |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in (("reconstructions", rec), ("originals", orig)):
        lines.append(f"| {name} | {_geneval_cells(s)} |")
    lines += [
        "",
        f"{q['n']} held-out world scenes: L1 error {q['l1']:.4f} (pixels in [0, 1]), PSNR "
        f"{q['psnr']:.1f} dB. The world checker reads the reconstructions as it reads a "
        "generator's samples: their GenEval-world accuracy is the ceiling of a latent generator "
        "with this decoder.",
    ]
    if q.get("grid"):
        lines += ["", f"Original / reconstruction pairs (first 32 scenes): `{q['grid']}`."]
    return lines


def _quality_vision(q: dict[str, Any]) -> list[str]:
    lines = [
        "| metric | value | chance |",
        "|---|---|---|",
        f"| shape of a single object | {_pct(q['shape_accuracy'])} | {_pct(q['shape_chance'])} |",
        f"| colour of a single object | {_pct(q['color_accuracy'])} | {_pct(q['color_chance'])} |",
    ]
    if "presence_accuracy" in q:
        lines.append(
            f"| shape / colour presence in a scene (per label) | {_pct(q['presence_accuracy'])} "
            f"| {_pct(q['presence_chance'])} |"
        )
    if "cell_shape_accuracy" in q:
        lines += [
            "| shape of the object under a token (cells an object covers) "
            f"| {_pct(q['cell_shape_accuracy'])} | {_pct(q['cell_shape_chance'])} |",
            f"| colour of the object under a token | {_pct(q['cell_color_accuracy'])} "
            f"| {_pct(q['cell_color_chance'])} |",
        ]
    return [
        *lines,
        "",
        f"{q['n']} held-out scenes of the {q['world_level']} world level; the vision tower's merged "
        "tokens max-pooled and read by the linear heads trained with it (per-token rows: each merged token "
        "read on its own by the dense heads). Chance = best constant answer.",
    ]


QUALITY_RENDERERS = {
    "vlm": _quality_vlm,
    "t2i": _quality_t2i,
    "editor": _quality_editor,
    "autoencoder": _quality_autoencoder,
    "vision": _quality_vision,
}


LOADERS = {
    "default": "- load with `common.models.builders.load_model(<this directory>)` "
    "(or `common.models.pretrain.load_base(name, settings)`)",
    "autoencoder": "- load with `diffusers.AutoencoderKL.from_pretrained(<this directory>)`; a latent "
    "generator's pretraining config names it (`autoencoder: <name>`)",
    "vision": "- load with `common.models.builders.load_model(<this directory>)` (the heads: "
    "`vision_heads.pt`); a VLM's pretraining config names it (`vision_init: <name>`) and copies its tower",
}

LIMITS = {
    "default": "A stand-in for a pretrained checkpoint at `scale=tiny`: it has seen the embedded world "
    "and knows its vocabulary, but training was stopped early on purpose so that the papers' "
    "fine-tuning stages (GRPO of the evaluator, reward-model SFT, RL of the generator / editor) "
    "have headroom to show. It knows nothing outside the world.",
    "autoencoder": "The stand-in for SD3's pretrained VAE at `scale=tiny`: trained on world renders "
    "only, frozen while the latent generator trains. It knows nothing outside the world.",
    "vision": "The stand-in for a VLM's separately pretrained vision encoder at `scale=tiny`: only the "
    "vision tower was trained (its language model is the random initialisation); it has seen world "
    "objects of one level only.",
}


def render_model_card(card: dict[str, Any]) -> str:
    """The Markdown model card for a ``card.json`` dict."""
    card = to_jsonable(card)
    m, t, env, cfg = card["model"], card["training"], card["environment"], card["config"]
    params = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in m.items() if k.endswith("parameters") and v)
    lines = [
        f"# {card['name']} (tiny base, {card['objective']} pretraining)",
        "",
        f"{card['summary']}",
        "",
        "## Model",
        "",
        f"- class: `{m['class']}`"
        + (f" + text encoder `{m['text_encoder_class']}`" if m.get("text_encoder_class") else ""),
        f"- parameters: {params}",
        f"- preset: `conf/model/{card['model_preset']}.yaml`; cache key `{card['hash']}` "
        f"(vocabulary `{card['vocabulary_fingerprint']}`)",
        LOADERS.get(card["objective"], LOADERS["default"]),
        "",
        "## Training",
        "",
        f"- {t['steps']} steps x batch {cfg['batch_size']} = {t['steps'] * cfg['batch_size']:,} examples; "
        f"AdamW lr {cfg['lr']:g} (warm-up {cfg['warmup_steps']}, cosine to {cfg['min_lr_ratio']:g} x lr)",
        f"- loss {t['first_loss']:.4f} (first {cfg['log_every']} steps) -> {t['final_loss']:.4f} (last)",
        f"- wall time: {t['train_s']:.0f} s training + {t['data_s']:.0f} s data + "
        f"{t['eval_s']:.0f} s evaluation = {t['wall_s']:.0f} s in this process"
        + (f" (resumed at step {t['resumed_from']})" if t.get("resumed_from") else ""),
        f"- {env['torch_threads']} torch thread(s) on {env['cpu_count']} cores; load average at the end "
        f"{env['load_average']} (other processes were running if it exceeds the threads); "
        f"torch {env['torch']}, transformers {env['transformers']}, diffusers {env['diffusers']}",
        f"- built {card['built_at']}; world level `{cfg.get('world_level', 'full')}`",
        "",
        "## Quality (held out)",
        "",
        *QUALITY_RENDERERS[card["objective"]](card["quality"]),
        "",
        "## Intended use and limits",
        "",
        LIMITS.get(card["objective"], LIMITS["default"]),
        "",
    ]
    return "\n".join(lines)
