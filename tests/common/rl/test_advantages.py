"""Group-relative advantages: hand-computed values and invariants (GRPO, :mod:`common.rl.advantages`)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from common.rl import ADVANTAGE_ESTIMATORS, group_advantages, group_mean_std, zero_std_ratio

EPS = 1e-4
REWARDS = [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]  # two contiguous groups of 3


def _t(x: list[float]) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def test_group_std_population_by_hand() -> None:
    # group [1, 2, 3]: mean 2, population var (1 + 0 + 1) / 3 = 2/3, std sqrt(2/3) = 0.816497
    # group [4, 4, 4]: mean 4, std 0 -> advantages 0 / (0 + eps) = 0
    s = math.sqrt(2.0 / 3.0)
    expected = _t([-1 / (s + EPS), 0.0, 1 / (s + EPS), 0.0, 0.0, 0.0])
    got = group_advantages(_t(REWARDS), group_size=3)
    torch.testing.assert_close(got, expected)


def test_group_std_unbiased_by_hand() -> None:
    # group [1, 2, 3]: unbiased var (1 + 0 + 1) / 2 = 1 -> std 1
    expected = _t([-1 / (1 + EPS), 0.0, 1 / (1 + EPS), 0.0, 0.0, 0.0])
    got = group_advantages(_t(REWARDS), group_size=3, unbiased=True)
    torch.testing.assert_close(got, expected)


def test_batch_std_by_hand() -> None:
    # batch mean 3; deviations [-2, -1, 0, 1, 1, 1]; squares sum to 8; population var 8/6 = 4/3
    # std = 1.154701; numerators are still the per-group centred rewards [-1, 0, 1, 0, 0, 0]
    s = math.sqrt(4.0 / 3.0)
    expected = _t([-1 / (s + EPS), 0.0, 1 / (s + EPS), 0.0, 0.0, 0.0])
    torch.testing.assert_close(group_advantages(_t(REWARDS), group_size=3, std="batch"), expected)
    # unbiased batch std: var 8/5
    s_u = math.sqrt(8.0 / 5.0)
    expected_u = _t([-1 / (s_u + EPS), 0.0, 1 / (s_u + EPS), 0.0, 0.0, 0.0])
    got_u = group_advantages(_t(REWARDS), group_size=3, std="batch", unbiased=True)
    torch.testing.assert_close(got_u, expected_u)


def test_no_std_dr_grpo_by_hand() -> None:
    # only centring: [1-2, 2-2, 3-2, 4-4, 4-4, 4-4]
    got = group_advantages(_t(REWARDS), group_size=3, std="none")
    torch.testing.assert_close(got, _t([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]))


def test_non_contiguous_group_ids_by_hand() -> None:
    # ids [7, 3, 7, 3]: group 7 = [1, 3] (mean 2, std 1), group 3 = [10, 20] (mean 15, std 5)
    got = group_advantages(_t([1.0, 10.0, 3.0, 20.0]), [7, 3, 7, 3])
    expected = _t([-1 / (1 + EPS), -5 / (5 + EPS), 1 / (1 + EPS), 5 / (5 + EPS)])
    torch.testing.assert_close(got, expected)
    # same with a tensor of ids and the ids permuted consistently
    got_t = group_advantages(_t([10.0, 1.0, 20.0, 3.0]), torch.tensor([3, 7, 3, 7]))
    torch.testing.assert_close(got_t, expected[[1, 0, 3, 2]])


def test_group_of_one_is_zero_not_nan() -> None:
    for unbiased in (False, True):
        got = group_advantages(_t([5.0, 1.0, 3.0]), [0, 1, 1], unbiased=unbiased)
        assert torch.isfinite(got).all()
        assert got[0].item() == 0.0


def test_group_mean_std_counts() -> None:
    index = torch.tensor([0, 1, 0, 1, 1])
    mean, std, count = group_mean_std(_t([1.0, 2.0, 3.0, 2.0, 2.0]), index, 2)
    torch.testing.assert_close(mean, _t([2.0, 2.0]))
    torch.testing.assert_close(std, _t([1.0, 0.0]))
    torch.testing.assert_close(count, _t([2.0, 3.0]))


def test_int_rewards_and_lists_accepted() -> None:
    got = group_advantages([0, 1, 0, 1], group_size=2, std="none")
    assert torch.is_floating_point(got)
    torch.testing.assert_close(got, torch.tensor([-0.5, 0.5, -0.5, 0.5]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"group_ids": [0, 0, 1, 1], "group_size": 2}, "exactly one"),
        ({"group_size": 3}, "not a multiple of group_size 3"),
        ({"group_size": 0}, ">= 1"),
        ({"group_ids": [0, 1]}, "shape"),
        ({"group_ids": [0.0, 0.0, 1.0, 1.0]}, "integers"),
        ({"group_size": 2, "std": "bogus"}, "std must be"),
    ],
)
def test_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        group_advantages(_t([1.0, 2.0, 3.0, 4.0]), **kwargs)


def test_rewards_must_be_1d() -> None:
    with pytest.raises(ValueError, match="1-D"):
        group_advantages(torch.zeros(2, 2), group_size=2)


def test_zero_std_ratio_by_hand() -> None:
    # [1, 2, 3] varies, [4, 4, 4] is constant -> 1 of 2 groups
    assert zero_std_ratio(_t(REWARDS), group_size=3) == 0.5
    assert zero_std_ratio(_t([1.0, 1.0, 2.0, 2.0]), [0, 1, 0, 1]) == 0.0
    assert zero_std_ratio(_t([1.0, 1.0, 2.0, 2.0]), [0, 0, 1, 1]) == 1.0


def test_registry() -> None:
    r = _t(REWARDS)
    torch.testing.assert_close(
        ADVANTAGE_ESTIMATORS.get("grpo")(r, group_size=3), group_advantages(r, group_size=3)
    )
    torch.testing.assert_close(
        ADVANTAGE_ESTIMATORS.get("grpo_global_std")(r, group_size=3),
        group_advantages(r, group_size=3, std="batch"),
    )
    torch.testing.assert_close(
        ADVANTAGE_ESTIMATORS.get("dr_grpo")(r, group_size=3), group_advantages(r, group_size=3, std="none")
    )
    assert ADVANTAGE_ESTIMATORS.get("batch") is ADVANTAGE_ESTIMATORS.get("grpo_global_std")
    with pytest.raises(KeyError, match="known"):
        ADVANTAGE_ESTIMATORS.get("ppo")


@st.composite
def grouped_rewards(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    num_groups = draw(st.integers(1, 5))
    size = draw(st.integers(2, 6))
    values = draw(
        st.lists(
            st.floats(-10, 10, allow_nan=False, allow_infinity=False),
            min_size=num_groups * size,
            max_size=num_groups * size,
        )
    )
    order = draw(st.permutations(list(range(num_groups * size))))
    ids = (torch.arange(num_groups * size) // size)[torch.tensor(order)] * 11 + 5  # arbitrary ids
    return torch.tensor(values, dtype=torch.float64), ids


@given(grouped_rewards(), st.sampled_from(["group", "batch", "none"]))
def test_zero_mean_per_group(data: tuple[torch.Tensor, torch.Tensor], std: str) -> None:
    rewards, ids = data
    adv = group_advantages(rewards, ids, std=std)
    for g in ids.unique():
        assert abs(adv[ids == g].mean().item()) < 1e-9


@given(grouped_rewards())
def test_unit_std_per_non_degenerate_group(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    rewards, ids = data
    stds = [rewards[ids == g].std(correction=0).item() for g in ids.unique()]
    assume(min(stds) > 1e-3)
    adv = group_advantages(rewards, ids, std="group", eps=0.0)
    for g in ids.unique():
        assert abs(adv[ids == g].std(correction=0).item() - 1.0) < 1e-9
    adv_u = group_advantages(rewards, ids, std="group", eps=0.0, unbiased=True)
    for g in ids.unique():
        assert abs(adv_u[ids == g].std(correction=1).item() - 1.0) < 1e-9
