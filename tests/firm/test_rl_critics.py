"""The critics of FIRM's online RL (firm.rl.critics): the world oracle on ground-truth and wrong
images, its rater noise, the reward server through ServerCritic, and any annotator (a real tiny
VLM, an OpenAI-compatible endpoint) through AnnotatorCritic."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.annotators import OpenAICompatibleAnnotator
from common.config import ConfigError, to_dataclass
from common.rewards.critic_client import CriticUnavailableError
from common.runtime import RunSettings, Scale
from common.world.geneval import Detection, evaluate_prompt
from common.world.prompts import sample_prompts
from common.world.render import render_at
from common.world.sampling import sample_scene
from common.world.shapes import object_bbox
from common.world.vocab import GENEVAL_TAGS
from firm.rl.critic_registry import CRITICS, CriticConfig, build_critic
from firm.rl.critics import (
    AnnotatorCritic,
    Critic,
    OracleCritic,
    ServerCritic,
    edit_scores,
    gen_instruction_score,
    gen_quality_score,
)
from firm.rl.items import RLItem, edit_items, gen_items
from firm.rl.rewards import RewardConfig, rewards_from_scores
from firm.serve import CriticServer, ServeConfig
from tests.common.annotators.chat_server import ChatServer, free_port
from tests.firm.serve_helpers import TINY_TOKENS, rm_answer, tiny_annotator, tiny_bundle

LEVEL = "basic"
RES = 32


def settings(tmp_path: Path) -> RunSettings:
    return RunSettings(cache_dir=tmp_path, scale=Scale.preset(), world_level=LEVEL)


@pytest.fixture(scope="module")
def gen_batch() -> tuple[list[RLItem], list[Image.Image], list[Image.Image], list[Image.Image]]:
    """24 gen items (4 per tag) with renders of matching, partly matching and missing scenes."""
    items = gen_items(24, 0, level=LEVEL)
    rng = np.random.default_rng(0)

    def renders(mode: str) -> list[Image.Image]:
        return [render_at(sample_scene(it.geneval, rng, mode=mode, level=LEVEL).scene, RES) for it in items]

    return items, renders("match"), renders("partial"), renders("miss")


@pytest.fixture(scope="module")
def edit_batch() -> tuple[list[RLItem], list[Image.Image]]:
    items = edit_items(12, 0, level=LEVEL, resolution=RES)  # every edit kind twice
    return items, [render_at(it.edit.target, RES) for it in items]


# ----------------------------------------------------------------------------- oracle: gen


def test_gen_oracle_scores_truth_high_and_wrong_images_low(gen_batch) -> None:
    items, match, partial, miss = gen_batch
    critic = OracleCritic("gen", level=LEVEL)
    assert isinstance(critic, Critic) and critic.modes == ("instruction", "quality")
    right = critic.score(items, match)
    assert set(right) == {"instruction", "quality"} and right["instruction"].shape == (24,)
    mismatched = critic.score(items[4:] + items[:4], match)  # every image scored against another tag's prompt
    wrong = critic.score(items, miss)
    half = critic.score(items, partial)
    assert np.mean(right["instruction"] == 5) >= 0.9
    assert np.mean(mismatched["instruction"] == 5) <= 0.2
    assert np.mean(wrong["instruction"] == 5) == 0.0 and np.mean(wrong["instruction"]) <= 1.5
    # partial scenes earn partial credit: between the misses and the matches
    assert np.mean(wrong["instruction"]) < np.mean(half["instruction"]) < np.mean(right["instruction"])
    assert set(np.unique(half["instruction"])) - {1.0} <= {2.0, 3.0, 4.0, 5.0}
    assert np.all(right["quality"] == 5)  # world renders hold no spurious objects


def test_gen_oracle_scores_a_blank_image_1() -> None:
    items = gen_items(6, 1, level=LEVEL)
    blank = [Image.new("RGB", (RES, RES), (128, 128, 128))] * 6
    out = OracleCritic("gen", level=LEVEL).score(items, blank)
    assert np.all(out["instruction"] == 1) and np.all(out["quality"] == 5)
    qma = rewards_from_scores(out, RewardConfig.preset("qma", "gen"))
    assert np.all(qma == 0)


def _dets(scene) -> list[Detection]:
    return [Detection(o.shape, object_bbox(o), o.color) for o in scene.objects]


def test_gen_instruction_follows_the_world_rubric_and_is_monotone_in_requirements_met() -> None:
    rng = np.random.default_rng(3)
    prompts = sample_prompts(36, rng, GENEVAL_TAGS, level="full")
    levels: dict[str, set[int]] = {}
    for p in prompts:
        points = []
        for mode in ("match", "partial", "miss") * 3:
            dets = _dets(sample_scene(p, rng, mode=mode, level="full").scene)
            verdict = evaluate_prompt(p, dets)
            points.append((np.mean(list(verdict.requirements.values())), gen_instruction_score(p, dets)))
            levels.setdefault(p.tag, set()).add(points[-1][1])
        for share_a, score_a in points:  # more requirements met never scores lower
            assert all(score_a <= score_b for share_b, score_b in points if share_b > share_a), (
                p.prompt,
                points,
            )
    assert (
        levels["counting"] >= {1, 2, 4, 5}
        and levels["position"] >= {1, 3, 5}
        and levels["colors"] >= {1, 4, 5}
    )
    # hand-made cases of the rubric: "a red circle" (colors) and "a circle left of a square" (position)
    red = next(p for p in prompts if p.tag == "colors")
    cls, color = red.include[0].cls, red.include[0].color
    other = next(c for c in ("red", "blue", "green") if c != color)
    box = (0.4, 0.4, 0.6, 0.6)
    assert gen_instruction_score(red, [Detection(cls, box, color)]) == 5
    assert gen_instruction_score(red, [Detection(cls, box, other)]) == 4  # one detail off
    assert gen_instruction_score(red, []) == 1  # nothing asked for
    # every requirement met but cluttered beyond any world scene: capped at 4
    crowd = [Detection(cls, box, color)] + [
        Detection(cls, (0.1 * k, 0.0, 0.1 * k + 0.05, 0.05)) for k in range(4)
    ]
    assert gen_instruction_score(red, crowd) == 4


def test_gen_quality_falls_two_points_per_spurious_object() -> None:
    p = sample_prompts(1, np.random.default_rng(0), ("single_object",), level=LEVEL)[0]
    assert [gen_quality_score(p, n) for n in range(7)] == [5, 5, 5, 5, 3, 1, 1]  # 1 asked + 2 allowed
    assert [gen_quality_score(p, n, max_distractors=1) for n in range(5)] == [5, 5, 5, 3, 1]  # basic


# ----------------------------------------------------------------------------- oracle: noise


def test_noise_zero_is_the_exact_truth_and_noise_is_reproducible(gen_batch) -> None:
    items, match, partial, _ = gen_batch
    images = match[:12] + partial[:12]
    exact = OracleCritic("gen", level=LEVEL)
    a, b = exact.score(items, images), exact.score(items, images)
    assert all(np.array_equal(a[m], b[m]) for m in exact.modes)
    noisy = OracleCritic("gen", noise=1.0, seed=7, level=LEVEL)
    n1 = noisy.score(items, images)
    n2 = OracleCritic("gen", noise=1.0, seed=7, level=LEVEL).score(items, images)  # a rerun
    other = OracleCritic("gen", noise=1.0, seed=8, level=LEVEL).score(items, images)
    for m in exact.modes:
        assert np.array_equal(n1[m], n2[m])
        assert set(np.unique(n1[m])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
        assert np.mean(n1[m] != a[m]) >= 0.25  # std 1: most scores move
        assert not np.array_equal(n1[m], other[m])
    # the draw follows the image: a different image of the same item draws differently
    swapped = noisy.score(items[:1] * 2, [match[0], partial[0]])
    assert swapped["instruction"].shape == (2,)
    again = noisy.score(items[:1], [match[0]])
    assert again["instruction"][0] == n1["instruction"][0] and again["quality"][0] == n1["quality"][0]


# ----------------------------------------------------------------------------- oracle: edit


def test_edit_oracle_target_executes_and_the_copied_source_does_not(edit_batch) -> None:
    items, targets = edit_batch
    critic = OracleCritic("edit", level=LEVEL)
    assert critic.modes == ("execution", "consistency")
    truth = critic.score(items, targets)
    copy = critic.score(items, [it.source_image for it in items])
    assert np.mean(truth["execution"] == 5) >= 0.8 and np.mean(truth["consistency"]) >= 4.5
    assert np.mean(copy["execution"] == 1) >= 0.9  # doing nothing is not the edit
    assert np.mean(copy["consistency"]) >= 4.5  # ... but it changes nothing else
    cme = rewards_from_scores(copy, RewardConfig.preset("cme", "edit"))
    assert np.all(cme[copy["execution"] == 1] == 0)  # CME pays nothing for the copy
    lazy = rewards_from_scores(copy, RewardConfig.preset("linear_equal", "edit"))
    assert np.all(lazy[copy["execution"] == 1] >= 0.5)  # the naive sum does (FIRM's ablation)
    blank = critic.score(items, [Image.new("RGB", (RES, RES), (128, 128, 128))] * len(items))
    assert np.all(blank["execution"][[it.edit.new != () for it in items]] == 1)
    assert np.mean(blank["consistency"]) <= 2.0  # the kept objects are gone


def test_edit_scores_cap_consistency_by_spurious_objects(edit_batch) -> None:
    triple = edit_batch[0][0].edit
    room = max(len(triple.source.objects), len(triple.target.objects))
    verdict = {"execution": True, "kept_share": 1.0, "n_detected": room}
    assert edit_scores(triple, verdict) == {"execution": 5.0, "consistency": 5.0}
    assert edit_scores(triple, {**verdict, "n_detected": room + 1})["consistency"] == 4.0
    assert edit_scores(triple, {**verdict, "n_detected": room + 3})["consistency"] == 3.0
    assert edit_scores(triple, {**verdict, "n_detected": room + 6})["consistency"] == 2.0
    half = edit_scores(triple, {"execution": False, "kept_share": 0.5, "n_detected": room + 1})
    assert half == {"execution": 1.0, "consistency": 3.0}


def test_oracle_refuses_mixed_or_unmatched_batches(edit_batch) -> None:
    items, targets = edit_batch
    with pytest.raises(ValueError, match="a gen critic got \\['edit'\\] items"):
        OracleCritic("gen", level=LEVEL).score(items[:1], targets[:1])
    with pytest.raises(ValueError, match="2 items but 1 images"):
        OracleCritic("edit", level=LEVEL).score(items[:2], targets[:1])
    with pytest.raises(ValueError, match="critic kind"):
        OracleCritic("video")


# ----------------------------------------------------------------------------- config and registry


def test_critic_config_checks_its_options_and_builds_every_registered_critic(tmp_path: Path) -> None:
    assert CRITICS.names() == ["model", "openai", "oracle", "server"]
    cfg = to_dataclass(CriticConfig, {"name": "oracle", "options": {"noise": 0.5, "seed": 3}})
    critic = build_critic(cfg, "edit", settings(tmp_path), None)
    assert isinstance(critic, OracleCritic)
    assert (critic.noise, critic.seed, critic.level, critic.modes) == (
        0.5,
        3,
        LEVEL,
        ("execution", "consistency"),
    )
    with pytest.raises(ConfigError, match="nosie"):
        to_dataclass(CriticConfig, {"name": "oracle", "options": {"nosie": 0.5}})
    with pytest.raises(KeyError, match="known: model, openai, oracle, server"):
        CriticConfig("oralce")
    with pytest.raises(ValueError, match=r"options\.model"):
        CriticConfig("openai", {"base_url": "http://x/v1"})
    server = build_critic(
        CriticConfig("server", {"base_url": "http://127.0.0.1:9/", "retries": 0}), "gen", settings(tmp_path)
    )
    assert (
        isinstance(server, ServerCritic)
        and server.client.retries == 0
        and server.modes == ("instruction", "quality")
    )


# ----------------------------------------------------------------------------- the reward server


def _hand_items(kind: str, n: int) -> tuple[list[RLItem], list[Image.Image]]:
    """Items whose prompts say ``item k`` (rm_answer scores them k), with renders of their truth."""
    if kind == "gen":
        base = gen_items(n, 2, level=LEVEL)
        items = [
            RLItem(it.id, "gen", f"{it.prompt} item {1 + i % 5}", geneval=it.geneval)
            for i, it in enumerate(base)
        ]
        rng = np.random.default_rng(0)
        return items, [render_at(sample_scene(it.geneval, rng, level=LEVEL).scene, RES) for it in items]
    base = edit_items(n, 2, level=LEVEL, resolution=RES)
    items = [
        RLItem(it.id, "edit", f"{it.prompt} item {1 + i % 5}", edit=it.edit, source_image=it.source_image)
        for i, it in enumerate(base)
    ]
    return items, [render_at(it.edit.target, RES) for it in items]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ChatServer]:
    def answer(text: str, key: str) -> str:
        return "no idea" if "item 5" in text else rm_answer(text, key)  # item 5: unreadable

    with ChatServer(answer=answer) as peer:
        yield peer


def test_server_critic_reads_the_rms_scores_and_maps_errors_to_nan(upstream: ChatServer) -> None:
    backend = OpenAICompatibleAnnotator(
        upstream.base_url, "canned", max_retries=0, temperature=None, max_tokens=None
    )
    with CriticServer(backend, ServeConfig(port=0, max_wait_ms=5.0), template="full") as server:
        for kind in ("gen", "edit"):
            items, images = _hand_items(kind, 5)
            critic = ServerCritic(server.url, kind, batch_size=2)
            out = critic.score(items, images)
            base, bonus = critic.modes
            assert np.array_equal(out[base][:4], [1.0, 2.0, 3.0, 4.0]) and math.isnan(out[base][4])
            if kind == "gen":  # quality (no prompt in it): min(k from the hash, 5, 4)
                assert np.all((out[bonus] >= 1) & (out[bonus] <= 4))
            else:
                assert np.array_equal(out[bonus][:4], [1.0, 2.0, 3.0, 4.0]) and math.isnan(out[bonus][4])
            rewards = rewards_from_scores(out, RewardConfig.preset("qma" if kind == "gen" else "cme", kind))
            assert (
                rewards[0] == 0.0
                and math.isnan(rewards[4])
                and np.all((rewards[:4] >= 0) & (rewards[:4] <= 1))
            )


def test_server_critic_lets_an_outage_through() -> None:
    items, images = _hand_items("gen", 2)
    critic = ServerCritic(f"http://127.0.0.1:{free_port()}", "gen", retries=0, timeout=2)
    with pytest.raises(CriticUnavailableError, match="is unavailable"):
        critic.score(items, images)


# ----------------------------------------------------------------------------- annotator critics


def test_annotator_critic_through_a_real_tiny_vlm_gives_nan_for_unreadable_answers(tmp_path: Path) -> None:
    items, images = _hand_items("edit", 3)
    critic = AnnotatorCritic(tiny_annotator(), "edit", "tiny", max_tokens=TINY_TOKENS)
    out = critic.score(items, images)
    assert set(out) == {"execution", "consistency"}
    for scores in out.values():  # 8 tokens of a random model: (almost surely) unreadable
        assert scores.shape == (3,) and all(math.isnan(s) or 1 <= s <= 5 for s in scores)
    assert np.isnan(np.concatenate(list(out.values()))).mean() >= 0.5
    # the registry's "model" critic loads a saved VLM directory the same way
    tiny_bundle().save_pretrained(tmp_path / "vlm")
    built = build_critic(
        CriticConfig("model", {"source": str(tmp_path / "vlm"), "max_tokens": TINY_TOKENS, "batch_size": 4}),
        "gen",
        settings(tmp_path),
    )
    assert (
        isinstance(built, AnnotatorCritic)
        and built.template == "tiny"
        and built.max_tokens["instruction"] == 8
    )
    gen, gen_images = _hand_items("gen", 2)
    got = built.score(gen, gen_images)
    assert all(s.shape == (2,) and all(math.isnan(v) or 1 <= v <= 5 for v in s) for s in got.values())


def test_openai_critic_asks_firms_rm_prompts_and_parses_them(upstream: ChatServer, tmp_path: Path) -> None:
    critic = build_critic(
        CriticConfig(
            "openai",
            {
                "base_url": upstream.base_url,
                "model": "canned",
                "template": "full",
                "max_retries": 0,
                "api_key_env": None,
            },
        ),
        "edit",
        settings(tmp_path),
    )
    assert isinstance(critic, AnnotatorCritic) and critic.max_tokens == {
        "execution": 256,
        "consistency": 256,
        "instruction": 1024,
        "quality": 256,
    }
    items, images = _hand_items("edit", 5)
    before = len(upstream.bodies)
    out = critic.score(items, images)
    for mode in ("execution", "consistency"):
        assert np.array_equal(out[mode][:4], [1.0, 2.0, 3.0, 4.0]) and math.isnan(out[mode][4])
    sent = upstream.bodies[before:]
    assert len(sent) == 10 and all(b["temperature"] == 0.0 and b["max_tokens"] == 256 for b in sent)
    assert all("<report>" not in str(b) for b in sent)  # the RM prompt, without the curation report
    assert not (tmp_path / "annotator_responses").exists()  # RL responses are not cached by default
