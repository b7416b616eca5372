"""Group-relative advantages (GRPO and its variants).

Formula (GRPO, from DeepSeekMath; Dr. GRPO; Flow-GRPO; papers listed in :mod:`common.rl`):

    A_i = (r_i - mean_g(r)) / (std + eps)

where ``g`` is the group of sample ``i`` (the G completions of one prompt) and ``std`` is

* ``"group"``: the std of the rewards of group ``g`` (the GRPO default);
* ``"batch"``: the std of all rewards in the batch ("global std", Flow-GRPO / FIRM recipes);
* ``"none"``: no division at all, ``A_i = r_i - mean_g(r)`` (Dr. GRPO).

Std convention: this package uses the **population** std (``ddof = 0``, as ``numpy.std`` and the
Flow-GRPO / DiffusionNFT stat trackers do) by default, so that a non-degenerate group has unit
std after normalisation (up to ``eps``) and a group of one has std 0 instead of NaN. Pass
``unbiased=True`` to get the ``ddof = 1`` convention of ``torch.std`` (TRL); a group of one then
still gets std 0 (its advantage is 0 either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import torch
from torch import Tensor

from common.registry import Registry

StdMode = Literal["group", "batch", "none"]


class AdvantageEstimator(Protocol):
    """What every entry of :data:`ADVANTAGE_ESTIMATORS` is: ``(B,)`` rewards with their groups
    (``group_ids`` or contiguous ``group_size``) -> ``(B,)`` advantages."""

    def __call__(
        self,
        rewards: Tensor | Sequence[float],
        group_ids: Tensor | Sequence[int] | None = None,
        *,
        group_size: int | None = None,
        eps: float = 1e-4,
        unbiased: bool = False,
    ) -> Tensor: ...


ADVANTAGE_ESTIMATORS: Registry[AdvantageEstimator] = Registry("advantage estimator")
"""``grpo`` (alias ``group``): group mean and group std; ``grpo_global_std`` (``batch``): group
mean, std of the whole batch (Flow-GRPO / DiffusionNFT / FIRM); ``dr_grpo`` (``none``): no std."""


def _as_reward_tensor(rewards: Tensor | Sequence[float]) -> Tensor:
    r = torch.as_tensor(rewards)
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D (one reward per sample), got shape {tuple(r.shape)}")
    if not torch.is_floating_point(r):
        r = r.to(torch.get_default_dtype())
    return r


def resolve_group_index(
    batch_size: int,
    group_ids: Tensor | Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    device: torch.device | None = None,
) -> tuple[Tensor, int]:
    """Map a batch to dense group indices ``0..num_groups-1``.

    Exactly one of ``group_ids`` (any integer ids, groups may be non-contiguous, e.g.
    ``[7, 3, 7, 3]``) or ``group_size`` (contiguous groups of that size) must be given.
    Returns ``(index, num_groups)`` with ``index`` a LongTensor of shape ``(batch_size,)``.
    """
    if (group_ids is None) == (group_size is None):
        raise ValueError(
            "give exactly one of group_ids (an id per sample) or group_size (contiguous groups); "
            f"got group_ids={'set' if group_ids is not None else None}, group_size={group_size}"
        )
    if group_size is not None:
        if int(group_size) < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        if batch_size % group_size != 0:
            raise ValueError(
                f"batch size {batch_size} is not a multiple of group_size {group_size}: every prompt "
                "needs exactly group_size samples in the batch"
            )
        index = torch.arange(batch_size, device=device) // group_size
        return index, batch_size // group_size
    ids = torch.as_tensor(group_ids, device=device)
    if ids.ndim != 1 or ids.numel() != batch_size:
        raise ValueError(f"group_ids must have shape ({batch_size},), got {tuple(ids.shape)}")
    if torch.is_floating_point(ids) or ids.dtype == torch.bool:
        raise ValueError(f"group_ids must be integers, got dtype {ids.dtype}")
    _, index = torch.unique(ids, return_inverse=True)
    num_groups = int(index.max().item()) + 1 if batch_size else 0
    return index, num_groups


def group_mean_std(
    rewards: Tensor, index: Tensor, num_groups: int, *, unbiased: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group ``(mean, std, count)``, each of shape ``(num_groups,)``.

    std is the population std (``ddof = 0``) unless ``unbiased``; groups of one get std 0.
    """
    zeros = torch.zeros(num_groups, dtype=rewards.dtype, device=rewards.device)
    count = zeros.index_add(0, index, torch.ones_like(rewards))
    mean = zeros.index_add(0, index, rewards) / count
    sq = zeros.index_add(0, index, (rewards - mean[index]) ** 2)
    denom = count - 1 if unbiased else count
    var = torch.where(denom > 0, sq / denom.clamp(min=1), torch.zeros_like(sq))
    return mean, var.sqrt(), count


def group_advantages(
    rewards: Tensor | Sequence[float],
    group_ids: Tensor | Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    std: StdMode = "group",
    eps: float = 1e-4,
    unbiased: bool = False,
) -> Tensor:
    """Group-normalised advantages ``A_i = (r_i - mean_g) / (std + eps)`` (GRPO).

    Args:
        rewards: shape ``(B,)``.
        group_ids: integer id per sample (groups may be non-contiguous), or
        group_size: contiguous groups of this size (``B`` must be a multiple of it).
        std: ``"group"`` (own group's std), ``"batch"`` (std of the whole batch) or ``"none"``
            (Dr. GRPO: no division).
        eps: added to the std (1e-4 as TRL / Flow-GRPO; EasyR1 uses 1e-6).
        unbiased: ``ddof = 1`` std instead of the default population std (see module docstring).

    Returns:
        advantages of shape ``(B,)`` in the rewards' floating dtype.
    """
    r = _as_reward_tensor(rewards)
    index, num_groups = resolve_group_index(r.numel(), group_ids, group_size=group_size, device=r.device)
    if r.numel() == 0:
        return r.clone()
    mean, group_std, _ = group_mean_std(r, index, num_groups, unbiased=unbiased)
    centred = r - mean[index]
    if std == "group":
        return centred / (group_std[index] + eps)
    if std == "batch":
        batch_std = r.std(correction=1 if unbiased and r.numel() > 1 else 0)
        return centred / (batch_std + eps)
    if std == "none":
        return centred
    raise ValueError(f"std must be one of 'group', 'batch', 'none'; got {std!r}")


def zero_std_ratio(
    rewards: Tensor | Sequence[float],
    group_ids: Tensor | Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    atol: float = 1e-8,
) -> float:
    """Share of groups whose rewards are all equal (``max - min <= atol``): they get zero advantage.

    The "zero-std ratio": such a group teaches nothing, the reason T2I-Eval-R1 uses a continuous
    score reward (docs/papers/t2i_eval_r1.md §1); log it, a continuous reward keeps it low.
    """
    r = _as_reward_tensor(rewards)
    index, num_groups = resolve_group_index(r.numel(), group_ids, group_size=group_size, device=r.device)
    if num_groups == 0:
        return 0.0
    fill_hi = torch.full((num_groups,), float("-inf"), dtype=r.dtype, device=r.device)
    fill_lo = torch.full((num_groups,), float("inf"), dtype=r.dtype, device=r.device)
    hi = fill_hi.scatter_reduce(0, index, r, reduce="amax")
    lo = fill_lo.scatter_reduce(0, index, r, reduce="amin")
    return float(((hi - lo) <= atol).float().mean().item())


@ADVANTAGE_ESTIMATORS.register("grpo", "group")
def grpo_advantages(
    rewards: Tensor | Sequence[float],
    group_ids: Tensor | Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    eps: float = 1e-4,
    unbiased: bool = False,
) -> Tensor:
    """GRPO: normalise by the group's own std (``group_advantages(std="group")``)."""
    return group_advantages(
        rewards, group_ids, group_size=group_size, std="group", eps=eps, unbiased=unbiased
    )


@ADVANTAGE_ESTIMATORS.register("grpo_global_std", "batch")
def grpo_global_std_advantages(
    rewards: Tensor | Sequence[float],
    group_ids: Tensor | Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    eps: float = 1e-4,
    unbiased: bool = False,
) -> Tensor:
    """Group mean, batch ("global") std: Flow-GRPO / FIRM (``group_advantages(std="batch")``)."""
    return group_advantages(
        rewards, group_ids, group_size=group_size, std="batch", eps=eps, unbiased=unbiased
    )


@ADVANTAGE_ESTIMATORS.register("dr_grpo", "none")
def dr_grpo_advantages(
    rewards: Tensor | Sequence[float],
    group_ids: Tensor | Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    eps: float = 1e-4,
    unbiased: bool = False,
) -> Tensor:
    """Dr. GRPO: mean-centred rewards, no std (``group_advantages(std="none")``; eps unused)."""
    del eps, unbiased
    return group_advantages(rewards, group_ids, group_size=group_size, std="none")
