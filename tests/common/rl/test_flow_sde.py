"""Flow matching helpers and the Flow-GRPO SDE step with log-prob (:mod:`common.rl.flow_sde`)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.rl import flow_kl, interpolate, ode_step, sde_step_with_logprob, velocity_target

F64 = torch.float64
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  # 0.918939


def test_interpolate_and_velocity_by_hand() -> None:
    x0 = torch.tensor([[2.0], [2.0]])
    noise = torch.tensor([[-1.0], [-1.0]])
    # t = 0.25: 0.75 * 2 + 0.25 * (-1) = 1.25 ; per-sample t = [0, 1] -> [x0, noise]
    torch.testing.assert_close(interpolate(x0, noise, 0.25), torch.tensor([[1.25], [1.25]]))
    torch.testing.assert_close(
        interpolate(x0, noise, torch.tensor([0.0, 1.0])), torch.tensor([[2.0], [-1.0]])
    )
    torch.testing.assert_close(velocity_target(x0, noise), torch.tensor([[-3.0], [-3.0]]))  # -1 - 2


def test_ode_step_by_hand() -> None:
    # x + (sigma_next - sigma) v = 1 + (0.25 - 0.5) * 2 = 0.5
    x, v = torch.tensor([[1.0]]), torch.tensor([[2.0]])
    torch.testing.assert_close(ode_step(x, v, 0.5, 0.25), torch.tensor([[0.5]]))
    # the exact straight path is integrated exactly by Euler: x_1 = noise -> x_0
    x0, noise = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(ode_step(noise, velocity_target(x0, noise), 1.0, 0.0), x0)


def test_sde_step_scalar_by_hand() -> None:
    # sigma 0.5, sigma_next 0.25, a 0.7, x 1, v 2:
    # s_t = 0.7 sqrt(0.5 / 0.5) = 0.7 ; dt = -0.25
    # mu = 1 (1 + 0.49 (-0.25) / 1) + 2 (1 + 0.49 * 0.5 / 1) (-0.25) = 0.8775 - 0.6225 = 0.255
    # std = 0.7 sqrt(0.25) = 0.35 ; prev = mu + std * 1 = 0.605
    # log p = -1/2 - ln 0.35 - ln(2 pi)/2 = -0.5 + 1.049822 - 0.918939 = -0.369117
    x, v = torch.tensor([[1.0]]), torch.tensor([[2.0]])
    out = sde_step_with_logprob(x, v, 0.5, 0.25, prev_sample=torch.tensor([[0.605]]))
    assert out.mean.item() == pytest.approx(0.255, abs=1e-6)
    assert out.std.item() == pytest.approx(0.35, abs=1e-6)
    assert out.log_prob.item() == pytest.approx(-0.5 - math.log(0.35) - HALF_LOG_2PI, abs=1e-5)


def test_sde_step_at_sigma_one_uses_next_sigma() -> None:
    # sigma 1, sigma_next 0.8: s_t = 0.7 sqrt(1 / (1 - 0.8)) = 0.7 sqrt(5), s_t^2 = 2.45 ; dt = -0.2
    # mu = x (1 + 2.45 (-0.2) / 2) + v (1 + 0) (-0.2) = 0.755 x - 0.2 v = 0.555 for x = v = 1
    # std = 0.7 sqrt(5) sqrt(0.2) = 0.7
    out = sde_step_with_logprob(torch.ones(1, 1), torch.ones(1, 1), 1.0, 0.8, prev_sample=torch.ones(1, 1))
    assert out.mean.item() == pytest.approx(0.555, abs=1e-6)
    assert out.std.item() == pytest.approx(0.7, abs=1e-6)
    assert torch.isfinite(out.log_prob).all()


def test_sde_step_per_sample_sigma_matches_scalar_cases() -> None:
    x = torch.tensor([[1.0], [1.0]])
    v = torch.tensor([[2.0], [1.0]])
    out = sde_step_with_logprob(x, v, torch.tensor([0.5, 1.0]), torch.tensor([0.25, 0.8]), prev_sample=x)
    torch.testing.assert_close(out.mean, torch.tensor([[0.255], [0.555]]))
    torch.testing.assert_close(out.std, torch.tensor([[0.35], [0.7]]))
    assert out.log_prob.shape == (2,)


def test_sampled_step_reproducible_and_log_prob_round_trips() -> None:
    x, v = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    a = sde_step_with_logprob(x, v, 0.8, 0.6, generator=torch.Generator().manual_seed(0))
    b = sde_step_with_logprob(x, v, 0.8, 0.6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.prev_sample, b.prev_sample)
    again = sde_step_with_logprob(x, v, 0.8, 0.6, prev_sample=a.prev_sample)
    assert torch.equal(again.log_prob, a.log_prob)  # ratio exactly 1 on re-evaluation


def test_bf16_sample_log_prob_is_float32_and_exactly_reproducible() -> None:
    x, v = torch.randn(2, 8).bfloat16(), torch.randn(2, 8).bfloat16()
    step = sde_step_with_logprob(x, v, 0.9, 0.7, generator=torch.Generator().manual_seed(1))
    assert step.prev_sample.dtype == torch.bfloat16
    assert step.log_prob.dtype == torch.float32
    again = sde_step_with_logprob(x, v, 0.9, 0.7, prev_sample=step.prev_sample)
    assert torch.equal(torch.exp(again.log_prob - step.log_prob), torch.ones(2))


def test_gradient_flows_to_velocity_not_to_stored_sample() -> None:
    x = torch.randn(2, 5)
    v = torch.randn(2, 5, requires_grad=True)
    prev = torch.randn(2, 5, requires_grad=True)
    sde_step_with_logprob(x, v, 0.5, 0.4, prev_sample=prev).log_prob.sum().backward()
    assert v.grad is not None and v.grad.abs().sum() > 0
    assert prev.grad is None


def test_small_noise_mean_tends_to_ode_step() -> None:
    x, v = torch.randn(2, 6), torch.randn(2, 6)
    out = sde_step_with_logprob(x, v, 0.7, 0.5, noise_level=1e-4)
    torch.testing.assert_close(out.mean, ode_step(x, v, 0.7, 0.5), atol=1e-6, rtol=0)


def test_zero_noise_level_rejected() -> None:
    with pytest.raises(ValueError, match="ode_step"):
        sde_step_with_logprob(torch.zeros(1, 1), torch.zeros(1, 1), 0.5, 0.4, noise_level=0.0)


def test_flow_kl_by_hand() -> None:
    # mean over dims of (mu - mu_ref)^2 / (2 std^2): ((1 + 4) / 2) / (2 * 0.25) = 5
    mean = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    ref = torch.zeros(2, 2, requires_grad=True)
    torch.testing.assert_close(flow_kl(mean, ref, 0.5), torch.tensor([5.0, 1.0]))
    # per-sample std (B,): sample 1 with std 1 -> (0 + 1) / 2 / 2 = 0.25
    torch.testing.assert_close(flow_kl(mean, ref, torch.tensor([0.5, 1.0])), torch.tensor([5.0, 0.25]))
    # the std of an SDEStep (B, 1) broadcasts too
    torch.testing.assert_close(flow_kl(mean, ref, torch.tensor([[0.5], [1.0]])), torch.tensor([5.0, 0.25]))
    flow_kl(mean.requires_grad_(True), ref, 0.5).sum().backward()
    assert ref.grad is None


@settings(max_examples=40)
@given(
    st.integers(1, 3),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.floats(0.05, 1.0),
    st.floats(0.0, 0.95),
    st.floats(0.1, 1.5),
    st.integers(0, 2**16),
)
def test_log_prob_matches_torch_normal(
    b: int, dims: list[int], sigma: float, frac: float, a: float, seed: int
) -> None:
    sigma_next = sigma * frac
    g = torch.Generator().manual_seed(seed)
    shape = (b, *dims)
    x, v = torch.randn(shape, generator=g, dtype=F64), torch.randn(shape, generator=g, dtype=F64)
    out = sde_step_with_logprob(x, v, sigma, sigma_next, noise_level=a, generator=g)
    ref = torch.distributions.Normal(out.mean, out.std).log_prob(out.prev_sample.float())
    torch.testing.assert_close(out.log_prob, ref.mean(dim=tuple(range(1, len(shape)))), atol=1e-4, rtol=1e-5)
