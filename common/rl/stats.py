"""Group statistics for image RL: per-prompt tracker, cross-rank gathering, layout check.

Flow-GRPO / DiffusionNFT / FIRM (docs/papers/firm.md §5): advantages use the mean of the prompt's own
group and either its own std or the std of the whole gathered batch ("global std", the setting
of all Flow-GRPO and FIRM recipes). In multi-GPU runs the G samples of a prompt live on different
ranks, so rewards and prompt ids are all-gathered before normalising, then each rank keeps its
own slice. Prompt strings become int64 ids through a stable hash (Python's ``hash`` is salted per
process and would differ across ranks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from common.rl.advantages import group_advantages, resolve_group_index, zero_std_ratio


def stable_prompt_id(prompt: str) -> int:
    """A process-independent non-negative 63-bit id of ``prompt`` (blake2b of its UTF-8 bytes)."""
    digest = hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)


def prompt_ids(prompts: Sequence[str], device: torch.device | str | None = None) -> Tensor:
    """``(B,)`` int64 tensor of :func:`stable_prompt_id` of each prompt."""
    return torch.tensor([stable_prompt_id(p) for p in prompts], dtype=torch.long, device=device)


def is_distributed() -> bool:
    """True when torch.distributed is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gather_sizes(n: int, device: torch.device) -> list[int]:
    size = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def gather_for_group_stats(tensor: Tensor) -> Tensor:
    """All-gather ``tensor`` along dim 0 from every rank, in rank order (sizes may differ).

    No-op (returns the input) on a single process or when torch.distributed is not initialised.
    The tensor must live on a device the backend supports (CPU for gloo, CUDA for NCCL).
    """
    if not is_distributed():
        return tensor
    t = tensor.detach().contiguous()
    sizes = _gather_sizes(t.shape[0], t.device)
    longest = max(sizes)
    if t.shape[0] < longest:
        pad = torch.zeros((longest - t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
        t = torch.cat([t, pad])
    parts = [torch.empty_like(t) for _ in sizes]
    dist.all_gather(parts, t)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


def local_part(gathered: Tensor, local_size: int) -> Tensor:
    """This rank's slice of a tensor built by :func:`gather_for_group_stats` (identity when not
    distributed). ``local_size`` is the number of rows this rank contributed."""
    if not is_distributed():
        return gathered
    sizes = _gather_sizes(local_size, gathered.device)
    start = sum(sizes[: dist.get_rank()])
    return gathered[start : start + local_size]


def validate_group_layout(world_size: int, per_rank_batch: int, group_size: int) -> int:
    """Check that ``world_size * per_rank_batch`` is a multiple of ``group_size``; return the
    number of groups (prompts) per step. Raises a ValueError explaining the constraint."""
    for name, value in (
        ("world_size", world_size),
        ("per_rank_batch", per_rank_batch),
        ("group_size", group_size),
    ):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    total = world_size * per_rank_batch
    if total % group_size != 0:
        lo = (total // group_size) * group_size
        hint = f" (e.g. {lo} or {lo + group_size})" if lo else f" (e.g. {group_size})"
        raise ValueError(
            f"group layout mismatch: {world_size} rank(s) x {per_rank_batch} samples per rank = {total} "
            f"samples per step, which is not a multiple of group_size {group_size}. Every prompt needs "
            f"exactly group_size samples across all ranks, so world_size * per_rank_batch must be a "
            f"multiple of group_size{hint}."
        )
    return total // group_size


class PerPromptStatTracker:
    """Advantages from per-prompt group statistics (Flow-GRPO; FIRM, docs/papers/firm.md §5).

    ``compute`` is stateless across calls (each call normalises the batch it is given); the
    statistics of the last call are kept for logging (:meth:`get_stats`). With ``gather=True`` and
    torch.distributed initialised, rewards and prompt ids are gathered from every rank first, and
    the advantages of this rank's samples are returned. The std is the population std
    (``ddof = 0``, as ``numpy.std``) unless ``unbiased``.
    """

    def __init__(self, eps: float = 1e-4, *, unbiased: bool = False, gather: bool = False) -> None:
        self.eps = eps
        self.unbiased = unbiased
        self.gather = gather
        self._stats: dict[str, float] = {}

    def compute(
        self, prompts: Sequence[str], rewards: Tensor | Sequence[float], *, global_std: bool
    ) -> Tensor:
        """``A_i = (r_i - mean_{prompt(i)}) / (std + eps)``; std = own group's (``global_std=False``)
        or the whole (gathered) batch's (``global_std=True``). Returns ``(B,)`` for the local batch."""
        r = torch.as_tensor(rewards)
        if not torch.is_floating_point(r):
            r = r.to(torch.get_default_dtype())
        if r.ndim != 1 or r.shape[0] != len(prompts):
            raise ValueError(f"need one reward per prompt: {len(prompts)} prompts, rewards {tuple(r.shape)}")
        ids = prompt_ids(prompts, device=r.device)
        if self.gather:
            all_r, all_ids = gather_for_group_stats(r), gather_for_group_stats(ids)
        else:
            all_r, all_ids = r, ids
        adv = group_advantages(
            all_r, all_ids, std="batch" if global_std else "group", eps=self.eps, unbiased=self.unbiased
        )
        _, num_groups = resolve_group_index(all_r.numel(), all_ids)
        self._stats = {
            "num_groups": float(num_groups),
            "mean_group_size": all_r.numel() / max(num_groups, 1),
            "zero_std_ratio": zero_std_ratio(all_r, all_ids),
            "reward_mean": float(all_r.float().mean().item()) if all_r.numel() else 0.0,
        }
        return local_part(adv, r.shape[0]) if self.gather else adv

    def get_stats(self) -> dict[str, float]:
        """Statistics of the last :meth:`compute` call (empty before the first)."""
        return dict(self._stats)

    def clear(self) -> None:
        """Forget the last statistics."""
        self._stats = {}
