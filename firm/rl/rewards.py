"""Reward shaping of FIRM's online RL: critic scores (1-5, :mod:`firm.rl.critics`) -> rewards in [0, 1].

Source: FIRM §4 (docs/papers/firm.md) and its ablation; the combiners are those of
:mod:`common.rewards.base_and_bonus` (registered in :data:`common.rewards.REWARD_COMBINERS`),
applied to the scores mapped to [0, 1] by ``to_unit(s) = (s - 1) / 4``. With
``E, C, I, Q = to_unit(execution, consistency, instruction, quality)``:

* ``cme`` (edit), CME, FIRM's editing default: ``clamp(E * (0.6 + 0.4 C) / (0.6 + 0.4), 0, 1)``;
  NaN when E or C is NaN (FIRM has no fallback for CME).
* ``qma`` (gen), QMA, FIRM's generation default: ``clamp(I * (0.4 + 0.6 Q) / (0.4 + 0.6), 0, 1)``;
  a NaN (or absent) Q falls back to ``I``, as FIRM's code does; a NaN I is NaN.
* ``linear_equal`` (edit), FIRM's first naive ablation: ``0.5 E + 0.5 C`` (it learns to return the
  source unchanged: E = 0, C = 1 earns 0.5).
* ``linear_weighted`` (edit), FIRM's second naive ablation: ``0.6 E + 0.4 C``.
* ``instruction_only`` (gen and edit): the base score alone, ``I`` (gen) or ``E`` (edit).
* ``quality_sum`` (gen): the linear sum of the two gen scores, ``0.5 I + 0.5 Q``.

A linear combiner (``combiner="linear"``) is ``sum_k w_k x_k / sum_k w_k`` over its weighted modes
(the presets' weights sum to 1, so this is the formula above), NaN when any weighted score is NaN,
clipped to [0, 1]. The products (``cme``, ``qma``) take ``weights={"w1": .., "w2": ..}`` (empty:
FIRM's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.config import to_dataclass
from common.rewards import NAIVE_EQUAL, NAIVE_WEIGHTED, REWARD_COMBINERS, to_unit
from common.rewards.modes import CONSISTENCY, EXECUTION, INSTRUCTION, KIND_MODES, QUALITY, RM_MODES

__all__ = [
    "COMBINERS",
    "REWARD_PRESETS",
    "RewardConfig",
    "reward_config",
    "rewards_from_scores",
]

COMBINERS: tuple[str, ...] = ("cme", "qma", "linear")
"""The combiners a :class:`RewardConfig` may name (keys of :data:`common.rewards.REWARD_COMBINERS`)."""

_PRODUCT_MODES: dict[str, tuple[str, str]] = {"cme": (EXECUTION, CONSISTENCY), "qma": (INSTRUCTION, QUALITY)}


@dataclass
class RewardConfig:
    """How critic scores become one reward (module docstring).

    Attributes:
        combiner: ``cme``, ``qma`` or ``linear``.
        weights: ``cme`` / ``qma``: ``w1`` (base) and ``w2`` (bonus), empty for FIRM's (0.6 / 0.4,
            0.4 / 0.6); ``linear``: a weight per RM mode (normalised by their sum).
        name: a label (the preset's name; logs and tables).
    """

    combiner: str = "qma"
    weights: dict[str, float] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if self.combiner not in COMBINERS:
            raise ValueError(f"reward combiner must be one of {COMBINERS}, got {self.combiner!r}")
        REWARD_COMBINERS.get(self.combiner)
        self.weights = {str(k): float(v) for k, v in self.weights.items()}
        if any(not math.isfinite(v) for v in self.weights.values()):
            raise ValueError(f"reward weights must be finite, got {self.weights}")
        if self.combiner == "linear":
            unknown = sorted(set(self.weights) - set(RM_MODES))
            if not self.weights or unknown:
                raise ValueError(
                    f"a linear reward needs weights per RM mode ({', '.join(RM_MODES)}), got {self.weights}"
                )
            if sum(self.weights.values()) <= 0 or min(self.weights.values()) < 0:
                raise ValueError(
                    f"linear reward weights must be >= 0 with a positive sum, got {self.weights}"
                )
        elif set(self.weights) - {"w1", "w2"}:
            raise ValueError(f"{self.combiner} takes weights w1 and w2 only, got {sorted(self.weights)}")
        self.name = self.name or self.combiner

    @property
    def modes(self) -> tuple[str, ...]:
        """The RM modes the reward reads (for ``qma``, ``quality`` is optional)."""
        if self.combiner == "linear":
            return tuple(m for m in RM_MODES if m in self.weights)
        return _PRODUCT_MODES[self.combiner]

    @classmethod
    def preset(cls, name: str, kind: str) -> RewardConfig:
        """The preset ``name`` (:data:`REWARD_PRESETS`) for items of ``kind``."""
        if name not in REWARD_PRESETS:
            raise KeyError(f"unknown reward preset {name!r}; known: {', '.join(REWARD_PRESETS)}")
        kinds, make = REWARD_PRESETS[name]
        if kind not in kinds:
            raise ValueError(f"reward preset {name!r} is for {' / '.join(kinds)} items, not {kind!r}")
        return make(kind)


REWARD_PRESETS: dict[str, tuple[tuple[str, ...], Any]] = {
    "qma": (("gen",), lambda kind: RewardConfig("qma", {"w1": 0.4, "w2": 0.6}, "qma")),
    "cme": (("edit",), lambda kind: RewardConfig("cme", {"w1": 0.6, "w2": 0.4}, "cme")),
    "linear_equal": (("edit",), lambda kind: RewardConfig("linear", dict(NAIVE_EQUAL), "linear_equal")),
    "linear_weighted": (
        ("edit",),
        lambda kind: RewardConfig("linear", dict(NAIVE_WEIGHTED), "linear_weighted"),
    ),
    "instruction_only": (
        ("gen", "edit"),
        lambda kind: RewardConfig("linear", {KIND_MODES[kind][0]: 1.0}, "instruction_only"),
    ),
    "quality_sum": (
        ("gen",),
        lambda kind: RewardConfig("linear", {INSTRUCTION: 0.5, QUALITY: 0.5}, "quality_sum"),
    ),
}
"""Preset name -> (the item kinds it applies to, ``kind -> RewardConfig``) (module docstring)."""


def reward_config(node: str | Mapping[str, Any] | RewardConfig, kind: str) -> RewardConfig:
    """A :class:`RewardConfig` from a preset name, a config node (``{combiner, weights, name}``;
    ``{preset: name}`` also reads as the preset) or a config."""
    if isinstance(node, RewardConfig):
        return node
    if isinstance(node, str):
        return RewardConfig.preset(node, kind)
    data = dict(node or {})
    if "preset" in data:
        preset = data.pop("preset")
        if data:
            raise ValueError(f"reward: give a preset or combiner / weights, not both (got {sorted(data)})")
        return RewardConfig.preset(str(preset), kind)
    return to_dataclass(RewardConfig, data, "reward")


def _unit(scores: Mapping[str, Any], mode: str) -> np.ndarray:
    if mode not in scores:
        raise KeyError(f"the reward needs {mode!r} scores; the critic gave {sorted(scores)}")
    return np.asarray(to_unit(np.asarray(scores[mode], dtype=float)), dtype=float)


def rewards_from_scores(scores: Mapping[str, Any], config: RewardConfig) -> np.ndarray:
    """One reward in [0, 1] per image from 1-5 ``scores`` per mode (module docstring); NaN where a
    needed score is NaN (QMA's quality is not needed: NaN or absent falls back to I)."""
    if config.combiner == "cme":
        e, c = _unit(scores, EXECUTION), _unit(scores, CONSISTENCY)
        out = REWARD_COMBINERS.get("cme")(e, c, **config.weights)
        out = np.where(np.isnan(c), np.nan, out)  # no fallback for CME in FIRM
    elif config.combiner == "qma":
        i = _unit(scores, INSTRUCTION)
        q = _unit(scores, QUALITY) if QUALITY in scores else np.full_like(i, np.nan)
        out = REWARD_COMBINERS.get("qma")(i, q, **config.weights)
    else:
        values = {m: _unit(scores, m) for m in config.weights}
        out = REWARD_COMBINERS.get("linear")(values, config.weights, normalize=True)
        with np.errstate(invalid="ignore"):
            out = np.clip(out, 0.0, 1.0)
    return np.asarray(out, dtype=float)
