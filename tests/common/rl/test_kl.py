"""KL estimators k1 / k2 / k3 with EasyR1 clamps (:mod:`common.rl.kl`)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from common.rl import KL_ESTIMATORS, kl_estimate

F64 = torch.float64
LN2 = math.log(2.0)


def test_estimators_by_hand() -> None:
    # logp = 0, logp_ref = ln 2 -> x = ln 2 = 0.693147
    logp = torch.tensor([0.0], dtype=F64)
    ref = torch.tensor([LN2], dtype=F64)
    assert kl_estimate(logp, ref, "k1").item() == pytest.approx(-LN2)  # -x
    assert kl_estimate(logp, ref, "k2").item() == pytest.approx(LN2**2 / 2)  # 0.240227
    assert kl_estimate(logp, ref, "k3").item() == pytest.approx(2.0 - LN2 - 1.0)  # e^x - x - 1 = 0.306853
    assert kl_estimate(logp, ref).item() == pytest.approx(0.306853, abs=1e-6)  # k3 is the default


def test_clamps() -> None:
    logp = torch.tensor([0.0, 30.0], dtype=F64)
    ref = torch.tensor([30.0, 0.0], dtype=F64)  # x = +30, -30
    # x clamped to +-20: k1 = -20, +20
    torch.testing.assert_close(kl_estimate(logp, ref, "k1"), torch.tensor([-20.0, 20.0], dtype=F64))
    torch.testing.assert_close(
        kl_estimate(logp, ref, "k1", clamp=None), torch.tensor([-30.0, 30.0], dtype=F64)
    )
    # k3(20) = e^20 - 21 and k3(-20) = e^-20 + 19, both clamped to 10
    torch.testing.assert_close(kl_estimate(logp, ref, "k3"), torch.tensor([10.0, 10.0], dtype=F64))
    unclamped = kl_estimate(logp, ref, "k3", k3_clamp=None)
    torch.testing.assert_close(unclamped, torch.tensor([math.exp(20) - 21, math.exp(-20) + 19], dtype=F64))
    # k3_clamp does not touch k2: 20^2 / 2 = 200
    torch.testing.assert_close(kl_estimate(logp, ref, "k2"), torch.tensor([200.0, 200.0], dtype=F64))


def test_expectations_equal_true_kl() -> None:
    # Under samples from pi, E[k1] = E[k3] = KL(pi || ref) exactly (E_pi[ref/pi] = 1).
    pi = torch.tensor([0.5, 0.3, 0.2], dtype=F64)
    ref = torch.tensor([0.2, 0.2, 0.6], dtype=F64)
    true_kl = (pi * (pi / ref).log()).sum()
    for kind in ("k1", "k3"):
        est = (pi * kl_estimate(pi.log(), ref.log(), kind)).sum()
        assert est.item() == pytest.approx(true_kl.item(), abs=1e-12)


def test_reference_gets_no_gradient() -> None:
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    ref = torch.tensor([-1.5, -1.0], requires_grad=True)
    kl_estimate(logp, ref).sum().backward()
    assert ref.grad is None
    # d k3 / d logp = d/dlogp [e^x - x - 1] with dx/dlogp = -1 -> 1 - e^x
    x = torch.tensor([-0.5, 1.0])
    torch.testing.assert_close(logp.grad, 1 - torch.exp(x))


def test_registry() -> None:
    assert KL_ESTIMATORS.get("low_var_kl") is KL_ESTIMATORS.get("k3")
    with pytest.raises(KeyError):
        kl_estimate(torch.zeros(1), torch.zeros(1), "k4")


@given(st.floats(-5, 5), st.floats(-5, 5))
def test_k3_non_negative_zero_iff_equal(a: float, b: float) -> None:
    v = kl_estimate(torch.tensor([a], dtype=F64), torch.tensor([b], dtype=F64)).item()
    assert v >= 0.0
    if a == b:
        assert v == 0.0
    elif abs(a - b) > 1e-6:
        assert v > 0.0
