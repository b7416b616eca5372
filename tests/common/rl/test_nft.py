"""DiffusionNFT loss (:mod:`common.rl.nft`; docs/papers/firm.md §5)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.rl import interpolate, nft_loss, optimality_from_advantage, velocity_target

F64 = torch.float64


def _hand_inputs() -> dict[str, torch.Tensor]:
    return {
        "v_theta": torch.tensor([[2.0, 1.0]], dtype=F64),
        "v_old": torch.tensor([[1.0, 1.0]], dtype=F64),
        "x0": torch.tensor([[0.0, 0.0]], dtype=F64),
        "x_t": torch.tensor([[1.0, 1.0]], dtype=F64),
    }


def test_optimality_from_advantage_by_hand() -> None:
    # clip to [-5, 5], then A / 5 / 2 + 0.5
    a = torch.tensor([-10.0, -5.0, 0.0, 2.5, 5.0, 10.0])
    torch.testing.assert_close(optimality_from_advantage(a), torch.tensor([0.0, 0.0, 0.5, 0.75, 1.0, 1.0]))
    # A_max = 2: 1 -> 1 / 2 / 2 + 0.5 = 0.75
    assert optimality_from_advantage(torch.tensor([1.0]), 2.0).item() == 0.75
    with pytest.raises(ValueError):
        optimality_from_advantage(a, 0.0)


def test_nft_loss_beta_one_by_hand() -> None:
    # t = 0.5, r = 0.75, beta = 1, A_max = 5
    # v_plus = v_theta = [2, 1]; v_minus = 2 v_old - v_theta = [0, 1]
    # x0_plus = x_t - 0.5 v_plus = [0, 0.5]   -> err [0, 0.5], w+ = 0.25, d+ = 0.125, d+/w+ = 0.5
    # x0_minus = x_t - 0.5 v_minus = [1, 0.5] -> err [1, 0.5], w- = 0.75, d- = 0.625, d-/w- = 5/6
    # L = 5 * (0.75 * 0.5 + 0.25 * 5/6) / 1 = 5 * 0.583333 = 2.916667
    loss, stats = nft_loss(**_hand_inputs(), t=0.5, r=torch.tensor([0.75], dtype=F64))
    assert loss.item() == pytest.approx(5 * (0.375 + 0.25 * 5 / 6))
    assert stats["positive_loss"].item() == pytest.approx(0.5)
    assert stats["negative_loss"].item() == pytest.approx(5 / 6)
    assert stats["w_plus"].item() == pytest.approx(0.25)
    assert stats["w_minus"].item() == pytest.approx(0.75)
    assert stats["kl_loss"].item() == 0.0


def test_nft_loss_beta_half_and_kl_by_hand() -> None:
    # beta = 0.5: v_plus = 0.5 [2, 1] + 0.5 [1, 1] = [1.5, 1]; v_minus = 1.5 [1, 1] - 0.5 [2, 1] = [0.5, 1]
    # err+ = [1 - 0.75, 1 - 0.5] = [0.25, 0.5]: w+ = 0.375, d+ = 0.15625, d+/w+ = 0.416667
    # err- = [1 - 0.25, 1 - 0.5] = [0.75, 0.5]: w- = 0.625, d- = 0.40625, d-/w- = 0.65
    # policy = 5 * (0.75 * 0.416667 + 0.25 * 0.65) / 0.5 = 5 * 0.95 = 4.75
    # KL: v_ref = 0 -> mean([4, 1]) = 2.5, weight 0.1 -> +0.25
    inputs = _hand_inputs()
    r = torch.tensor([0.75], dtype=F64)
    loss, stats = nft_loss(**inputs, t=0.5, r=r, beta=0.5)
    assert loss.item() == pytest.approx(4.75)
    v_ref = torch.zeros(1, 2, dtype=F64)
    loss_kl, stats = nft_loss(**inputs, t=0.5, r=r, beta=0.5, v_ref=v_ref, kl_weight=0.1)
    assert loss_kl.item() == pytest.approx(4.75 + 0.25)
    assert stats["kl_loss"].item() == pytest.approx(2.5)
    assert stats["policy_loss"].item() == pytest.approx(4.75)


def test_nft_loss_without_adaptive_weight_by_hand() -> None:
    # beta = 1, weights 1: 5 * (0.75 * 0.125 + 0.25 * 0.625) = 5 * 0.25 = 1.25
    loss, _ = nft_loss(**_hand_inputs(), t=0.5, r=torch.tensor([0.75], dtype=F64), adaptive_weight=False)
    assert loss.item() == pytest.approx(1.25)


def test_min_weight_clamp() -> None:
    # perfect prediction: error 0, weight clamped to 1e-5, loss 0 (no NaN)
    x0, noise = torch.zeros(1, 3), torch.ones(1, 3)
    x_t = interpolate(x0, noise, 0.5)
    v = velocity_target(x0, noise)
    loss, stats = nft_loss(v.clone(), v.clone(), x0, x_t, 0.5, torch.tensor([1.0]))
    assert loss.item() == 0.0
    assert stats["w_plus"].item() == pytest.approx(1e-5)


def test_gradients_do_not_reach_old_or_reference() -> None:
    # v_old and v_ref computed by the very same network WITHOUT no_grad: a missing detach would
    # add their gradient to the network's. Compare with explicitly detached inputs.
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 4).double()
    x_t, x0 = torch.randn(3, 4, dtype=F64), torch.randn(3, 4, dtype=F64)
    t, r = torch.tensor([0.2, 0.5, 0.9], dtype=F64), torch.tensor([0.1, 0.5, 0.9], dtype=F64)

    def grads(detach: bool) -> list[torch.Tensor]:
        net.zero_grad()
        v_old, v_ref = net(x_t) * 0.9, net(x_t) * 1.1
        if detach:
            v_old, v_ref = v_old.detach(), v_ref.detach()
        loss, _ = nft_loss(net(x_t), v_old, x0, x_t, t, r, beta=0.7, v_ref=v_ref, kl_weight=0.3)
        loss.backward()
        return [p.grad.clone() for p in net.parameters()]

    for leaky, clean in zip(grads(False), grads(True), strict=True):
        torch.testing.assert_close(leaky, clean)
    v_old = torch.randn(3, 4, dtype=F64, requires_grad=True)
    v_ref = torch.randn(3, 4, dtype=F64, requires_grad=True)
    v_theta = torch.randn(3, 4, dtype=F64, requires_grad=True)
    loss, _ = nft_loss(v_theta, v_old, x0, x_t, t, r, v_ref=v_ref, kl_weight=1.0)
    loss.backward()
    assert v_old.grad is None and v_ref.grad is None
    assert v_theta.grad is not None


def test_errors() -> None:
    kw = {k: v for k, v in _hand_inputs().items()}
    r = torch.tensor([0.5], dtype=F64)
    with pytest.raises(ValueError, match="beta"):
        nft_loss(**kw, t=0.5, r=r, beta=0.0)
    with pytest.raises(ValueError, match="v_ref"):
        nft_loss(**kw, t=0.5, r=r, kl_weight=1e-4)
    with pytest.raises(ValueError, match="r must"):
        nft_loss(**kw, t=0.5, r=torch.tensor([0.5, 0.5]))


@settings(max_examples=40)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**16))
def test_r1_beta1_is_weighted_flow_matching(b: int, d: int, seed: int) -> None:
    # r = 1, beta = 1: x0_plus - x0 = x_t - t v_theta - x0 = t (v_target - v_theta), so
    # L = A_max * mean_b[ t^2 mean_d (v_theta - v_target)^2 / w ], w = stopgrad(t mean_d |v_theta - v_target|)
    g = torch.Generator().manual_seed(seed)
    x0, noise = torch.randn(b, d, generator=g, dtype=F64), torch.randn(b, d, generator=g, dtype=F64)
    t = torch.rand(b, generator=g, dtype=F64) * 0.9 + 0.05
    x_t = interpolate(x0, noise, t)
    target = velocity_target(x0, noise)
    v1 = torch.randn(b, d, generator=g, dtype=F64).requires_grad_(True)
    v_old = torch.randn(b, d, generator=g, dtype=F64)  # irrelevant when r = 1 and beta = 1
    loss, _ = nft_loss(v1, v_old, x0, x_t, t, torch.ones(b, dtype=F64), beta=1.0)
    loss.backward()

    v2 = v1.detach().clone().requires_grad_(True)
    tt = t.unsqueeze(1)
    w = (tt * (v2 - target).abs()).mean(1).detach().clamp(min=1e-5)
    fm = 5.0 * ((tt**2 * (v2 - target) ** 2).mean(1) / w).mean()
    fm.backward()
    torch.testing.assert_close(loss, fm)
    torch.testing.assert_close(v1.grad, v2.grad)
