"""The RL registries: every advantage estimator and policy loss against a hand-computed value,
clear errors on unknown names, and algorithm entries that name registered parts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from common.registry import Registry
from common.rl import (
    ADVANTAGE_ESTIMATORS,
    POLICY_LOSSES,
    RL_ALGORITHMS,
    RLAlgorithm,
    nft_loss,
    policy_loss,
    register_algorithm,
)

F64 = torch.float64
EPS = 1e-4

# two contiguous groups of 2: (0, 2) has mean 1 and population std 1; (1, 1) has std 0.
# The whole batch has mean 1 and population std sqrt((1 + 1 + 0 + 0) / 4) = sqrt(0.5).
REWARDS = torch.tensor([0.0, 2.0, 1.0, 1.0], dtype=F64)
GROUP_STD = [-1 / (1 + EPS), 1 / (1 + EPS), 0.0, 0.0]
GLOBAL_STD = [-1 / (math.sqrt(0.5) + EPS), 1 / (math.sqrt(0.5) + EPS), 0.0, 0.0]
NO_STD = [-1.0, 1.0, 0.0, 0.0]
ADVANTAGES_BY_HAND = {
    "grpo": GROUP_STD,
    "group": GROUP_STD,
    "grpo_global_std": GLOBAL_STD,
    "batch": GLOBAL_STD,
    "dr_grpo": NO_STD,
    "none": NO_STD,
}


@pytest.mark.parametrize("name", ADVANTAGE_ESTIMATORS.names())
def test_every_advantage_estimator_by_hand(name: str) -> None:
    assert set(ADVANTAGE_ESTIMATORS.names()) == set(ADVANTAGES_BY_HAND)  # a new entry needs a hand value
    got = ADVANTAGE_ESTIMATORS.get(name)(REWARDS, group_size=2, eps=EPS)
    torch.testing.assert_close(got, torch.tensor(ADVANTAGES_BY_HAND[name], dtype=F64))
    # group ids instead of contiguous groups give the same advantages
    torch.testing.assert_close(ADVANTAGE_ESTIMATORS.get(name)(REWARDS, [7, 7, 3, 3], eps=EPS), got)


def _clipped() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    # sample 0: ratio 1.5, A = +1 -> -min(1.5, 1.2) = -1.2 on both tokens (clipped high);
    # sample 1: ratio 0.5, A = -1 -> -min(-0.5, -0.8) = 0.8 on its one valid token (clipped low);
    # grpo aggregation: mean over each sequence's valid tokens, then over sequences = -0.2
    logp = torch.log(torch.tensor([[1.5, 1.5], [0.5, 123.0]], dtype=F64))
    mask = torch.tensor([[1, 1], [1, 0]])
    return policy_loss(logp, torch.zeros_like(logp), torch.tensor([1.0, -1.0], dtype=F64), mask, 0.2, 0.2)


def _nft(adaptive: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    # beta 1, t 0.5, x0 0, x_t 1: err_plus = 1 - 0.5 v_theta, err_minus = 1 - 0.5 (2 v_old - v_theta)
    # sample 0: v_theta 2, v_old 1 -> err_plus 0, err_minus 1; r = 1    -> 1 * 0 + 0 * 1 = 0
    # sample 1: v_theta 0, v_old 1 -> err_plus 1, err_minus 0; r = 0.25 -> 0.25 * 1 + 0.75 * 0 = 0.25
    # loss = A_max * mean = 5 * 0.125 = 0.625 (the adaptive weights are 1 where the error is not 0)
    v_theta = torch.tensor([[2.0], [0.0]], dtype=F64)
    return nft_loss(
        v_theta,
        torch.ones_like(v_theta),
        torch.zeros_like(v_theta),
        torch.ones_like(v_theta),
        0.5,
        torch.tensor([1.0, 0.25], dtype=F64),
        beta=1.0,
        adv_clip_max=5.0,
        adaptive_weight=adaptive,
    )


LOSSES_BY_HAND: dict[str, tuple[Callable[[], tuple[torch.Tensor, dict[str, torch.Tensor]]], float]] = {
    "clipped": (_clipped, -0.2),
    "ppo_clip": (_clipped, -0.2),
    "nft": (lambda: _nft(True), 0.625),
    "diffusion_nft": (lambda: _nft(False), 0.625),
}


@pytest.mark.parametrize("name", POLICY_LOSSES.names())
def test_every_policy_loss_by_hand(name: str) -> None:
    assert set(POLICY_LOSSES.names()) == set(LOSSES_BY_HAND)  # a new entry needs a hand value
    assert POLICY_LOSSES.get(name) in (policy_loss, nft_loss)
    compute, expected = LOSSES_BY_HAND[name]
    loss, stats = compute()
    assert float(loss) == pytest.approx(expected, abs=1e-12)
    if POLICY_LOSSES.get(name) is policy_loss:
        assert float(stats["clip_frac"]) == 1.0
        assert (
            float(stats["clip_frac_high"]) == pytest.approx(2 / 3) and float(stats["clip_frac_low"]) == 1 / 3
        )


def test_the_registered_losses_are_the_module_functions() -> None:
    assert POLICY_LOSSES.get("clipped") is policy_loss and POLICY_LOSSES.get("nft") is nft_loss


@pytest.mark.parametrize(
    ("registry", "kind"),
    [
        (ADVANTAGE_ESTIMATORS, "advantage estimator"),
        (POLICY_LOSSES, "policy loss"),
        (RL_ALGORITHMS, "RL algorithm"),
    ],
)
def test_unknown_names_raise_listing_the_known_names(registry: Registry[Any], kind: str) -> None:
    message = f"unknown {kind} 'no_such_thing'; known: {', '.join(registry.names())}"
    with pytest.raises(KeyError, match=re.escape(message)):
        registry.get("no_such_thing")


def test_algorithms_name_registered_parts() -> None:
    assert set(RL_ALGORITHMS.names()) == {"grpo", "flow_grpo", "diffusion_nft"}
    for name in RL_ALGORITHMS:
        algo = RL_ALGORITHMS.get(name)
        assert algo.name == name
        assert algo.advantage in ADVANTAGE_ESTIMATORS and algo.loss in POLICY_LOSSES
        assert algo.advantage_estimator() is ADVANTAGE_ESTIMATORS.get(algo.advantage)
        assert algo.policy_loss() is POLICY_LOSSES.get(algo.loss)
    grpo, flow, nft = (RL_ALGORITHMS.get(n) for n in ("grpo", "flow_grpo", "diffusion_nft"))
    assert (grpo.advantage, grpo.loss, grpo.needs_logprobs) == ("grpo", "clipped", True)
    assert (flow.advantage, flow.loss, flow.needs_logprobs) == ("grpo_global_std", "clipped", True)
    assert (nft.advantage, nft.loss, nft.needs_logprobs) == ("grpo_global_std", "nft", False)


def test_an_algorithm_with_unknown_parts_is_refused_and_not_registered() -> None:
    with pytest.raises(KeyError, match="unknown advantage estimator 'grpo_typo'"):
        register_algorithm(RLAlgorithm("bad", advantage="grpo_typo", loss="clipped", needs_logprobs=True))
    with pytest.raises(KeyError, match="unknown policy loss 'clip'"):
        register_algorithm(RLAlgorithm("bad", advantage="grpo", loss="clip", needs_logprobs=True))
    assert "bad" not in RL_ALGORITHMS
    with pytest.raises(ValueError, match="already registered"):
        register_algorithm(RLAlgorithm("grpo", advantage="dr_grpo", loss="clipped", needs_logprobs=True))


def test_the_grpo_trainer_takes_its_loss_from_the_registry() -> None:
    from t2ieval_r1.grpo.update import ALGORITHM

    assert ALGORITHM is RL_ALGORITHMS.get("grpo") and ALGORITHM.policy_loss() is policy_loss
