"""Token-level clipped policy loss and its aggregations (:mod:`common.rl.losses`)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from common.rl import LOSS_AGGREGATIONS, masked_mean, policy_loss

F64 = torch.float64


def _unequal() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two sequences, T = 3: the first has 3 valid tokens, the second 1."""
    logp = torch.log(torch.full((2, 3), 0.5, dtype=F64))
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    adv = torch.tensor([1.0, -2.0], dtype=F64)
    return logp, mask, adv


def test_ratio_one_aggregations_by_hand() -> None:
    # ratio 1 everywhere -> per-token loss = -A: row 0 tokens [-1, -1, -1], row 1 token [2]
    logp, mask, adv = _unequal()
    expect = {
        "grpo": 0.5,  # row means -1 and 2 -> (-1 + 2) / 2 = 0.5
        "dr_grpo": -1.0 / 6.0,  # sum -1*3 + 2*1 = -1, over B * T = 2 * 3
        "token_mean": -0.25,  # sum -1 over 4 valid tokens
        "dapo": -0.25,  # alias of token_mean
    }
    for agg, value in expect.items():
        loss, stats = policy_loss(logp, logp.clone(), adv, mask, agg=agg)
        assert loss.item() == pytest.approx(value, abs=1e-12), agg
        assert stats["ratio_mean"].item() == pytest.approx(1.0)
        assert stats["clip_frac"].item() == 0.0
        assert stats["approx_kl"].item() == pytest.approx(0.0, abs=1e-12)
    # dr_grpo with an explicit max_len = 4: -1 / (2 * 4)
    loss, _ = policy_loss(logp, logp.clone(), adv, mask, agg="dr_grpo", max_len=4)
    assert loss.item() == pytest.approx(-1.0 / 8.0)


def test_grpo_length_bias_gradients_by_hand() -> None:
    # d loss / d logp = -A * rho * (aggregation weight); rho = 1.
    # grpo: weight 1/(B * n_i): row 0 -> -1 / (2*3) = -1/6 per token, row 1 -> 2 / (2*1) = 1
    # token_mean: weight 1/4: row 0 -> -1/4, row 1 -> 2/4 = 0.5
    logp, mask, adv = _unequal()
    for agg, g0, g1 in (("grpo", -1 / 6, 1.0), ("token_mean", -0.25, 0.5), ("dr_grpo", -1 / 6, 1 / 3)):
        lp = logp.clone().requires_grad_(True)
        loss, _ = policy_loss(lp, logp, adv, mask, agg=agg)
        loss.backward()
        expected = torch.tensor([[g0, g0, g0], [g1, 0.0, 0.0]], dtype=F64)
        torch.testing.assert_close(lp.grad, expected, msg=agg)


def test_asymmetric_clipping_by_hand() -> None:
    # clip range [0.8, 1.28] (DAPO). One token per sequence; advantages +-1.
    ratios = [1.27, 1.29, 0.81, 0.79, 0.5, 2.0]
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0, 1.0, -1.0], dtype=F64)
    # per-token loss = -min(rho A, clip(rho) A):
    #  A=+1, rho 1.27 -> -1.27 (inside)      A=+1, rho 1.29 -> -1.28 (clipped, no grad)
    #  A=-1, rho 0.81 ->  0.81 (inside)      A=-1, rho 0.79 ->  0.80 (clipped, no grad)
    #  A=+1, rho 0.5  -> -0.5 (unclipped side) A=-1, rho 2.0 -> 2.0 (unclipped side)
    expected_loss = [-1.27, -1.28, 0.81, 0.80, -0.5, 2.0]
    # gradient wrt logp of -rho A is -rho A where unclipped; divided by B = 6 (grpo, T = 1)
    expected_grad = [-1.27 / 6, 0.0, 0.81 / 6, 0.0, -0.5 / 6, 2.0 / 6]
    logp_old = torch.zeros(6, 1, dtype=F64)
    lp = torch.log(torch.tensor(ratios, dtype=F64)).unsqueeze(1).requires_grad_(True)
    mask = torch.ones(6, 1)
    loss, stats = policy_loss(lp, logp_old, adv, mask, clip_low=0.2, clip_high=0.28)
    assert loss.item() == pytest.approx(sum(expected_loss) / 6)
    loss.backward()
    torch.testing.assert_close(lp.grad.squeeze(1), torch.tensor(expected_grad, dtype=F64))
    assert stats["clip_frac"].item() == pytest.approx(2 / 6)
    assert stats["clip_frac_low"].item() == pytest.approx(1 / 6)
    assert stats["clip_frac_high"].item() == pytest.approx(1 / 6)
    assert stats["ratio_mean"].item() == pytest.approx(sum(ratios) / 6)
    # approx KL(old || new) = mean(rho - 1 - log rho)
    kl = sum(r - 1 - math.log(r) for r in ratios) / 6
    assert stats["approx_kl"].item() == pytest.approx(kl)


def test_per_token_advantages_and_mask_ignored_tokens() -> None:
    # (B, T) advantages; masked-out tokens contribute nothing whatever their value
    logp = torch.zeros(1, 3, dtype=F64)
    adv = torch.tensor([[1.0, 3.0, 100.0]], dtype=F64)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, _ = policy_loss(logp, logp, adv, mask, agg="token_mean")
    assert loss.item() == pytest.approx(-2.0)  # -(1 + 3) / 2


def test_inf_padding_and_bf16_stay_finite() -> None:
    # padded positions hold -inf (a common padding value): loss and grads must stay finite
    logp = torch.tensor([[-1.0, -float("inf")], [-0.5, -0.25]], requires_grad=True)
    old = torch.tensor([[-1.0, -float("inf")], [-0.5, -0.25]])
    mask = torch.tensor([[1, 0], [1, 1]])
    for agg in ("grpo", "dr_grpo", "token_mean"):
        loss, stats = policy_loss(logp, old, torch.tensor([1.0, -1.0]), mask, agg=agg)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(logp.grad).all(), agg
        assert logp.grad[0, 1] == 0.0
        assert stats["ratio_mean"].item() == pytest.approx(1.0)
        logp.grad = None
    # bf16 log-probs: the ratio is computed in float32
    lp16 = torch.zeros(1, 2, dtype=torch.bfloat16)
    loss, _ = policy_loss(lp16, lp16, torch.tensor([2.0]), torch.ones(1, 2))
    assert loss.dtype == torch.float32 and loss.item() == -2.0


def test_logp_old_detached() -> None:
    lp = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    old = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    loss, _ = policy_loss(lp, old, torch.ones(2, dtype=F64), torch.ones(2, 2))
    loss.backward()
    assert old.grad is None
    assert lp.grad is not None


def test_shape_errors() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="same"):
        policy_loss(x, torch.zeros(2, 4), torch.zeros(2), x)
    with pytest.raises(ValueError, match="advantages"):
        policy_loss(x, x, torch.zeros(3), x)
    with pytest.raises(KeyError, match="known"):
        policy_loss(x, x, torch.zeros(2), x, agg="nope")


def test_masked_mean_by_hand() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = torch.tensor([[1, 1, 0], [0, 0, 0]], dtype=torch.bool)
    assert masked_mean(x, m).item() == pytest.approx(1.5)  # (1 + 2) / 2
    torch.testing.assert_close(masked_mean(x, m, dim=1), torch.tensor([1.5, 0.0]))  # empty row -> 0


def test_registry_names() -> None:
    assert {"grpo", "dr_grpo", "token_mean", "dapo"} <= set(LOSS_AGGREGATIONS.names())
    assert LOSS_AGGREGATIONS.get("dapo") is LOSS_AGGREGATIONS.get("token_mean")


@st.composite
def batch(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = draw(st.integers(1, 4))
    t = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(1, t), min_size=b, max_size=b))
    adv = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=b, max_size=b))
    logp = draw(st.lists(st.floats(-5, 0, allow_nan=False), min_size=b * t, max_size=b * t))
    mask = torch.arange(t).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return torch.tensor(logp, dtype=F64).view(b, t), mask, torch.tensor(adv, dtype=F64)


@given(batch())
def test_ratio_one_loss_is_minus_advantage_aggregated(data: tuple) -> None:
    logp, mask, adv = data
    b, t = mask.shape
    n = mask.sum(1).to(F64)
    expect = {
        "grpo": -adv.mean(),
        "token_mean": -(adv * n).sum() / n.sum(),
        "dr_grpo": -(adv * n).sum() / (b * t),
    }
    for agg, value in expect.items():
        loss, _ = policy_loss(logp, logp.clone(), adv, mask, agg=agg)
        assert loss.item() == pytest.approx(value.item(), abs=1e-10)


@given(
    st.floats(0.05, 3.0),
    st.floats(-2.0, 2.0),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
)
def test_clipping_engages_exactly_beyond_bounds(rho: float, a: float, lo: float, hi: float) -> None:
    assume(abs(a) > 1e-3)
    assume(abs(rho - (1 - lo)) > 1e-6 and abs(rho - (1 + hi)) > 1e-6)
    lp = torch.tensor([[math.log(rho)]], dtype=F64, requires_grad=True)
    loss, stats = policy_loss(
        lp,
        torch.zeros(1, 1, dtype=F64),
        torch.tensor([a], dtype=F64),
        torch.ones(1, 1),
        clip_low=lo,
        clip_high=hi,
    )
    loss.backward()
    clipped = (a > 0 and rho > 1 + hi) or (a < 0 and rho < 1 - lo)
    assert stats["clip_frac"].item() == float(clipped)
    if clipped:
        assert lp.grad.item() == 0.0
        assert loss.item() == pytest.approx(-min(max(rho, 1 - lo), 1 + hi) * a)
    else:
        assert lp.grad.item() == pytest.approx(-rho * a)
        assert loss.item() == pytest.approx(-rho * a)
