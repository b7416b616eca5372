"""Per-token KL estimators to a frozen reference policy (Schulman's k1 / k2 / k3).

With ``x = logp_ref - logp`` (J. Schulman, "Approximating KL Divergence", http://joschu.net/blog/kl-approx.html):

* ``k1 = -x``                  (unbiased, high variance, can be negative)
* ``k2 = x^2 / 2``             (biased, non-negative)
* ``k3 = exp(x) - x - 1``      (unbiased for KL(pi || pi_ref), non-negative, low variance)

Stability (EasyR1 convention): ``x`` is clamped to ``+-clamp`` (20) before any estimator, and k3 is
clamped to ``+-k3_clamp`` (10). ``None`` disables a clamp. ``logp_ref`` is detached.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from common.registry import Registry

KL_ESTIMATORS: Registry[Callable[[Tensor], Tensor]] = Registry("KL estimator")


@KL_ESTIMATORS.register("k1", "kl")
def k1(x: Tensor) -> Tensor:
    """``k1 = -x`` with ``x = logp_ref - logp``."""
    return -x


@KL_ESTIMATORS.register("k2", "mse")
def k2(x: Tensor) -> Tensor:
    """``k2 = x^2 / 2``."""
    return 0.5 * x * x


@KL_ESTIMATORS.register("k3", "low_var_kl")
def k3(x: Tensor) -> Tensor:
    """``k3 = exp(x) - x - 1`` (>= 0, equal to 0 iff x == 0)."""
    return torch.expm1(x) - x


def kl_estimate(
    logp: Tensor,
    logp_ref: Tensor,
    kind: str = "k3",
    clamp: float | None = 20.0,
    k3_clamp: float | None = 10.0,
) -> Tensor:
    """Element-wise KL estimate (no reduction) of the policy ``logp`` to the reference ``logp_ref``.

    See the module docstring for the formulas and clamps; ``kind`` is a name in ``KL_ESTIMATORS``.
    """
    fn = KL_ESTIMATORS.get(kind)
    x = logp_ref.detach() - logp
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    out = fn(x)
    if fn is k3 and k3_clamp is not None:
        out = out.clamp(-k3_clamp, k3_clamp)
    return out
