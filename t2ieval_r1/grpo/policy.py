"""Sampling and teacher-forced log-probs of the evaluator policy, with structural tokens banned.

An adapter of :func:`common.models.generation.sample_vlm` / ``sequence_logprobs`` (same
conventions: rows expanded before ``generate``, log-probs of ``log softmax(logits / T)`` at the
sampled token, before top-p / top-k truncation, zero where the mask is 0) that adds one thing:
**banned tokens**. A policy that samples a vision placeholder (``<|image_pad|>`` ...) inside its
completion makes the next teacher-forced pass fail ("image features and image tokens do not
match"): a random-init tiny model does so within a few hundred tokens. Both functions therefore
set the logits of :func:`banned_token_ids` to ``-inf`` (generation through
``GenerationConfig.suppress_tokens``, log-probs by masking the same ids), so the sampling
distribution and the training distribution stay identical and the ratio is exactly 1 before an
update (tested).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from common.models.bundles import VLMBundle
from common.models.generation import (
    Rollout,
    completion_mask_from_ids,
    expand_batch,
    position_ids_for,
    unwrap_model,
)

__all__ = ["banned_token_ids", "completion_logprobs", "sample_completions"]

_VISION_ID_FIELDS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


def banned_token_ids(bundle: VLMBundle, extra: Sequence[int] = ()) -> list[int]:
    """Ids a completion must never contain: the model's vision placeholders (+ ``extra``)."""
    config = unwrap_model(bundle.model).config
    ids = {int(getattr(config, f)) for f in _VISION_ID_FIELDS if getattr(config, f, None) is not None}
    ids.update(int(i) for i in extra)
    return sorted(ids)


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return [int(i) for i in ids]


def _masked(logits: torch.Tensor, banned: Sequence[int]) -> torch.Tensor:
    if not banned:
        return logits
    logits = logits.clone()
    logits[..., list(banned)] = float("-inf")
    return logits


@torch.no_grad()
def sample_completions(
    bundle: VLMBundle,
    batch: Mapping[str, Any],
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 64,
    num_return_sequences: int = 1,
    seed: int | None = None,
    banned: Sequence[int] = (),
    model: Any = None,
) -> Rollout:
    """``num_return_sequences`` completions per prompt of ``batch``; see the module docstring.

    ``temperature <= 0`` is greedy decoding (log-probs then of the untempered distribution).
    ``seed`` seeds torch's RNG for this call only, so a rollout is a pure function of the
    weights, the batch and the seed (what makes resumed runs identical to uninterrupted ones).
    """
    from transformers import GenerationConfig

    model = model if model is not None else bundle.model
    core = unwrap_model(model)
    tokenizer = bundle.tokenizer
    prompts = expand_batch(batch, num_return_sequences)
    eos_ids = _eos_ids(core, tokenizer)
    greedy = temperature <= 0
    config = GenerationConfig(
        do_sample=not greedy,
        temperature=None if greedy else float(temperature),
        top_p=None if greedy else float(top_p),
        top_k=None if greedy else int(top_k),
        repetition_penalty=1.0,
        max_new_tokens=int(max_new_tokens),
        num_return_sequences=1,
        num_beams=1,
        pad_token_id=int(tokenizer.pad_token_id),
        eos_token_id=eos_ids,
        suppress_tokens=list(banned) or None,
        return_dict_in_generate=True,
        output_logits=True,
        use_cache=True,
    )
    with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
        if seed is not None:
            torch.manual_seed(seed)
        out = core.generate(**prompts, generation_config=config)
    prompt_len = prompts["input_ids"].shape[1]
    completion_ids = out.sequences[:, prompt_len:]
    temp = 1.0 if greedy else float(temperature)
    logits = _masked(torch.stack(out.logits, dim=1).float(), banned) / temp
    mask, finished = completion_mask_from_ids(completion_ids, eos_ids)
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    texts = tokenizer.batch_decode(
        completion_ids * mask + tokenizer.pad_token_id * (1 - mask), skip_special_tokens=True
    )
    n_prompts = batch["input_ids"].shape[0]
    group = torch.arange(n_prompts, device=completion_ids.device).repeat_interleave(num_return_sequences)
    return Rollout(
        prompt_batch=prompts,
        completion_ids=completion_ids,
        completion_mask=mask,
        logprobs=logprobs * mask,
        texts=texts,
        group=group,
        temperature=temp,
        finished=finished,
    )


def completion_logprobs(
    model: Any,
    batch: Mapping[str, Any],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
    banned: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced ``(log-probs, entropies)``, each ``[N, T]`` and 0 where the mask is 0.

    One forward pass over prompt + completion (gradients flow), positions as ``generate`` used
    them; the logits of ``banned`` ids are masked as in :func:`sample_completions`. The entropy
    is that of the tempered, masked distribution at each completion position.
    """
    input_ids = torch.cat([batch["input_ids"], completion_ids], dim=1)
    attention_mask = torch.cat(
        [batch["attention_mask"], completion_mask.to(batch["attention_mask"].dtype)], dim=1
    )
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
    mm = batch.get("mm_token_type_ids")
    if mm is not None:
        inputs["mm_token_type_ids"] = torch.cat([mm, torch.zeros_like(completion_ids, dtype=mm.dtype)], dim=1)
    for key in ("pixel_values", "image_grid_thw"):
        if batch.get(key) is not None:
            inputs[key] = batch[key]
    inputs["position_ids"] = position_ids_for(model, input_ids, attention_mask, inputs)
    length = completion_ids.shape[1]
    out = model(**inputs, use_cache=False, logits_to_keep=length + 1)
    logits = out.logits[:, -length - 1 : -1].float() / (temperature if temperature > 0 else 1.0)
    logp_all = torch.log_softmax(_masked(logits, banned), dim=-1)
    mask = completion_mask.to(logp_all.dtype)
    logprobs = logp_all.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1) * mask
    probs = logp_all.exp()
    entropy = -(probs * torch.nan_to_num(logp_all, neginf=0.0)).sum(-1) * mask
    return logprobs, entropy
