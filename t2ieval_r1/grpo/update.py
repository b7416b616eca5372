"""The optimisation part of a GRPO step: clipped token loss + optional KL, over PPO epochs,
mini-batches (optimizer steps) and micro-batches (gradient accumulation).

Per micro-batch (GRPO with PPO's clip and a k3 KL, sources in :mod:`common.rl`; the loss of
``RL_ALGORITHMS["grpo"]``, i.e. :func:`common.rl.policy_loss`, and :func:`common.rl.kl_estimate`)::

    rho_t = exp(logp_theta(o_t) - logp_old(o_t))
    L     = agg_t( -min(rho_t A, clip(rho_t, 1 - eps_low, 1 + eps_high) A) )
            + beta * agg_t( k3(logp_ref - logp_theta) )

with ``agg`` the configured aggregation (``grpo``: mean over a sequence's tokens, then over
sequences; ``dr_grpo``: token sum / (sequences * max_new_tokens); ``token_mean``: token sum /
tokens). Micro-batch losses are weighted so that their sum is the loss of the whole mini-batch:
``m / M`` sequences for ``grpo`` and ``dr_grpo``, ``tokens_micro / tokens_mini`` for the token
mean. ``logp_old`` are the rollout's log-probs (or a teacher-forced recomputation); ``logp_ref``
comes from the frozen reference (:class:`ReferencePolicy`).

Under DeepSpeed the engine owns accumulation: ``optimizer.step()`` is called after every
micro-batch and updates only at the boundary, ``engine.deepspeed.gradient_accumulation_steps``
must equal ``mini_batch_size / micro_batch_size`` (checked), and the loss is multiplied by that
number to undo DeepSpeed's own ``1 / gas`` scaling (the weights above already average).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from common.engine import find_deepspeed_engine, is_partitioned, unwrap_model
from common.models.lora import adapters_disabled, has_lora
from common.models.vlm_sampling import sequence_logprobs
from common.rl import LOSS_AGGREGATIONS, RL_ALGORITHMS, kl_estimate
from t2ieval_r1.grpo.config import GRPOConfig
from t2ieval_r1.grpo.rollout import MicroBatch, RolloutBatch

__all__ = ["ALGORITHM", "ReferencePolicy", "grpo_update", "micro_batches"]

ALGORITHM = RL_ALGORITHMS.get("grpo")
"""This trainer's algorithm: its policy loss (``clipped``) and default advantage estimator
(``grpo``; ``grpo.advantage`` picks another from ``ADVANTAGE_ESTIMATORS``)."""


class ReferencePolicy:
    """The frozen reference of the KL term: the policy with LoRA adapters disabled, or a copy.

    Args:
        policy: the (possibly Fabric-wrapped) trained model.
        mode: ``auto`` (adapters when the policy has LoRA, else a copy), ``adapters``, ``copy``.
        model: the reference module for ``copy`` (default: a deep copy of ``policy`` taken now,
            i.e. before any update; not possible for ZeRO-3 sharded models: pass one built under
            :func:`common.engine.sharded_init` instead).
    """

    def __init__(self, policy: Any, mode: str = "auto", model: Any = None) -> None:
        core = unwrap_model(policy)
        if mode == "auto":
            mode = "adapters" if has_lora(core) else "copy"
        if mode == "adapters" and not has_lora(core):
            raise ValueError(
                "task.grpo.reference: 'adapters' needs a LoRA policy (set task.model.lora) or use 'copy'"
            )
        self.mode = mode
        self.policy = policy
        if mode == "copy" and model is None:
            if is_partitioned(core):
                raise ValueError(
                    "a ZeRO-3 policy cannot be deep-copied: build the reference under sharded_init"
                )
            model = copy.deepcopy(core)
        self.model = model
        if self.model is not None:
            self.model.eval()
            for p in self.model.parameters():
                p.requires_grad_(False)

    @contextlib.contextmanager
    def _module(self) -> Iterator[Any]:
        if self.mode == "adapters":
            with adapters_disabled(unwrap_model(self.policy)):
                yield self.policy
        else:
            yield self.model

    @torch.no_grad()
    def logprobs(self, mb: MicroBatch, temperature: float, banned: Sequence[int]) -> torch.Tensor:
        """Reference log-probs of the micro-batch's completions."""
        with self._module() as module:
            logp = sequence_logprobs(
                module,
                mb.prompt_batch,
                mb.completion_ids,
                mb.completion_mask,
                temperature=temperature,
                banned=banned,
            )
        return logp


def micro_batches(rollout: RolloutBatch, micro: int) -> list[MicroBatch]:
    """The rollout cut into consecutive micro-batches of ``micro`` completions."""
    return [rollout.micro_batch(i, i + micro) for i in range(0, len(rollout), micro)]


def _weight(agg: str, mb: MicroBatch, mini_size: int, mini_tokens: int) -> float:
    if LOSS_AGGREGATIONS.get(agg) is LOSS_AGGREGATIONS.get("token_mean"):
        return mb.n_tokens / max(mini_tokens, 1)
    return (mb.stop - mb.start) / mini_size


def grpo_update(
    fabric: Any,
    model: Any,
    optimizer: Any,
    mbs: list[MicroBatch],
    advantages: torch.Tensor,
    cfg: GRPOConfig,
    *,
    banned: Sequence[int] = (),
    reference: ReferencePolicy | None = None,
) -> dict[str, float]:
    """Run ``ppo_epochs`` passes of optimizer steps over the micro-batches; return the statistics.

    ``advantages`` has one value per completion (rollout order). Statistics are token-weighted
    means over every micro-batch of every pass: ``loss/policy``, ``loss/kl`` (mean k3 per token),
    ``policy/entropy``, ``policy/clip_frac`` (+ ``_low``/``_high``), ``policy/ratio_mean``,
    ``policy/approx_kl``, ``policy/grad_norm`` (mean pre-clip norm), and
    ``policy/logp_mismatch``: the largest ``|logp_theta - logp_old|`` seen on the first
    mini-batch before any optimizer step (0 up to float error when rollout and training
    log-probs agree; not 0 when a mini-batch is not the first or ``ppo_epochs > 1``).
    """
    temp = cfg.rollout.temperature
    beta = cfg.kl_coef
    agg_fn = LOSS_AGGREGATIONS.get(cfg.loss_agg)
    loss_fn = ALGORITHM.policy_loss()
    ref_logps = [reference.logprobs(mb, temp, banned) for mb in mbs] if (beta > 0 and reference) else None
    if cfg.recompute_old_logprobs:
        with torch.no_grad():
            for mb in mbs:
                mb.old_logprobs = sequence_logprobs(
                    model,
                    mb.prompt_batch,
                    mb.completion_ids,
                    mb.completion_mask,
                    temperature=temp,
                    banned=banned,
                )
    per_mini = cfg.mini // cfg.micro
    ds_engine = find_deepspeed_engine(model)
    ds_scale = 1.0
    if ds_engine is not None:
        gas = int(ds_engine.gradient_accumulation_steps())
        if gas != per_mini:
            raise ValueError(
                f"DeepSpeed accumulates {gas} micro-batches per optimizer step but the trainer needs "
                f"mini_batch_size / micro_batch_size = {per_mini}: set "
                f"engine.deepspeed.gradient_accumulation_steps={per_mini}"
            )
        ds_scale = float(gas)  # DeepSpeed divides every loss by gas; our weights already average
    sums: dict[str, float] = {}
    tokens_total = 0
    grad_norms: list[float] = []
    mismatch = 0.0
    first = True
    model.train()
    for _ in range(cfg.ppo_epochs):
        for m0 in range(0, len(mbs), per_mini):
            group = list(range(m0, m0 + per_mini))
            mini_tokens = sum(mbs[j].n_tokens for j in group)
            if ds_engine is None:
                optimizer.zero_grad(set_to_none=True)
            for k, j in enumerate(group):
                mb = mbs[j]
                sync = (
                    contextlib.nullcontext()
                    if ds_engine is not None
                    else fabric.no_backward_sync(model, enabled=k < len(group) - 1)
                )
                with sync:
                    logp, ent = sequence_logprobs(
                        model,
                        mb.prompt_batch,
                        mb.completion_ids,
                        mb.completion_mask,
                        temperature=temp,
                        return_entropy=True,
                        banned=banned,
                    )
                    adv = advantages[mb.start : mb.stop].to(logp.device)
                    mask = mb.completion_mask
                    pg, stats = loss_fn(
                        logp,
                        mb.old_logprobs,
                        adv,
                        mask,
                        cfg.clip_low,
                        cfg.clip_high,
                        cfg.loss_agg,
                        max_len=cfg.rollout.max_new_tokens,
                    )
                    loss = pg
                    kl_tok = None
                    if ref_logps is not None:
                        kl_tok = kl_estimate(logp, ref_logps[j].to(logp.device), cfg.kl_estimator)
                        loss = loss + beta * agg_fn(kl_tok, mask.bool(), max_len=cfg.rollout.max_new_tokens)
                    fabric.backward(loss * (_weight(cfg.loss_agg, mb, cfg.mini, mini_tokens) * ds_scale))
                if ds_engine is not None:
                    optimizer.step()  # DeepSpeed steps (and clips) only at the accumulation boundary
                with torch.no_grad():
                    n = mb.n_tokens
                    tokens_total += n
                    valid = mask.bool()
                    if first:
                        diff = (logp.detach() - mb.old_logprobs)[valid].abs()
                        mismatch = max(mismatch, float(diff.max()) if diff.numel() else 0.0)
                    parts = {
                        "loss/policy": float(pg) * n,
                        "policy/entropy": float(ent.detach()[valid].sum()),
                        **{f"policy/{k}": float(v) * n for k, v in stats.items()},
                    }
                    if kl_tok is not None:
                        parts["loss/kl"] = float(kl_tok.detach()[valid].sum())
                    for key, value in parts.items():
                        sums[key] = sums.get(key, 0.0) + value
            if ds_engine is None:
                if cfg.grad_clip is not None:  # under DeepSpeed the engine clips inside its step
                    norm = fabric.clip_gradients(model, optimizer, max_norm=cfg.grad_clip)
                    grad_norms.append(float(norm))
                optimizer.step()
            first = False
    out = {k: v / max(tokens_total, 1) for k, v in sums.items()}
    if ref_logps is None:
        out["loss/kl"] = 0.0
    out["policy/grad_norm"] = sum(grad_norms) / len(grad_norms) if grad_norms else float("nan")
    out["policy/logp_mismatch"] = mismatch
    out["policy/optimizer_steps"] = float(cfg.ppo_epochs * len(mbs) // per_mini)
    return out
