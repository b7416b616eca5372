"""The critics of FIRM's online RL: what scores the policy's images (docs/papers/firm.md §4-5).

A :class:`Critic` judges a batch of :class:`~firm.rl.items.RLItem` and their sampled images in
the RM modes of the items' kind (:data:`common.rewards.modes.KIND_MODES`: ``instruction`` /
``quality`` for gen, ``execution`` / ``consistency`` for edit) and returns, per mode, one float
per image on FIRM's 1-5 scale, NaN where the critic gave no usable answer.
:mod:`firm.rl.rewards` turns them into rewards (CME, QMA, the linear ablations).

Critics (registered in :data:`firm.rl.critic_registry.CRITICS`, built from a
:class:`~firm.rl.critic_registry.CriticConfig` by :func:`~firm.rl.critic_registry.build_critic`):

* ``oracle`` (:class:`OracleCritic`): the world's ground truth read from the pixels by the world
  checker (a generated image has no scene), plus optional rater noise. The control of the RL
  experiments: what a perfect RM would give.
* ``server`` (:class:`ServerCritic`): the trained FIRM RMs behind the reward server
  (:mod:`firm.serve`) through :class:`common.rewards.critic_client.CriticClient`.
* ``model`` / ``openai`` (:class:`AnnotatorCritic`): any :class:`~common.annotators.Annotator`
  (an in-process VLM: the untrained base or any saved VLM / RM directory; or an OpenAI-compatible
  endpoint) asked FIRM's RM prompts (:func:`firm.prompts.rm.rm_messages`, the server's and
  FIRM-Bench's) and read by :func:`firm.bench.verdicts.judge` (FIRM-Bench's request path and
  :func:`firm.prompts.rm.parse_rm_output`).

Oracle scores (:func:`gen_instruction_score`, :func:`gen_quality_score`, :func:`edit_scores`):

* gen ``instruction``: 5 when the checker's verdict is clean-correct
  (:func:`common.world.checker.clean_correct`); otherwise FIRM's generation rubric as the world
  defines it (:func:`common.world.benchmarks.truth.generation_level_of`, the same function the
  world's FIRM-Bench-Gen truth uses) on the detections: no requested class detected 1; most
  subjects missing (completeness < 0.5), or a class missing and a detail off, 2; a relation
  wrong, a count off by more than one, two details off, or a class missing with nothing else
  wrong, 3; every class present and one detail off 4; capped at 4 when every GenEval
  requirement holds but the image is not clean (more than :data:`~common.world.checker.EXTRA_OBJECTS`
  objects beyond those asked for). Within a prompt the level never falls as requirements are
  met (tests/firm/test_rl_critics.py checks it over the world's prompts), so partial success
  earns partial credit.
* gen ``quality``: ``max(1, 5 - 2 spurious)`` with ``spurious = max(0, detections - requested -
  max distractors of the level)`` (1 at ``basic``, 2 at ``full``): no world scene of the level
  holds more objects than that, so each one more is an artefact (the checker reads noise-like
  texture as objects, and a policy can add objects to raise its odds of showing the requested
  one: measured, docs/experiments/firm_rl.md); a generated image has no defects record, and
  spurious objects are what the world's pixels show of poor quality. Two points per object is
  this project's choice.
* edit ``execution``: 5 if :func:`common.models.pretrain.data.edit_verdict` says the edit was
  executed, else 1. Not graded: the checker's verdict is one boolean per edit (its per-object
  matches cannot tell FIRM's "main intent done, a detail wrong" from "not done"), and counting
  half an edit (e.g. a recolour's old object gone, the new one missing) would pay for deleting
  the object.
* edit ``consistency``: ``1 + 4 * kept_share`` (the share of the objects the edit leaves alone
  that are still detected), capped by FIRM's consistency rubric
  (:func:`common.world.edits.rubric.consistency_from_counts`) at ``extra`` significant unintended
  changes, ``extra = detections - max(|source|, |target|)`` objects that neither scene has: 4 for
  one, 3 for two or three, 2 for four or more. An object the edit should have removed but did not
  is execution's failure, not an unintended change, so the unchanged source keeps consistency 5.

Rater noise (``noise > 0``): Gaussian with std ``noise`` added to each score, rounded to an
integer and clipped to [1, 5], drawn from a generator seeded by ``(seed, item id, SHA-256 of
the image's pixels)``: a rerun scores the same image identically, another image (or item) draws
anew.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from common.annotators.types import Annotator
from common.models.pretrain.data import EditTriple, edit_verdict
from common.rewards.critic_client import CriticClient
from common.rewards.modes import (
    CONSISTENCY,
    EDIT_MODES,
    EXECUTION,
    INSTRUCTION,
    KIND_MODES,
    QUALITY,
)
from common.world.benchmarks.truth import generation_level_of
from common.world.checker import EXTRA_OBJECTS, clean_correct, detect_objects, upsample_for_checker
from common.world.edits.rubric import consistency_from_counts
from common.world.geneval import Detection, GenEvalPrompt, evaluate_prompt
from common.world.levels import get_level
from firm.bench.verdicts import JudgeItem, judge
from firm.prompts.rm import RM_TEMPLATES, rm_messages
from firm.rl.items import ITEM_KINDS, RLItem
from firm.serve.config import DEFAULT_SCORE_MAX_TOKENS

__all__ = [
    "AnnotatorCritic",
    "Critic",
    "OracleCritic",
    "ServerCritic",
    "critic_modes",
    "edit_scores",
    "gen_instruction_score",
    "gen_quality_score",
]

SCORE_LO, SCORE_HI = 1.0, 5.0


@runtime_checkable
class Critic(Protocol):
    """Scores images of RL items in its ``modes`` (module docstring)."""

    modes: tuple[str, ...]

    def score(self, items: Sequence[RLItem], images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        """``{mode: scores}``, one float per image on 1-5 (NaN: no usable answer)."""
        ...


def critic_modes(kind: str) -> tuple[str, ...]:
    """The RM modes a critic of items of ``kind`` scores (``ValueError`` on an unknown kind)."""
    if kind not in ITEM_KINDS:
        raise ValueError(f"critic kind must be one of {ITEM_KINDS}, got {kind!r}")
    return KIND_MODES[kind]


def _check_batch(kind: str, items: Sequence[RLItem], images: Sequence[Image.Image]) -> None:
    if len(items) != len(images):
        raise ValueError(f"{len(items)} items but {len(images)} images; give one image per item")
    wrong = sorted({it.kind for it in items if it.kind != kind})
    if wrong:
        raise ValueError(f"a {kind} critic got {wrong} items; build one critic per item kind")
    if kind == "edit" and any(it.source_image is None for it in items):
        raise ValueError("edit items need their source_image (the image before the edit)")


# ----------------------------------------------------------------------------- oracle


def gen_instruction_score(prompt: GenEvalPrompt, detections: Sequence[Detection]) -> int:
    """The oracle's instruction-following score 1-5 of an image with ``detections`` (module
    docstring: clean-correct 5, else the world's rubric level, at most 4)."""
    verdict = evaluate_prompt(prompt, detections)
    if clean_correct(prompt, verdict, len(detections)):
        return 5
    counts = Counter(d.cls for d in detections)
    return min(4, generation_level_of(prompt, verdict, counts))


def gen_quality_score(prompt: GenEvalPrompt, n_detections: int, max_distractors: int = EXTRA_OBJECTS) -> int:
    """The oracle's quality 1-5: ``max(1, 5 - 2 spurious)``, ``spurious`` the detections beyond
    the requested objects plus ``max_distractors`` (the most unmentioned objects a scene of the
    world level holds: 1 at ``basic``, 2 at ``full``)."""
    allowed = sum(it.count for it in prompt.include) + int(max_distractors)
    return max(1, 5 - 2 * max(0, int(n_detections) - allowed))


def edit_scores(triple: EditTriple, verdict: Mapping[str, Any]) -> dict[str, float]:
    """The oracle's execution and consistency 1-5 from an :func:`edit_verdict` (module docstring)."""
    execution = SCORE_HI if verdict["execution"] else SCORE_LO
    extra = max(0, int(verdict["n_detected"]) - max(len(triple.source.objects), len(triple.target.objects)))
    consistency = min(1.0 + 4.0 * float(verdict["kept_share"]), float(consistency_from_counts(extra, 0)))
    return {EXECUTION: execution, CONSISTENCY: consistency}


def _image_key(image: Image.Image) -> int:
    rgb = image.convert("RGB")
    h = hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).digest()
    return int.from_bytes(h[:8], "little")


class OracleCritic:
    """The world's ground truth read from pixels, plus rater noise (module docstring).

    Args:
        kind: ``gen`` or ``edit`` (the items it scores).
        noise: the std of the Gaussian rater noise on the 1-5 scale (0: the exact truth, not
            rounded).
        seed: the noise seed.
        level: the world level (its shapes are all the checker may read; ``None``: the default).
    """

    def __init__(self, kind: str, noise: float = 0.0, seed: int = 0, level: str | None = None) -> None:
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {noise!r}")
        self.kind = kind
        self.modes = critic_modes(kind)
        self.noise = float(noise)
        self.seed = int(seed)
        self.level = get_level(level).name
        self.shapes = get_level(level).shapes
        self.max_distractors = get_level(level).distractors[1]

    def __repr__(self) -> str:
        return f"OracleCritic({self.kind!r}, noise={self.noise:g}, seed={self.seed}, level={self.level!r})"

    def truth(self, item: RLItem, image: Image.Image) -> dict[str, float]:
        """The noiseless scores of one image."""
        if self.kind == "gen":
            if item.geneval is None:
                raise ValueError(f"gen item {item.id!r} has no GenEval requirements (the oracle's truth)")
            dets = [d.to_detection() for d in detect_objects(upsample_for_checker(image), shapes=self.shapes)]
            return {
                INSTRUCTION: float(gen_instruction_score(item.geneval, dets)),
                QUALITY: float(gen_quality_score(item.geneval, len(dets), self.max_distractors)),
            }
        if item.edit is None:
            raise ValueError(f"edit item {item.id!r} has no world edit (the oracle's truth)")
        verdict = edit_verdict(item.edit, image, source_image=item.source_image, shapes=self.shapes)
        return edit_scores(item.edit, verdict)

    def _noisy(self, scores: dict[str, float], item: RLItem, image: Image.Image) -> dict[str, float]:
        if self.noise == 0:
            return scores
        rng = np.random.default_rng([self.seed, zlib.crc32(item.id.encode()), _image_key(image)])
        z = rng.standard_normal(len(self.modes))
        return {
            m: float(np.clip(np.round(scores[m] + self.noise * z[k]), SCORE_LO, SCORE_HI))
            for k, m in enumerate(self.modes)
        }

    def score(self, items: Sequence[RLItem], images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        _check_batch(self.kind, items, images)
        rows = [self._noisy(self.truth(it, im), it, im) for it, im in zip(items, images, strict=True)]
        return {m: np.array([r[m] for r in rows], dtype=float) for m in self.modes}


# ----------------------------------------------------------------------------- trained critics


def _instructions(mode: str, items: Sequence[RLItem]) -> list[str]:
    return ["" if mode == QUALITY else it.prompt for it in items]


class ServerCritic:
    """FIRM's RMs behind the reward server (:mod:`firm.serve`), through :class:`CriticClient`.

    An answer the RM wrote but that cannot be parsed (or an item the server's model failed on)
    scores NaN; :class:`~common.rewards.critic_client.CriticUnavailableError` (the server is down
    or keeps failing) and :class:`~common.rewards.critic_client.CriticRequestError` (a request
    the server refused: a bug) propagate. ``quality`` is the RM's ``min(aesthetics, quality,
    structure)`` (QMA's Q before ``to_unit``).

    Args:
        base_url: the server's root (``http://host:port``).
        kind: ``gen`` or ``edit``.
        client: a ready client (tests; ``base_url`` and ``client_options`` are then ignored).
        **client_options: :class:`CriticClient` keywords (``template``, ``timeout``, ``retries``,
            ``deadline``, ``batch_size``, ``concurrency`` ...).
    """

    def __init__(
        self, base_url: str, kind: str, *, client: CriticClient | None = None, **client_options: Any
    ) -> None:
        self.kind = kind
        self.modes = critic_modes(kind)
        self.client = client if client is not None else CriticClient(base_url, **client_options)

    def __repr__(self) -> str:
        return f"ServerCritic({self.client.base_url!r}, {self.kind!r})"

    def score(self, items: Sequence[RLItem], images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        _check_batch(self.kind, items, images)
        sources = [it.source_image for it in items] if self.kind == "edit" else None
        out: dict[str, np.ndarray] = {}
        for mode in self.modes:
            results = self.client.score(
                mode,
                list(images),
                None if mode == QUALITY else _instructions(mode, items),
                sources if mode in EDIT_MODES else None,  # type: ignore[arg-type]
            )
            out[mode] = np.array(
                [math.nan if r.error is not None or r.score is None else float(r.score) for r in results],
                dtype=float,
            )
        return out


class AnnotatorCritic:
    """Any :class:`~common.annotators.Annotator` asked FIRM's RM prompts (module docstring).

    Requests are the reward server's and FIRM-Bench's: :func:`firm.prompts.rm.rm_messages` in
    ``template``, greedy, with a completion budget per mode (default: the server's
    ``DEFAULT_SCORE_MAX_TOKENS``), answered and parsed by :func:`firm.bench.verdicts.judge`; an
    unreadable answer or a failed request scores NaN.

    Args:
        annotator: the critic model (in-process VLM or OpenAI-compatible endpoint).
        kind: ``gen`` or ``edit``.
        template: the RM prompt template (``tiny`` / ``full``; :func:`firm.rm.sources.resolve_template`).
        max_tokens: completion budget per mode, or one for all.
        chunk_size: requests per ``annotator.complete`` call.
    """

    def __init__(
        self,
        annotator: Annotator,
        kind: str,
        template: str = "tiny",
        *,
        max_tokens: int | Mapping[str, int] | None = None,
        chunk_size: int = 64,
    ) -> None:
        RM_TEMPLATES.get(template)  # unknown names fail here, listing the known ones
        self.annotator = annotator
        self.kind = kind
        self.modes = critic_modes(kind)
        self.template = template
        if max_tokens is None:
            max_tokens = dict(DEFAULT_SCORE_MAX_TOKENS)
        elif isinstance(max_tokens, Mapping):
            max_tokens = {**DEFAULT_SCORE_MAX_TOKENS, **{k: int(v) for k, v in max_tokens.items()}}
        self.max_tokens: int | dict[str, int] = (
            max_tokens if isinstance(max_tokens, dict) else int(max_tokens)
        )
        self.chunk_size = int(chunk_size)

    def __repr__(self) -> str:
        return f"AnnotatorCritic({getattr(self.annotator, 'model', self.annotator)!r}, {self.kind!r})"

    def score(self, items: Sequence[RLItem], images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        _check_batch(self.kind, items, images)
        asks = [
            JudgeItem(
                f"{it.id}:{mode}:{i}",
                mode,
                rm_messages(
                    mode,
                    image=im,
                    instruction="" if mode == QUALITY else it.prompt,
                    source=it.source_image if mode in EDIT_MODES else None,
                    template=self.template,
                ),
                math.nan,
            )
            for mode in self.modes
            for i, (it, im) in enumerate(zip(items, images, strict=True))
        ]
        verdicts = judge(
            self.annotator, asks, max_tokens=self.max_tokens, chunk_size=self.chunk_size, desc="critic"
        )
        n = len(items)
        return {
            mode: np.array(
                [
                    math.nan if v.error is not None or v.score is None else float(v.score)
                    for v in verdicts[k * n : (k + 1) * n]
                ],
                dtype=float,
            )
            for k, mode in enumerate(self.modes)
        }
