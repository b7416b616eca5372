"""Behaviour pins: numbers the code produces today, written down as literals.

What is pinned (every run seeded, tiny models built in code, no downloads, one torch thread):

* ``+exp=t2ieval_r1_grpo`` (the T2I-Eval-R1 GRPO task, composed like the CLI, in process) for 4
  steps on a 0.2M-parameter random Qwen2.5-VL, on a single-wise and on a pairwise world_quick
  corpus, with a local reward (the share of number tokens, so that groups have signal): per step the
  policy loss, KL loss, gradient norm, entropy, ratio mean, clip fraction, reward statistics,
  completion length and learning rate, every completion's reward, and the last step's completions.
* ``+exp=firm_edit_rm`` / ``+exp=firm_gen_rm`` (FIRM reward-model SFT, composed the same way) for
  6 steps on a 0.25M-parameter random Qwen3-VL saved as the base, on the world-oracle curation
  (10 examples / prompts): the per-step loss and learning rate and the training-row counts.
* ``+exp=tifa_meta_eval`` (what ``make main`` runs), with its default configuration (1000
  bootstrap resamples, seed 0): every row's correlations, pairwise accuracies and their bootstrap
  intervals, the counts, and the SHA-256 of the caption + Markdown table it prints.

Every run is composed with ``world=full`` (:data:`FROZEN_WORLD`, added by :func:`run_task`): the
GRPO corpus (world_quick) and the FIRM curation are built at the run's ``world.level``, and the
default level, ``basic``, is being tuned on purpose (its object placement changes), which would move
these numbers for reasons that have nothing to do with a refactor. The ``full`` level is frozen (its
builds are byte-identical across versions), so the pins use it. The TIFA meta-evaluation reads the
vendored TIFA v1.0 file and no world data; it gets the same override, which changes nothing there.

The world benchmark bytes are pinned elsewhere, not here: ``FULL_DIGESTS`` in
``tests/common/world/test_benchmark_levels.py`` (all 8 benchmarks, seed 3, scale 0.02).

Why: a refactor (modules moved, configs converted, ``common/grpo`` -> ``common/rl``) must leave
these numbers as they are, to 1e-6 (float64 meta-evaluation: 1e-9). Update the imports and the
override names if they move; never the numbers. A deliberate behaviour change updates the numbers in
the same commit and says why in its message. Each pinned run is also rerun with another seed or
learning rate (``test_*_pins_detect_*``), to show that the pins can fail.

Fragile: the training numbers hold for one torch thread only (2 threads move GRPO's KL loss by
~5e-6 through float32 reduction order; the tests set 1 thread themselves), and float32 kernels
may round differently on another CPU type or torch version: regenerate on the reference machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from common.models.tiny import build_tiny_vlm
from common.runtime import RunContext
from t2ieval_r1.grpo import RewardResult

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
FROZEN_WORLD = "world=full"
"""The world level of every pinned run: ``full`` is frozen, the default ``basic`` is being tuned."""
ABS = 1e-6
"""Tolerance of the training pins (the refactor's acceptance rule)."""
ABS_META = 1e-9
"""Tolerance of the TIFA pins (float64 statistics of a fixed file)."""


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The pins are one-thread numbers (float32 reductions depend on the thread count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_task(exp: str, out: Path, *overrides: str, **task_kwargs: Any) -> tuple[dict[str, Any], RunContext]:
    """Compose ``+exp=<exp>`` like the CLI, at :data:`FROZEN_WORLD`, and run its task in this process
    (run dir ``out/run``)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                f"+exp={exp}",
                FROZEN_WORLD,
                f"paths.output_dir={out}",
                "runtime.progress=false",
                *overrides,
            ],
        )
    assert cfg.world.level == "full", cfg.world
    ctx = RunContext(run_dir=out / "run", cfg=cfg, seed=int(cfg.seed))
    return instantiate(cfg.task, _partial_=True)(cfg=cfg, ctx=ctx, **task_kwargs), ctx


def close(got: Any, want: Any, tol: float) -> bool:
    """``got == want`` with numbers to ``tol`` (nested lists / dicts; strings and None exact)."""
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(close(got[k], v, tol) for k, v in want.items())
        )
    if isinstance(want, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(want)
            and all(close(g, w, tol) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, float | int) and not isinstance(want, bool):
        return isinstance(got, float | int) and got == pytest.approx(want, rel=0, abs=tol)
    return bool(got == want)


# --------------------------------------------------------------------------- T2I-Eval-R1 GRPO

GRPO_VLM = {
    "text_hidden_size": 64,
    "text_intermediate_size": 128,
    "text_layers": 2,
    "text_heads": 2,
    "text_kv_heads": 1,
    "vision_hidden_size": 32,
    "vision_intermediate_size": 64,
    "vision_depth": 1,
    "vision_heads": 2,
}
"""The tiny Qwen2.5-VL preset divided down (~0.2M parameters), built from the preset in code."""

GRPO_KEYS = (
    "loss/policy",
    "loss/kl",
    "policy/grad_norm",
    "policy/entropy",
    "policy/ratio_mean",
    "policy/clip_frac",
    "reward/total_mean",
    "reward/total_std",
    "groups/reward_std_mean",
    "completion/len_mean",
    "optim/lr",
)
"""The step metrics pinned (per step, in order)."""

NUMBER = re.compile(r"^\d+(\.\d+)?$")


def number_share(completions: Sequence[str], items: Sequence[Any]) -> RewardResult:
    """The share of a completion's words that are numbers: a reward a random policy has signal on."""
    del items
    shares = []
    for text in completions:
        words = text.split()
        shares.append(sum(bool(NUMBER.match(w)) for w in words) / max(len(words), 1))
    return RewardResult(shares, {"score": shares})


def grpo_run(out: Path, kind: str, *, seed: int = 0, lr: float = 2e-2) -> dict[str, Any]:
    """4 GRPO steps of ``+exp=t2ieval_r1_grpo``: 2 items x G=4 per step, 2 optimizer steps of 2
    micro-batches each, KL 0.05 to the frozen copy, 2 warm-up steps; returns the pinned numbers."""
    small = ",".join(f"{k}:{v}" for k, v in GRPO_VLM.items())
    totals: list[list[float]] = []

    def reward(completions: Sequence[str], items: Sequence[Any]) -> RewardResult:
        result = number_share(completions, items)
        totals.append([float(x) for x in result.totals])
        return result

    _, ctx = run_task(
        "t2ieval_r1_grpo",
        out,
        "corpus@task.train=world_quick",
        f"task.train.kind={kind}",
        "task.train.n=6",
        "task.val=null",
        "task.model.kind=preset",
        "task.model.name=tiny_qwen2_5_vl",
        "~task.model.overrides",
        f"+task.model.overrides={{{small}}}",
        "task.grpo.steps=4",
        "task.grpo.batch_size=8",
        "task.grpo.mini_batch_size=4",
        "task.grpo.micro_batch_size=2",
        "task.grpo.rollout.group_size=4",
        "task.grpo.rollout.max_new_tokens=8",
        "task.grpo.log_every=1",
        "task.grpo.eval_every=0",
        "task.grpo.kl_coef=0.05",
        f"task.grpo.lr={lr}",
        "task.grpo.warmup_steps=2",
        "task.export=false",
        "task.resume=never",
        "task.n_samples=8",
        f"seed={seed}",
        reward_fn=reward,
    )
    history = json.loads((ctx.run_dir / "train_log.json").read_text())
    samples = json.loads((ctx.run_dir / "samples.json").read_text())
    return {
        "steps": {key: [h[key] for h in history] for key in GRPO_KEYS},
        "reward_totals": totals,
        "last_completions": [s["completion"] for s in samples],
    }


GRPO_PINS: dict[str, dict[str, Any]] = {
    "single": {
        "steps": {
            "loss/policy": [
                0.0001245737075805664,
                0.025293707847595215,
                -0.034164755526235546,
                0.024603113532066345,
            ],
            "loss/kl": [0.012175359297543764, 0.036801258102059364, 0.10667204755847737, 0.19575127586722374],
            "policy/grad_norm": [
                2.3062077164649963,
                1.6711780428886414,
                1.7457532286643982,
                1.6077662110328674,
            ],
            "policy/entropy": [6.790130615234375, 6.780957102775574, 6.73309701176013, 6.599401950836182],
            "policy/ratio_mean": [
                1.0001157969236374,
                0.9973628520965576,
                0.9598949884964247,
                1.0316330790519714,
            ],
            "policy/clip_frac": [0.046875, 0.09375, 0.06779661016949153, 0.03125],
            "reward/total_mean": [0.3125, 0.265625, 0.25, 0.3191964285714286],
            "reward/total_std": [0.1875, 0.1316585902058806, 0.15309310892394862, 0.15680704276503107],
            "groups/reward_std_mean": [
                0.09517108986108674,
                0.09935779599282303,
                0.15309310892394862,
                0.1333402700193193,
            ],
            "completion/len_mean": [8.0, 8.0, 7.375, 8.0],
            "optim/lr": [0.01, 0.02, 0.02, 0.02],
        },
        "reward_totals": [
            [0.125, 0.125, 0.125, 0.25, 0.25, 0.5, 0.625, 0.5],
            [0.125, 0.25, 0.25, 0.125, 0.5, 0.125, 0.375, 0.375],
            [0.375, 0.25, 0.0, 0.375, 0.5, 0.125, 0.25, 0.125],
            [0.625, 0.375, 0.125, 0.42857142857142855, 0.25, 0.375, 0.25, 0.125],
        ],
        "last_completions": [
            "3.75 melted top 11 1 75 score_2 73",
            "moved 8.75 67 narrow made 24 sixth /",
            "8.75 ] original cropped crosses score_2 none somewhat",
            "2 - 7.3 to 63 any both",
            "; star ' 5.1 fifth rest 60 preferred",
            "7.25 reasoning worst 8.75 analyze 82 replace top",
            "83 overlap center any corners 8.9 adding instructions",
            "json second 79 review scoring melted distorted him",
        ],
    },
    "pair": {
        "steps": {
            "loss/policy": [
                -0.0025267302989959717,
                0.039484988898038864,
                -0.04157239501759157,
                0.04775756597518921,
            ],
            "loss/kl": [0.012711984571069479, 0.05364693608134985, 0.08298598911802647, 0.14752048254013062],
            "policy/grad_norm": [
                2.4314565658569336,
                1.6616637706756592,
                1.5799757838249207,
                1.4421561360359192,
            ],
            "policy/entropy": [6.790993928909302, 6.762576222419739, 6.742003360037076, 6.684052586555481],
            "policy/ratio_mean": [
                0.9974963217973709,
                1.0103072822093964,
                0.9596664945958024,
                1.0262125134468079,
            ],
            "policy/clip_frac": [0.046875, 0.125, 0.11864406779661017, 0.0],
            "reward/total_mean": [0.3125, 0.265625, 0.234375, 0.3504464285714286],
            "reward/total_std": [0.1875, 0.1316585902058806, 0.14574029770451274, 0.1760848073372601],
            "groups/reward_std_mean": [
                0.09517108986108674,
                0.09935779599282303,
                0.13798492028969145,
                0.16014140370750296,
            ],
            "completion/len_mean": [8.0, 8.0, 7.375, 8.0],
            "optim/lr": [0.01, 0.02, 0.02, 0.02],
        },
        "reward_totals": [
            [0.125, 0.125, 0.125, 0.25, 0.25, 0.5, 0.625, 0.5],
            [0.125, 0.25, 0.25, 0.125, 0.5, 0.125, 0.375, 0.375],
            [0.375, 0.125, 0.0, 0.25, 0.5, 0.125, 0.25, 0.25],
            [0.625, 0.5, 0.125, 0.42857142857142855, 0.25, 0.5, 0.25, 0.125],
        ],
        "last_completions": [
            "3.75 melted 9.1 11 ten 9.0 score_2 73",
            "40 8.75 67 narrow entire 24 sixth /",
            "8.75 ] original cropped crosses score_2 none somewhat",
            "2 - 7.3 to 63 any both",
            "; star ' 5.1 fifth rest 60 preferred",
            "7.25 reasoning 49 8.75 analyze 82 replace top",
            "83 overlap center any corners 8.9 adding instructions",
            "json second 79 review scoring melted distorted him",
        ],
    },
}


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_grpo_run_pins(kind: str, tmp_path: Path) -> None:
    got = grpo_run(tmp_path, kind)
    want = GRPO_PINS[kind]
    assert len(got["reward_totals"]) == len(want["reward_totals"])
    for step, (g, w) in enumerate(zip(got["reward_totals"], want["reward_totals"], strict=True), 1):
        assert g == pytest.approx(w, rel=0, abs=ABS), f"rewards of step {step}"
    assert got["last_completions"] == want["last_completions"]
    for key in GRPO_KEYS:
        assert got["steps"][key] == pytest.approx(want["steps"][key], rel=0, abs=ABS), key


def test_grpo_pins_detect_another_seed_or_lr(tmp_path: Path) -> None:
    want = GRPO_PINS["single"]["steps"]
    other_seed = grpo_run(tmp_path / "seed", "single", seed=1)["steps"]
    assert not close(other_seed["loss/kl"], want["loss/kl"], ABS)
    assert not close(other_seed["policy/grad_norm"], want["policy/grad_norm"], ABS)
    other_lr = grpo_run(tmp_path / "lr", "single", lr=1.9e-2)
    first_rollout = GRPO_PINS["single"]["reward_totals"][0]
    assert other_lr["reward_totals"][0] == pytest.approx(first_rollout, abs=ABS)  # before any update
    assert not close(other_lr["steps"]["loss/kl"], want["loss/kl"], ABS)
    assert not close(other_lr["steps"]["policy/grad_norm"], want["policy/grad_norm"], ABS)


# --------------------------------------------------------------------------- FIRM reward-model SFT

RM_VLM = {**GRPO_VLM, "vision_depth": 2}
"""The FIRM tests' random Qwen3-VL (~0.25M parameters)."""


@pytest.fixture(scope="module")
def rm_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed-0 random Qwen3-VL saved as a checkpoint directory (the RM base)."""
    path = tmp_path_factory.mktemp("rm_base")
    build_tiny_vlm("qwen3_vl", seed=0, **RM_VLM).save_pretrained(path)
    return path


def rm_run(exp: str, base: Path, out: Path, *, seed: int = 3, lr: float = 3e-3) -> dict[str, Any]:
    """6 SFT steps of ``+exp=<exp>`` (batch 2 x 2 accumulated, cosine, no held-out judging)."""
    curate = "{n_examples: 10}" if exp == "firm_edit_rm" else "{n_prompts: 10}"
    metrics, ctx = run_task(
        exp,
        out,
        f"task.model={base}",
        f"task.data.curate={curate}",
        f"paths.cache_dir={out / 'cache'}",
        "task.sft.steps=6",
        "task.sft.batch_size=2",
        "task.sft.grad_accum=2",
        f"task.sft.lr={lr}",
        "task.sft.log_every=1",
        "task.sft.checkpoint_every=100",
        "task.eval_items=0",
        "task.export=false",
        "task.resume=never",
        f"seed={seed}",
    )
    history = json.loads((ctx.run_dir / "train_log.json").read_text())
    return {
        "loss": [h["loss"] for h in history],
        "lr": [h["lr"] for h in history],
        "train_rows": metrics["train_rows"],
    }


RM_PINS: dict[str, dict[str, Any]] = {
    "firm_edit_rm": {
        "loss": [
            6.855822324752808,
            6.548474004713155,
            6.255077226538408,
            6.005759432979914,
            5.830895006956168,
            5.691466857891271,
        ],
        "lr": [
            0.003,
            0.003,
            0.0027421729424061793,
            0.002067172942406179,
            0.0012328270575938211,
            0.0005578270575938211,
        ],
        "train_rows": {"execution": 10, "consistency": 8},
    },
    "firm_gen_rm": {
        "loss": [
            6.777712405915279,
            6.539140193834218,
            6.2453912660187365,
            6.057492986175836,
            5.932082066169152,
            5.760606702611837,
        ],
        "lr": [
            0.003,
            0.003,
            0.0027421729424061793,
            0.002067172942406179,
            0.0012328270575938211,
            0.0005578270575938211,
        ],
        "train_rows": {"instruction": 10, "quality": 10},
    },
}


@pytest.mark.parametrize("exp", ["firm_edit_rm", "firm_gen_rm"])
def test_rm_sft_pins(exp: str, rm_base: Path, tmp_path: Path) -> None:
    got = rm_run(exp, rm_base, tmp_path)
    want = RM_PINS[exp]
    assert got["train_rows"] == want["train_rows"]
    assert got["lr"] == pytest.approx(want["lr"], rel=0, abs=1e-12)
    assert got["loss"] == pytest.approx(want["loss"], rel=0, abs=ABS)


def test_rm_pins_detect_another_seed_or_lr(rm_base: Path, tmp_path: Path) -> None:
    want = RM_PINS["firm_edit_rm"]["loss"]
    other_seed = rm_run("firm_edit_rm", rm_base, tmp_path / "seed", seed=4)["loss"]
    assert not close(other_seed, want, ABS)
    other_lr = rm_run("firm_edit_rm", rm_base, tmp_path / "lr", lr=2.9e-3)["loss"]
    assert other_lr[0] == pytest.approx(want[0], abs=ABS)  # the first loss is before any update
    assert not close(other_lr[1:], want[1:], ABS)


# --------------------------------------------------------------------------- TIFA meta-eval (make main)

TIFA_STATS = ("pearson", "spearman", "kendall", "pairwise_acc", "pairwise_acc_ties")
TIFA_COUNTS = (
    "n",
    "n_total",
    "n_missing",
    "pairwise_n_pairs",
    "pairwise_n_human_ties",
    "pairwise_n_pred_ties",
)


def tifa_numbers(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per row: each statistic as ``[value, ci_lo, ci_hi]``, the counts, the invalid resamples."""
    out = {}
    for name, res in results.items():
        row: dict[str, Any] = {s: [res[s], *res[f"{s}_ci"]] for s in TIFA_STATS}
        row.update({c: res[c] for c in TIFA_COUNTS})
        row["n_invalid"] = sum(res["bootstrap"]["n_invalid"].values())
        out[name] = row
    return out


TIFA_PINS: dict[str, dict[str, Any]] = {
    "meteor": {
        "pearson": [0.33965916777485344, 0.2907940384761897, 0.3876288375752288],
        "spearman": [0.37227109656305163, 0.3086336078476231, 0.43302988020087907],
        "kendall": [0.27407599432086477, 0.2264625746158356, 0.3207748836743362],
        "pairwise_acc": [0.5936293436293436, 0.542395018604298, 0.640919738334341],
        "pairwise_acc_ties": [0.455625, 0.41625, 0.493125],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 214,
        "n_invalid": 0,
    },
    "bleu": {
        "pearson": [0.18334016729588432, 0.13391450844039185, 0.2295792419323843],
        "spearman": [0.2589505519981793, 0.19227052866727673, 0.3219525329022966],
        "kendall": [0.18791013860699693, 0.14042541124588961, 0.23280374120629774],
        "pairwise_acc": [0.5540540540540541, 0.5044088082617256, 0.6000303643724696],
        "pairwise_acc_ties": [0.4325, 0.396234375, 0.46689062499999995],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 227,
        "n_invalid": 0,
    },
    "rouge": {
        "pearson": [0.32888940582984777, 0.26694957846063705, 0.38743893921597256],
        "spearman": [0.3360035973369301, 0.2699496801106875, 0.39938056053601007],
        "kendall": [0.24485782545105927, 0.19699332803608893, 0.2922024760680224],
        "pairwise_acc": [0.5704633204633205, 0.5181532384336279, 0.6172167580080362],
        "pairwise_acc_ties": [0.45, 0.409359375, 0.49],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 256,
        "n_invalid": 0,
    },
    "spice": {
        "pearson": [0.3280527854243442, 0.2682468769335958, 0.3867266607165701],
        "spearman": [0.30731956312509134, 0.2410854577761006, 0.37111564789347645],
        "kendall": [0.2317581980131657, 0.1815968347569437, 0.28031531362875134],
        "pairwise_acc": [0.5395752895752896, 0.4881170368032819, 0.5878468847856603],
        "pairwise_acc_ties": [0.446875, 0.40875, 0.483765625],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 328,
        "n_invalid": 0,
    },
    "clipscore_vitb32": {
        "pearson": [0.33181816451036905, 0.2757717827126566, 0.38912862240209456],
        "spearman": [0.31980348101800954, 0.2566837880314084, 0.38119450150492673],
        "kendall": [0.23144589790242073, 0.18527167300306002, 0.2790545950561732],
        "pairwise_acc": [0.694980694980695, 0.6499728796844182, 0.7351335937111384],
        "pairwise_acc_ties": [0.45, 0.41125, 0.48564062499999994],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 0,
        "n_invalid": 0,
    },
    "tifa_vilt": {
        "pearson": [0.4932251792578272, 0.43979200903991633, 0.5391989905175198],
        "spearman": [0.5000065246920741, 0.44407686247324396, 0.5492027203859963],
        "kendall": [0.38240885208071124, 0.33825818999259577, 0.4225461521363696],
        "pairwise_acc": [0.4922779922779923, 0.4452896702319021, 0.5365797166765575],
        "pairwise_acc_ties": [0.4725, 0.435, 0.5062656249999999],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 565,
        "n_invalid": 0,
    },
    "tifa_git-large": {
        "pearson": [0.5445007948927735, 0.48957480681404547, 0.5972851715646857],
        "spearman": [0.5451049196080434, 0.4896564585751512, 0.5947477891992605],
        "kendall": [0.42550824027221545, 0.3801665151465496, 0.4676000706636033],
        "pairwise_acc": [0.528957528957529, 0.4771294903926483, 0.5782788744253926],
        "pairwise_acc_ties": [0.52125, 0.48435937500000004, 0.557515625],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 621,
        "n_invalid": 0,
    },
    "tifa_ofa-large": {
        "pearson": [0.49614720921114175, 0.44383700094193435, 0.5459553383030388],
        "spearman": [0.48659638555241713, 0.42833413648649904, 0.5378921746385108],
        "kendall": [0.37247819040318836, 0.3259782924815152, 0.41427530690611475],
        "pairwise_acc": [0.4893822393822394, 0.44318070409982174, 0.5327523395475647],
        "pairwise_acc_ties": [0.48, 0.44560937500000003, 0.5106562499999999],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 582,
        "n_invalid": 0,
    },
    "tifa_blip2-flant5xl": {
        "pearson": [0.5589831246126171, 0.5071094245103038, 0.6068268002363376],
        "spearman": [0.5580733094072966, 0.5053002428708084, 0.6045330514915659],
        "kendall": [0.43599721130276525, 0.3938104752422211, 0.4763096620917982],
        "pairwise_acc": [0.4874517374517375, 0.4411207218192904, 0.5326413142468103],
        "pairwise_acc_ties": [0.508125, 0.47123437500000004, 0.543125],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 672,
        "n_invalid": 0,
    },
    "tifa_mplug-large": {
        "pearson": [0.5967201059577837, 0.5462078635411918, 0.6397338169153176],
        "spearman": [0.5921877987367578, 0.5356940485743024, 0.6340455124142168],
        "kendall": [0.4717164648720951, 0.4252243609925862, 0.5084249466917928],
        "pairwise_acc": [0.4951737451737452, 0.4465344938749194, 0.5404434828529675],
        "pairwise_acc_ties": [0.519375, 0.48685937500000004, 0.55125],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 564,
        "pairwise_n_pred_ties": 703,
        "n_invalid": 0,
    },
    "human_inter_rater": {
        "pearson": [0.684023127194084, 0.6456812088742552, 0.7176920610289098],
        "spearman": [0.7222376915010708, 0.6875151539187777, 0.7517275847670661],
        "kendall": [0.6385222774977691, 0.6032962477706502, 0.6703797494031914],
        "pairwise_acc": [0.6466992665036675, 0.5974474983639717, 0.6996263119674889],
        "pairwise_acc_ties": [0.661875, 0.629375, 0.697515625],
        "n": 800,
        "n_total": 800,
        "n_missing": 0,
        "pairwise_n_pairs": 1600,
        "pairwise_n_human_ties": 782,
        "pairwise_n_pred_ties": 778,
        "n_invalid": 0,
    },
}
TIFA_PRINTED_SHA256 = "e31e6462318cdcd9c9f8285c72d67c9c10ede128b020e0cdd36cb528aa08d725"
"""SHA-256 of the caption + Markdown table ``make main`` prints (and writes to
<run_dir>/tifa_meta_eval.md)."""


def tifa_run(out: Path, *overrides: str) -> tuple[dict[str, dict[str, Any]], str]:
    results, ctx = run_task("tifa_meta_eval", out, *overrides)
    return tifa_numbers(results), (ctx.run_dir / "tifa_meta_eval.md").read_text()


def test_tifa_meta_eval_table_pins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got, printed = tifa_run(tmp_path)
    assert printed in capsys.readouterr().out
    assert list(got) == list(TIFA_PINS)
    for name, want in TIFA_PINS.items():
        assert close(got[name], want, ABS_META), (name, got[name])
    assert hashlib.sha256(printed.encode()).hexdigest() == TIFA_PRINTED_SHA256, printed


def test_tifa_pins_detect_another_bootstrap_seed(tmp_path: Path) -> None:
    got, _ = tifa_run(tmp_path, "seed=1")
    row, want = got["tifa_mplug-large"], TIFA_PINS["tifa_mplug-large"]
    assert row["spearman"][0] == pytest.approx(want["spearman"][0], abs=ABS_META)  # the point estimate
    assert not close(row["spearman"][1:], want["spearman"][1:], ABS_META)  # the resampled interval
